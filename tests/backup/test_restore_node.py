"""One node, end to end: the workload writes, ``backup create``, more writes and a migration
that adds a table, ``backup restore``: every record kind equals its backup-time state (``copy``'s
per-kind counts and checksums), the schema is back at the backup-time version without the new
table, and the stores open and pass ``doctor``. ``backup verify`` then reports a file deleted
from the backup."""

from __future__ import annotations

import time
from pathlib import Path

from backup_support import (
    EXTRA_TABLE,
    BackupNodeHandle,
    cassandra_store,
    census_of,
    make_keyspace,
    migration_adding_a_table,
    new_keyspace,
    run_cli,
    schema_args,
    schema_state,
    write_config,
)


async def _written_keyspace(
    node: BackupNodeHandle, directory: Path, workflows: int
) -> tuple[str, dict[str, object], list[str]]:
    """A fresh keyspace on the private node after a workload run: its name, its datastore
    and the CLI's ``--config`` arguments for it (with the node's backup block)."""
    keyspace = new_keyspace()
    await make_keyspace(node.host, node.port, keyspace)
    store = cassandra_store(node.host, node.port, keyspace)
    base = ["--config", str(write_config(directory, store, [node.facts()]))]
    workload = await run_cli(*base, "workload", "--workflows", str(workflows), "--seed", "1")
    assert workload.exit_code == 0, workload.output
    return keyspace, store, base


async def test_backup_then_restore_brings_back_the_backup_time_state(
    backup_node: BackupNodeHandle, tmp_path: Path
) -> None:
    host, port = backup_node.host, backup_node.port
    keyspace, store, base = await _written_keyspace(backup_node, tmp_path, 20)
    before = await census_of(store)
    assert sum(count for count, _ in before[0].values()) > 100
    version_before, tables_before = schema_state(host, port, keyspace)

    started = time.monotonic()
    create = await run_cli(*base, "backup", "create", "before-migration")
    created_in = time.monotonic() - started
    assert create.exit_code == 0, create.output
    assert "backed up, verified" in create.stdout
    listed = await run_cli(*base, "backup", "list")
    assert "before-migration" in listed.stdout and "1 backup(s)" in listed.stdout, listed.output

    # After the backup: another workload run and a migration adding a table.
    again = await run_cli(*base, "workload", "--workflows", "10", "--seed", "2")
    assert again.exit_code == 0, again.output
    versions = migration_adding_a_table(tmp_path)
    migrate = await run_cli(
        *schema_args(host, port, keyspace), "update-schema", "-d", str(versions)
    )
    assert migrate.exit_code == 0, migrate.output
    assert await census_of(store) != before
    version_after, tables_after = schema_state(host, port, keyspace)
    assert version_after == "9.0" and EXTRA_TABLE in tables_after

    started = time.monotonic()
    restore = await run_cli(*base, "backup", "restore", "before-migration", "--yes")
    restored_in = time.monotonic() - started
    assert restore.exit_code == 0, restore.output
    assert "restored in place" in restore.stdout

    assert schema_state(host, port, keyspace) == (version_before, tables_before)
    assert await census_of(store) == before
    doctor = await run_cli(*base, "doctor")
    assert doctor.exit_code == 0, doctor.output
    print(f"\nbackup create {created_in:.1f}s, restore {restored_in:.1f}s (CLI, one node)")


async def test_verify_reports_a_file_deleted_from_a_backup(
    backup_node: BackupNodeHandle, tmp_path: Path
) -> None:
    host = backup_node.host
    keyspace, _, base = await _written_keyspace(backup_node, tmp_path, 5)
    create = await run_cli(*base, "backup", "create", "to-damage")
    assert create.exit_code == 0, create.output
    assert (await run_cli(*base, "backup", "verify", "to-damage")).exit_code == 0

    stored = tmp_path / "backups" / "t" / host / "to-damage" / "data" / keyspace
    victim = next(path for path in sorted(stored.rglob("*-Data.db")))
    victim.unlink()
    verify = await run_cli(*base, "backup", "verify", "to-damage")
    assert verify.exit_code == 1, verify.output
    relative = victim.relative_to(tmp_path / "backups" / "t" / host / "to-damage" / "data")
    assert str(relative) in verify.stdout, verify.output
    assert verify.error_lines == ["error: backup to-damage does not verify: 1 problem(s)"]
