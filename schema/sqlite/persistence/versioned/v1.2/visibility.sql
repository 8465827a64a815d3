-- persistence-cassandra SQLite schema, version 1.2: visibility (docs/visibility.md).
-- Times are integer milliseconds since the Unix epoch; text compares by code point.

CREATE TABLE visibility_search_attributes (
  namespace_id TEXT NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  PRIMARY KEY (namespace_id, name)
);

CREATE TABLE executions_visibility (
  namespace_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  workflow_type TEXT NOT NULL,
  task_queue TEXT NOT NULL,
  start_time INTEGER NOT NULL,
  execution_time INTEGER NOT NULL,
  status INTEGER NOT NULL,
  close_time INTEGER,
  history_length INTEGER NOT NULL,
  history_size_bytes INTEGER NOT NULL,
  memo BLOB NOT NULL,
  memo_encoding TEXT NOT NULL,
  PRIMARY KEY (namespace_id, run_id)
);

CREATE INDEX executions_visibility_start ON executions_visibility (namespace_id, start_time, run_id);
CREATE INDEX executions_visibility_close ON executions_visibility (namespace_id, close_time, start_time, run_id);
CREATE INDEX executions_visibility_status ON executions_visibility (namespace_id, status, start_time);
CREATE INDEX executions_visibility_type ON executions_visibility (namespace_id, workflow_type, start_time);
CREATE INDEX executions_visibility_workflow_id ON executions_visibility (namespace_id, workflow_id);
CREATE INDEX executions_visibility_task_queue ON executions_visibility (namespace_id, task_queue, start_time);

-- One row per custom attribute value (a KeywordList has one per item, in order by seq).
-- keyword_value holds Keyword, KeywordList and Text; int_value Int, Bool (0/1) and Datetime.
CREATE TABLE visibility_attributes (
  namespace_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  seq INTEGER NOT NULL,
  keyword_value TEXT,
  int_value INTEGER,
  double_value REAL,
  PRIMARY KEY (namespace_id, run_id, name, seq)
);

CREATE INDEX visibility_attributes_keyword ON visibility_attributes (namespace_id, name, keyword_value);
CREATE INDEX visibility_attributes_int ON visibility_attributes (namespace_id, name, int_value);
CREATE INDEX visibility_attributes_double ON visibility_attributes (namespace_id, name, double_value);
