"""The SQL backends: one layer of stores over small dialect classes (SQLite, PostgreSQL).

Importing this package loads no database driver; ``sqlite`` and ``postgres`` each expose the
``BACKEND`` object the factory resolves by name.
"""

from __future__ import annotations

from persistence_cassandra.backends.sql.schema_loader import EXPECTED_SCHEMA_VERSION

__all__ = ["EXPECTED_SCHEMA_VERSION"]
