-- persistence-cassandra schema, version 1.1: what a current-run conflict reports.
-- request_ids: the request ids attached to the current run, a sorted JSON list of strings.
-- first_execution_run_id: the first run of its chain ('' for pointers written before 1.1).
ALTER TABLE current_executions ADD COLUMN request_ids TEXT NOT NULL DEFAULT '[]';
ALTER TABLE current_executions ADD COLUMN first_execution_run_id TEXT NOT NULL DEFAULT '';
