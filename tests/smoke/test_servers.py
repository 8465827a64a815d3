"""The platform works: a real Cassandra node answers LWTs and a real PostgreSQL answers SQL.

These run before any backend exists and fail (never skip) when a server is missing.
"""

from __future__ import annotations

import uuid

import psycopg

from harness.servers import cassandra_endpoint, postgres_dsn


def test_cassandra_conditional_insert_applies_once() -> None:
    from cassandra.cluster import Cluster

    host, _, port = cassandra_endpoint().split(",")[0].partition(":")
    cluster = Cluster([host], port=int(port or 9042), protocol_version=5)
    session = cluster.connect()
    keyspace = f"smoke_{uuid.uuid4().hex[:12]}"
    try:
        session.execute(
            f"CREATE KEYSPACE {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute(f"CREATE TABLE {keyspace}.kv (k text PRIMARY KEY, v text)")
        insert = session.prepare(f"INSERT INTO {keyspace}.kv (k, v) VALUES (?, ?) IF NOT EXISTS")
        first = session.execute(insert, ("key", "first"))
        second = session.execute(insert, ("key", "second"))
        assert first.was_applied
        assert not second.was_applied
        # A failed conditional insert returns the row that is there.
        assert second.one().v == "first"
        version = session.execute("SELECT release_version FROM system.local").one()
        assert version.release_version.split(".")[0] in {"4", "5"}
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        cluster.shutdown()


def test_postgres_round_trip() -> None:
    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        table = f"smoke_{uuid.uuid4().hex[:12]}"
        conn.execute(f"CREATE TEMP TABLE {table} (k text PRIMARY KEY, v bigint)")
        conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", ("key", 42))
        row = conn.execute(f"SELECT v FROM {table} WHERE k = %s", ("key",)).fetchone()
        assert row == (42,)
        server_version = conn.execute("SHOW server_version").fetchone()
        assert server_version is not None
