-- persistence-cassandra schema, version 1.1: task-queue user data (worker versioning).
-- version is the compare-and-set token: 1 after the first write, +1 on every update.
CREATE TABLE task_queue_user_data (
  namespace_id TEXT NOT NULL,
  task_queue_name TEXT NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (namespace_id, task_queue_name)
);

-- Which task queues name a build id in their user data; written in the same transaction.
CREATE TABLE build_id_to_task_queue (
  namespace_id TEXT NOT NULL,
  build_id TEXT NOT NULL,
  task_queue_name TEXT NOT NULL,
  PRIMARY KEY (namespace_id, build_id, task_queue_name)
);
