"""What is specific to PostgreSQL: plugin names, connection settings, schema bookkeeping, and
transactions that roll back whole."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest
from sql_test_records import (
    create_run,
    ensure_shard,
    fresh_shard_id,
    new_key,
    open_bundle,
    postgres_config,
)

from persistence_cassandra.backends.sql import EXPECTED_SCHEMA_VERSION
from persistence_cassandra.backends.sql.postgres import connection_info
from persistence_cassandra.backends.sql.transaction import Tx
from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.errors import (
    InvalidRequest,
    SchemaVersionMismatch,
    ShardOwnershipLost,
    Timeout,
    Unavailable,
)
from persistence_cassandra.factory import OpenOptions, resolve_backend
from persistence_cassandra.records import DataBlob
from persistence_cassandra.schema.bundled import bundled_schema_set
from persistence_cassandra.stores import StoreBundle


def test_connection_info_never_describes_the_password() -> None:
    config = DatastoreConfig.model_validate(
        {
            "sql": {
                "pluginName": "postgres12",
                "databaseName": "temporal",
                "connectAddr": "db.example:6543",
                "user": "svc",
                "password": "s3cret-pw",
                "tls": {"enabled": True, "caFile": "/ca.pem"},
                "connectAttributes": {"options": "-c statement_timeout=5000"},
            }
        }
    )
    assert config.sql is not None
    conninfo, description = connection_info(config.sql)
    assert description == "postgres svc@db.example:6543/temporal"
    assert "s3cret-pw" not in description
    assert "sslmode=verify-full" in conninfo
    assert "sslrootcert=/ca.pem" in conninfo
    assert "statement_timeout" in conninfo


@pytest.mark.parametrize("plugin", ["postgres", "postgres12", "postgresql"])
async def test_every_plugin_name_opens_the_postgres_backend(
    plugin: str, postgres_params: dict[str, Any], postgres_database: str
) -> None:
    config = postgres_config(postgres_params, postgres_database, max_conns=2, plugin=plugin)
    assert config.backend_name == "postgres"
    bundle = await open_bundle(config)
    try:
        assert bundle.description.endswith(f"/{postgres_database}")
        info = await bundle.server_info()  # type: ignore[misc]
        assert info["server_version"].startswith("PostgreSQL ")
        assert info["schema_version"] == EXPECTED_SCHEMA_VERSION
    finally:
        await bundle.close()


def _create_database(params: dict[str, Any]) -> str:
    name = f"pc_sqltest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**params, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return name


def _drop_database(params: dict[str, Any], name: str) -> None:
    with psycopg.connect(**params, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


async def test_an_empty_database_is_refused_until_the_schema_exists(
    postgres_params: dict[str, Any],
) -> None:
    name = _create_database(postgres_params)
    try:
        config = postgres_config(postgres_params, name, max_conns=2)
        with pytest.raises(SchemaVersionMismatch, match="setup-schema") as caught:
            await resolve_backend("postgres").open(config, OpenOptions())
        assert caught.value.actual is None
        created = await open_bundle(config)
        await created.close()
        with psycopg.connect(**{**postgres_params, "dbname": name}) as connection:
            connection.execute("UPDATE schema_version SET curr_version = '0.5'")
        with pytest.raises(SchemaVersionMismatch, match="update-schema"):
            await resolve_backend("postgres").open(config, OpenOptions())
        # Schema creation on an up-to-date database applies nothing.
        with psycopg.connect(**{**postgres_params, "dbname": name}) as connection:
            connection.execute(
                "UPDATE schema_version SET curr_version = %s", (EXPECTED_SCHEMA_VERSION,)
            )
        again = await open_bundle(config)
        await again.close()
    finally:
        _drop_database(postgres_params, name)


async def test_unreachable_server_is_unavailable() -> None:
    config = DatastoreConfig.model_validate(
        {
            "sql": {
                "pluginName": "postgres",
                "databaseName": "nothing",
                "connectAddr": "127.0.0.1:1",
                "user": "nobody",
            }
        }
    )
    with pytest.raises(Unavailable):
        await resolve_backend("postgres").open(config, OpenOptions())


async def test_concurrent_schema_creation_applies_each_version_once(
    postgres_params: dict[str, Any],
) -> None:
    name = _create_database(postgres_params)
    try:
        config = postgres_config(postgres_params, name, max_conns=2)
        bundles = await asyncio.gather(*(open_bundle(config) for _ in range(4)))
        for bundle in bundles:
            await bundle.close()
        with psycopg.connect(**{**postgres_params, "dbname": name}) as connection:
            history = connection.execute(
                "SELECT old_version, new_version FROM schema_update_history ORDER BY update_time"
            ).fetchall()
        versions = [v.version.text for v in bundled_schema_set("postgres").versions]
        assert history == [("0", "0.0"), *zip(["0.0", *versions[:-1]], versions, strict=True)]
    finally:
        _drop_database(postgres_params, name)


async def test_a_deferred_write_failing_at_commit_is_a_clean_failure(
    postgres_bundle: StoreBundle,
) -> None:
    from persistence_cassandra.backends.sql.postgres import PostgresDialect, PostgresRunner

    runner = postgres_bundle.shard._runner  # type: ignore[attr-defined]
    assert isinstance(runner, PostgresRunner)
    assert isinstance(runner.dialect, PostgresDialect)
    shard = fresh_shard_id()

    def insert_then_break(tx: Tx) -> None:
        tx.defer(
            "INSERT INTO shards (shard_id, range_id, data, data_encoding) VALUES (?, 1, ?, 'x')",
            (shard, b"s"),
        )
        tx.defer("INSERT INTO shards (shard_id) VALUES (?)", (shard + 1,))  # NOT NULL fails

    with pytest.raises(InvalidRequest) as caught:
        await runner.write(insert_then_break)
    assert not isinstance(caught.value, Timeout)
    # Nothing of the transaction is stored, and every thread's connection still works.
    for _ in range(runner.size + 1):
        rows = await runner.read(
            lambda tx: tx.fetchall("SELECT 1 FROM shards WHERE shard_id = ?", (shard,))
        )
        assert rows == []


def _raw(params: dict[str, Any], database: str) -> psycopg.Connection[Any]:
    return psycopg.connect(**{**params, "dbname": database}, autocommit=True)


async def test_a_range_bump_waits_for_in_flight_execution_writes(
    postgres_bundle: StoreBundle, postgres_params: dict[str, Any], postgres_database: str
) -> None:
    shard = fresh_shard_id()
    await ensure_shard(postgres_bundle, shard)
    with _raw(postgres_params, postgres_database) as writer:
        # What an execution write holds while it runs: the shard row, shared.
        writer.execute("BEGIN")
        writer.execute("SELECT range_id FROM shards WHERE shard_id = %s FOR SHARE", (shard,))
        bump = asyncio.ensure_future(
            postgres_bundle.shard.update_shard(shard, 2, DataBlob(b"s"), 1)
        )
        await asyncio.sleep(0.3)
        assert not bump.done(), "the bump must wait for the in-flight write"
        writer.execute("COMMIT")
        await asyncio.wait_for(bump, 10)


async def test_an_execution_write_waits_for_a_range_bump_then_is_fenced(
    postgres_bundle: StoreBundle, postgres_params: dict[str, Any], postgres_database: str
) -> None:
    shard = fresh_shard_id()
    await ensure_shard(postgres_bundle, shard)
    key = new_key()
    with _raw(postgres_params, postgres_database) as owner:
        owner.execute("BEGIN")  # a new owner's bump, not yet committed
        owner.execute("SELECT range_id FROM shards WHERE shard_id = %s FOR UPDATE", (shard,))
        owner.execute("UPDATE shards SET range_id = 2 WHERE shard_id = %s", (shard,))
        write = asyncio.ensure_future(create_run(postgres_bundle, shard, 1, key))
        await asyncio.sleep(0.3)
        assert not write.done(), "the write must wait for the bump"
        owner.execute("COMMIT")
        with pytest.raises(ShardOwnershipLost) as caught:
            await asyncio.wait_for(write, 10)
    assert caught.value.actual_range_id == 2


async def test_a_connection_the_server_drops_fails_one_call_then_is_replaced(
    postgres_params: dict[str, Any], postgres_database: str
) -> None:
    from persistence_cassandra.backends.sql.postgres import PostgresRunner

    config = postgres_config(postgres_params, postgres_database, max_conns=3)
    bundle = await open_bundle(config)
    try:
        runner = bundle.shard._runner  # type: ignore[attr-defined]
        assert isinstance(runner, PostgresRunner)

        def backend_pid(tx: Tx) -> int:
            row = tx.fetchone("SELECT pg_backend_pid()")
            assert row is not None
            return int(row[0])

        pids = set(await asyncio.gather(*(runner.read(backend_pid) for _ in range(30))))
        with _raw(postgres_params, postgres_database) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        outcomes: list[object] = []
        for _ in range(5):
            reads = (runner.read(backend_pid) for _ in range(10))
            outcomes += await asyncio.gather(*reads, return_exceptions=True)
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        assert all(isinstance(failure, Unavailable) for failure in failures), failures
        assert len(failures) <= runner.size, "each dropped connection fails at most one call"
        fresh = set(await asyncio.gather(*(runner.read(backend_pid) for _ in range(30))))
        assert not fresh & pids, "every dropped connection was replaced"
    finally:
        await bundle.close()
