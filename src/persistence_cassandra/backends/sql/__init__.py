"""The SQL backends: one layer of stores over small dialect classes (SQLite, PostgreSQL).

Importing this package loads no database driver; ``sqlite`` and ``postgres`` each expose the
``BACKEND`` object the factory resolves by name. Both create their schema (``create_schema``)
and check its version through the schema engine (:mod:`.schema_setup`).

Beyond the ``TaskStore`` Protocol, :meth:`SqlTaskStore.scavenge_expired_tasks
<persistence_cassandra.backends.sql.task_store.SqlTaskStore.scavenge_expired_tasks>` deletes
expired matching tasks (Cassandra lets TTLs do that); call it periodically from whatever runs
background maintenance.
"""

from __future__ import annotations

from persistence_cassandra.backends.sql.task_store import SqlTaskStore
from persistence_cassandra.schema.bundled import EXPECTED_SCHEMA_VERSION

__all__ = ["EXPECTED_SCHEMA_VERSION", "SqlTaskStore"]
