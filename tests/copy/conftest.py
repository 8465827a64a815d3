"""Fixtures of the copy tests: fresh datastores on the real servers, a populated SQLite source,
and config files naming them.

PostgreSQL and Cassandra come from ``harness.servers`` (an endpoint from
the environment, or a local server it starts); when one cannot be reached the tests fail, never
skip. Every database and keyspace made here has a random name and is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from copy_support import SHARDS, open_stores, sqlite_store
from copy_workload import PopulatedSource, Shape, make_source

from harness.keyspaces import drop_keyspaces

# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def postgres_params() -> dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    from harness import servers

    try:
        return dict(conninfo_to_dict(servers.postgres_dsn()))
    except servers.ServerUnavailable as exc:
        pytest.fail(f"PostgreSQL is needed (set PC_POSTGRES_DSN): {exc}")


@pytest.fixture(scope="session")
def cassandra_hosts() -> tuple[str, int]:
    from harness import servers

    try:
        endpoint = servers.cassandra_endpoint()
    except servers.ServerUnavailable as exc:
        pytest.fail(f"a Cassandra node is needed (set PC_CASSANDRA_HOSTS=host:port): {exc}")
    first = endpoint.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return (host, int(port)) if host else (port, 9042)


@dataclass
class StoreFactory:
    """Makes empty datastores with their schema; drops them at the end of the test."""

    directory: Path
    postgres_params: dict[str, Any]
    cassandra_hosts: tuple[str, int]
    _databases: list[str] = field(default_factory=list)
    _keyspaces: list[str] = field(default_factory=list)

    async def sqlite(self, name: str = "") -> dict[str, Any]:
        path = self.directory / f"{name or 'store'}-{uuid.uuid4().hex[:8]}.db"
        store = sqlite_store(path)
        async with open_stores(store, create=True):
            pass
        return store

    async def postgres(self) -> dict[str, Any]:
        database = f"pc_copy_{uuid.uuid4().hex[:12]}"
        await self._postgres_admin("CREATE DATABASE {}", database)
        self._databases.append(database)
        params = self.postgres_params
        sql: dict[str, Any] = {
            "pluginName": "postgres",
            "databaseName": database,
            "connectAddr": f"{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}",
        }
        if params.get("user"):
            sql["user"] = params["user"]
        if params.get("password"):
            sql["password"] = params["password"]
        store = {"sql": sql}
        async with open_stores(store, create=True):
            pass
        return store

    async def cassandra(self) -> dict[str, Any]:
        keyspace = f"pc_copy_{uuid.uuid4().hex[:12]}"
        self._keyspaces.append(keyspace)
        host, port = self.cassandra_hosts
        store = {"cassandra": {"hosts": host, "port": port, "keyspace": keyspace}}
        async with open_stores(store, create=True):
            pass
        return store

    async def _postgres_admin(self, template: str, database: str) -> None:
        import psycopg
        from psycopg import sql

        statement = sql.SQL(template).format(sql.Identifier(database))
        async with await psycopg.AsyncConnection.connect(
            **self.postgres_params, autocommit=True
        ) as connection:
            await connection.execute(statement)

    async def cleanup(self, janitor: ThreadPoolExecutor | None = None) -> None:
        """Drop what was made. Keyspace drops take seconds: given a ``janitor`` they run in
        its thread while later tests go on, else here."""
        for database in self._databases:
            await self._postgres_admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", database)
        if not self._keyspaces:
            return
        keyspaces, self._keyspaces = self._keyspaces, []
        drop = partial(drop_keyspaces, *self.cassandra_hosts, keyspaces)
        if janitor is None:
            await asyncio.to_thread(drop)
        else:
            janitor.submit(drop)


@pytest.fixture(scope="session")
def keyspace_janitor() -> Iterator[ThreadPoolExecutor]:
    """One thread dropping the tests' keyspaces in the background; the session waits for it
    (and so sees a failed drop) at the end."""
    janitor = ThreadPoolExecutor(1, thread_name_prefix="copy-test-janitor")
    try:
        yield janitor
    finally:
        janitor.shutdown(wait=True)


@pytest.fixture
async def store_factory(
    tmp_path: Path,
    postgres_params: dict[str, Any],
    cassandra_hosts: tuple[str, int],
    keyspace_janitor: ThreadPoolExecutor,
) -> AsyncIterator[StoreFactory]:
    factory = StoreFactory(tmp_path, postgres_params, cassandra_hosts)
    try:
        yield factory
    finally:
        await factory.cleanup(keyspace_janitor)


# --------------------------------------------------------------------------- the source


@pytest.fixture(scope="session")
async def source(tmp_path_factory: pytest.TempPathFactory) -> PopulatedSource:
    """An SQLite store holding the realistic workload; tests only ever read it."""
    return await make_source(tmp_path_factory.mktemp("copy-source"), Shape(shards=SHARDS))
