"""The migration lock on every backend: concurrent runs apply each version exactly once; a
second run waits for the holder, or fails naming it; a crashed holder's lock expires."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest
from schema_tool_support import SchemaTarget

from persistence_cassandra.errors import SchemaToolError
from persistence_cassandra.schema import (
    LockSettings,
    MigrationListener,
    MigrationLock,
    open_schema_admin,
    read_schema_set,
    setup_schema,
    update_schema,
)
from persistence_cassandra.schema.admin import new_lock_holder

ALL_VERSIONS = ("0.1", "0.2", "1.0", "1.1")
FAST = LockSettings(ttl=6, wait_timeout=60, poll_interval=0.2)


class WaitCounter(MigrationListener):
    def __init__(self) -> None:
        self.waits = 0
        self.holders: set[str] = set()

    def waiting_for_lock(self, holder, waited: float) -> None:
        self.waits += 1
        self.holders.add(holder.holder_id)


async def _prepared(target: SchemaTarget):
    admin = await target.admin()
    await setup_schema(admin, version="0.0")
    await admin.create_migration_tables()
    return admin


async def test_concurrent_updates_apply_each_version_exactly_once(
    schema_target: SchemaTarget,
) -> None:
    await _prepared(schema_target)
    schema_set = read_schema_set(schema_target.fixture_set())
    first, second = await schema_target.admin(), await schema_target.admin()
    listeners = (WaitCounter(), WaitCounter())
    results = await asyncio.gather(
        update_schema(first, schema_set, lock=FAST, listener=listeners[0]),
        update_schema(second, schema_set, lock=FAST, listener=listeners[1]),
    )
    applied = [v for result in results for v in result.applied_versions]
    assert sorted(applied) == list(ALL_VERSIONS), "every version applied once, by one run"
    assert all(result.final_version == "1.1" for result in results)
    assert await schema_target.audit() == list(ALL_VERSIONS)
    records = await first.read_statement_records("1.1")
    assert [r.index for r in records] == [0, 1, 2]
    history = [(h.old_version, h.new_version) for h in await first.read_history()]
    assert len(history) == len(set(history)) == 5


class SlowHolder(MigrationListener):
    """Run A's listener: it holds its (own) event loop for a while at every version, so that
    run B provably has to wait for the lock."""

    def __init__(self) -> None:
        self.acquired = threading.Event()

    def lock_acquired(self, holder) -> None:
        self.acquired.set()

    def version_started(self, step, resume_from: int) -> None:
        time.sleep(0.4)


async def test_a_second_run_waits_for_the_holder_then_finds_the_work_done(
    schema_target: SchemaTarget,
) -> None:
    await _prepared(schema_target)
    schema_set = read_schema_set(schema_target.fixture_set())
    slow = SlowHolder()

    async def run_a():
        admin = await open_schema_admin(schema_target.datastore, request_timeout=30)
        try:
            return await update_schema(admin, schema_set, lock=FAST, listener=slow)
        finally:
            await admin.close()

    # Run A on its own thread and event loop; run B here, started once A holds the lock.
    run_a_done = asyncio.create_task(asyncio.to_thread(asyncio.run, run_a()))
    assert await asyncio.to_thread(slow.acquired.wait, 30)
    other = await schema_target.admin()
    listener = WaitCounter()
    result_b = await update_schema(other, schema_set, lock=FAST, listener=listener)
    result_a = await run_a_done
    assert list(result_a.applied_versions) == list(ALL_VERSIONS)
    assert listener.waits >= 1, "run B waited for run A's lock"
    assert result_b.applied_versions == () and result_b.final_version == "1.1"
    assert await schema_target.audit() == list(ALL_VERSIONS)


async def test_a_second_run_gives_up_naming_the_holder(schema_target: SchemaTarget) -> None:
    admin = await _prepared(schema_target)
    schema_set = read_schema_set(schema_target.fixture_set())
    other = await schema_target.admin()
    before = await schema_target.snapshot()
    async with MigrationLock(admin, FAST) as held:
        started = time.monotonic()
        impatient = LockSettings(ttl=6, wait_timeout=1.0, poll_interval=0.2)
        with pytest.raises(SchemaToolError) as raised:
            await update_schema(other, schema_set, lock=impatient)
        assert time.monotonic() - started >= 1.0
    message = str(raised.value)
    assert "is being migrated by" in message and "gave up after waiting" in message
    assert held.holder.holder_id in message and f"pid {held.holder.pid}" in message
    assert held.holder.host in message and " since " in message and "UTC" in message
    assert await schema_target.snapshot() == before


async def test_a_crashed_holders_lock_expires(schema_target: SchemaTarget) -> None:
    admin = await _prepared(schema_target)
    schema_set = read_schema_set(schema_target.fixture_set())
    crashed = await schema_target.admin()
    holder = new_lock_holder()
    assert await crashed.try_lock(holder, 2) is None
    started = time.monotonic()
    if schema_target.backend == "postgres":
        # An advisory lock dies with its session: a crashed process closes its connection.
        await crashed.close()
    result = await update_schema(admin, schema_set, lock=FAST)
    waited = time.monotonic() - started
    assert list(result.applied_versions) == list(ALL_VERSIONS)
    if schema_target.backend != "postgres":
        assert waited >= 1.5, "the lease must hold until it expires"
    assert waited < 30


async def test_the_lock_is_renewed_while_a_run_lasts(schema_target: SchemaTarget) -> None:
    admin = await _prepared(schema_target)
    other = await schema_target.admin()
    short = LockSettings(ttl=2, wait_timeout=0.5, poll_interval=0.2)
    async with MigrationLock(admin, short) as held:
        # Longer than the lease: only renewals keep the lock (a PostgreSQL advisory lock has
        # no lease; it lasts as long as the session).
        await asyncio.sleep(0.5 if schema_target.backend == "postgres" else 3.2)
        held.check()
        current = await other.try_lock(new_lock_holder(), 2)
        assert current is not None and current.holder_id == held.holder.holder_id
    assert await other.try_lock(new_lock_holder(), 3) is None, "released on exit"


def _dead_pid() -> int:
    """The pid of a process of this host that has exited."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


class Notes(MigrationListener):
    def __init__(self) -> None:
        self.notes: list[str] = []
        self.waiting: list[object] = []

    def note(self, message: str) -> None:
        self.notes.append(message)

    def waiting_for_lock(self, holder, waited: float) -> None:
        self.waiting.append(holder)


# PostgreSQL's advisory lock dies with the holder's session, so only the lease backends can
# be left locked by a dead process.
LEASE_BACKENDS = pytest.mark.parametrize("schema_target", ["sqlite", "cassandra"], indirect=True)


@LEASE_BACKENDS
async def test_a_lock_left_by_a_dead_process_of_this_host_is_taken_over_at_once(
    schema_target: SchemaTarget,
) -> None:
    lease_target = schema_target
    admin = await _prepared(lease_target)
    dead = replace(new_lock_holder(), pid=_dead_pid())
    assert await admin.try_lock(dead, 600) is None
    listener = Notes()
    patient = LockSettings(ttl=60, wait_timeout=8, poll_interval=0.2)
    started = time.monotonic()
    other = await lease_target.admin()
    result = await update_schema(
        other, read_schema_set(lease_target.fixture_set()), lock=patient, listener=listener
    )
    assert time.monotonic() - started < 8, "taken over, not waited out"
    assert list(result.applied_versions) == list(ALL_VERSIONS)
    (note,) = [n for n in listener.notes if "no longer exists" in n]
    assert dead.holder_id in note and f"pid {dead.pid}" in note and "taking the lock over" in note
    assert listener.waiting == [], "no waiting at all"


@LEASE_BACKENDS
async def test_a_live_or_remote_holder_is_named_with_its_lease_expiry(
    schema_target: SchemaTarget,
) -> None:
    lease_target = schema_target
    admin = await _prepared(lease_target)
    # A dead pid, but on another host: its pid means nothing here, so it is waited for.
    remote = replace(new_lock_holder(), host="elsewhere.example", pid=_dead_pid())
    assert await admin.try_lock(remote, 120) is None
    listener = Notes()
    impatient = LockSettings(ttl=60, wait_timeout=1.0, poll_interval=0.2)
    other = await lease_target.admin()
    with pytest.raises(SchemaToolError) as raised:
        await update_schema(
            other, read_schema_set(lease_target.fixture_set()), lock=impatient, listener=listener
        )
    message = str(raised.value)
    assert "elsewhere.example" in message and remote.holder_id in message
    assert "its lease expires at" in message and "UTC" in message
    assert listener.waiting and all(h.expires_at is not None for h in listener.waiting)
    assert not [n for n in listener.notes if "no longer exists" in n]
