"""Datastores for the bench tests: a fresh SQLite file, PostgreSQL database or Cassandra
keyspace per backend (real servers; a missing server fails the test, never skips it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from harness.keyspaces import drop_keyspaces
from persistence_cassandra.config import PersistenceConfig, parse_config

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("cassandra", id="cassandra", marks=pytest.mark.cassandra),
]


def _config(datastore: dict[str, Any]) -> PersistenceConfig:
    return parse_config({"defaultStore": "bench", "datastores": {"bench": datastore}})


async def _postgres_database() -> tuple[dict[str, Any], str]:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    from harness import servers

    params = dict(conninfo_to_dict(await asyncio.to_thread(servers.postgres_dsn)))
    name = f"pc_bench_{uuid.uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as connection:
        await connection.execute(f"CREATE DATABASE {name}")
    return params, name


async def _drop_postgres(params: dict[str, Any], name: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as connection:
        await connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _host_port(endpoint: str) -> tuple[str, int]:
    first = endpoint.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    return (host, int(port)) if sep else (first, 9042)


@pytest.fixture(params=BACKENDS)
async def bench_config(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[PersistenceConfig]:
    """A config whose default store is an empty database of the backend (schema not yet
    created: open it with ``OpenOptions(create_schema=True)``)."""
    backend = request.param
    if backend == "sqlite":
        yield _config({"sql": {"pluginName": "sqlite", "databaseName": str(tmp_path / "b.db")}})
        return
    if backend == "postgres":
        params, name = await _postgres_database()
        sql: dict[str, Any] = {
            "pluginName": "postgres",
            "databaseName": name,
            "connectAddr": f"{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}",
            "maxConns": 8,
        }
        if params.get("user"):
            sql["user"] = params["user"]
        if params.get("password"):
            sql["password"] = params["password"]
        try:
            yield _config({"sql": sql})
        finally:
            await _drop_postgres(params, name)
        return
    from harness import servers

    endpoint = await asyncio.to_thread(servers.cassandra_endpoint)
    host, port = _host_port(endpoint)
    keyspace = f"pc_bench_{uuid.uuid4().hex[:12]}"
    try:
        yield _config({"cassandra": {"hosts": host, "port": port, "keyspace": keyspace}})
    finally:
        await asyncio.to_thread(drop_keyspaces, host, port, [keyspace])
