"""The SQLite writer commits queued units of work in groups: each unit is atomic on its own,
sees the units before it, and reports nothing until the group's COMMIT succeeded."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from persistence_cassandra.backends.sql.sqlite import SqliteDialect, connection_factory
from persistence_cassandra.backends.sql.sqlite_runner import SqliteRunner
from persistence_cassandra.backends.sql.transaction import Tx
from persistence_cassandra.errors import ConditionFailed, PersistenceError


async def _runner(path: Path) -> SqliteRunner:
    runner = SqliteRunner(SqliteDialect(), connection_factory(str(path), {}, must_exist=False), 1)
    await runner.start()
    await runner.write(lambda tx: tx.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)"))
    return runner


def _insert(key: str):  # type: ignore[no-untyped-def]
    return lambda tx: tx.execute("INSERT INTO kv VALUES (?, 'v')", (key,))


def _keys(tx: Tx) -> list[str]:
    return [row[0] for row in tx.fetchall("SELECT k FROM kv ORDER BY k")]


async def _grouped(runner: SqliteRunner, works: list) -> list[object]:  # type: ignore[type-arg]
    """Run ``works`` as one group: the writer is held busy until all of them are queued."""
    release = threading.Event()
    blocker = asyncio.ensure_future(runner.write(lambda tx: release.wait(10)))
    await asyncio.sleep(0.05)  # the blocker is now running on the writer thread
    tasks = [asyncio.ensure_future(runner.write(work)) for work in works]
    await asyncio.sleep(0.05)
    release.set()
    await blocker
    return list(await asyncio.gather(*tasks, return_exceptions=True))


async def test_a_failing_unit_rolls_back_alone(tmp_path: Path) -> None:
    runner = await _runner(tmp_path / "g.db")
    try:

        def sees_a_then_fails(tx: Tx) -> None:
            assert _keys(tx) == ["a"]  # the unit before it in the group is visible
            tx.execute("INSERT INTO kv VALUES ('b', 'v')")
            raise ConditionFailed("after a write")

        results = await _grouped(runner, [_insert("a"), sees_a_then_fails, _insert("c")])
        assert results[0] == 1
        assert isinstance(results[1], ConditionFailed)
        assert results[2] == 1
        assert await runner.read(_keys) == ["a", "c"]
    finally:
        await runner.close()


async def test_a_broken_transaction_fails_the_whole_group(tmp_path: Path) -> None:
    runner = await _runner(tmp_path / "g.db")
    try:

        def ends_the_transaction(tx: Tx) -> None:
            tx.execute("ROLLBACK")  # stands for an error after which SQLite rolled back
            raise ConditionFailed("unit failed")

        results = await _grouped(runner, [_insert("a"), ends_the_transaction, _insert("c")])
        assert all(isinstance(r, PersistenceError) for r in results), results
        assert await runner.read(_keys) == []
        assert await runner.write(_insert("d")) == 1  # the writer goes on
    finally:
        await runner.close()


async def test_a_driver_error_in_a_unit_is_translated(tmp_path: Path) -> None:
    runner = await _runner(tmp_path / "g.db")
    try:
        results = await _grouped(runner, [_insert("a"), _insert("a"), _insert("b")])
        assert results[0] == 1
        assert isinstance(results[1], ConditionFailed)
        assert isinstance(results[1].__cause__, sqlite3.IntegrityError)
        assert results[2] == 1
        alone = await asyncio.gather(runner.write(_insert("a")), return_exceptions=True)
        assert isinstance(alone[0], ConditionFailed)
    finally:
        await runner.close()


async def test_units_queued_before_close_still_complete(tmp_path: Path) -> None:
    runner = await _runner(tmp_path / "g.db")
    writes = [asyncio.ensure_future(runner.write(_insert(f"k{i}"))) for i in range(50)]
    await asyncio.sleep(0)
    await runner.close()
    assert await asyncio.gather(*writes) == [1] * 50
    with pytest.raises(PersistenceError, match="closed"):
        await runner.write(_insert("late"))


async def test_a_read_left_unfinished_holds_no_snapshot_that_blocks_checkpoints(
    tmp_path: Path,
) -> None:
    runner = await _runner(tmp_path / "w.db")
    try:
        for key in "abc":
            await runner.write(_insert(key))
        # fetchone leaves its statement unfinished: two more rows are pending.
        assert await runner.read(lambda tx: tx.fetchone("SELECT k FROM kv ORDER BY k")) == ("a",)
        await runner.write(_insert("d"))
        checkpoint = runner.writer_executor().submit(  # outside any transaction
            lambda: runner.write_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        )
        busy, _log, _done = await asyncio.wrap_future(checkpoint)
        assert busy == 0, "a reader still holds a snapshot of the log"
    finally:
        await runner.close()
