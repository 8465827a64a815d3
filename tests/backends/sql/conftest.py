"""Fixtures of the SQL backend's own tests: real SQLite files and a real PostgreSQL server.

PostgreSQL comes from ``PC_POSTGRES_DSN`` or a private cluster the test helpers start (see
``harness.servers``); when neither works the tests fail, never skip.
Each test session creates its own database under a random name and drops it at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql as pg_sql
from psycopg.conninfo import conninfo_to_dict
from sql_test_records import open_bundle, postgres_config, sqlite_config

from persistence_cassandra.stores import StoreBundle


@pytest.fixture(scope="session")
def postgres_params() -> dict[str, Any]:
    from harness import servers

    try:
        dsn = servers.postgres_dsn()
    except servers.ServerUnavailable as exc:
        pytest.fail(f"PostgreSQL is needed (set PC_POSTGRES_DSN): {exc}")
    params = dict(conninfo_to_dict(dsn))
    try:
        psycopg.connect(**params, connect_timeout=10).close()
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL at {dsn!r} is unreachable: {exc}")
    return params


def _admin(params: dict[str, Any], template: str, database: str) -> None:
    statement = pg_sql.SQL(template).format(pg_sql.Identifier(database))  # type: ignore[arg-type]
    with psycopg.connect(**params, autocommit=True) as connection:
        connection.execute(statement)


@pytest.fixture(scope="session")
def postgres_database(postgres_params: dict[str, Any]) -> Any:
    """A database of this test session, dropped at the end."""
    database = f"pc_sqltest_{uuid.uuid4().hex[:12]}"
    _admin(postgres_params, "CREATE DATABASE {}", database)
    yield database
    _admin(postgres_params, "DROP DATABASE IF EXISTS {} WITH (FORCE)", database)


@pytest.fixture
def fresh_postgres_database(postgres_params: dict[str, Any]) -> Any:
    """An empty database of this test alone (no schema yet), dropped at the end."""
    database = f"pc_sqltest_{uuid.uuid4().hex[:12]}"
    _admin(postgres_params, "CREATE DATABASE {}", database)
    yield database
    _admin(postgres_params, "DROP DATABASE IF EXISTS {} WITH (FORCE)", database)


@pytest.fixture
async def postgres_bundle(
    postgres_params: dict[str, Any], postgres_database: str
) -> AsyncIterator[StoreBundle]:
    bundle = await open_bundle(postgres_config(postgres_params, postgres_database))
    yield bundle
    await bundle.close()


@pytest.fixture
async def sqlite_file_bundle(tmp_path: Path) -> AsyncIterator[StoreBundle]:
    bundle = await open_bundle(sqlite_config(tmp_path / "store.db"))
    yield bundle
    await bundle.close()


@pytest.fixture(params=["sqlite-file", "postgres"])
def concurrent_bundle_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[], Awaitable[StoreBundle]]:
    """Opens a store of a backend with real concurrent writers (the caller closes it)."""
    if request.param == "sqlite-file":
        return lambda: open_bundle(sqlite_config(tmp_path / "store.db"))
    params = request.getfixturevalue("postgres_params")
    database = request.getfixturevalue("postgres_database")
    return lambda: open_bundle(postgres_config(params, database))
