-- persistence-cassandra PostgreSQL schema, version 1.2: visibility (docs/visibility.md).
-- Times are integer milliseconds since the Unix epoch. Text columns use the "C" collation so
-- that comparisons and order are by code point, as on every other backend.

CREATE TABLE visibility_search_attributes (
  namespace_id TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  type TEXT NOT NULL,
  PRIMARY KEY (namespace_id, name)
);

CREATE TABLE executions_visibility (
  namespace_id TEXT COLLATE "C" NOT NULL,
  run_id TEXT COLLATE "C" NOT NULL,
  workflow_id TEXT COLLATE "C" NOT NULL,
  workflow_type TEXT COLLATE "C" NOT NULL,
  task_queue TEXT COLLATE "C" NOT NULL,
  start_time BIGINT NOT NULL,
  execution_time BIGINT NOT NULL,
  status INTEGER NOT NULL,
  close_time BIGINT,
  history_length BIGINT NOT NULL,
  history_size_bytes BIGINT NOT NULL,
  memo BYTEA NOT NULL,
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
  namespace_id TEXT COLLATE "C" NOT NULL,
  run_id TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  seq INTEGER NOT NULL,
  keyword_value TEXT COLLATE "C",
  int_value BIGINT,
  double_value DOUBLE PRECISION,
  PRIMARY KEY (namespace_id, run_id, name, seq)
);

CREATE INDEX visibility_attributes_keyword ON visibility_attributes (namespace_id, name, keyword_value);
CREATE INDEX visibility_attributes_int ON visibility_attributes (namespace_id, name, int_value);
CREATE INDEX visibility_attributes_double ON visibility_attributes (namespace_id, name, double_value);
