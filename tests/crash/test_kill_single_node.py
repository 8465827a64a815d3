"""SIGKILL the single node mid-stream, start it again on the same data: nothing acknowledged is
lost, no range id is granted twice, no db_record_version acknowledged twice.

Writers race through the real stores: shard owners bump a shard's range id
(``update_shard(r + 1, previous_range_id=r)``) and workflow writers bump a run's
``db_record_version``. Every write a writer got an answer of success for is *acknowledged* and
goes into the ledger; a write that failed with ``Timeout(may_have_committed=True)`` (in flight
when the node died) is *unknown* and may or may not be there. After each restart every
acknowledged value must still hold: the stored counter is at least the highest acknowledged
one, the stored payload is one that a writer sent for that counter, and no counter was
acknowledged to two writers. On ``commitlog_sync: periodic`` the same check fails within a few
kills (the node forgets what it acknowledged since its last sync, and the next owner is granted
the same range id again).

The same rounds measure how soon the stores work again after a restart: from the moment the node
answers CQL (its native port accepts connections) and from the restart command, for the
``reconnect:`` defaults and for the driver's own schedule (1 s doubling), side by side.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import pytest
from crash_support import measure_first_success, wait_for_port

from persistence_cassandra.errors import (
    ShardOwnershipLost,
    Timeout,
    Unavailable,
    WorkflowConditionFailed,
)
from persistence_cassandra.records import (
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    ExecutionKey,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import blob, execution_key, mutation, snapshot
from persistence_cassandra.testing.targets import open_datastore

ROUNDS = 5
SHARDS = 2
RUNS = 2
WRITERS_PER_OBJECT = 3
EXECUTION_SHARD = 1_000
"""The shard whose runs the workflow writers update; its range id never moves."""
FIRST_CONTENDED_SHARD = 2_000
DRIVER_DEFAULT_RECONNECT = {"baseDelay": 1.0, "maxDelay": 600.0}
"""``cassandra.cluster.Cluster``'s own schedule, for the comparison."""
DRIVER_DEFAULT_WAIT_SECONDS = 10.0
"""How long after the node answers the comparison probe is waited for: the driver's schedule
may be a minute behind after a long restart, and the test need not wait for it."""
RECOVERY_BOUND_SECONDS = 10.0
"""Generous: the defaults bring the node back within about a second of it answering."""

_rng = random.SystemRandom()


@dataclass
class Ledger:
    """Every counter value a writer was told it got, and every one whose outcome is unknown."""

    acked: dict[str, dict[int, list[bytes]]] = field(default_factory=lambda: defaultdict(dict))
    unknown: dict[str, dict[int, list[bytes]]] = field(default_factory=lambda: defaultdict(dict))
    outcomes: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str, obj: str, counter: int, payload: bytes) -> None:
        book = self.acked if kind == "acked" else self.unknown
        book[obj].setdefault(counter, []).append(payload)
        self.outcomes[kind] += 1

    @property
    def acked_count(self) -> int:
        return sum(len(v) for per in self.acked.values() for v in per.values())

    def check(self, obj: str, stored_counter: int, stored_payload: bytes, initial: int) -> None:
        acked, unknown = self.acked.get(obj, {}), self.unknown.get(obj, {})
        twice = {counter: payloads for counter, payloads in acked.items() if len(payloads) > 1}
        assert not twice, f"{obj}: acknowledged to several writers: {twice}"
        highest = max(acked, default=initial)
        assert stored_counter >= highest, (
            f"{obj}: acknowledged {highest} lost, the node came back with {stored_counter}"
        )
        if stored_counter == initial:
            return
        written = acked.get(stored_counter, []) + unknown.get(stored_counter, [])
        assert stored_payload in written, (
            f"{obj}: stored {stored_counter} holds {stored_payload!r}, which no writer sent for it"
        )


@dataclass
class Workload:
    """The objects the writers fight over, on one store bundle that lives through every kill."""

    stores: StoreBundle
    ledger: Ledger
    shards: list[int]
    runs: list[ExecutionKey]

    async def bump_shard(self, shard_id: int, writer: str) -> None:
        current = await self.stores.shard.get_or_create_shard(shard_id)
        granted = current.range_id + 1
        payload = f"{writer}:{granted}".encode()
        try:
            await self.stores.shard.update_shard(
                shard_id, granted, blob(payload.decode()), current.range_id
            )
        except Timeout as unknown:
            if unknown.may_have_committed:
                self.ledger.record("unknown", f"shard {shard_id}", granted, payload)
            raise
        self.ledger.record("acked", f"shard {shard_id}", granted, payload)

    async def bump_run(self, key: ExecutionKey, writer: str) -> None:
        state = await self.stores.execution.get_workflow_execution(EXECUTION_SHARD, key)
        version = state.db_record_version + 1
        change = mutation(key, db_record_version=version, tag=writer)
        try:
            await self.stores.execution.update_workflow_execution(
                UpdateWorkflowExecutionRequest(
                    EXECUTION_SHARD, 1, UpdateWorkflowMode.UPDATE_CURRENT, change
                )
            )
        except Timeout as unknown:
            if unknown.may_have_committed:
                self.ledger.record("unknown", f"run {key}", version, change.execution_info.data)
            raise
        self.ledger.record("acked", f"run {key}", version, change.execution_info.data)

    async def writer(self, attempt: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await attempt()
            except (ShardOwnershipLost, WorkflowConditionFailed):
                self.ledger.outcomes["lost race"] += 1
            except Timeout:
                self.ledger.outcomes["timeout"] += 1
            except Unavailable:
                # The node is down: nothing was applied; wait a little instead of spinning.
                self.ledger.outcomes["unavailable"] += 1
                await asyncio.sleep(0.2)
            await asyncio.sleep(0)

    async def verify(self) -> None:
        for shard_id in self.shards:
            stored = await self.stores.shard.get_or_create_shard(shard_id)
            self.ledger.check(f"shard {shard_id}", stored.range_id, stored.info.data, 1)
        for key in self.runs:
            state = await self.stores.execution.get_workflow_execution(EXECUTION_SHARD, key)
            self.ledger.check(f"run {key}", state.db_record_version, state.execution_info.data, 1)


async def _first_success_by(probe: asyncio.Task[float], deadline: float) -> float | None:
    """The probe's answer if it comes before ``deadline`` (monotonic), else ``None``."""
    try:
        return await asyncio.wait_for(probe, max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        return None


async def _prepare(stores: StoreBundle) -> Workload:
    shards = [FIRST_CONTENDED_SHARD + n for n in range(SHARDS)]
    for shard_id in [EXECUTION_SHARD, *shards]:
        await stores.shard.get_or_create_shard(shard_id, lambda: (1, blob("initial")))
    runs = []
    for _ in range(RUNS):
        key = execution_key()
        await stores.execution.create_workflow_execution(
            CreateWorkflowExecutionRequest(
                EXECUTION_SHARD, 1, CreateWorkflowMode.BRAND_NEW, snapshot(key)
            )
        )
        runs.append(key)
    return Workload(stores, Ledger(), shards, runs)


@pytest.fixture
async def workload(crash_node) -> AsyncIterator[tuple[Workload, StoreBundle]]:
    """The workload's bundle (``reconnect:`` defaults) and a probe-only bundle on the driver's
    own reconnection schedule."""
    async with AsyncExitStack() as stack:
        stores = await stack.enter_async_context(open_datastore(crash_node.datastore()))
        driver_default = await stack.enter_async_context(
            open_datastore(crash_node.datastore(reconnect=DRIVER_DEFAULT_RECONNECT))
        )
        yield await _prepare(stores), driver_default


async def test_no_acknowledged_write_is_lost_over_kills(crash_node, workload, capsys):
    work, driver_default = workload

    def report(line: str) -> None:
        # Shown as each round ends, so that a failing round still shows the ones before it.
        with capsys.disabled():
            print(line, flush=True)

    for line in [
        "",
        f"crash node 127.0.0.1:{crash_node.port},"
        f" commitlog_sync {crash_node.settings.yaml.commitlog_sync}",
        f"{'round':>5} {'acked':>6} {'unknown':>7} {'restart':>8} {'ours: after CQL':>16}"
        f" {'after cmd':>10} {'driver default: after CQL':>26} {'after cmd':>10}",
    ]:
        report(line)
    recoveries: list[float] = []
    for round_number in range(1, ROUNDS + 1):
        acked_before = work.ledger.acked_count
        unknown_before = work.ledger.outcomes["unknown"]
        stop = asyncio.Event()
        attempts: list[Callable[[], Awaitable[None]]] = []
        for shard_id in work.shards:
            for n in range(WRITERS_PER_OBJECT):
                name = f"r{round_number}-s{shard_id}-w{n}-{uuid.uuid4().hex[:6]}"
                attempts.append(lambda s=shard_id, w=name: work.bump_shard(s, w))
        for key in work.runs:
            for n in range(WRITERS_PER_OBJECT):
                name = f"r{round_number}-w{n}-{uuid.uuid4().hex[:6]}"
                attempts.append(lambda k=key, w=name: work.bump_run(k, w))
        writers = [asyncio.create_task(work.writer(attempt, stop)) for attempt in attempts]
        probes: list[asyncio.Task[float]] = []
        try:
            await asyncio.sleep(_rng.uniform(1.0, 2.0))
            assert work.ledger.acked_count > acked_before, "nothing acknowledged before the kill"
            await asyncio.to_thread(crash_node.kill)
            killed_at = time.monotonic()
            probes = [
                asyncio.create_task(measure_first_success(work.stores)),
                asyncio.create_task(measure_first_success(driver_default)),
            ]
            answering = asyncio.create_task(wait_for_port("127.0.0.1", crash_node.port))
            restart_at = time.monotonic()
            await asyncio.to_thread(crash_node.start)
            cql_at = await answering
            ours = await probes[0]
            # Let the writers go on against the restarted node for a moment, then stop them.
            await asyncio.sleep(1.0)
            theirs = await _first_success_by(probes[1], cql_at + DRIVER_DEFAULT_WAIT_SECONDS)
        finally:
            stop.set()
            await asyncio.gather(*writers)
            for probe in probes:
                probe.cancel()
        recoveries.append(ours - cql_at)
        report(
            f"{round_number:>5} {work.ledger.acked_count - acked_before:>6}"
            f" {work.ledger.outcomes['unknown'] - unknown_before:>7}"
            f" {cql_at - restart_at:>7.1f}s {ours - cql_at:>15.2f}s {ours - restart_at:>9.2f}s"
            + (
                f" {theirs - cql_at:>25.2f}s {theirs - restart_at:>9.2f}s"
                if theirs is not None
                else f" {'> ' + format(DRIVER_DEFAULT_WAIT_SECONDS, '.0f') + 's':>26}"
            )
        )
        assert killed_at <= restart_at
        try:
            await work.verify()
        except AssertionError as lost:
            raise AssertionError(f"after kill {round_number}: {lost}") from None
    report(
        f"{ROUNDS} kills; {work.ledger.acked_count} writes acknowledged, all found after the"
        f" restarts; outcomes {dict(work.ledger.outcomes)}"
    )
    assert max(recoveries) < RECOVERY_BOUND_SECONDS, recoveries
