"""The SQL backends: one layer of stores over small dialect classes (SQLite, PostgreSQL).

Importing this package loads no database driver; ``sqlite`` and ``postgres`` each expose the
``BACKEND`` object the factory resolves by name. Both create their schema (``create_schema``)
and check its version through the schema engine (:mod:`.schema_setup`).

Both offer the optional :class:`~persistence_cassandra.stores.TaskScavenger` capability
(``Persistence.task_scavenger``): it deletes expired matching tasks and sticky queues, which
Cassandra leaves to TTLs. :class:`persistence_cassandra.maintenance.TaskScavengerSchedule`
runs it periodically.
"""

from __future__ import annotations

from persistence_cassandra.backends.sql.task_store import SqlTaskStore
from persistence_cassandra.schema.bundled import EXPECTED_SCHEMA_VERSION

__all__ = ["EXPECTED_SCHEMA_VERSION", "SqlTaskStore"]
