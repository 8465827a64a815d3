-- persistence-cassandra SQLite schema, version 1.0.
-- Times are integer milliseconds since the Unix epoch; blobs are (data, data_encoding) pairs.

-- Shards: range_id is the fencing token of every execution write of the shard.
CREATE TABLE shards (
  shard_id INTEGER NOT NULL,
  range_id INTEGER NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  PRIMARY KEY (shard_id)
);

-- One row per workflow run (mutable state).
CREATE TABLE executions (
  shard_id INTEGER NOT NULL,
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  next_event_id INTEGER NOT NULL,
  db_record_version INTEGER NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  state BLOB NOT NULL,
  state_encoding TEXT NOT NULL,
  checksum BLOB,
  checksum_encoding TEXT,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id)
);

-- The current-run pointer of a workflow id.
CREATE TABLE current_executions (
  shard_id INTEGER NOT NULL,
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  create_request_id TEXT NOT NULL,
  state INTEGER NOT NULL,
  status INTEGER NOT NULL,
  last_write_version INTEGER NOT NULL,
  start_time INTEGER,
  PRIMARY KEY (shard_id, namespace_id, workflow_id)
);

CREATE TABLE activity_info_maps (
  shard_id INTEGER NOT NULL,
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  schedule_id INTEGER NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, schedule_id)
);

CREATE TABLE timer_info_maps (
  shard_id INTEGER NOT NULL,
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  timer_id TEXT NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, timer_id)
);

CREATE TABLE child_execution_info_maps (
  shard_id INTEGER NOT NULL,
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  initiated_id INTEGER NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, initiated_id)
);

CREATE TABLE request_cancel_info_maps (
  shard_id INTEGER NOT NULL,
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  initiated_id INTEGER NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, initiated_id)
);

CREATE TABLE signal_info_maps (
  shard_id INTEGER NOT NULL,
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  initiated_id INTEGER NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, initiated_id)
);

CREATE TABLE signals_requested_sets (
  shard_id INTEGER NOT NULL,
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  signal_id TEXT NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, signal_id)
);

-- Buffered events keep their arrival order through the autoincrement id.
CREATE TABLE buffered_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  shard_id INTEGER NOT NULL,
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL
);
CREATE INDEX buffered_events_by_run ON buffered_events (shard_id, namespace_id, workflow_id, run_id, id);

-- History tasks of immediate categories, ordered by task id.
CREATE TABLE history_immediate_tasks (
  shard_id INTEGER NOT NULL,
  category_id INTEGER NOT NULL,
  task_id INTEGER NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  PRIMARY KEY (shard_id, category_id, task_id)
);

-- History tasks of scheduled categories, ordered by (fire time, task id).
CREATE TABLE history_scheduled_tasks (
  shard_id INTEGER NOT NULL,
  category_id INTEGER NOT NULL,
  visibility_timestamp INTEGER NOT NULL,
  task_id INTEGER NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  PRIMARY KEY (shard_id, category_id, visibility_timestamp, task_id)
);

-- History events; txn_id is stored negated so that ascending order puts the winning
-- (highest) transaction of a node first.
CREATE TABLE history_node (
  shard_id INTEGER NOT NULL,
  tree_id TEXT NOT NULL,
  branch_id TEXT NOT NULL,
  node_id INTEGER NOT NULL,
  txn_id INTEGER NOT NULL,
  prev_txn_id INTEGER NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  PRIMARY KEY (shard_id, tree_id, branch_id, node_id, txn_id)
);

CREATE TABLE history_tree (
  shard_id INTEGER NOT NULL,
  tree_id TEXT NOT NULL,
  branch_id TEXT NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  PRIMARY KEY (shard_id, tree_id, branch_id)
);

-- Matching: range_id is the lease of the task queue's owner.
CREATE TABLE task_queues (
  namespace_id TEXT NOT NULL,
  name TEXT NOT NULL,
  task_type INTEGER NOT NULL,
  range_id INTEGER NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  PRIMARY KEY (namespace_id, name, task_type)
);

CREATE TABLE tasks (
  namespace_id TEXT NOT NULL,
  task_queue_name TEXT NOT NULL,
  task_type INTEGER NOT NULL,
  task_id INTEGER NOT NULL,
  expiry_time INTEGER,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  PRIMARY KEY (namespace_id, task_queue_name, task_type, task_id)
);

-- Namespaces, unique by id and by name.
CREATE TABLE namespaces (
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  is_global INTEGER NOT NULL,
  notification_version INTEGER NOT NULL,
  PRIMARY KEY (id)
);
CREATE UNIQUE INDEX namespaces_by_name ON namespaces (name);

-- The global notification version, bumped in the same transaction as every namespace change.
CREATE TABLE namespace_metadata (
  partition_id INTEGER NOT NULL,
  notification_version INTEGER NOT NULL,
  PRIMARY KEY (partition_id)
);
INSERT INTO namespace_metadata (partition_id, notification_version) VALUES (54321, 0);

CREATE TABLE cluster_metadata_info (
  metadata_partition INTEGER NOT NULL,
  cluster_name TEXT NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (metadata_partition, cluster_name)
);

CREATE TABLE cluster_membership (
  membership_partition INTEGER NOT NULL,
  role INTEGER NOT NULL,
  host_id TEXT NOT NULL,
  rpc_address TEXT NOT NULL,
  rpc_port INTEGER NOT NULL,
  session_start INTEGER NOT NULL,
  last_heartbeat INTEGER NOT NULL,
  record_expiry INTEGER NOT NULL,
  PRIMARY KEY (membership_partition, role, host_id)
);
CREATE INDEX cluster_membership_by_expiry ON cluster_membership (membership_partition, record_expiry);
