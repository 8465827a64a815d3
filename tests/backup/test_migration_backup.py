"""``schema update-schema --backup`` with a version that fails half-way: the backup was taken
and exists, ``schema history`` names it, and the restore command printed with the failure
brings the keyspace back (its schema version, its tables, every record kind)."""

from __future__ import annotations

import shlex
from pathlib import Path

from backup_support import (
    BackupNodeHandle,
    cassandra_store,
    census_of,
    make_keyspace,
    new_keyspace,
    run_cli,
    schema_state,
    versions_plus_v9,
    write_config,
)

HALF_DONE_TABLE = "made_before_the_failure"


def failing_migration(directory: Path) -> Path:
    """v9.0's first statement creates a table, its second fails (it writes to a table that
    does not exist)."""
    return versions_plus_v9(
        directory,
        "fails half-way",
        f"CREATE TABLE {HALF_DONE_TABLE} (id int PRIMARY KEY);\n"
        "INSERT INTO no_such_table (id) VALUES (1);\n",
    )


async def test_update_schema_backup_then_restore_after_a_failure(
    backup_node: BackupNodeHandle, tmp_path: Path
) -> None:
    host, port = backup_node.host, backup_node.port
    keyspace = new_keyspace("pc_bkm")
    await make_keyspace(host, port, keyspace)
    store = cassandra_store(host, port, keyspace)
    config = write_config(tmp_path, store, [backup_node.facts()])
    base = ["--config", str(config)]
    workload = await run_cli(*base, "workload", "--workflows", "10", "--seed", "5")
    assert workload.exit_code == 0, workload.output
    before = await census_of(store)
    schema_before = schema_state(host, port, keyspace)

    versions = failing_migration(tmp_path)
    update = await run_cli(*base, "schema", "update-schema", "-d", str(versions), "--backup")
    assert update.exit_code == 1, update.output
    assert "version 9.0 failed at statement 2" in update.stderr, update.output
    assert HALF_DONE_TABLE in schema_state(host, port, keyspace)[1]
    lines = update.stderr.splitlines()
    hint = lines.index("restore the keyspace as it was before this migration with:")
    command = shlex.split(lines[hint + 1])
    name = command[command.index("restore") + 1]
    assert name.startswith(f"pre-{keyspace}-")
    assert command[:1] == ["persistence-cassandra"]

    listed = await run_cli(*base, "backup", "list")
    assert name in listed.stdout, listed.output
    history = await run_cli(*base, "schema", "history")
    assert history.exit_code == 0, history.output
    assert f"backup {name}" in history.stdout, history.output

    restore = await run_cli(*command[1:])
    assert restore.exit_code == 0, restore.output
    assert schema_state(host, port, keyspace) == schema_before
    assert await census_of(store) == before
    doctor = await run_cli(*base, "doctor")
    assert doctor.exit_code == 0, doctor.output


async def test_setup_schema_backup_only_when_the_keyspace_holds_tables(
    backup_node: BackupNodeHandle, tmp_path: Path
) -> None:
    host, port = backup_node.host, backup_node.port
    empty = new_keyspace("pc_bks")
    create = await run_cli(
        "schema", "--ep", host, "-p", str(port), "-k", empty, "create-keyspace", "--rf", "1"
    )
    assert create.exit_code == 0, create.output
    config = write_config(tmp_path, cassandra_store(host, port, empty), [backup_node.facts()])
    fresh = await run_cli(
        "--config", str(config), "schema", "setup-schema", "-v", "0.0", "--backup"
    )
    assert fresh.exit_code == 0, fresh.output
    assert "holds no tables yet; nothing to back up" in fresh.stderr

    holding = new_keyspace("pc_bks")
    await make_keyspace(host, port, holding)
    config = write_config(tmp_path, cassandra_store(host, port, holding), [backup_node.facts()])
    again = await run_cli(
        "--config", str(config), "schema", "setup-schema", "-v", "0.0", "--backup"
    )
    assert again.exit_code == 0, again.output
    assert f"backup pre-{holding}-" in again.stderr and "taken before the migration" in again.stderr


async def test_backup_refused_on_astra_and_needs_a_config(tmp_path: Path) -> None:
    astra = {"astra": {"secureConnectBundle": str(tmp_path / "b.zip"), "token": "AstraCS:x"}}
    config = write_config(tmp_path, cassandra_store("h", 9042, "ks", **astra), None)
    run = await run_cli(
        "--config",
        str(config),
        "schema",
        "update-schema",
        "-s",
        "cassandra/persistence",
        "--backup",
    )
    assert run.exit_code == 1, run.output
    assert "Astra DB keeps its own backups" in run.stderr
    assert run.stderr.count("error:") == 1
