"""Dropping the keyspaces a test made, on the node it made them on.

Blocking (the driver's own session, not the stores'): tests call it from a thread.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["drop_keyspaces"]

DROP_TIMEOUT = 120.0
"""Seconds per drop: a drop flushes and snapshots, which a loaded two-core machine makes slow."""


def drop_keyspaces(host: str, port: int, keyspaces: Iterable[str]) -> None:
    """``DROP KEYSPACE IF EXISTS`` each of ``keyspaces`` on ``host:port``."""
    from cassandra.cluster import Cluster

    cluster = Cluster([host], port=port)
    try:
        session = cluster.connect()
        for keyspace in keyspaces:
            session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=DROP_TIMEOUT)
    finally:
        cluster.shutdown()
