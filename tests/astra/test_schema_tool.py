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
from persistence_cassandra.testing.astra_stand import AstraStand

BUNDLED = "cassandra/persistence"
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
    assert "0.0 -> 1.0" in update.stdout

    status = await schema(astra_stand, keyspace, "status", "--schema-name", BUNDLED)
    assert status.exit_code == 0, status.stderr
    assert "current version:  1.0" in status.stdout
    assert "pending:          none" in status.stdout
    assert "drift:            none" in status.stdout

    verify = await schema(astra_stand, keyspace, "verify", "--schema-name", BUNDLED)
    assert verify.exit_code == 0, verify.stderr
    assert "1.0: ok" in verify.stdout

    again = await schema(astra_stand, keyspace, "update-schema", "--schema-name", BUNDLED)
    assert again.exit_code == 0 and "already at version 1.0" in again.stdout

    history = await schema(astra_stand, keyspace, "history")
    assert history.exit_code == 0
    assert "0.0 -> 1.0" in history.stdout

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


async def test_an_ignored_table_option_is_applied_without_it_and_the_warning_shown(
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
    update = await schema(astra_stand, keyspace, "update-schema", "--schema-dir", str(versions))
    assert update.exit_code == 0, update.stderr
    # Shown, though without the option's name: the CLI prints notes as rich markup, which
    # swallows the server's "[gc_grace_seconds]" (reported; the catalog check below stands).
    shown = " ".join(update.stderr.split())
    assert "server warning" in shown and "not supported for Table Properties" in shown
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
