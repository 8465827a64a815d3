-- persistence-cassandra SQLite schema 1.1: the Nexus endpoint registry.

CREATE TABLE nexus_endpoints (
  id TEXT NOT NULL,
  data BLOB NOT NULL,
  data_encoding TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (id)
);

-- The table version (one row, id = 0), locked and bumped by every endpoint write in the same
-- transaction as the endpoint row.
CREATE TABLE nexus_endpoints_partition_status (
  id INTEGER NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (id)
);
