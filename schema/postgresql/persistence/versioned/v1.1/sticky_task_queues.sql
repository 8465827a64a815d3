-- persistence-cassandra schema, version 1.1: sticky task queues.
-- kind: 1 normal, 2 sticky. Past expiry_time (ms since the epoch) a queue is gone: reads skip
-- it, and the task scavenger deletes it with its tasks.
ALTER TABLE task_queues ADD COLUMN kind INTEGER NOT NULL DEFAULT 1;
ALTER TABLE task_queues ADD COLUMN expiry_time BIGINT;
