"""Schema creation and the version check on open go through the schema engine: the schema tool
then sees exactly what it would have written itself, the engine's lock is honoured, and every
refusal names the command to run."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from sql_test_records import ensure_shard, open_bundle, postgres_config, sqlite_config

from persistence_cassandra.backends.sql import EXPECTED_SCHEMA_VERSION
from persistence_cassandra.cli.schema_commands import schema_group
from persistence_cassandra.errors import SchemaVersionMismatch
from persistence_cassandra.factory import OpenOptions, resolve_backend
from persistence_cassandra.schema.admin import new_lock_holder
from persistence_cassandra.schema.admin_postgres import PostgresSchemaAdmin
from persistence_cassandra.schema.admin_sqlite import SqliteSchemaAdmin
from persistence_cassandra.schema.bundled import bundled_schema_set
from persistence_cassandra.stores import StoreBundle

PROGRAM = "persistence-cassandra schema"
# The schema CLI reads connection settings from these; the tests give every setting as a flag.
CLEAN_ENV: dict[str, str | None] = {
    name: None
    for name in (
        "CASSANDRA_HOST",
        "CASSANDRA_PORT",
        "CASSANDRA_KEYSPACE",
        "CASSANDRA_USER",
        "CASSANDRA_PASSWORD",
        "SQL_PLUGIN",
        "SQL_DATABASE",
        "SQL_CONNECT_ADDR",
        "SQL_USER",
        "SQL_PASSWORD",
        "PC_CONFIG",
    )
}


async def schema_cli(*args: str) -> Result:
    """``persistence-cassandra schema ARGS`` on a worker thread (it runs its own event loop)."""
    return await asyncio.to_thread(
        CliRunner().invoke, schema_group, list(args), env=CLEAN_ENV, catch_exceptions=False
    )


def _history(path: Path) -> list[tuple[str, str]]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute(
            "SELECT old_version, new_version FROM schema_update_history ORDER BY update_time"
        ).fetchall()
    finally:
        connection.close()
    return [(str(old), str(new)) for old, new in rows]


def _set_sqlite_version(path: Path, version: str) -> None:
    connection = sqlite3.connect(path)
    connection.execute("UPDATE schema_version SET curr_version = ?", (version,))
    connection.commit()
    connection.close()


def _bundled_versions() -> list[str]:
    """Every version of the bundled SQLite set (each is applied and verified in turn)."""
    return [version.version.text for version in bundled_schema_set("sqlite").versions]


SETUP_HISTORY = [
    ("0", "0.0"),
    *zip(["0.0", *_bundled_versions()[:-1]], _bundled_versions(), strict=True),
]
"""The engine's setup (0.0), then one update per bundled version."""


async def _assert_tool_sees_a_clean_schema(target: list[str], schema_name: str) -> None:
    status = await schema_cli(*target, "status", "--schema-name", schema_name)
    assert status.exit_code == 0, status.output
    assert f"current version:  {EXPECTED_SCHEMA_VERSION} (min compatible 1.0)" in status.stdout
    assert "pending:          none" in status.stdout
    assert "drift:            none" in status.stdout
    assert "incomplete" not in status.stdout
    plain = await schema_cli(*target, "status")
    assert plain.exit_code == 0, plain.output
    assert f"current version:  {EXPECTED_SCHEMA_VERSION}" in plain.stdout
    assert "incomplete" not in plain.stdout
    verify = await schema_cli(*target, "verify", "--schema-name", schema_name)
    assert verify.exit_code == 0, verify.output
    # Checked against recorded checksums, not skipped as "applied by another tool".
    assert f"verified versions: {', '.join(_bundled_versions())}: ok" in verify.stdout
    assert "not checked" not in verify.stdout
    history = await schema_cli(*target, "history")
    assert history.exit_code == 0, history.output
    assert f"update v{EXPECTED_SCHEMA_VERSION} applied" in history.stdout
    # Updating again finds nothing to do.
    update = await schema_cli(*target, "update-schema", "--schema-name", schema_name)
    assert update.exit_code == 0, update.output


# ---------------------------------------------------------------------------------- SQLite


async def test_the_embedded_default_is_what_the_schema_tool_expects(tmp_path: Path) -> None:
    path = tmp_path / "embedded.db"
    bundle = await open_bundle(sqlite_config(path))
    await ensure_shard(bundle, 1)
    await bundle.close()
    await _assert_tool_sees_a_clean_schema(
        ["--plugin", "sqlite", "--db", str(path)], "sqlite/persistence"
    )
    assert _history(path) == SETUP_HISTORY


async def test_a_memory_database_gets_the_engines_bookkeeping() -> None:
    bundle = await open_bundle(sqlite_config(":memory:"))
    try:
        runner = bundle.shard._runner  # type: ignore[attr-defined]
        rows = await runner.read(
            lambda tx: tx.fetchall("SELECT version, kind, state FROM schema_migration")
        )
        assert rows == [(version, "update", "applied") for version in _bundled_versions()]
        info = await bundle.server_info()  # type: ignore[misc]
        assert info["schema_version"] == EXPECTED_SCHEMA_VERSION
        assert await ensure_shard(bundle, 2) == 1
    finally:
        await bundle.close()


async def test_a_missing_file_names_the_exact_commands(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    with pytest.raises(SchemaVersionMismatch) as caught:
        await open_bundle(sqlite_config(path), create=False)
    message = str(caught.value)
    target = f"{PROGRAM} --plugin sqlite --db {path}"
    assert f"`{target} setup-schema -v 0.0`" in message
    assert f"`{target} update-schema --schema-name sqlite/persistence`" in message
    assert caught.value.actual is None
    assert not path.exists()


async def test_an_empty_file_is_refused_with_the_setup_command(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    with pytest.raises(SchemaVersionMismatch, match="has no schema") as caught:
        await open_bundle(sqlite_config(path), create=False)
    assert f"`{PROGRAM} --plugin sqlite --db {path} setup-schema -v 0.0`" in str(caught.value)


async def test_an_older_schema_names_the_exact_update_command(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    await (await open_bundle(sqlite_config(path))).close()
    _set_sqlite_version(path, "0.9")
    with pytest.raises(SchemaVersionMismatch) as caught:
        await open_bundle(sqlite_config(path), create=False)
    assert (caught.value.actual, caught.value.expected) == ("0.9", EXPECTED_SCHEMA_VERSION)
    assert (
        f"`{PROGRAM} --plugin sqlite --db {path} update-schema --schema-name sqlite/persistence`"
        in str(caught.value)
    )


async def test_a_newer_schema_is_accepted_even_with_schema_creation(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    await (await open_bundle(sqlite_config(path))).close()
    _set_sqlite_version(path, "1.7")
    for create in (False, True):  # code rolled back after a schema upgrade still opens
        bundle = await open_bundle(sqlite_config(path), create=create)
        try:
            assert (await bundle.server_info())["schema_version"] == "1.7"  # type: ignore[misc]
        finally:
            await bundle.close()
    assert _history(path) == SETUP_HISTORY


async def test_reopening_with_schema_creation_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "again.db"
    for _ in range(3):
        await (await open_bundle(sqlite_config(path))).close()
    assert _history(path) == SETUP_HISTORY


async def test_stores_opening_a_new_file_at_once_apply_each_version_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    bundles = await asyncio.gather(*(open_bundle(sqlite_config(path)) for _ in range(4)))
    for bundle in bundles:
        await bundle.close()
    assert _history(path) == SETUP_HISTORY


async def _assert_open_waits_for_the_lock(
    opening: asyncio.Future[StoreBundle], release: Any
) -> None:
    await asyncio.sleep(1.0)
    assert not opening.done(), "schema creation must wait for the migration lock"
    await release()
    bundle = await asyncio.wait_for(opening, 30)
    await bundle.close()


async def test_sqlite_schema_creation_waits_for_the_engines_lock(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    admin = await SqliteSchemaAdmin.open(path, create=True)
    try:
        await admin.create_migration_tables()
        holder = new_lock_holder()
        assert await admin.try_lock(holder, 60) is None  # as a schema tool run would hold it
        opening = asyncio.ensure_future(open_bundle(sqlite_config(path)))
        await _assert_open_waits_for_the_lock(opening, lambda: admin.release_lock(holder))
    finally:
        await admin.close()
    assert _history(path) == SETUP_HISTORY


async def test_writer_calls_run_between_groups_and_leave_no_transaction(tmp_path: Path) -> None:
    bundle = await open_bundle(sqlite_config(tmp_path / "calls.db"))
    try:
        runner = bundle.shard._runner  # type: ignore[attr-defined]
        executor = runner.writer_executor()
        connection = runner.write_connection
        loop = asyncio.get_running_loop()

        def leaves_a_transaction_open() -> str:
            connection.execute("BEGIN IMMEDIATE")
            return "ran"

        writes = [ensure_shard(bundle, shard) for shard in range(10, 20)]
        call = loop.run_in_executor(executor, leaves_a_transaction_open)
        results = await asyncio.gather(*writes, call)
        assert results[-1] == "ran"
        assert not connection.in_transaction  # rolled back before the next group began
        assert await ensure_shard(bundle, 21) == 1
    finally:
        await bundle.close()


# ---------------------------------------------------------------------------------- PostgreSQL


def _postgres_target(params: dict[str, Any], database: str) -> list[str]:
    target = ["--plugin", "postgres", "--db", database]
    target += ["--connect-addr", f"{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}"]
    if params.get("user"):
        target += ["--user", str(params["user"])]
    if params.get("password"):
        target += ["--password", str(params["password"])]
    return target


async def test_postgres_schema_creation_is_what_the_schema_tool_expects(
    postgres_params: dict[str, Any], fresh_postgres_database: str
) -> None:
    config = postgres_config(postgres_params, fresh_postgres_database, max_conns=2)
    await (await open_bundle(config)).close()
    await _assert_tool_sees_a_clean_schema(
        _postgres_target(postgres_params, fresh_postgres_database), "postgresql/persistence"
    )


async def test_postgres_refusals_name_the_exact_commands(
    postgres_params: dict[str, Any], fresh_postgres_database: str
) -> None:
    name = fresh_postgres_database
    config = postgres_config(postgres_params, name, max_conns=2)
    target = f"{PROGRAM} --plugin postgres --db {name}"
    update = f"`{target} update-schema --schema-name postgresql/persistence`"
    with pytest.raises(SchemaVersionMismatch) as caught:
        await resolve_backend("postgres").open(config, OpenOptions())
    assert f"`{target} setup-schema -v 0.0`" in str(caught.value)
    assert update in str(caught.value)
    await (await open_bundle(config)).close()
    with psycopg.connect(**{**postgres_params, "dbname": name}, autocommit=True) as connection:
        connection.execute("UPDATE schema_version SET curr_version = '0.5'")
    with pytest.raises(SchemaVersionMismatch) as caught:
        await resolve_backend("postgres").open(config, OpenOptions())
    assert caught.value.actual == "0.5"
    assert update in str(caught.value)


async def test_postgres_schema_creation_waits_for_the_engines_advisory_lock(
    postgres_params: dict[str, Any], fresh_postgres_database: str
) -> None:
    config = postgres_config(postgres_params, fresh_postgres_database, max_conns=2)
    assert config.sql is not None
    admin = await PostgresSchemaAdmin.connect(config.sql)
    try:
        await admin.create_migration_tables()
        holder = new_lock_holder()
        assert await admin.try_lock(holder, 60) is None
        opening = asyncio.ensure_future(open_bundle(config))
        await _assert_open_waits_for_the_lock(opening, lambda: admin.release_lock(holder))
    finally:
        await admin.close()
    params = {**postgres_params, "dbname": fresh_postgres_database}
    with psycopg.connect(**params) as connection:
        history = connection.execute(
            "SELECT old_version, new_version FROM schema_update_history ORDER BY update_time"
        ).fetchall()
    assert history == SETUP_HISTORY
