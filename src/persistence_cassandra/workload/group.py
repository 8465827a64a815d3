"""One member of a workload group: a history host among several, sharing the shards.

A member registers in cluster membership (role history, host id ``<group>/<member>``) and
heartbeats every :data:`HEARTBEAT_SECONDS` with a record that expires :data:`EXPIRY_SECONDS`
later. Every :data:`POLL_SECONDS` it reads the live members and computes the shard assignment
(rendezvous hashing, :mod:`.ownership`); it takes the shards assigned to it with a range bump
(fencing out the previous owner) and gives up those assigned to another.

**Takeover.** A member that dies stops heartbeating; once its record expires the survivors'
assignment hands its shards to them and they take them with a range bump, so any write the
dead (or merely paused) process still has in flight fails with ``ShardOwnershipLost``. The new
owner then deletes the previous owners' history tasks of the shard (their queues went with
them) and *reconciles* every workflow of the shard from the store: not started → started;
current run still running → finished from its stored mutable state
(:meth:`.WorkflowChain.run` with ``taken_over``); closed → nothing to do. The first
acquisition of a shard is the same reconcile, on a shard where nothing has started.

**Self-fencing.** A member whose own heartbeat has not been renewed for longer than the expiry
(minus a margin) may already have lost its shards: it stops (status ``evicted``), and drops
what it observed past that lease horizon, which a takeover explains.

**Finishing.** An idle member (no chain running) drains its queues and writes its result under
``workload-group:<group>:member:<member>`` in cluster metadata, naming the membership view it
is done with. It exits once every member of that view has written a result naming the same
view; a member that notices a death later works on and writes a newer result, so the group
only finishes when the survivors agree. The group's settings are the record
``workload-group:<group>`` (written by whoever starts first; the others adopt it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from persistence_cassandra.errors import ConditionFailed, NotFound, ShardOwnershipLost
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import (
    EPOCH,
    ClusterMember,
    ClusterMetadataRecord,
    ExecutionKey,
    GetClusterMembersRequest,
    GetHistoryTasksRequest,
    MembershipRole,
    TaskCategory,
    TaskKey,
    TaskQueueKey,
    WorkflowState,
    truncate_to_ms,
)
from persistence_cassandra.workload.engine import (
    ACTIVITY_TASK_QUEUE,
    WORKFLOW_TASK_QUEUE,
    _drain,
    _namespace_id,
    _transfer_handler,
    plan_chain,
)
from persistence_cassandra.workload.history_queues import TimerQueue, TransferQueue
from persistence_cassandra.workload.integrity import FAR_FUTURE, check_chains
from persistence_cassandra.workload.matching import TaskQueueOwner
from persistence_cassandra.workload.ownership import shards_of
from persistence_cassandra.workload.payloads import json_blob
from persistence_cassandra.workload.report import (
    Counters,
    Violation,
    ViolationLog,
    WorkloadSettings,
)
from persistence_cassandra.workload.shards import ShardOwner, id_block
from persistence_cassandra.workload.state import ChainState, ShardServices, WorkloadContext
from persistence_cassandra.workload.workflows import WorkflowChain
from persistence_cassandra.workload.writes import retry_idempotent, save_metadata

__all__ = [
    "EXPIRY_SECONDS",
    "HEARTBEAT_SECONDS",
    "POLL_SECONDS",
    "MemberResult",
    "Takeover",
    "group_record_name",
    "join_group",
    "member_record_name",
    "read_member_results",
    "run_member",
    "shard_of",
    "workflow_id",
]

HEARTBEAT_SECONDS = 1.0
EXPIRY_SECONDS = 4.0
POLL_SECONDS = 0.5
LEASE_MARGIN_SECONDS = 0.5
"""A member trusts its shards only until ``last heartbeat + expiry - margin``."""
STARTUP_WAIT_SECONDS = 30.0
"""How long a member waits for the expected number of members before taking shards."""
PAGE = 100


def group_record_name(group: str) -> str:
    return f"workload-group:{group}"


def member_record_name(group: str, member: str) -> str:
    return f"workload-group:{group}:member:{member}"


def workflow_id(group: str, index: int) -> str:
    return f"{group}-{index:06d}"


def shard_of(workflow: str, shards: int) -> int:
    return 1 + zlib.crc32(workflow.encode()) % shards


def _settings_json(settings: WorkloadSettings) -> dict[str, Any]:
    return {
        "workflows": settings.workflows,
        "shards": settings.shards,
        "concurrency": settings.concurrency,
        "transitions": settings.transitions,
        "seed": settings.seed,
        "task_queues": settings.task_queues,
        "namespace": settings.namespace,
    }


async def join_group(
    persistence: Persistence, group: str, proposed: WorkloadSettings
) -> WorkloadSettings:
    """The group's settings: ``proposed`` if this caller creates the group, else the stored
    ones (every member runs the same workflows on the same shards)."""
    store = persistence.cluster_metadata
    name = group_record_name(group)
    # Every member proposes at once; whichever record is stored is the group's.
    await save_metadata(
        persistence, ClusterMetadataRecord(name, json_blob(_settings_json(proposed)), 0)
    )
    stored = json.loads((await retry_idempotent(store.get_cluster_metadata, name)).metadata.data)
    return WorkloadSettings(
        workflows=int(stored["workflows"]),
        shards=int(stored["shards"]),
        concurrency=int(stored["concurrency"]),
        transitions=int(stored["transitions"]),
        seed=int(stored["seed"]),
        duration=None,
        task_queues=int(stored["task_queues"]),
        namespace=str(stored["namespace"]),
        run_tag=group,
    )


@dataclass(frozen=True, slots=True)
class Takeover:
    """A shard this member took from another member of the group."""

    shard_id: int
    from_member: str
    range_id: int
    bumped_at: float
    """Wall clock (epoch seconds) of the range bump."""
    last_heartbeat: float | None
    """The previous owner's last heartbeat this member saw (epoch seconds), if any."""
    tasks_cleared: int

    @property
    def seconds_since_heartbeat(self) -> float | None:
        """An upper bound of death → bump (the death came after that heartbeat)."""
        return None if self.last_heartbeat is None else self.bumped_at - self.last_heartbeat


@dataclass(slots=True)
class MemberResult:
    """What one member did; stored as JSON in cluster metadata."""

    member: str
    status: str
    """``done`` (finished) or ``evicted`` (its lease lapsed: it stopped)."""
    view: list[str]
    shards: list[int]
    counters: Counters
    takeovers: list[Takeover] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    chains_checked: int = 0
    """Chains this member ran to the end and checked against its own model."""
    dropped_violations: int = 0
    """Observations past its lease horizon (explained by a takeover), not counted."""
    store_calls: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "status": self.status,
            "view": self.view,
            "shards": self.shards,
            "counters": {
                name: getattr(self.counters, name) for name in Counters.__dataclass_fields__
            },
            "takeovers": [
                {
                    "shard_id": t.shard_id,
                    "from_member": t.from_member,
                    "range_id": t.range_id,
                    "bumped_at": t.bumped_at,
                    "last_heartbeat": t.last_heartbeat,
                    "tasks_cleared": t.tasks_cleared,
                }
                for t in self.takeovers
            ],
            "violations": [{"where": v.where, "problem": v.problem} for v in self.violations],
            "chains_checked": self.chains_checked,
            "dropped_violations": self.dropped_violations,
            "store_calls": self.store_calls,
            "seconds": self.seconds,
        }

    @staticmethod
    def from_json(document: dict[str, Any]) -> MemberResult:
        return MemberResult(
            member=document["member"],
            status=document["status"],
            view=list(document["view"]),
            shards=list(document["shards"]),
            counters=Counters(**document["counters"]),
            takeovers=[Takeover(**t) for t in document["takeovers"]],
            violations=[Violation(v["where"], v["problem"]) for v in document["violations"]],
            chains_checked=document["chains_checked"],
            dropped_violations=document["dropped_violations"],
            store_calls=document["store_calls"],
            seconds=document["seconds"],
        )


async def read_member_results(persistence: Persistence, group: str) -> dict[str, MemberResult]:
    """Every member result of ``group`` stored so far, by member id."""
    prefix = member_record_name(group, "")
    results: dict[str, MemberResult] = {}
    token = b""
    while True:
        page = await retry_idempotent(
            persistence.cluster_metadata.list_cluster_metadata, PAGE, token
        )
        for record in page.items:
            if record.cluster_name.startswith(prefix):
                result = MemberResult.from_json(json.loads(record.metadata.data))
                results[result.member] = result
        if not page.next_page_token:
            return results
        token = page.next_page_token


class _Member:
    def __init__(
        self,
        persistence: Persistence,
        settings: WorkloadSettings,
        member: str,
        expected_members: int,
        on_progress: Callable[[str], None] | None,
        counters: Counters,
        self_fence: bool,
    ) -> None:
        self._self_fence = self_fence
        self._p = persistence
        self._settings = settings
        self._group = settings.run_tag
        self._member = member
        self._host_id = f"{self._group}/{member}"
        self._expected = expected_members
        self._on_progress = on_progress
        self._counters = counters
        self._violations = ViolationLog()
        self._context: WorkloadContext | None = None
        self._background: list[asyncio.Task[None]] = []
        self._shard_tasks: dict[int, list[asyncio.Task[None]]] = {}
        self._chain_tasks: dict[int, set[asyncio.Task[None]]] = {}
        self._takeovers: list[Takeover] = []
        self._seen: dict[str, float] = {}
        """Last heartbeat seen of every member (epoch seconds)."""
        self._last_beat = 0.0
        self._session_start = truncate_to_ms(datetime.now(UTC))
        self._evicted = asyncio.Event()
        self._changed = asyncio.Event()
        self._record_version = 0
        self._done_view: list[str] | None = None
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._indices = {
            shard: [
                i
                for i in range(settings.workflows)
                if shard_of(workflow_id(self._group, i), settings.shards) == shard
            ]
            for shard in range(1, settings.shards + 1)
        }
        self._last_progress = 0.0

    # ------------------------------------------------------------------ membership

    @property
    def context(self) -> WorkloadContext:
        assert self._context is not None
        return self._context

    def _lease_horizon(self) -> float:
        return self._last_beat + EXPIRY_SECONDS - LEASE_MARGIN_SECONDS

    async def _beat(self) -> None:
        sent = time.monotonic()
        now = truncate_to_ms(datetime.now(UTC))
        await self._p.cluster_metadata.upsert_cluster_membership(
            ClusterMember(
                self._host_id,
                "127.0.0.1",
                7234,
                MembershipRole.HISTORY,
                self._session_start,
                now,
                now + timedelta(seconds=EXPIRY_SECONDS),
            )
        )
        self._last_beat = sent

    async def _heartbeat(self) -> None:
        while not self._evicted.is_set():
            await asyncio.sleep(HEARTBEAT_SECONDS)
            # Past the horizon another member may hold our shards: renewing now would make us
            # look alive to members that already took them. Stop instead.
            if time.monotonic() > self._lease_horizon():
                if self._self_fence:
                    self._evicted.set()
                    self._changed.set()
                return
            with contextlib.suppress(Exception):
                await self._beat()

    async def _live_members(self) -> list[str]:
        prefix = f"{self._group}/"
        live: list[str] = []
        token = b""
        while True:
            page = await retry_idempotent(
                self._p.cluster_metadata.get_cluster_members,
                GetClusterMembersRequest(
                    role=MembershipRole.HISTORY, page_size=PAGE, next_page_token=token
                ),
            )
            for member in page.items:
                if member.host_id.startswith(prefix):
                    live.append(member.host_id)
                    self._seen[member.host_id] = member.last_heartbeat.timestamp()
            if not page.next_page_token:
                return sorted(set(live))
            token = page.next_page_token

    # ------------------------------------------------------------------ shards

    def _lost(self, owner: ShardOwner) -> None:
        self._changed.set()

    async def _take(self, shard_id: int) -> None:
        context = self.context
        owner = ShardOwner(
            self._p, shard_id, self._host_id, self._counters, group=self._group, on_lost=self._lost
        )
        try:
            await owner.acquire()
        except ShardOwnershipLost:
            return  # another member bumped it at the same moment: the next poll decides
        bumped_at = time.time()
        previous = owner.previous_info
        cleared = 0
        if owner.group_first_range_id < owner.range_id:
            cleared = await self._clear_previous_tasks(owner)
        if previous.get("group") == self._group and previous.get("owner") != self._host_id:
            before = str(previous.get("owner"))
            self._takeovers.append(
                Takeover(
                    shard_id, before, owner.range_id, bumped_at, self._seen.get(before), cleared
                )
            )
        handle = _transfer_handler(context)
        services = ShardServices(
            owner,
            TransferQueue(self._p, owner, handle, self._violations, self._counters),
            TimerQueue(self._p, owner, self._violations, self._counters, own_tasks_only=True),
        )
        context.shards[shard_id] = services
        self._shard_tasks[shard_id] = [
            asyncio.create_task(services.transfer.run()),
            asyncio.create_task(services.timers.run()),
        ]
        chains = self._chain_tasks.setdefault(shard_id, set())
        for index in self._indices[shard_id]:
            task = asyncio.create_task(self._reconcile(owner, index))
            chains.add(task)
            task.add_done_callback(chains.discard)

    async def _clear_previous_tasks(self, owner: ShardOwner) -> int:
        """Delete the history tasks earlier owners of the group left in the shard: the work
        they stood for is redone by reconciling the shard's workflows."""
        execution = self._p.execution
        begin = id_block(owner.group_first_range_id)[0]
        end = id_block(owner.range_id)[0]
        cleared = 0
        token = b""
        while True:
            page = await execution.get_history_tasks(
                GetHistoryTasksRequest(
                    owner.shard_id,
                    TaskCategory.TRANSFER,
                    TaskKey.immediate(begin),
                    TaskKey.immediate(end),
                    PAGE,
                    token,
                )
            )
            cleared += len(page.items)
            if not page.next_page_token:
                break
            token = page.next_page_token
        await execution.range_complete_history_tasks(
            owner.shard_id, TaskCategory.TRANSFER, TaskKey.immediate(begin), TaskKey.immediate(end)
        )
        token = b""
        while True:
            page = await execution.get_history_tasks(
                GetHistoryTasksRequest(
                    owner.shard_id, TaskCategory.TIMER, TaskKey(EPOCH, 0), FAR_FUTURE, PAGE, token
                )
            )
            for task in page.items:
                if begin <= task.key.task_id < end:
                    await execution.complete_history_task(
                        owner.shard_id, TaskCategory.TIMER, task.key
                    )
                    cleared += 1
            if not page.next_page_token:
                return cleared
            token = page.next_page_token

    async def _give_up(self, shard_id: int) -> None:
        services = self.context.shards.get(shard_id)
        if services is None:
            return
        services.owner.mark_lost()
        tasks = [*self._chain_tasks.pop(shard_id, set()), *self._shard_tasks.pop(shard_id, [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        del self.context.shards[shard_id]

    async def _reconcile(self, owner: ShardOwner, index: int) -> None:
        context = self.context
        settings = self._settings
        workflow = workflow_id(self._group, index)
        rng = random.Random(f"{settings.seed}:{index}")
        chain = ChainState(
            index, workflow, owner.shard_id, plan_chain(index, settings.transitions, rng)
        )
        runner = WorkflowChain(context, chain, rng)
        async with self._slots:
            if owner.lost:
                return
            try:
                try:
                    current = await self._p.execution.get_current_execution(
                        owner.shard_id, context.namespace_id, workflow
                    )
                except NotFound:
                    context.chains.append(chain)
                    await runner.run()
                else:
                    if current.state is not WorkflowState.RUNNING:
                        return  # finished by an earlier owner
                    stored = await self._p.execution.get_workflow_execution(
                        owner.shard_id, chain_key(context, workflow, current.run_id)
                    )
                    context.chains.append(chain)
                    await runner.run((current, stored))
            except asyncio.CancelledError:
                chain.handed_over = True
                self._counters.handed_over += 1
                runner.release()
                return
            except Exception as error:
                if owner.lost:
                    return
                self._violations.add(
                    f"workflow {workflow}", f"reconcile: {type(error).__name__}: {error}"
                )
            if chain.handed_over:
                runner.release()

    # ------------------------------------------------------------------ the loop

    def _busy(self) -> bool:
        return any(tasks for tasks in self._chain_tasks.values())

    async def _finished(self, view: list[str]) -> bool:
        """Write our result for ``view`` when idle; ``True`` once the whole view is done."""
        if self._busy():
            return False
        if self._done_view != view:
            await _drain(self.context)
            await self._save_result("done", view)
            self._done_view = view
        results = await read_member_results(self._p, self._group)
        return all(
            member.split("/", 1)[1] in results
            and results[member.split("/", 1)[1]].view == view
            and results[member.split("/", 1)[1]].status == "done"
            for member in view
        )

    def _result(self, status: str, view: list[str]) -> MemberResult:
        context = self.context
        horizon = self._lease_horizon() if status == "evicted" else float("inf")
        kept = self._violations.before(horizon)
        return MemberResult(
            member=self._member,
            status=status,
            view=view,
            shards=sorted(context.shards),
            counters=self._counters,
            takeovers=list(self._takeovers),
            violations=kept,
            dropped_violations=len(self._violations) - len(kept),
            store_calls=self._p.metrics.total_calls(),
            seconds=time.perf_counter() - self._started,
        )

    async def _save_result(self, status: str, view: list[str], checked: int = 0) -> MemberResult:
        result = self._result(status, view)
        result.chains_checked = checked
        blob = json_blob(result.to_json())
        name = member_record_name(self._group, self._member)
        record = ClusterMetadataRecord(name, blob, self._record_version)
        if not await save_metadata(self._p, record):
            # Only this member writes its record: another version there is a broken invariant.
            raise ConditionFailed(f"member record {name} moved past version {record.version}")
        self._record_version += 1
        return result

    def _progress(self, view: list[str]) -> None:
        now = time.monotonic()
        if self._on_progress is None or now - self._last_progress < 5.0:
            return
        self._last_progress = now
        counters = self._counters
        self._on_progress(
            f"member {self._member}: {counters.workflows_completed} workflows completed "
            f"({counters.recovered} taken over), shards {sorted(self.context.shards)}, "
            f"{len(view)} live members, {len(self._takeovers)} takeovers"
        )

    async def run(self) -> MemberResult:
        self._started = time.perf_counter()
        settings = self._settings
        namespace_id = await _namespace_id(self._p, settings.namespace)
        context = self._context = WorkloadContext(
            persistence=self._p,
            history=self._p.history_manager,
            settings=settings,
            namespace_id=namespace_id,
            counters=self._counters,
            violations=self._violations,
        )
        for task_type, queues, stem in (
            (WORKFLOW_TASK_QUEUE, context.workflow_queues, "workflow"),
            (ACTIVITY_TASK_QUEUE, context.activity_queues, "activity"),
        ):
            for number in range(settings.task_queues):
                key = TaskQueueKey(
                    namespace_id, f"{self._group}:{self._member}:{stem}-{number}", task_type
                )
                queues.append(
                    TaskQueueOwner(self._p, key, self._host_id, self._violations, self._counters)
                )
        all_queues = [*context.workflow_queues, *context.activity_queues]
        await asyncio.gather(*(queue.acquire() for queue in all_queues))
        for queue in all_queues:
            self._background.append(asyncio.create_task(queue.run_writer()))
            self._background.append(asyncio.create_task(queue.run_reader()))
        await retry_idempotent(self._beat)  # an upsert
        self._background.append(asyncio.create_task(self._heartbeat()))
        try:
            return await self._loop()
        finally:
            for shard_id in list(context.shards):
                await self._give_up(shard_id)
            for task in self._background:
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _loop(self) -> MemberResult:
        deadline = time.monotonic() + STARTUP_WAIT_SECONDS
        while time.monotonic() < deadline:
            if len(await self._live_members()) >= self._expected:
                break
            await asyncio.sleep(POLL_SECONDS)
        view: list[str] = []
        while True:
            if self._evicted.is_set():
                return await self._stop_evicted(view)
            view = await self._live_members()
            if self._host_id not in view:
                self._evicted.set()
                continue
            mine = shards_of(self._host_id, view, self._settings.shards)
            for shard_id in sorted(self.context.shards):
                if shard_id not in mine or self.context.shards[shard_id].owner.lost:
                    await self._give_up(shard_id)
            if time.monotonic() < self._lease_horizon():
                for shard_id in sorted(mine - set(self.context.shards)):
                    await self._take(shard_id)
            self._progress(view)
            if await self._finished(view):
                checked = await self._check_own_chains()
                return await self._save_result("done", view, checked)
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), POLL_SECONDS)

    async def _check_own_chains(self) -> int:
        """The model check of every chain this member ran to its end (nobody else touches
        those); its violations join the member's."""
        chains = [
            chain
            for chain in self.context.chains
            if not chain.failure and not chain.handed_over and chain.runs
        ]
        report = await check_chains(self.context, chains, concurrency=self._settings.concurrency)
        for violation in report:
            self._violations.add(violation.where, violation.problem)
        return len(chains)

    async def _stop_evicted(self, view: list[str]) -> MemberResult:
        for shard_id in list(self.context.shards):
            await self._give_up(shard_id)
        try:
            return await self._save_result("evicted", view)
        except Exception:
            return self._result("evicted", view)


def chain_key(context: WorkloadContext, workflow: str, run_id: str) -> ExecutionKey:
    return ExecutionKey(context.namespace_id, workflow, run_id)


async def run_member(
    persistence: Persistence,
    group: str,
    settings: WorkloadSettings,
    member: str,
    *,
    expected_members: int = 1,
    on_progress: Callable[[str], None] | None = None,
    counters: Counters | None = None,
    self_fence: bool = True,
) -> MemberResult:
    """Run one member of ``group`` until the group is finished (or this member is evicted).

    ``settings`` are proposed for the group (the first member's win); ``expected_members``:
    how many members to wait for (up to 30 s) before taking shards, so that starting members
    do not take shards from each other. ``counters``: updated while it runs (for a caller
    watching its progress). ``self_fence=False`` makes a worst-case zombie for tests: past
    its lease it keeps writing until it sees itself gone from membership, so only the store's
    range-id fencing stops it.
    """
    persistence.metrics.reset()
    agreed = await join_group(persistence, group, settings)
    member_state = _Member(
        persistence,
        agreed,
        member,
        expected_members,
        on_progress,
        counters or Counters(),
        self_fence,
    )
    return await member_state.run()
