"""One workflow id driven through its life, the way a history service records it.

Every step appends a batch of history events (transaction ids from the shard's lease, each
batch chained to the previous one) and then commits the run's mutable state with a
``db_record_version`` compare-and-set, fenced by the shard's range id, under the shard lock.
The tasks a write creates travel on: transfer tasks through the shard's transfer queue to a
matching task queue (workflow and activity tasks) or straight back (signals); timer tasks
through the timer queue when due. The workflow waits for each, so a lost task stalls it and
is reported.

A chain is: start (brand new) → transitions (each a workflow task, then an activity, a timer
or a signal it schedules; one may begin with a reset that forks the history and rewrites the
run with a conflict-resolve write) → optionally continue-as-new (the old run closes and the
new one starts in the same write) → completion → optionally a new run reusing the workflow id
(a brand-new start must be refused, naming the closed run; then the start that replaces the
current pointer).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from persistence_cassandra.errors import CurrentWorkflowConditionFailed, ShardOwnershipLost
from persistence_cassandra.managers.history_batch import HistoryEventBatch
from persistence_cassandra.records import (
    ConflictResolveWorkflowExecutionRequest,
    ConflictResolveWorkflowMode,
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    CurrentExecution,
    DataBlob,
    ExecutionKey,
    HistoryTask,
    TaskCategory,
    TaskKey,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowMutableState,
    WorkflowMutation,
    WorkflowSnapshot,
    WorkflowState,
    truncate_to_ms,
)
from persistence_cassandra.visibility.records import ExecutionStatus
from persistence_cassandra.workload.history_queues import TimerQueue
from persistence_cassandra.workload.matching import TaskQueueOwner
from persistence_cassandra.workload.payloads import (
    ENCODING,
    EventType,
    ExecutionInfo,
    ExecutionStateDoc,
    TaskPayload,
    encode_event,
    json_blob,
)
from persistence_cassandra.workload.state import (
    STATUS_COMPLETED,
    STATUS_CONTINUED_AS_NEW,
    STATUS_RUNNING,
    ChainState,
    RunState,
    ShardServices,
    WorkloadContext,
)
from persistence_cassandra.workload.writes import (
    ExecutionRequest,
    RequestBuilder,
    execute_write,
    retry_idempotent,
)

__all__ = ["DELIVERY_TIMEOUT", "WorkflowChain"]

T = TypeVar("T")

DELIVERY_TIMEOUT = 120.0
"""Seconds a workflow waits for a task it scheduled before declaring it lost."""
TIMER_DELAY_MS = (10, 120)
COMMANDS = ("activity", "timer", "signal")


class StepFailed(Exception):
    """A step found something other than what the contract promises."""


@dataclass(frozen=True, slots=True)
class _TaskSpec:
    """A history task to create in a write; its id is allocated under the shard lock."""

    category: TaskCategory
    payload: TaskPayload
    fire_time: datetime | None = None

    def task(self, task_id: int, timers: TimerQueue) -> HistoryTask:
        if self.fire_time is None:
            key = TaskKey.immediate(task_id)
        else:
            key = TaskKey(timers.earliest_fire_time(self.fire_time), task_id)
        return HistoryTask(self.category, key, self.payload.blob())


@dataclass(slots=True)
class _Changes:
    """The collection changes of one mutation."""

    upsert_activities: dict[int, DataBlob] = field(default_factory=dict)
    delete_activities: set[int] = field(default_factory=set)
    upsert_timers: dict[str, DataBlob] = field(default_factory=dict)
    delete_timers: set[str] = field(default_factory=set)
    upsert_signals: dict[int, DataBlob] = field(default_factory=dict)
    delete_signals: set[int] = field(default_factory=set)
    signal_requested: set[str] = field(default_factory=set)


class WorkflowChain:
    """Drives one :class:`ChainState` from start to its last completion."""

    def __init__(self, context: WorkloadContext, chain: ChainState, rng: random.Random) -> None:
        self._context = context
        self._chain = chain
        self._rng = rng
        self._p = context.persistence
        self._history = context.history
        self._wft_queue = context.workflow_queues[chain.index % len(context.workflow_queues)]
        self._activity_queue = context.activity_queues[chain.index % len(context.activity_queues)]
        self._step = "start"
        self._pending_wft: asyncio.Future[int] | None = None
        self._pending_activity: asyncio.Future[int] | None = None
        self._timers: dict[int, asyncio.Future[datetime]] = {}
        self._held: set[tuple[str, int]] = set()
        """Matching tasks received and not yet acknowledged: ``(queue name, task id)``."""

    def _ack(self, queue: TaskQueueOwner, task_id: int) -> None:
        self._held.discard((queue.name, task_id))
        queue.ack(task_id)

    def release(self) -> None:
        """The chain stops for good (its shard moved): give back what it holds in matching,
        so the task queues' ack levels can pass it."""
        for future in (self._pending_wft, self._pending_activity):
            if future is not None:
                future.cancel()
        for name, task_id in list(self._held):
            self._ack(self._context.queue(name), task_id)

    @property
    def _shard(self) -> ShardServices:
        return self._context.shards[self._chain.shard_id]

    async def run(
        self, taken_over: tuple[CurrentExecution, WorkflowMutableState] | None = None
    ) -> None:
        """Run the chain; a failure is recorded (as a violation), never raised.

        ``taken_over``: the current run another owner of the shard left running (its current
        pointer and stored mutable state); it is finished from that state instead.

        Losing the shard is no failure: the chain is marked handed over (its new owner
        finishes it) and nothing more is written.
        """
        chain = self._chain
        chain.started_at = time.perf_counter()
        try:
            if taken_over is None:
                await self._run()
            else:
                await self._recover(*taken_over)
        except Exception as error:
            if self._pending_wft is not None:
                self._pending_wft.cancel()
            if isinstance(error, ShardOwnershipLost) or self._shard_lost():
                chain.handed_over = True
                self._context.counters.handed_over += 1
                return
            chain.failure = f"{self._step}: {type(error).__name__}: {error}"
            self._context.violations.add(f"workflow {chain.workflow_id}", chain.failure)
        finally:
            chain.finished_at = time.perf_counter()

    def _shard_lost(self) -> bool:
        services = self._context.shards.get(self._chain.shard_id)
        return services is None or services.owner.lost

    async def _recover(self, current: CurrentExecution, stored: WorkflowMutableState) -> None:
        """Finish a run left running by the shard's previous owner, from its stored mutable
        state, as a new history host does after a shard move: the pending activity, timer or
        signal it finds is resolved (its task went with the old owner's queues), a new
        workflow task is scheduled, and the workflow completes on it. The chain's later runs
        (continue-as-new, id reuse) belonged to the old owner's in-memory plan: not done."""
        self._step = "takeover: reading the stored run"
        info = ExecutionInfo.decode(stored.execution_info)
        state = ExecutionStateDoc.decode(stored.execution_state)
        run = RunState(
            key=stored.key,
            shard_id=self._chain.shard_id,
            branch_token=info.branch_token,
            create_request_id=current.create_request_id,
            start_time=current.start_time or truncate_to_ms(datetime.now(UTC)),
            next_event_id=stored.next_event_id,
            db_record_version=stored.db_record_version,
            state=state.state,
            status=state.status,
            signal_requested_ids=set(stored.signal_requested_ids),
        )
        # Only batches below next_event_id are committed: a batch the old owner appended for
        # a write that was then fenced is shadowed by the next append (higher txn id).
        token = b""
        while True:
            page = await self._history.read_history_branch(
                run.shard_id, run.branch_token, 1, run.next_event_id, 100, token
            )
            run.nodes.extend(
                (batch.first_event_id, txn)
                for batch, txn in zip(page.batches, page.transaction_ids, strict=True)
            )
            if not page.next_page_token:
                break
            token = page.next_page_token
        self._chain.runs.append(run)
        self._step = "takeover: resolving pending work"
        resolved = [
            *("ActivityTaskTimedOut" for _ in stored.activity_infos),
            *("TimerCanceled" for _ in stored.timer_infos),
            *(EventType.SIGNAL_DELIVERED for _ in stored.signal_infos),
            "WorkflowTaskTimedOut",
            EventType.WFT_SCHEDULED,
        ]
        await self._append(run, *resolved)
        await self._update(
            run,
            _Changes(
                delete_activities=set(stored.activity_infos),
                delete_timers=set(stored.timer_infos),
                delete_signals=set(stored.signal_infos),
            ),
            [self._workflow_task(run)],
        )
        await self._complete(run)
        self._context.counters.recovered += 1
        self._context.counters.workflows_completed += 1

    async def _run(self) -> None:
        plan, counters = self._chain.plan, self._context.counters
        counters.workflows_started += 1
        run = await self._start(previous=None)
        await self._transitions(run, plan.transitions, plan.reset_at)
        if plan.continue_as_new:
            run = await self._continue_as_new(run)
            await self._transitions(run, 1, None)
        await self._complete(run)
        if plan.reuse:
            run = await self._start(previous=run)
            await self._transitions(run, 1, None)
            await self._complete(run)
        counters.workflows_completed += 1

    # ------------------------------------------------------------------ building blocks

    def _new_run(self) -> RunState:
        chain = self._chain
        run = RunState(
            key=ExecutionKey(self._context.namespace_id, chain.workflow_id, str(uuid.uuid4())),
            shard_id=chain.shard_id,
            branch_token=self._history.new_branch_token(),
            create_request_id=str(uuid.uuid4()),
            start_time=truncate_to_ms(datetime.now(UTC)),
        )
        self._context.counters.runs += 1
        return run

    async def _append(self, run: RunState, *event_types: str, new_branch: bool = False) -> int:
        """Append one batch; returns its first event id."""
        first = run.next_event_id
        events = [
            encode_event(first + i, name, run.key.workflow_id) for i, name in enumerate(event_types)
        ]
        (txn_id,) = await self._shard.owner.allocate(1)
        batch = HistoryEventBatch(first, events, ENCODING)
        await retry_idempotent(
            lambda: self._history.append_history_nodes(
                run.shard_id,
                run.branch_token,
                batch,
                txn_id,
                run.last_txn_id,
                is_new_branch=new_branch,
                info=f"workload {run.key.workflow_id}",
            )
        )
        run.nodes.append((first, txn_id))
        run.next_event_id = first + len(events)
        self._context.counters.events += len(events)
        self._context.counters.history_appends += 1
        return first

    def _snapshot(self, run: RunState, tasks: list[HistoryTask]) -> WorkflowSnapshot:
        return WorkflowSnapshot(
            key=run.key,
            execution_info=ExecutionInfo(run.key.workflow_id, run.branch_token).blob(),
            execution_state=ExecutionStateDoc(run.state, run.status).blob(),
            next_event_id=run.next_event_id,
            db_record_version=run.db_record_version + 1,
            state=run.state,
            status=run.status,
            create_request_id=run.create_request_id,
            start_time=run.start_time,
            signal_requested_ids=set(run.signal_requested_ids),
            tasks=tasks,
        )

    def _mutation(
        self,
        run: RunState,
        changes: _Changes,
        tasks: list[HistoryTask],
        *,
        state: WorkflowState = WorkflowState.RUNNING,
        status: int = STATUS_RUNNING,
    ) -> WorkflowMutation:
        return WorkflowMutation(
            key=run.key,
            execution_info=ExecutionInfo(run.key.workflow_id, run.branch_token).blob(),
            execution_state=ExecutionStateDoc(state, status).blob(),
            next_event_id=run.next_event_id,
            db_record_version=run.db_record_version + 1,
            state=state,
            status=status,
            create_request_id=run.create_request_id,
            start_time=run.start_time,
            upsert_activity_infos=changes.upsert_activities,
            delete_activity_infos=changes.delete_activities,
            upsert_timer_infos=changes.upsert_timers,
            delete_timer_infos=changes.delete_timers,
            upsert_signal_infos=changes.upsert_signals,
            delete_signal_infos=changes.delete_signals,
            upsert_signal_requested_ids=changes.signal_requested,
            tasks=tasks,
        )

    async def _commit(self, specs: Sequence[_TaskSpec], build: RequestBuilder) -> list[HistoryTask]:
        """One execution write under the shard lock; returns the tasks it created (already
        announced to the shard's queues)."""
        shard = self._shard
        written: list[HistoryTask] = []

        async def write(task_ids: list[int], range_id: int) -> None:
            tasks = [
                spec.task(task_id, shard.timers)
                for spec, task_id in zip(specs, task_ids, strict=True)
            ]
            # Waiters exist before the tasks can: the timer queue may read them at once.
            timer_ids = [t.key.task_id for t in tasks if t.category == TaskCategory.TIMER]
            for task_id in timer_ids:
                self._timers[task_id] = shard.timers.expect(task_id)
            try:
                await execute_write(self._p, build(range_id, tasks))
            except BaseException:
                for task_id in timer_ids:
                    shard.timers.forget(task_id)
                    self._timers.pop(task_id, None)
                raise
            written.extend(tasks)

        await shard.owner.commit(len(specs), write)
        for task in written:
            if task.category == TaskCategory.TIMER:
                shard.timers.scheduled(task.key)
        if any(task.category == TaskCategory.TRANSFER for task in written):
            shard.transfer.notify()
        return written

    async def _update(
        self,
        run: RunState,
        changes: _Changes,
        specs: Sequence[_TaskSpec] = (),
        *,
        state: WorkflowState = WorkflowState.RUNNING,
        status: int = STATUS_RUNNING,
    ) -> list[HistoryTask]:
        def build(range_id: int, tasks: list[HistoryTask]) -> ExecutionRequest:
            return UpdateWorkflowExecutionRequest(
                run.shard_id,
                range_id,
                UpdateWorkflowMode.UPDATE_CURRENT,
                self._mutation(run, changes, tasks, state=state, status=status),
            )

        written = await self._commit(specs, build)
        run.db_record_version += 1
        run.state, run.status = state, status
        run.signal_requested_ids |= changes.signal_requested
        return written

    def _workflow_task(self, run: RunState) -> _TaskSpec:
        """A transfer task that pushes the run's next workflow task to matching; its poller is
        registered now, before the task can exist."""
        token = run.token("wft")
        self._pending_wft = self._wft_queue.expect(token)
        return _TaskSpec(
            TaskCategory.TRANSFER,
            TaskPayload(TaskPayload.WORKFLOW_TASK, token, self._wft_queue.name),
        )

    async def _receive_workflow_task(self) -> int:
        assert self._pending_wft is not None, "no workflow task is scheduled"
        future = self._pending_wft
        self._step = "waiting for a workflow task"
        task_id = await _wait(future, "workflow task")
        self._pending_wft = None
        self._held.add((self._wft_queue.name, task_id))
        return task_id

    # ------------------------------------------------------------------ runs

    async def _start(self, previous: RunState | None) -> RunState:
        self._step = "start" if previous is None else "start reusing the workflow id"
        run = self._new_run()
        await self._append(run, EventType.STARTED, EventType.WFT_SCHEDULED, new_branch=True)
        spec = self._workflow_task(run)
        if previous is not None:
            await self._expect_brand_new_refused(run, previous, spec)

        def build(range_id: int, tasks: list[HistoryTask]) -> ExecutionRequest:
            if previous is None:
                return CreateWorkflowExecutionRequest(
                    run.shard_id, range_id, CreateWorkflowMode.BRAND_NEW, self._snapshot(run, tasks)
                )
            return CreateWorkflowExecutionRequest(
                run.shard_id,
                range_id,
                CreateWorkflowMode.UPDATE_CURRENT,
                self._snapshot(run, tasks),
                previous_run_id=previous.key.run_id,
                previous_last_write_version=0,
            )

        await self._commit([spec], build)
        run.db_record_version = 1
        self._chain.runs.append(run)
        if previous is not None:
            self._context.counters.id_reuses += 1
        await self._visibility_started(run)
        return run

    async def _expect_brand_new_refused(
        self, run: RunState, previous: RunState, spec: _TaskSpec
    ) -> None:
        """Reusing a workflow id: a brand-new start must fail, naming the closed run."""

        def build(range_id: int, tasks: list[HistoryTask]) -> ExecutionRequest:
            return CreateWorkflowExecutionRequest(
                run.shard_id, range_id, CreateWorkflowMode.BRAND_NEW, self._snapshot(run, tasks)
            )

        try:
            await self._commit([spec], build)
        except CurrentWorkflowConditionFailed as error:
            current = error.current
            if current is None or current.run_id != previous.key.run_id:
                raise StepFailed(
                    f"brand-new start refused naming run {error.run_id}, expected "
                    f"{previous.key.run_id}"
                ) from error
            if current.state is not WorkflowState.COMPLETED:
                raise StepFailed(
                    f"refusal reports the closed run as {current.state.name}"
                ) from error
            return
        raise StepFailed("a brand-new start succeeded although the workflow id has a run")

    async def _transitions(self, run: RunState, count: int, reset_at: int | None) -> None:
        for index in range(count):
            task_id = await self._receive_workflow_task()
            if index == reset_at:
                await self._reset(run, task_id)
                task_id = await self._receive_workflow_task()
            await self._start_workflow_task(run, task_id)
            command = self._rng.choice(COMMANDS)
            self._step = f"{command} command"
            if command == "activity":
                await self._activity(run)
            elif command == "timer":
                await self._timer(run)
            else:
                await self._signal(run)
            self._context.counters.transitions += 1
            if self._context.visibility is not None:
                self._step = "visibility upsert"
                await self._context.visibility.progressed(run, index + 1)

    async def _start_workflow_task(self, run: RunState, task_id: int) -> None:
        self._step = "workflow task started"
        await self._append(run, EventType.WFT_STARTED)
        await self._update(run, _Changes())
        self._ack(self._wft_queue, task_id)

    async def _activity(self, run: RunState) -> None:
        first = await self._append(run, EventType.WFT_COMPLETED, EventType.ACTIVITY_SCHEDULED)
        scheduled_id = first + 1
        token = run.token("activity")
        delivered = self._pending_activity = self._activity_queue.expect(token)
        info = json_blob({"scheduled_event_id": scheduled_id, "queue": self._activity_queue.name})
        try:
            await self._update(
                run,
                _Changes(upsert_activities={scheduled_id: info}),
                [
                    _TaskSpec(
                        TaskCategory.TRANSFER,
                        TaskPayload(TaskPayload.ACTIVITY_TASK, token, self._activity_queue.name),
                    )
                ],
            )
        except BaseException:
            self._activity_queue.forget(token)
            raise
        task_id = await _wait(delivered, "activity task")
        self._pending_activity = None
        self._held.add((self._activity_queue.name, task_id))
        await self._append(
            run, EventType.ACTIVITY_STARTED, EventType.ACTIVITY_COMPLETED, EventType.WFT_SCHEDULED
        )
        await self._update(
            run, _Changes(delete_activities={scheduled_id}), [self._workflow_task(run)]
        )
        self._ack(self._activity_queue, task_id)
        self._context.counters.activities += 1

    async def _timer(self, run: RunState) -> None:
        first = await self._append(run, EventType.WFT_COMPLETED, EventType.TIMER_STARTED)
        timer_id = f"timer-{first + 1}"
        delay = timedelta(milliseconds=self._rng.randint(*TIMER_DELAY_MS))
        fire_time = truncate_to_ms(datetime.now(UTC) + delay)
        written = await self._update(
            run,
            _Changes(upsert_timers={timer_id: json_blob({"started_event_id": first + 1})}),
            [
                _TaskSpec(
                    TaskCategory.TIMER,
                    TaskPayload(TaskPayload.TIMER, run.token("timer")),
                    fire_time,
                )
            ],
        )
        key = written[0].key
        fired_at = await _wait(self._timers.pop(key.task_id), "timer")
        if fired_at < key.fire_time:
            raise StepFailed(
                f"timer due {key.fire_time.isoformat()} fired at {fired_at.isoformat()}"
            )
        await self._append(run, EventType.TIMER_FIRED, EventType.WFT_SCHEDULED)
        await self._update(run, _Changes(delete_timers={timer_id}), [self._workflow_task(run)])

    async def _signal(self, run: RunState) -> None:
        first = await self._append(run, EventType.WFT_COMPLETED, EventType.SIGNAL_INITIATED)
        initiated_id = first + 1
        token = run.token("signal")
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._context.signals[token] = delivered
        request_id = str(uuid.uuid4())
        try:
            await self._update(
                run,
                _Changes(
                    upsert_signals={initiated_id: json_blob({"initiated_event_id": initiated_id})},
                    signal_requested={request_id},
                ),
                [_TaskSpec(TaskCategory.TRANSFER, TaskPayload(TaskPayload.SIGNAL, token))],
            )
        except BaseException:
            self._context.signals.pop(token, None)
            raise
        await _wait(delivered, "signal transfer task")
        await self._append(run, EventType.SIGNAL_DELIVERED, EventType.WFT_SCHEDULED)
        await self._update(run, _Changes(delete_signals={initiated_id}), [self._workflow_task(run)])
        self._context.counters.signals += 1

    async def _reset(self, run: RunState, stale_task_id: int) -> None:
        """Fork the history at an earlier batch and rewrite the run onto the new branch with a
        conflict-resolve write (the run stays current)."""
        self._step = "reset"
        fork_node_id = self._rng.choice([node for node, _ in run.nodes if node > 1])
        old_token, old_next_event_id = run.branch_token, run.next_event_id
        new_token = (
            await self._history.fork_history_branch(
                run.shard_id, old_token, fork_node_id, info=f"workload reset {run.key.workflow_id}"
            )
        ).new_branch_token
        # The workflow task that was just delivered belongs to the abandoned branch.
        self._ack(self._wft_queue, stale_task_id)
        run.forked_from, run.forked_from_next_event_id = old_token, old_next_event_id
        run.branch_token = new_token
        run.nodes = [node for node in run.nodes if node[0] < fork_node_id]
        run.next_event_id = fork_node_id
        await self._append(run, EventType.WFT_FAILED, EventType.WFT_SCHEDULED)
        spec = self._workflow_task(run)

        def build(range_id: int, tasks: list[HistoryTask]) -> ExecutionRequest:
            return ConflictResolveWorkflowExecutionRequest(
                run.shard_id,
                range_id,
                ConflictResolveWorkflowMode.UPDATE_CURRENT,
                reset_snapshot=self._snapshot(run, tasks),
            )

        await self._commit([spec], build)
        run.db_record_version += 1
        self._context.counters.resets += 1

    async def _take_workflow_task(self, run: RunState) -> None:
        task_id = await self._receive_workflow_task()
        await self._start_workflow_task(run, task_id)

    async def _continue_as_new(self, old: RunState) -> RunState:
        await self._take_workflow_task(old)
        self._step = "continue-as-new"
        await self._append(old, EventType.WFT_COMPLETED, EventType.CONTINUED_AS_NEW)
        new = self._new_run()
        await self._append(new, EventType.STARTED, EventType.WFT_SCHEDULED, new_branch=True)
        spec = self._workflow_task(new)

        def build(range_id: int, tasks: list[HistoryTask]) -> ExecutionRequest:
            return UpdateWorkflowExecutionRequest(
                old.shard_id,
                range_id,
                UpdateWorkflowMode.UPDATE_CURRENT,
                self._mutation(
                    old,
                    _Changes(),
                    [],
                    state=WorkflowState.COMPLETED,
                    status=STATUS_CONTINUED_AS_NEW,
                ),
                new_snapshot=self._snapshot(new, tasks),
            )

        await self._commit([spec], build)
        old.db_record_version += 1
        old.state, old.status = WorkflowState.COMPLETED, STATUS_CONTINUED_AS_NEW
        new.db_record_version = 1
        self._chain.runs.append(new)
        self._context.counters.continued_as_new += 1
        await self._visibility_closed(old, ExecutionStatus.CONTINUED_AS_NEW)
        await self._visibility_started(new)
        return new

    async def _complete(self, run: RunState) -> None:
        await self._take_workflow_task(run)
        self._step = "completion"
        await self._append(run, EventType.WFT_COMPLETED, EventType.COMPLETED)
        await self._update(
            run,
            _Changes(),
            [_TaskSpec(TaskCategory.TRANSFER, TaskPayload(TaskPayload.CLOSE, run.token("close")))],
            state=WorkflowState.COMPLETED,
            status=STATUS_COMPLETED,
        )
        await self._visibility_closed(run, ExecutionStatus.COMPLETED)

    # ------------------------------------------------------------------ visibility (issue 17)

    async def _visibility_started(self, run: RunState) -> None:
        if self._context.visibility is not None:
            self._step = "visibility start"
            await self._context.visibility.started(run, self._wft_queue.name)

    async def _visibility_closed(self, run: RunState, status: ExecutionStatus) -> None:
        if self._context.visibility is not None:
            self._step = "visibility close"
            close_time = truncate_to_ms(datetime.now(UTC))
            await self._context.visibility.closed(run, status, close_time)


async def _wait(future: asyncio.Future[T], what: str) -> T:
    try:
        return await asyncio.wait_for(future, DELIVERY_TIMEOUT)
    except TimeoutError:
        raise StepFailed(f"{what} not delivered within {DELIVERY_TIMEOUT:.0f} s") from None
