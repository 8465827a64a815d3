-- persistence-cassandra PostgreSQL schema 1.1: named queues (Temporal's queue v2 shape) and the
-- replication-task DLQ.

-- One row per queue: next_message_id is the id the next enqueue gets. An enqueue locks this row,
-- takes the id, bumps it and inserts the message in one transaction, so ids are assigned in
-- commit order and a reader never sees message n + 1 before message n.
CREATE TABLE queues (
  queue_type INTEGER NOT NULL,
  queue_name TEXT NOT NULL,
  next_message_id BIGINT NOT NULL,
  min_message_id BIGINT NOT NULL,
  metadata BYTEA NOT NULL,
  metadata_encoding TEXT NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (queue_type, queue_name)
);

CREATE TABLE queue_messages (
  queue_type INTEGER NOT NULL,
  queue_name TEXT NOT NULL,
  message_id BIGINT NOT NULL,
  payload BYTEA NOT NULL,
  payload_encoding TEXT NOT NULL,
  PRIMARY KEY (queue_type, queue_name, message_id)
);

-- Replication tasks a shard could not apply, per source cluster and shard (Temporal's key order).
CREATE TABLE replication_tasks_dlq (
  source_cluster_name TEXT NOT NULL,
  shard_id INTEGER NOT NULL,
  task_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding TEXT NOT NULL,
  PRIMARY KEY (source_cluster_name, shard_id, task_id)
);
