"""The schema tool on the stand as on Astra DB: ``--secure-connect-bundle`` + ``--astra-token``,
the non-superuser token role, a keyspace made beforehand "in the portal" (by the stand)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from persistence_cassandra.cli.schema_commands import schema_group
from persistence_cassandra.schema.bundled import EXPECTED_SCHEMA_VERSION
from persistence_cassandra.testing.astra_stand import AstraStand

BUNDLED = "cassandra/persistence"
TEMPORAL_ASTRA = Path(__file__).parents[1] / "schema" / "fixtures" / "temporal_astra" / "versioned"
CLEAN_ENV: dict[str, str | None] = {
    name: None
    for name in (
        "CASSANDRA_HOST",
        "CASSANDRA_PORT",
        "CASSANDRA_KEYSPACE",
        "CASSANDRA_USER",
        "CASSANDRA_PASSWORD",
        "ASTRA_TOKEN",
        "ASTRA_SECURE_CONNECT_BUNDLE",
        "PC_CONFIG",
    )
}


@pytest.fixture
def keyspace(astra_stand: AstraStand) -> Iterator[str]:
    name = astra_stand.create_keyspace()
    yield name
    astra_stand.drop_keyspace(name)


async def schema(stand: AstraStand, keyspace: str, *args: str) -> Result:
    """``persistence-cassandra schema --secure-connect-bundle B --astra-token T -k KS ...``"""
    connection = [
        "--secure-connect-bundle",
        str(stand.bundle_path),
        "--astra-token",
        stand.token,
        "-k",
        keyspace,
    ]
    result = await asyncio.to_thread(
        CliRunner().invoke,
        schema_group,
        [*connection, *args],
        env=CLEAN_ENV,
        catch_exceptions=False,
    )
    assert stand.token not in result.output + result.stderr  # a secret is never printed
    return result


def _keyspace_exists(stand: AstraStand, name: str) -> bool:
    found = stand.superuser().execute(
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s", (name,)
    )
    return found.one() is not None


@pytest.mark.parametrize("command", [["create-keyspace"], ["drop-keyspace", "--force"]])
async def test_keyspace_ddl_is_refused_with_the_astra_portal_message(
    astra_stand: AstraStand, keyspace: str, command: list[str]
) -> None:
    result = await schema(astra_stand, keyspace, *command)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Astra DB does not allow keyspace DDL")
    assert "Astra portal" in result.stderr and "DevOps API" in result.stderr
    assert _keyspace_exists(astra_stand, keyspace)


async def test_setup_update_status_verify_history_as_the_token_role(
    astra_stand: AstraStand, keyspace: str
) -> None:
    setup = await schema(astra_stand, keyspace, "setup-schema", "-v", "0.0")
    assert setup.exit_code == 0, setup.stderr
    assert "schema version 0.0" in setup.stdout
    assert "Astra DB (secure-connect-astra-stand.zip)" in setup.stdout

    update = await schema(astra_stand, keyspace, "update-schema", "--schema-name", BUNDLED)
    assert update.exit_code == 0, update.stderr
    assert f"0.0 -> {EXPECTED_SCHEMA_VERSION}" in update.stdout

    status = await schema(astra_stand, keyspace, "status", "--schema-name", BUNDLED)
    assert status.exit_code == 0, status.stderr
    assert f"current version:  {EXPECTED_SCHEMA_VERSION}" in status.stdout
    assert "pending:          none" in status.stdout
    assert "drift:            none" in status.stdout

    verify = await schema(astra_stand, keyspace, "verify", "--schema-name", BUNDLED)
    assert verify.exit_code == 0, verify.stderr
    assert f"{EXPECTED_SCHEMA_VERSION}: ok" in verify.stdout

    again = await schema(astra_stand, keyspace, "update-schema", "--schema-name", BUNDLED)
    assert again.exit_code == 0 and f"already at version {EXPECTED_SCHEMA_VERSION}" in again.stdout

    history = await schema(astra_stand, keyspace, "history")
    assert history.exit_code == 0
    assert "0.0 -> 1.0" in history.stdout  # one entry per bundled version

    health = await schema(astra_stand, keyspace, "validate-health")
    assert health.exit_code == 0 and health.stdout.startswith("ok: Cassandra 5.0")


async def test_lint_finds_nothing_astra_rejects_in_the_bundled_schema() -> None:
    result = await asyncio.to_thread(
        CliRunner().invoke, schema_group, ["lint", "--strict", "--schema-name", BUNDLED]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("0 error(s), 0 warning(s)")


def _versioned_dir(root: Path, statement: str) -> Path:
    version = root / "versioned" / "v0.1"
    version.mkdir(parents=True)
    manifest = {
        "CurrVersion": "0.1",
        "MinCompatibleVersion": "0.1",
        "Description": "a table with an option Astra ignores",
        "SchemaUpdateCqlFiles": ["extra.cql"],
    }
    (version / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (version / "extra.cql").write_text(statement + "\n", encoding="utf-8")
    return root / "versioned"


async def test_an_ignored_table_option_is_dropped_by_default_or_warned_about_without_it(
    astra_stand: AstraStand, keyspace: str, tmp_path: Path
) -> None:
    versions = _versioned_dir(
        tmp_path, "CREATE TABLE extra (k int PRIMARY KEY, v text) WITH gc_grace_seconds = 100;"
    )
    lint = await asyncio.to_thread(
        CliRunner().invoke, schema_group, ["lint", "--schema-dir", str(versions)]
    )
    assert "gc_grace_seconds" in lint.stdout and "1 warning(s)" in lint.stdout

    assert (await schema(astra_stand, keyspace, "setup-schema", "-v", "0.0")).exit_code == 0
    plain = await schema(
        astra_stand, keyspace, "update-schema", "--schema-dir", str(versions), "--no-astra-compat"
    )
    assert plain.exit_code == 0, plain.stderr
    shown = " ".join(plain.stderr.split())
    assert "server warning" in shown and "[gc_grace_seconds]" in shown
    assert "not supported for Table Properties" in shown
    row = (
        astra_stand.superuser()
        .execute(
            "SELECT gc_grace_seconds FROM system_schema.tables "
            "WHERE keyspace_name = %s AND table_name = 'extra'",
            (keyspace,),
        )
        .one()
    )
    assert row.gc_grace_seconds == 864000


# ---------------------------------------------------------------- a Temporal-format schema
def _sai_indexes(stand: AstraStand, keyspace: str) -> dict[str, str]:
    rows = stand.superuser().execute(
        "SELECT index_name, kind, options FROM system_schema.indexes WHERE keyspace_name = %s",
        (keyspace,),
    )
    return {row.index_name: f"{row.kind} {row.options.get('class_name', '')}" for row in rows}


async def test_a_temporal_format_schema_migrates_adapted_with_no_server_warning(
    astra_stand: AstraStand, keyspace: str
) -> None:
    versions = str(TEMPORAL_ASTRA)
    assert (await schema(astra_stand, keyspace, "setup-schema", "-v", "0.0")).exit_code == 0

    dry = await schema(astra_stand, keyspace, "update-schema", "-d", versions, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "--   CREATE INDEX executions_by_state ON executions (state)" in dry.stdout
    assert (
        "CREATE CUSTOM INDEX executions_by_state ON executions (state) "
        "USING 'StorageAttachedIndex';" in dry.stdout
    )
    assert "-- bookkeeping: write schema_migration_statement" in dry.stdout

    update = await schema(astra_stand, keyspace, "update-schema", "-d", versions)
    assert update.exit_code == 0, update.stderr
    assert "0.0 -> 0.3; applied 0.1, 0.2, 0.3" in update.stdout
    assert "warning" not in update.stderr.lower(), update.stderr  # no server warning at all

    indexes = _sai_indexes(astra_stand, keyspace)
    assert set(indexes) == {"namespaces_by_name", "executions_by_state"}
    assert all(v.startswith("CUSTOM") and "StorageAttachedIndex" in v for v in indexes.values())
    cluster = astra_stand.token_cluster()
    try:
        session = await asyncio.to_thread(cluster.connect, keyspace)
        session.execute("INSERT INTO namespaces (id, name) VALUES (uuid(), 'orders')")
        session.execute(
            "INSERT INTO executions (shard_id, type, run_id, state) VALUES (1, 1, uuid(), 7)"
        )
        found = session.execute("SELECT id FROM namespaces WHERE name = 'orders'").all()
        running = session.execute("SELECT run_id FROM executions WHERE state = 7").all()
        assert len(found) == 1 and len(running) == 1
        audit = sorted(r.version for r in session.execute("SELECT version FROM schema_audit"))
        assert audit == ["0.1", "0.2", "0.3"]
    finally:
        await asyncio.to_thread(cluster.shutdown)

    status = await schema(astra_stand, keyspace, "status", "-d", versions)
    assert status.exit_code == 0, status.stderr
    assert "current version:  0.3" in status.stdout and "drift:            none" in status.stdout
    assert "adapted:          v0.2: 3 statement(s) rewritten for Astra DB" in status.stdout
    verify = await schema(astra_stand, keyspace, "verify", "-d", versions)
    assert verify.exit_code == 0 and "0.1, 0.2, 0.3: ok" in verify.stdout
    history = await schema(astra_stand, keyspace, "history")
    assert "CREATE INDEX -> CREATE CUSTOM INDEX ... USING 'StorageAttachedIndex'" in history.stdout
    assert "dropped compaction, speculative_retry" in history.stdout
    health = await schema(astra_stand, keyspace, "validate-health")
    assert health.exit_code == 0 and health.stdout.startswith("ok: ")


async def test_without_adaptation_the_schema_fails_with_lints_message_before_anything_runs(
    astra_stand: AstraStand, keyspace: str
) -> None:
    versions = str(TEMPORAL_ASTRA)
    assert (await schema(astra_stand, keyspace, "setup-schema", "-v", "0.0")).exit_code == 0
    lint = await asyncio.to_thread(CliRunner().invoke, schema_group, ["lint", "-d", versions])
    first_error = next(line for line in lint.stdout.splitlines() if ": error [" in line)

    plain = await schema(
        astra_stand, keyspace, "update-schema", "-d", versions, "--no-astra-compat"
    )
    assert plain.exit_code == 1
    assert first_error in plain.stderr and "Nothing was run" in plain.stderr
    tables = {
        row.table_name
        for row in astra_stand.superuser().execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,)
        )
    }
    assert not tables & {"executions", "namespaces", "schema_audit", "tasks"}
    status = await schema(astra_stand, keyspace, "status")
    assert "current version:  0.0" in status.stdout


async def test_the_installed_command_reads_the_astra_environment_variables(
    astra_stand: AstraStand, keyspace: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env.update(
        ASTRA_SECURE_CONNECT_BUNDLE=str(astra_stand.bundle_path),
        ASTRA_TOKEN=astra_stand.token,
        CASSANDRA_KEYSPACE=keyspace,
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "persistence_cassandra", "schema", "setup-schema", "-v", "0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"keyspace '{keyspace}' at Astra DB" in done.stdout
    assert astra_stand.token not in done.stdout + done.stderr
