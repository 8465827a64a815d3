"""What is specific to SQLite: file and memory modes, several connections on one file, the
busy timeout, and schema creation and verification on open."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sql_test_records import (
    create_run,
    ensure_shard,
    new_key,
    open_bundle,
    sqlite_config,
    update_request,
)

from persistence_cassandra.backends.sql import EXPECTED_SCHEMA_VERSION
from persistence_cassandra.errors import SchemaVersionMismatch, ShardOwnershipLost, Unavailable
from persistence_cassandra.factory import OpenOptions, resolve_backend
from persistence_cassandra.records import DataBlob
from persistence_cassandra.schema.bundled import bundled_schema_set


async def test_memory_mode_has_no_concurrent_writers_and_file_mode_does(tmp_path: Path) -> None:
    memory = await open_bundle(sqlite_config(":memory:"))
    file = await open_bundle(sqlite_config(tmp_path / "f.db"))
    try:
        assert memory.capabilities.concurrent_writers is False
        assert file.capabilities.concurrent_writers is True
        assert memory.description == "sqlite :memory:"
        assert file.description == f"sqlite {tmp_path / 'f.db'}"
        info = await file.server_info()  # type: ignore[misc]
        assert info["schema_version"] == EXPECTED_SCHEMA_VERSION
        assert info["server_version"].startswith("SQLite 3.")
    finally:
        await memory.close()
        await file.close()


async def test_each_memory_store_is_its_own_database() -> None:
    first = await open_bundle(sqlite_config(":memory:"))
    second = await open_bundle(sqlite_config(":memory:"))
    try:
        await ensure_shard(first, 7)
        with pytest.raises(Exception, match="does not exist"):
            await second.shard.get_or_create_shard(7)
    finally:
        await first.close()
        await second.close()


async def test_two_stores_on_one_file_see_and_fence_each_other(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    owner = await open_bundle(sqlite_config(path))
    other = await open_bundle(sqlite_config(path))
    try:
        await ensure_shard(owner, 1)
        key = new_key()
        await create_run(owner, 1, 1, key)
        state = await other.execution.get_workflow_execution(1, key)
        assert state.db_record_version == 1
        # The other connection takes the shard over; the first one's writes are now fenced.
        await other.shard.update_shard(1, 2, DataBlob(b"taken"), 1)
        with pytest.raises(ShardOwnershipLost) as caught:
            await owner.execution.update_workflow_execution(update_request(1, 1, key, 2))
        assert caught.value.actual_range_id == 2
        # Both write concurrently through their own writer connections.
        keys = [new_key() for _ in range(20)]
        await asyncio.gather(
            *(
                create_run(store, 1, 2, k)
                for store, k in zip([owner, other] * 10, keys, strict=True)
            )
        )
        for k in keys:
            assert (await owner.execution.get_workflow_execution(1, k)).db_record_version == 1
    finally:
        await owner.close()
        await other.close()


def _hold_write_lock(path: Path, seconds: float, locked: threading.Event) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    locked.set()
    time.sleep(seconds)
    connection.execute("ROLLBACK")
    connection.close()


async def test_a_writer_waits_out_a_short_foreign_lock(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    bundle = await open_bundle(sqlite_config(path))
    try:
        locked = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, 0.5, locked))
        holder.start()
        await asyncio.to_thread(locked.wait)
        started = time.monotonic()
        await ensure_shard(bundle, 3)
        assert time.monotonic() - started >= 0.3
        await asyncio.to_thread(holder.join)
    finally:
        await bundle.close()


async def test_a_lock_held_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    bundle = await open_bundle(sqlite_config(path, busy_timeout="100"))
    try:
        locked = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, 1.0, locked))
        holder.start()
        await asyncio.to_thread(locked.wait)
        with pytest.raises(Unavailable, match="locked"):
            await ensure_shard(bundle, 4)
        await asyncio.to_thread(holder.join)
        assert await ensure_shard(bundle, 4) == 1  # usable again once the lock is gone
    finally:
        await bundle.close()


async def test_reads_do_not_wait_for_a_foreign_writer(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    bundle = await open_bundle(sqlite_config(path, busy_timeout="100"))
    try:
        await ensure_shard(bundle, 5)
        locked = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, 0.5, locked))
        holder.start()
        await asyncio.to_thread(locked.wait)
        assert (await bundle.shard.get_or_create_shard(5)).range_id == 1  # WAL: no wait
        await asyncio.to_thread(holder.join)
    finally:
        await bundle.close()


async def test_missing_file_without_schema_creation_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    with pytest.raises(SchemaVersionMismatch, match="setup-schema"):
        await open_bundle(sqlite_config(path), create=False)
    assert not path.exists()


async def test_schema_is_created_once_and_reopening_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "store.db"
    first = await open_bundle(sqlite_config(path))
    await ensure_shard(first, 9, 4)
    await first.close()
    again = await open_bundle(sqlite_config(path))
    try:
        assert (await again.shard.get_or_create_shard(9)).range_id == 4
    finally:
        await again.close()
    connection = sqlite3.connect(path)
    history = connection.execute(
        "SELECT old_version, new_version, description FROM schema_update_history "
        "ORDER BY update_time"
    ).fetchall()
    connection.close()
    # The engine's setup (0.0) then its update to each bundled version, each recorded once.
    versions = bundled_schema_set("sqlite").versions
    previous = ["0.0", *(version.version.text for version in versions[:-1])]
    assert history == [
        ("0", "0.0", "initial version"),
        *(
            (old, version.version.text, version.manifest.description)
            for old, version in zip(previous, versions, strict=True)
        ),
    ]


async def test_an_older_schema_is_refused_with_the_command_to_run(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    bundle = await open_bundle(sqlite_config(path))
    await bundle.close()
    connection = sqlite3.connect(path)
    connection.execute("UPDATE schema_version SET curr_version = '0.9'")
    connection.commit()
    connection.close()
    with pytest.raises(SchemaVersionMismatch, match="update-schema") as caught:
        await resolve_backend("sqlite").open(sqlite_config(path), OpenOptions())
    assert caught.value.actual == "0.9"
    assert caught.value.expected == EXPECTED_SCHEMA_VERSION
    # Without verification the store opens (the schema tool's own use).
    unchecked = await resolve_backend("sqlite").open(
        sqlite_config(path), OpenOptions(verify_schema=False)
    )
    await unchecked.close()


async def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    bundle = await open_bundle(sqlite_config(tmp_path / "c.db"))
    await bundle.close()
    await bundle.close()  # idempotent
    with pytest.raises(Unavailable):
        await bundle.shard.get_or_create_shard(1)


async def test_pragmas_come_from_connect_attributes(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    bundle = await open_bundle(sqlite_config(path, synchronous="NORMAL"))
    await bundle.close()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()


async def test_invalid_pragma_is_a_config_error(tmp_path: Path) -> None:
    from persistence_cassandra.errors import ConfigError

    with pytest.raises(ConfigError, match="pragma"):
        await open_bundle(sqlite_config(tmp_path / "x.db", **{"synchronous": "FULL; DROP"}))
