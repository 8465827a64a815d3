"""Fixtures for the schema tool: one fresh keyspace / database per test, on every backend.

``schema_target`` is parametrized over SQLite, PostgreSQL and a real Cassandra node (found or
started by :mod:`harness.servers`; a missing server fails, never skips).
Each target can also be inspected *without* the engine (raw drivers), so that the tests check
the engine's claims against the database itself.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from schema_tool_support import SchemaTarget, cassandra_settings

from harness.servers import postgres_dsn
from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.schema import open_keyspace_admin


def _postgres_parts() -> dict[str, str]:
    parts = psycopg.conninfo.conninfo_to_dict(postgres_dsn())
    return {key: str(value) for key, value in parts.items() if value is not None}


@pytest.fixture(scope="session")
def cassandra_session() -> Iterator[Any]:
    from cassandra.cluster import Cluster

    host, port = cassandra_settings()
    cluster = Cluster([host], port=port)
    session = cluster.connect()
    yield session
    cluster.shutdown()


async def _make_target(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> SchemaTarget:
    name = f"schema_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        path = tmp_path / f"{name}.db"
        datastore = DatastoreConfig.model_validate(
            {"sql": {"pluginName": "sqlite", "databaseName": str(path)}}
        )
        admin = await open_keyspace_admin(datastore)
        await admin.create_keyspace(str(path))
        raw = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        return SchemaTarget(backend, datastore, ["--pl", "sqlite", "--db", str(path)], raw)
    if backend == "postgres":
        parts = _postgres_parts()
        address = f"{parts.get('host', '127.0.0.1')}:{parts.get('port', '5432')}"
        sql: dict[str, Any] = {
            "pluginName": "postgres",
            "databaseName": name,
            "connectAddr": address,
            "user": parts.get("user", "postgres"),
        }
        if "password" in parts:
            sql["password"] = parts["password"]
        datastore = DatastoreConfig.model_validate({"sql": sql})
        admin = await open_keyspace_admin(datastore)
        try:
            await admin.create_keyspace(name)
        finally:
            await admin.close()
        raw = await psycopg.AsyncConnection.connect(
            psycopg.conninfo.make_conninfo(postgres_dsn(), dbname=name), autocommit=True
        )
        args = ["--pl", "postgres", "--db", name, "--connect-addr", address, "-u", sql["user"]]
        if "password" in parts:
            args += ["--pw", parts["password"]]
        return SchemaTarget(backend, datastore, args, raw)
    host, port = cassandra_settings()
    datastore = DatastoreConfig.model_validate(
        {"cassandra": {"hosts": host, "port": port, "keyspace": name}}
    )
    admin = await open_keyspace_admin(datastore)
    try:
        await admin.create_keyspace(name)
    finally:
        await admin.close()
    session = request.getfixturevalue("cassandra_session")
    return SchemaTarget(backend, datastore, ["--ep", host, "-p", str(port), "-k", name], session)


async def _drop_target(target: SchemaTarget) -> None:
    for admin in target.admins:
        with contextlib.suppress(Exception):  # some tests close their admins themselves
            await admin.close()
    if target.backend == "cassandra":
        # Not awaited: the node drops the keyspace while the next test runs (~1s saved each).
        target.raw.execute_async(f'DROP KEYSPACE IF EXISTS "{target.scope}"')
        return
    if target.backend == "sqlite":
        target.raw.close()
    elif target.backend == "postgres":
        await target.raw.close()
    admin = await open_keyspace_admin(target.datastore)
    try:
        await admin.drop_keyspace(target.scope)
    finally:
        await admin.close()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("cassandra", id="cassandra", marks=pytest.mark.cassandra),
]


@pytest.fixture(params=BACKENDS)
async def schema_target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SchemaTarget]:
    target = await _make_target(request.param, tmp_path, request)
    try:
        yield target
    finally:
        await _drop_target(target)


@pytest.fixture
async def cassandra_schema_target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SchemaTarget]:
    """A fresh keyspace, for Cassandra-only tests."""
    target = await _make_target("cassandra", tmp_path, request)
    try:
        yield target
    finally:
        await _drop_target(target)


@pytest.fixture
async def sqlite_schema_target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SchemaTarget]:
    """A fresh SQLite database, for tests of backend-independent logic."""
    target = await _make_target("sqlite", tmp_path, request)
    try:
        yield target
    finally:
        await _drop_target(target)
