"""persistence-cassandra: the data layer of a durable-execution server.

Shard, execution, history, task and metadata stores behind one set of asyncio Protocols, with
Cassandra (lightweight transactions), SQLite and PostgreSQL backends.
"""

from __future__ import annotations

__version__ = "0.1.0"
