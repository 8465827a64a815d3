"""The backup commands' failures, each one ``error:`` line that says what to do: nodetool that
cannot reach JMX, a snapshot that fails (medusa only logs it: the backup would be empty), not
enough disk, a name taken, a restore of a name that does not exist."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest
from backup_support import (
    BackupNodeHandle,
    cassandra_store,
    make_keyspace,
    new_keyspace,
    run_cli,
    write_config,
)

from persistence_cassandra.backup import BackupError, backup_session

_Usage = namedtuple("_Usage", "total used free")


@pytest.fixture
async def keyspace(backup_node: BackupNodeHandle) -> str:
    name = new_keyspace("pc_bkerr")
    await make_keyspace(backup_node.host, backup_node.port, name)
    return name


def _config(node: BackupNodeHandle, keyspace: str, directory: Path, **facts: object) -> Path:
    store = cassandra_store(node.host, node.port, keyspace)
    return write_config(directory, store, [{**node.facts(), **facts}])


async def test_nodetool_that_cannot_reach_jmx(
    backup_node: BackupNodeHandle, keyspace: str, tmp_path: Path
) -> None:
    config = _config(backup_node, keyspace, tmp_path, jmxPort=7398)  # nothing listens there
    run = await run_cli("--config", str(config), "backup", "create", "no-jmx")
    assert run.exit_code == 1, run.output
    (line,) = run.error_lines
    assert "cannot reach the JMX of node 127.0.0.1 at 127.0.0.1:7398" in line
    assert "start Cassandra with JMX on" in line


async def test_a_failed_snapshot_is_an_empty_backup_and_a_failure(
    backup_node: BackupNodeHandle, keyspace: str, tmp_path: Path
) -> None:
    # nodetool answers everything but refuses to snapshot, as a node short of disk would.
    real = backup_node.facts()["nodetool"]
    fake = tmp_path / "nodetool"
    fake.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do [ "$arg" = snapshot ] && { echo "error: snapshot refused" >&2; '
        "exit 2; }; done\n"
        f'exec {real} "$@"\n'
    )
    fake.chmod(0o755)
    config = _config(backup_node, keyspace, tmp_path, nodetool=str(fake))
    run = await run_cli("--config", str(config), "backup", "create", "no-snapshot")
    assert run.exit_code == 1, run.output
    (line,) = run.error_lines
    assert "backup 'no-snapshot' is empty on 127.0.0.1" in line
    assert "nodetool snapshot failed" in line and "was deleted" in line
    listed = await run_cli("--config", str(config), "backup", "list")
    assert "no-snapshot" not in listed.stdout, listed.output


async def test_not_enough_disk(
    backup_node: BackupNodeHandle, keyspace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(backup_node, keyspace, tmp_path)
    session = backup_session(config, "cass")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: _Usage(10**9, 10**9 - 4096, 4096))
    with pytest.raises(
        BackupError,
        match=r"not enough disk for backup 'full-disk': about .* "
        r"needed at .*, 4\.0 KiB free",
    ):
        session.create("full-disk")
    monkeypatch.undo()
    assert "full-disk" not in session.names()


async def test_a_name_taken_and_a_restore_of_a_missing_name(
    backup_node: BackupNodeHandle, keyspace: str, tmp_path: Path
) -> None:
    config = _config(backup_node, keyspace, tmp_path)
    base = ["--config", str(config), "backup"]
    first = await run_cli(*base, "create", "taken")
    assert first.exit_code == 0, first.output
    second = await run_cli(*base, "create", "taken")
    assert second.exit_code == 1, second.output
    assert second.error_lines == [
        "error: a backup named 'taken' already exists for datastore 'cass'; choose another "
        "name or delete it first (backup delete)"
    ]
    missing = await run_cli(*base, "restore", "never-made", "--yes")
    assert missing.exit_code == 1, missing.output
    assert missing.error_lines == [
        "error: no backup named 'never-made' for datastore 'cass' (known: taken)"
    ]
    deleted = await run_cli(*base, "delete", "taken")
    assert deleted.exit_code == 0, deleted.output
    assert "0 backup(s)" in (await run_cli(*base, "list")).stdout
