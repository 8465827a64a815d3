"""The concurrent clients that make a history, and :func:`run_history_check` that runs them.

Scenario (a), shard takeover: clients contend for a few fresh shards. Each reads the shard,
bumps its range id ``r -> r+1`` conditional on ``r`` and, if that was acknowledged, writes a
few history tasks fenced by ``r+1`` (task id = op id, so the final task list names its
writers) until a write is refused. With several contenders a client's lease is often taken
over between its writes, so stale-fenced writes happen all the time and must all be refused.

Scenario (b), one run's compare-and-set: clients read the run and update it with
``db_record_version = read + 1``, tagging the state with their op id, with extra reads in
between. The run lives on a shard leased once in setup and never taken over, so that every
refusal in (b) is the version condition, not the fence.

Both run at once against one :class:`~persistence_cassandra.stores.StoreBundle`, which may be a
cluster under fault injection: the per-call bound, the short back-off after an error and the
retried setup and final reads exist for that case.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from persistence_cassandra.errors import NotFound
from persistence_cassandra.records import (
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    ExecutionKey,
    GetHistoryTasksRequest,
    HistoryTask,
    Page,
    TaskCategory,
    TaskKey,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowMutableState,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import (
    blob,
    collect_pages,
    execution_key,
    mutation,
    random_shard_id,
    snapshot,
)
from persistence_cassandra.testing.history.checker import (
    FinalState,
    HistoryReport,
    RunState,
    check_history,
)
from persistence_cassandra.testing.history.recorder import (
    ABSENT,
    HistoryRecorder,
    Operation,
    OpKind,
    Outcome,
)

__all__ = ["HistorySetupFailed", "run_history_check"]

CALL_TIMEOUT_SECONDS = 30.0
"""Client-side bound of one call: longer than the stores' own timeouts (the Cassandra driver
gives up after about 12 s), so it fires only for a call that would otherwise never return."""
ERROR_BACKOFF_SECONDS = 0.05
"""Pause after an unknown or escaped outcome: the store is in trouble, do not hammer it."""
CONTENTION_JITTER_SECONDS = 0.002
"""Upper bound of the pause after a lost race: varies the interleavings, costs nothing."""
CLIENTS_PER_SHARD = 3
"""Contenders per shard in scenario (a): enough for frequent takeovers mid-lease."""
WRITES_PER_LEASE = 4
EXTRA_READ_CHANCE = 0.3
SETUP_DEADLINE_SECONDS = 120.0
FINAL_READ_ATTEMPTS = 10
TASK_CATEGORY = TaskCategory.TRANSFER
TAG_PREFIX = "op-"


class HistorySetupFailed(Exception):
    """The shards and the run the scenarios need could not be created before the deadline."""


@dataclass(slots=True)
class _Budget:
    """Operations left for one scenario. Clients go on past zero while faults are injected,
    so that every fault meets traffic."""

    remaining: int
    faults_done: asyncio.Event

    def take(self) -> bool:
        if self.remaining > 0:
            self.remaining -= 1
            return True
        return not self.faults_done.is_set()


@dataclass(slots=True)
class _Context:
    bundle: StoreBundle
    recorder: HistoryRecorder
    contended_shards: list[int]
    lease_shard: int = 0
    lease_range: int = 0
    run_key: ExecutionKey = field(default_factory=execution_key)
    created_ranges: dict[int, int] = field(default_factory=dict)


async def _pause(op: Operation, rng: random.Random) -> None:
    if op.outcome is Outcome.FAIL:
        await asyncio.sleep(rng.random() * CONTENTION_JITTER_SECONDS)
    elif op.outcome is not Outcome.OK:
        await asyncio.sleep(ERROR_BACKOFF_SECONDS)


def _shard_initializer(shard_id: int) -> Callable[[], tuple[int, DataBlob]]:
    return lambda: (1, blob(f"history-check shard {shard_id}", "proto3"))


def _writer_of(state: WorkflowMutableState) -> int:
    """The op id the run's tag names, or -1 for a tag no client of ours writes."""
    _, _, tail = state.execution_info.data.decode(errors="replace").rpartition(TAG_PREFIX)
    return int(tail) if tail.isdigit() else -1


# --------------------------------------------------------------------------- setup


async def _settle(
    ctx: _Context, deadline: float, attempt: Callable[[], Awaitable[bool]], what: str
) -> None:
    """Retry ``attempt`` until it reports success: under faults setup may need a few."""
    while time.monotonic() < deadline:
        if await attempt():
            return
        await asyncio.sleep(ERROR_BACKOFF_SECONDS)
    last = ctx.recorder.operations[-1].describe() if ctx.recorder.operations else "no call"
    raise HistorySetupFailed(f"could not {what} within {SETUP_DEADLINE_SECONDS:g}s: {last}")


async def _read_shard(ctx: _Context, client: str, shard_id: int) -> Operation:
    read = ctx.recorder.begin(client, OpKind.SHARD_READ, shard_id=shard_id)
    record = await ctx.recorder.run(
        read,
        functools.partial(
            ctx.bundle.shard.get_or_create_shard, shard_id, _shard_initializer(shard_id)
        ),
    )
    if record is not None:
        read.range_id = record.range_id
    return read


async def _read_run(ctx: _Context, client: str) -> Operation:
    read = ctx.recorder.begin(client, OpKind.RUN_READ)
    state = await ctx.recorder.run(
        read,
        functools.partial(
            ctx.bundle.execution.get_workflow_execution, ctx.lease_shard, ctx.run_key
        ),
    )
    if state is not None:
        read.version, read.writer = state.db_record_version, _writer_of(state)
    return read


async def _setup(ctx: _Context) -> None:
    deadline = time.monotonic() + SETUP_DEADLINE_SECONDS

    async def create_shard(shard_id: int) -> bool:
        read = await _read_shard(ctx, "setup", shard_id)
        if read.outcome is Outcome.OK and read.range_id:
            ctx.created_ranges[shard_id] = read.range_id
            return True
        return False

    for shard_id in [*ctx.contended_shards, ctx.lease_shard]:
        await _settle(
            ctx, deadline, functools.partial(create_shard, shard_id), f"create shard {shard_id}"
        )
    # Nobody bumps the lease shard, so the range it was created with is the lease.
    ctx.lease_range = ctx.created_ranges.pop(ctx.lease_shard)

    async def create_run() -> bool:
        write = ctx.recorder.begin("setup", OpKind.RUN_WRITE, version=1)
        request = CreateWorkflowExecutionRequest(
            shard_id=ctx.lease_shard,
            range_id=ctx.lease_range,
            mode=CreateWorkflowMode.BRAND_NEW,
            new_snapshot=snapshot(ctx.run_key, tag=f"{TAG_PREFIX}{write.op_id}"),
        )
        await ctx.recorder.run(
            write, functools.partial(ctx.bundle.execution.create_workflow_execution, request)
        )
        if write.outcome is Outcome.OK:
            return True
        # An unknown create may have applied, and then a retry is refused: look first.
        read = await _read_run(ctx, "setup")
        return read.outcome is Outcome.OK and read.version > 0

    await _settle(ctx, deadline, create_run, "create the run")


# --------------------------------------------------------------------------- clients


async def _takeover_client(
    ctx: _Context, name: str, shard_id: int, budget: _Budget, rng: random.Random
) -> None:
    recorder, bundle = ctx.recorder, ctx.bundle
    while budget.take():
        read = await _read_shard(ctx, name, shard_id)
        if read.outcome is not Outcome.OK or not budget.take():
            await _pause(read, rng)
            continue
        held = read.range_id + 1
        bump = recorder.begin(
            name, OpKind.SHARD_BUMP, shard_id=shard_id, range_id=held, previous_range_id=held - 1
        )
        owner = blob(f"owner {name} {TAG_PREFIX}{bump.op_id}", "proto3")
        await recorder.run(
            bump, functools.partial(bundle.shard.update_shard, shard_id, held, owner, held - 1)
        )
        if bump.outcome is not Outcome.OK:
            await _pause(bump, rng)
            continue
        for _ in range(rng.randint(1, WRITES_PER_LEASE)):
            if not budget.take():
                return
            write = recorder.begin(name, OpKind.FENCED_WRITE, shard_id=shard_id, range_id=held)
            task = HistoryTask(
                TASK_CATEGORY,
                TaskKey.immediate(write.op_id),
                blob(f"{TAG_PREFIX}{write.op_id} range {held}", "proto3"),
            )
            add = functools.partial(
                bundle.execution.add_history_tasks,
                shard_id,
                held,
                ctx.run_key.namespace_id,
                f"history-check-{shard_id}",
                [task],
            )
            await recorder.run(write, add)
            if write.outcome is not Outcome.OK:
                await _pause(write, rng)
                break
            # Give the other contenders a chance to take over mid-lease.
            await asyncio.sleep(0)


async def _cas_client(ctx: _Context, name: str, budget: _Budget, rng: random.Random) -> None:
    recorder, bundle = ctx.recorder, ctx.bundle
    while budget.take():
        read = await _read_run(ctx, name)
        if read.outcome is not Outcome.OK or read.version == 0:
            await _pause(read, rng)
            continue
        if rng.random() < EXTRA_READ_CHANCE or not budget.take():
            continue
        version = read.version + 1
        write = recorder.begin(name, OpKind.RUN_WRITE, version=version)
        request = UpdateWorkflowExecutionRequest(
            shard_id=ctx.lease_shard,
            range_id=ctx.lease_range,
            mode=UpdateWorkflowMode.UPDATE_CURRENT,
            mutation=mutation(
                ctx.run_key, db_record_version=version, tag=f"{TAG_PREFIX}{write.op_id}"
            ),
        )
        await recorder.run(
            write, functools.partial(bundle.execution.update_workflow_execution, request)
        )
        await _pause(write, rng)


# --------------------------------------------------------------------------- final state


async def _read_back(what: str, read: Callable[[], Awaitable[None]]) -> str:
    """Run ``read`` until it succeeds; returns "" or the last error. After faults a cluster
    may need a moment (hints, a node rejoining), so the pauses grow."""
    error = ""
    for attempt in range(FINAL_READ_ATTEMPTS):
        try:
            async with asyncio.timeout(CALL_TIMEOUT_SECONDS):
                await read()
            return ""
        except Exception as exc:  # any failure is retried, and reported if it persists
            error = f"{what}: {exc!r}"
        if attempt + 1 < FINAL_READ_ATTEMPTS:
            await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
    return error


async def _final_state(ctx: _Context) -> FinalState:
    shard_ranges: dict[int, int] = {}
    fenced_tasks: dict[int, frozenset[int]] = {}
    runs: list[RunState] = []
    bundle = ctx.bundle

    # A missing record is an answer (and a lost write), not a reason to retry.
    async def shard_range(shard_id: int) -> None:
        try:
            shard_ranges[shard_id] = (await bundle.shard.get_or_create_shard(shard_id)).range_id
        except NotFound:
            shard_ranges[shard_id] = ABSENT

    async def tasks(shard_id: int) -> None:
        def page(token: bytes) -> Awaitable[Page[HistoryTask]]:
            return bundle.execution.get_history_tasks(
                GetHistoryTasksRequest(
                    shard_id,
                    TASK_CATEGORY,
                    TaskKey.immediate(0),
                    TaskKey.immediate(2**62),
                    page_size=500,
                    next_page_token=token,
                )
            )

        found, _ = await collect_pages(page)
        fenced_tasks[shard_id] = frozenset(task.key.task_id for task in found)

    async def run() -> None:
        try:
            state = await bundle.execution.get_workflow_execution(ctx.lease_shard, ctx.run_key)
        except NotFound:
            runs.append(RunState(ABSENT, None))
            return
        runs.append(RunState(state.db_record_version, _writer_of(state)))

    reads: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    for shard_id in ctx.contended_shards:
        reads.append((f"range of shard {shard_id}", functools.partial(shard_range, shard_id)))
        reads.append((f"history tasks of shard {shard_id}", functools.partial(tasks, shard_id)))
    reads.append(("the run", run))
    errors = [await _read_back(what, read) for what, read in reads]
    return FinalState(
        created_ranges=dict(ctx.created_ranges),
        shard_ranges=shard_ranges,
        fenced_tasks=fenced_tasks,
        run=runs[-1] if runs else None,
        unreadable=tuple(error for error in errors if error),
    )


# --------------------------------------------------------------------------- entry point


async def run_history_check(
    bundle: StoreBundle,
    *,
    clients: int = 6,
    operations: int = 1000,
    seed: int = 0,
    during: Callable[[], Awaitable[object]] | None = None,
) -> HistoryReport:
    """Record a concurrent history of shard takeovers with fenced writes (a) and of one run's
    ``db_record_version`` compare-and-set (b) on ``bundle``, read the final state back and
    check it.

    ``clients`` clients run per scenario; ``operations`` (reads and writes, setup excluded) is
    split between the two. ``during``, when given, runs concurrently with the clients (it
    injects faults: kills, pauses, partitions) and the clients go on until both the budget is
    spent and ``during`` has returned; its return value is shown in the report. If it raises,
    the clients are stopped and its exception propagates. ``seed`` drives the clients' choices
    (the ids are fresh each run, since bundles may be shared).
    """
    if clients < 1 or operations < 2:
        raise ValueError("a history check needs at least one client and two operations")
    started = time.monotonic()
    recorder = HistoryRecorder(call_timeout=CALL_TIMEOUT_SECONDS)
    shard_count = max(1, clients // CLIENTS_PER_SHARD)
    ctx = _Context(bundle, recorder, [random_shard_id() for _ in range(shard_count)])
    ctx.lease_shard = random_shard_id()
    await _setup(ctx)

    faults_done = asyncio.Event()
    takeovers = _Budget(operations // 2, faults_done)
    updates = _Budget(operations - operations // 2, faults_done)
    faults = ""
    fault_error: Exception | None = None
    if during is None:
        faults_done.set()

    async def inject(during: Callable[[], Awaitable[object]]) -> None:
        # Caught rather than left to the task group, so that the caller gets the injector's
        # own exception, not an ExceptionGroup around it, once the clients have stopped.
        nonlocal faults, fault_error
        try:
            faults = repr(await during())[:200]
        except Exception as exc:
            fault_error = exc
            takeovers.remaining = updates.remaining = 0
        finally:
            faults_done.set()

    async with asyncio.TaskGroup() as group:
        if during is not None:
            group.create_task(inject(during))
        for index in range(clients):
            shard_id = ctx.contended_shards[index % shard_count]
            name = f"takeover-{index}"
            rng = random.Random(f"{seed}:{name}")
            group.create_task(_takeover_client(ctx, name, shard_id, takeovers, rng))
            name = f"cas-{index}"
            group.create_task(_cas_client(ctx, name, updates, random.Random(f"{seed}:{name}")))

    if fault_error is not None:
        raise fault_error
    final = await _final_state(ctx)
    return HistoryReport(
        description=bundle.description,
        operations=recorder.operations,
        final=final,
        violations=check_history(recorder.operations, final),
        elapsed=time.monotonic() - started,
        client_timeouts=recorder.client_timeouts,
        faults=faults,
    )
