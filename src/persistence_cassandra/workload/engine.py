"""The workload: what a history and a matching service do to the stores, in one process.

:func:`run_workload` takes N shards (range-id leases) and a few task queues (leases too),
makes sure the namespace exists, registers the process in cluster membership, then runs M
workflow chains (:mod:`.workflows`) with a bounded number in flight, while the shards' transfer
and timer queues and the task queues' writers and readers run in the background. When every
chain has finished it drains the queues, reads the per-operation metrics, and runs the
integrity check (:mod:`.integrity`).

The mix is deterministic in the seed: which chains continue as new, reuse their workflow id or
reset is decided by their index (so every feature appears in any run of 10 or more workflows),
and each chain's commands and timer delays come from its own seeded generator. Interleavings
between chains are not (they depend on the store's latencies).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
import zlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from persistence_cassandra.errors import NamespaceAlreadyExists, NamespaceNotFound, Timeout
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import (
    ClusterMember,
    HistoryTask,
    MembershipRole,
    NamespaceRecord,
    TaskQueueKey,
    truncate_to_ms,
)
from persistence_cassandra.workload.dead_letters import DeadLetterReplayer
from persistence_cassandra.workload.history_queues import TimerQueue, TransferQueue
from persistence_cassandra.workload.integrity import check_integrity
from persistence_cassandra.workload.matching import TaskQueueOwner
from persistence_cassandra.workload.payloads import TaskPayload, json_blob
from persistence_cassandra.workload.report import (
    Counters,
    IntegrityReport,
    LatencySummary,
    ViolationLog,
    WorkloadReport,
    WorkloadSettings,
)
from persistence_cassandra.workload.server_features import ServerFeatures
from persistence_cassandra.workload.shards import ShardOwner
from persistence_cassandra.workload.state import (
    ChainPlan,
    ChainState,
    ShardServices,
    WorkloadContext,
)
from persistence_cassandra.workload.visibility import VisibilityRecorder
from persistence_cassandra.workload.workflows import WorkflowChain
from persistence_cassandra.workload.writes import retry_idempotent

__all__ = [
    "BOUNDS",
    "WorkloadOptions",
    "WorkloadProgress",
    "plan_chain",
    "resolve_settings",
    "run_workload",
]

WORKFLOW_TASK_QUEUE = 1
ACTIVITY_TASK_QUEUE = 2


BOUNDS: dict[str, tuple[int, int]] = {
    # Every chain's state is kept for the integrity check, so memory grows with this.
    "workflows": (1, 100_000),
    # Each owned shard runs a transfer and a timer queue: two polling tasks per shard.
    "shards": (1, 1_024),
    "concurrency": (1, 1_024),
    # A run's history grows with its transitions, and the check reads it back whole.
    "transitions": (1, 1_000),
    "task_queues": (1, 64),
}
"""Inclusive ranges of the counts a run takes, checked before any work starts (the CLI's
options use the same ranges)."""


def check_bound(name: str, value: int, option: str | None = None) -> None:
    """``ValueError`` naming ``option`` (default ``--name``) and its range when ``value`` is
    outside :data:`BOUNDS`."""
    low, high = BOUNDS[name]
    if not low <= value <= high:
        shown = option or f"--{name.replace('_', '-')}"
        raise ValueError(f"{shown} must be between {low:,} and {high:,} (got {value:,})")


@dataclass(frozen=True, slots=True)
class WorkloadOptions:
    """The size and shape of a run (the CLI's options)."""

    workflows: int = 200
    """Workflow ids to start (each a chain of one to three runs)."""
    shards: int | None = None
    """Shards owned by the process; ``None``: the caller's default (``numHistoryShards``)."""
    concurrency: int = 32
    """Workflow chains in flight at once."""
    transitions: int = 4
    """Workflow tasks in a chain's first run (each followed by an activity, a timer or a
    signal)."""
    duration: float | None = None
    """Seconds after which no new chain is started (those in flight finish)."""
    seed: int | None = None
    """``None``: a random seed (reported, so the mix can be replayed)."""
    task_queues: int = 2
    """Task queues of each type (workflow, activity)."""
    namespace: str = "workload"

    def __post_init__(self) -> None:
        for name in ("workflows", "concurrency", "transitions", "task_queues"):
            check_bound(name, getattr(self, name))
        if self.shards is not None:
            check_bound("shards", self.shards)
        if self.duration is not None and self.duration <= 0:
            raise ValueError("duration must be positive")


@dataclass(frozen=True, slots=True)
class WorkloadProgress:
    """Reported after each chain finishes, and every :data:`PROGRESS_TICK` seconds between
    (so that a run of long workflows shows its transitions advancing)."""

    done: int
    failed: int
    total: int
    elapsed: float
    store_calls: int
    transitions: int = 0
    in_flight: int = 0


PROGRESS_TICK = 0.5
"""Seconds between progress reports while no workflow finishes."""


ProgressCallback = Callable[[WorkloadProgress], None]


def plan_chain(index: int, transitions: int, rng: random.Random) -> ChainPlan:
    """Chain ``index``'s shape: one in five continues as new, one in ten reuses its workflow id
    and one in ten (with at least two transitions) resets at a later transition."""
    reset_at = rng.randint(1, transitions - 1) if transitions >= 2 and index % 10 == 6 else None
    return ChainPlan(
        transitions=transitions,
        continue_as_new=index % 5 == 1,
        reuse=index % 10 == 3,
        reset_at=reset_at,
    )


def _shard_of(workflow_id: str, shards: int) -> int:
    return 1 + zlib.crc32(workflow_id.encode()) % shards


@dataclass(slots=True)
class _Background:
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.create_task(coroutine))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()


async def _namespace_id(persistence: Persistence, name: str) -> str:
    metadata = persistence.metadata
    try:
        return (await retry_idempotent(metadata.get_namespace, name=name)).id
    except NamespaceNotFound:
        pass
    # Another workload may create it at the same moment: then use theirs. An unknown outcome
    # (Timeout) is settled by the read that follows either way.
    with contextlib.suppress(NamespaceAlreadyExists, Timeout):
        await metadata.create_namespace(
            NamespaceRecord(str(uuid.uuid4()), name, json_blob({"owner": "workload"}))
        )
    return (await retry_idempotent(metadata.get_namespace, name=name)).id


async def _register_host(persistence: Persistence, owner: str) -> None:
    now = truncate_to_ms(datetime.now(UTC))
    for role, port in ((MembershipRole.HISTORY, 7234), (MembershipRole.MATCHING, 7235)):
        await retry_idempotent(
            persistence.cluster_metadata.upsert_cluster_membership,
            ClusterMember(
                f"{owner}-{role.name.lower()}",
                "127.0.0.1",
                port,
                role,
                now,
                now,
                now + timedelta(minutes=1),
            ),
        )


def _transfer_handler(
    context: WorkloadContext,
) -> Callable[[HistoryTask], Coroutine[Any, Any, None]]:
    async def handle(task: HistoryTask) -> None:
        payload = TaskPayload.decode(task.blob)
        if payload.kind in (TaskPayload.WORKFLOW_TASK, TaskPayload.ACTIVITY_TASK):
            await context.queue(payload.queue).add(payload)
        elif payload.kind == TaskPayload.SIGNAL:
            waiter = context.signals.pop(payload.token, None)
            if waiter is None:
                raise LookupError(f"signal {payload.token} has no waiting workflow")
            if not waiter.done():
                waiter.set_result(None)
        elif payload.kind != TaskPayload.CLOSE:
            raise ValueError(f"unknown transfer task kind {payload.kind!r}")

    return handle


async def _prepare(
    persistence: Persistence, settings: WorkloadSettings, background: _Background
) -> WorkloadContext:
    counters, violations = Counters(), ViolationLog()
    owner = f"workload-{settings.run_tag}"
    namespace_id = await _namespace_id(persistence, settings.namespace)
    await _register_host(persistence, owner)
    context = WorkloadContext(
        persistence=persistence,
        history=persistence.history_manager,
        settings=settings,
        namespace_id=namespace_id,
        counters=counters,
        violations=violations,
    )
    if persistence.visibility is not None:  # visibility (issue 17)
        context.visibility = VisibilityRecorder(
            persistence.visibility, namespace_id, settings.run_tag
        )
        await context.visibility.prepare()
    owners = [
        ShardOwner(persistence, shard_id, owner, counters)
        for shard_id in range(1, settings.shards + 1)
    ]
    await asyncio.gather(*(shard.acquire() for shard in owners))
    dead_letters = DeadLetterReplayer(persistence, settings.run_tag, violations, counters)
    context.dead_letters = dead_letters
    handle = dead_letters.wrap(_transfer_handler(context))
    background.start(dead_letters.run())
    for shard in owners:
        services = ShardServices(
            shard,
            TransferQueue(persistence, shard, handle, violations, counters),
            TimerQueue(persistence, shard, violations, counters),
        )
        context.shards[shard.shard_id] = services
        background.start(services.transfer.run())
        background.start(services.timers.run())
    for task_type, queues, stem in (
        (WORKFLOW_TASK_QUEUE, context.workflow_queues, "workflow"),
        (ACTIVITY_TASK_QUEUE, context.activity_queues, "activity"),
    ):
        for number in range(settings.task_queues):
            key = TaskQueueKey(namespace_id, f"workload-{stem}-{number}", task_type)
            queues.append(TaskQueueOwner(persistence, key, owner, violations, counters))
    all_queues = [*context.workflow_queues, *context.activity_queues]
    await asyncio.gather(*(queue.acquire() for queue in all_queues))
    for queue in all_queues:
        background.start(queue.run_writer())
        background.start(queue.run_reader())
    return context


@dataclass(slots=True)
class _Tally:
    done: int = 0
    failed: int = 0
    running: set[asyncio.Task[None]] = field(default_factory=set)
    cancelled: int = 0
    """Chains in flight when the run was stopped."""


def _progress(context: WorkloadContext, tally: _Tally, started: float) -> WorkloadProgress:
    return WorkloadProgress(
        tally.done,
        tally.failed,
        context.settings.workflows,
        time.perf_counter() - started,
        context.persistence.metrics.total_calls(),
        context.counters.transitions,
        len(tally.running),
    )


async def _tick(
    context: WorkloadContext, tally: _Tally, on_progress: ProgressCallback, started: float
) -> None:
    while True:
        await asyncio.sleep(PROGRESS_TICK)
        on_progress(_progress(context, tally, started))


async def _run_chains(
    context: WorkloadContext,
    on_progress: ProgressCallback | None,
    started: float,
    tally: _Tally,
) -> None:
    settings = context.settings
    slots = asyncio.Semaphore(settings.concurrency)
    running = tally.running

    def finished(chain: ChainState) -> None:
        tally.done += 1
        tally.failed += bool(chain.failure)
        slots.release()
        if on_progress is not None:
            on_progress(_progress(context, tally, started))

    async def drive(chain: ChainState, rng: random.Random) -> None:
        try:
            await WorkflowChain(context, chain, rng).run()
        finally:
            finished(chain)

    try:
        for index in range(settings.workflows):
            await slots.acquire()
            if settings.duration is not None and time.perf_counter() - started > settings.duration:
                slots.release()
                break
            rng = random.Random(f"{settings.seed}:{index}")
            workflow_id = f"{settings.run_tag}-{index:06d}"
            chain = ChainState(
                index,
                workflow_id,
                _shard_of(workflow_id, settings.shards),
                plan_chain(index, settings.transitions, rng),
            )
            context.chains.append(chain)
            task = asyncio.create_task(drive(chain, rng))
            running.add(task)
            task.add_done_callback(running.discard)
        while running:
            await asyncio.gather(*list(running))
    except asyncio.CancelledError:
        # Stopped: the chains in flight stop at their last write (each store write is atomic).
        in_flight = list(running)
        tally.cancelled = len(in_flight)
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        raise


async def _until_stopped(work: asyncio.Task[None], stop: asyncio.Event | None) -> bool:
    """Wait for ``work``; when ``stop`` is set first, cancel it. True if it was stopped."""
    if stop is None:
        await work
        return False
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if work.done():
        work.result()  # its failure, if any, is the run's
        return False
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work
    return True


async def _drain(context: WorkloadContext) -> None:
    """Finish the background work nobody waits for (close tasks, the last acks)."""
    for services in context.shards.values():
        await services.transfer.process()
    if context.dead_letters is not None:
        await context.dead_letters.replay()
    for queue in (*context.workflow_queues, *context.activity_queues):
        await queue.drain()


def resolve_settings(options: WorkloadOptions, default_shards: int) -> WorkloadSettings:
    if options.shards is None:
        # The config's numHistoryShards may be larger than one process can own.
        check_bound("shards", default_shards, "--shards (default: numHistoryShards)")
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    return WorkloadSettings(
        workflows=options.workflows,
        shards=options.shards or default_shards,
        concurrency=options.concurrency,
        transitions=options.transitions,
        seed=seed,
        duration=options.duration,
        task_queues=options.task_queues,
        namespace=options.namespace,
        run_tag=f"wl-{seed:08x}-{uuid.uuid4().hex[:6]}",
    )


async def run_workload(
    persistence: Persistence,
    options: WorkloadOptions | None = None,
    *,
    default_shards: int = 4,
    on_progress: ProgressCallback | None = None,
    stop: asyncio.Event | None = None,
) -> WorkloadReport:
    """Run the workload on ``persistence`` and check what it stored.

    The persistence's metrics registry is reset first: the report's per-operation figures are
    the workload's alone. A failed check does not raise; see :attr:`WorkloadReport.ok`.
    Setting ``stop`` (the CLI does on Ctrl-C) ends the run at once: the chains in flight are
    cancelled, nothing is drained or checked, and the partial report says how many were in
    flight (:attr:`WorkloadReport.interrupted`).
    """
    settings = resolve_settings(options or WorkloadOptions(), default_shards)
    persistence.metrics.reset()
    background = _Background()
    started = time.perf_counter()
    tally = _Tally()
    interrupted: int | None = None
    features: ServerFeatures | None = None
    try:
        context = await _prepare(persistence, settings, background)
        # User data, sticky queues, a run-time task category (issue 16).
        features = ServerFeatures(context)
        await features.start()
        if on_progress is not None:
            background.start(_tick(context, tally, on_progress, started))
        chains = asyncio.create_task(_run_chains(context, on_progress, started, tally))
        if await _until_stopped(chains, stop):
            interrupted = tally.cancelled
            seconds = time.perf_counter() - started
            operations = persistence.metrics.snapshot()
            integrity = IntegrityReport()
        else:
            await _drain(context)
            await features.finish()
            seconds = time.perf_counter() - started
            operations = persistence.metrics.snapshot()
            integrity = await check_integrity(context, concurrency=settings.concurrency)
            integrity.violations.extend(await features.check())
    finally:
        if features is not None:
            await features.close()
        await background.stop()
    lifecycle = LatencySummary.of(
        chain.finished_at - chain.started_at for chain in context.chains if not chain.failure
    )
    return WorkloadReport(
        backend=persistence.backend_name,
        target=persistence.description,
        settings=settings,
        seconds=seconds,
        counters=context.counters,
        operations=operations,
        lifecycle=lifecycle,
        integrity=integrity,
        interrupted=interrupted,
    )
