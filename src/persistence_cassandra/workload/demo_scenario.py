"""The demo scenario: one short workflow lifecycle through every store, checked as it goes.

The scenario does what a history and a matching service would do for one workflow, and checks
what it reads back: create (or reuse) a namespace, acquire shard 1 by bumping its range id,
start a workflow (first history batch, run row, current pointer, a transfer task), a few state
transitions with ``db_record_version`` compare-and-set and timer tasks, a task-queue lease with
matching tasks, continue-as-new, and a final read-back. It also shows that the conditions hold:
a stale version, a stale shard owner and a stale task-queue lease are each refused.

Every run uses fresh workflow and task-queue names, so it can be repeated on the same store.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from persistence_cassandra.errors import (
    ConditionFailed,
    CurrentWorkflowConditionFailed,
    NamespaceAlreadyExists,
    ShardOwnershipLost,
    WorkflowConditionFailed,
)
from persistence_cassandra.managers.history import HistoryBranchManager
from persistence_cassandra.managers.history_batch import HistoryEventBatch
from persistence_cassandra.middleware import OperationSummary
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import (
    EPOCH,
    ClusterMember,
    CreateTasksRequest,
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    ExecutionKey,
    GetHistoryTasksRequest,
    GetTasksRequest,
    HistoryTask,
    MembershipRole,
    NamespaceRecord,
    TaskCategory,
    TaskKey,
    TaskQueueKey,
    TaskQueueRecord,
    TaskRecord,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowMutation,
    WorkflowSnapshot,
    WorkflowState,
    truncate_to_ms,
)

__all__ = ["DemoCheckFailed", "DemoReport", "DemoStep", "run_demo"]

SHARD_ID = 1
NAMESPACE = "demo"
RANGE_SIZE_BITS = 20
"""Task ids of a shard lease come from ``[range_id << 20, (range_id + 1) << 20)``, as in
Temporal, so ids stay unique across owners without coordination."""
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)
STATUS_RUNNING = 1
STATUS_CONTINUED_AS_NEW = 6
WORKFLOW_TASK_QUEUE = 1


class DemoCheckFailed(AssertionError):
    """What the demo read back is not what it wrote."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise DemoCheckFailed(message)


def _json_blob(document: dict[str, object]) -> DataBlob:
    return DataBlob(json.dumps(document, sort_keys=True).encode(), "json")


def _event(event_id: int, event_type: str) -> bytes:
    return json.dumps({"event_id": event_id, "type": event_type}).encode()


@dataclass(frozen=True, slots=True)
class DemoStep:
    name: str
    ok: bool
    seconds: float
    detail: str


@dataclass(slots=True)
class DemoReport:
    backend: str
    target: str
    steps: list[DemoStep] = field(default_factory=list)
    operations: list[OperationSummary] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)


@dataclass(slots=True)
class _Run:
    """What the demo tracks about one workflow run (the history service's mutable state)."""

    key: ExecutionKey
    branch_token: bytes
    create_request_id: str
    next_event_id: int = 1
    db_record_version: int = 0
    last_txn_id: int = 0


class _Scenario:
    """The steps, in order; each returns a one-line account of what it did."""

    def __init__(self, persistence: Persistence) -> None:
        self.p = persistence
        self.history: HistoryBranchManager = persistence.history_manager
        self.suffix = uuid.uuid4().hex[:8]
        self.namespace_id = ""
        self.range_id = 0
        self.next_task_id = 0
        self.run: _Run | None = None
        self.first_run: _Run | None = None
        self.queue = TaskQueueKey("", f"demo-tq-{self.suffix}", WORKFLOW_TASK_QUEUE)
        self.queue_range_id = 0

    def steps(self) -> list[tuple[str, Callable[[], Awaitable[str]]]]:
        return [
            ("create namespace", self.create_namespace),
            ("acquire shard 1", self.acquire_shard),
            ("register host", self.register_host),
            ("start workflow", self.start_workflow),
            ("workflow task started", self.workflow_task_started),
            ("timer started", self.timer_started),
            ("timer fired", self.timer_fired),
            ("stale version refused", self.stale_version_refused),
            ("stale shard owner fenced", self.stale_owner_fenced),
            ("task queue lease", self.lease_task_queue),
            ("matching tasks", self.matching_tasks),
            ("stale lease refused", self.stale_lease_refused),
            ("history tasks", self.history_tasks),
            ("continue-as-new", self.continue_as_new),
            ("read back and verify", self.verify),
            ("clean up task queue", self.clean_up),
        ]

    # ------------------------------------------------------------------ helpers

    def _task_id(self) -> int:
        """The next id of the shard's lease block (history tasks and history txn ids)."""
        self.next_task_id += 1
        return self.next_task_id

    @property
    def _current(self) -> _Run:
        assert self.run is not None, "the workflow has not been started"
        return self.run

    def _new_run(self, workflow_id: str) -> _Run:
        key = ExecutionKey(self.namespace_id, workflow_id, str(uuid.uuid4()))
        return _Run(key, self.history.new_branch_token(), str(uuid.uuid4()))

    async def _append(self, run: _Run, *event_types: str, new_branch: bool = False) -> int:
        first = run.next_event_id
        events = [_event(first + i, name) for i, name in enumerate(event_types)]
        txn_id = self._task_id()
        await self.history.append_history_nodes(
            SHARD_ID,
            run.branch_token,
            HistoryEventBatch(first, events, "json"),
            txn_id,
            run.last_txn_id,
            is_new_branch=new_branch,
            info=f"demo {run.key.workflow_id}",
        )
        run.next_event_id = first + len(events)
        run.last_txn_id = txn_id
        return first

    def _info(self, run: _Run) -> DataBlob:
        token = base64.b64encode(run.branch_token).decode()
        return _json_blob({"workflow_id": run.key.workflow_id, "branch_token": token})

    def _snapshot(self, run: _Run, tasks: list[HistoryTask]) -> WorkflowSnapshot:
        run.db_record_version = 1
        return WorkflowSnapshot(
            key=run.key,
            execution_info=self._info(run),
            execution_state=_json_blob({"state": "running"}),
            next_event_id=run.next_event_id,
            db_record_version=run.db_record_version,
            state=WorkflowState.RUNNING,
            status=STATUS_RUNNING,
            create_request_id=run.create_request_id,
            start_time=truncate_to_ms(datetime.now(UTC)),
            tasks=tasks,
        )

    def _mutation(
        self,
        run: _Run,
        *,
        state: WorkflowState = WorkflowState.RUNNING,
        status: int = STATUS_RUNNING,
        db_record_version: int | None = None,
    ) -> WorkflowMutation:
        return WorkflowMutation(
            key=run.key,
            execution_info=self._info(run),
            execution_state=_json_blob({"state": state.name.lower()}),
            next_event_id=run.next_event_id,
            db_record_version=(
                run.db_record_version + 1 if db_record_version is None else db_record_version
            ),
            state=state,
            status=status,
            create_request_id=run.create_request_id,
        )

    async def _update(self, mutation: WorkflowMutation, range_id: int | None = None) -> None:
        await self.p.execution.update_workflow_execution(
            UpdateWorkflowExecutionRequest(
                SHARD_ID,
                self.range_id if range_id is None else range_id,
                UpdateWorkflowMode.UPDATE_CURRENT,
                mutation,
            )
        )

    def _transfer_task(self) -> HistoryTask:
        return HistoryTask(
            TaskCategory.TRANSFER,
            TaskKey.immediate(self._task_id()),
            _json_blob({"type": "workflow task"}),
        )

    # ------------------------------------------------------------------ steps

    async def create_namespace(self) -> str:
        record = NamespaceRecord(str(uuid.uuid4()), NAMESPACE, _json_blob({"owner": "demo"}))
        try:
            await self.p.metadata.create_namespace(record)
            verb = "created"
        except NamespaceAlreadyExists:
            verb = "reused"
        stored = await self.p.metadata.get_namespace(name=NAMESPACE)
        by_id = await self.p.metadata.get_namespace(id=stored.id)
        _check(by_id.name == NAMESPACE, "namespace read by id has another name")
        self.namespace_id = stored.id
        self.queue = TaskQueueKey(stored.id, self.queue.name, self.queue.task_type)
        version = await self.p.metadata.get_metadata()
        return f"{verb} {NAMESPACE!r} (id {stored.id[:8]}); notification version {version}"

    async def acquire_shard(self) -> str:
        shard = await self.p.shard.get_or_create_shard(
            SHARD_ID, lambda: (0, _json_blob({"owner": "demo"}))
        )
        self.range_id = shard.range_id + 1
        await self.p.shard.update_shard(
            SHARD_ID, self.range_id, _json_blob({"owner": f"demo-{self.suffix}"}), shard.range_id
        )
        self.next_task_id = self.range_id << RANGE_SIZE_BITS
        return (
            f"range_id {shard.range_id} -> {self.range_id}; task ids from {self.next_task_id + 1}"
        )

    async def register_host(self) -> str:
        now = truncate_to_ms(datetime.now(UTC))
        host_id = str(uuid.uuid4())
        await self.p.cluster_metadata.upsert_cluster_membership(
            ClusterMember(
                host_id,
                "127.0.0.1",
                7234,
                MembershipRole.HISTORY,
                now,
                now,
                now + timedelta(minutes=1),
            )
        )
        return f"history host {host_id[:8]} heartbeat (expires in 60 s)"

    async def start_workflow(self) -> str:
        run = self._new_run(f"demo-wf-{self.suffix}")
        await self._append(
            run, "WorkflowExecutionStarted", "WorkflowTaskScheduled", new_branch=True
        )
        await self.p.execution.create_workflow_execution(
            CreateWorkflowExecutionRequest(
                SHARD_ID,
                self.range_id,
                CreateWorkflowMode.BRAND_NEW,
                self._snapshot(run, [self._transfer_task()]),
            )
        )
        self.run = self.first_run = run
        # Starting the same workflow id again must be refused, naming the running run.
        duplicate = self._new_run(run.key.workflow_id)
        try:
            await self.p.execution.create_workflow_execution(
                CreateWorkflowExecutionRequest(
                    SHARD_ID,
                    self.range_id,
                    CreateWorkflowMode.BRAND_NEW,
                    self._snapshot(duplicate, []),
                )
            )
        except CurrentWorkflowConditionFailed as error:
            _check(error.run_id == run.key.run_id, "duplicate start named another run")
        else:
            raise DemoCheckFailed("a second BRAND_NEW start of the same workflow id succeeded")
        return (
            f"{run.key.workflow_id} run {run.key.run_id[:8]}: events 1-2, transfer task; "
            "duplicate start refused"
        )

    async def workflow_task_started(self) -> str:
        run = self._current
        first = await self._append(run, "WorkflowTaskStarted")
        await self._update(self._mutation(run))
        run.db_record_version += 1
        return f"event {first}; db_record_version {run.db_record_version}"

    async def timer_started(self) -> str:
        run = self._current
        first = await self._append(run, "WorkflowTaskCompleted", "TimerStarted")
        mutation = self._mutation(run)
        mutation.upsert_timer_infos["timer-1"] = _json_blob({"started_event_id": first + 1})
        fire_time = truncate_to_ms(datetime.now(UTC) + timedelta(seconds=1))
        mutation.tasks.append(
            HistoryTask(
                TaskCategory.TIMER, TaskKey(fire_time, self._task_id()), _json_blob({"timer": 1})
            )
        )
        await self._update(mutation)
        run.db_record_version += 1
        return f"events {first}-{first + 1}; timer + timer task; version {run.db_record_version}"

    async def timer_fired(self) -> str:
        run = self._current
        first = await self._append(run, "TimerFired", "WorkflowTaskScheduled")
        mutation = self._mutation(run)
        mutation.delete_timer_infos.add("timer-1")
        mutation.tasks.append(self._transfer_task())
        await self._update(mutation)
        run.db_record_version += 1
        return (
            f"events {first}-{first + 1}; timer deleted, transfer task; "
            f"version {run.db_record_version}"
        )

    async def stale_version_refused(self) -> str:
        run = self._current
        stale = self._mutation(run, db_record_version=run.db_record_version)
        try:
            await self._update(stale)
        except WorkflowConditionFailed as error:
            _check(
                error.actual_db_record_version == run.db_record_version,
                f"conflict reported version {error.actual_db_record_version}",
            )
            return f"WorkflowConditionFailed (stored version {error.actual_db_record_version})"
        raise DemoCheckFailed("an update with a stale db_record_version was applied")

    async def stale_owner_fenced(self) -> str:
        run = self._current
        try:
            await self._update(self._mutation(run), range_id=self.range_id - 1)
        except ShardOwnershipLost as error:
            return (
                f"ShardOwnershipLost for range_id {self.range_id - 1} "
                f"(stored range_id {error.actual_range_id})"
            )
        raise DemoCheckFailed("a write with a stale range id was applied")

    async def lease_task_queue(self) -> str:
        info = _json_blob({"kind": "normal"})
        await self.p.task.create_task_queue(TaskQueueRecord(self.queue, 1, info))
        # Taking the lease is a range-id CAS: the new owner's tasks carry range_id 2.
        await self.p.task.update_task_queue(TaskQueueRecord(self.queue, 2, info), 1)
        self.queue_range_id = 2
        stored = await self.p.task.get_task_queue(self.queue)
        _check(stored.range_id == 2, f"task queue range id is {stored.range_id}")
        return f"{self.queue.name}: created, leased (range_id 1 -> 2)"

    def _queue_task_ids(self) -> list[int]:
        base = self.queue_range_id << RANGE_SIZE_BITS
        return [base + i for i in range(1, 4)]

    async def matching_tasks(self) -> str:
        ids = self._queue_task_ids()
        expiry = truncate_to_ms(datetime.now(UTC) + timedelta(hours=1))
        tasks = [TaskRecord(task_id, _json_blob({"task": task_id}), expiry) for task_id in ids]
        await self.p.task.create_tasks(CreateTasksRequest(self.queue, self.queue_range_id, tasks))
        page = await self.p.task.get_tasks(GetTasksRequest(self.queue, 0, ids[-1] + 1, 100))
        _check(
            [t.task_id for t in page.items] == ids, f"read tasks {[t.task_id for t in page.items]}"
        )
        completed = await self.p.task.complete_tasks_less_than(self.queue, ids[-1] + 1)
        if self.p.capabilities.exact_task_completion_count:
            _check(completed == len(ids), f"completed {completed} tasks, expected {len(ids)}")
        after = await self.p.task.get_tasks(GetTasksRequest(self.queue, 0, ids[-1] + 1, 100))
        _check(not after.items, f"{len(after.items)} tasks left after completion")
        return f"created {len(ids)}, read {len(page.items)} in order, completed them"

    async def stale_lease_refused(self) -> str:
        task = TaskRecord(self._queue_task_ids()[-1] + 1, _json_blob({"task": "stale"}))
        try:
            await self.p.task.create_tasks(CreateTasksRequest(self.queue, 1, [task]))
        except ConditionFailed:
            return "create_tasks with range_id 1 refused (ConditionFailed)"
        raise DemoCheckFailed("a stale task-queue owner added a task")

    async def history_tasks(self) -> str:
        begin, end = self.range_id << RANGE_SIZE_BITS, (self.range_id + 1) << RANGE_SIZE_BITS
        transfer = await self.p.execution.get_history_tasks(
            GetHistoryTasksRequest(
                SHARD_ID,
                TaskCategory.TRANSFER,
                TaskKey.immediate(begin),
                TaskKey.immediate(end),
                100,
            )
        )
        _check(len(transfer.items) == 2, f"{len(transfer.items)} transfer tasks, expected 2")
        timers = await self.p.execution.get_history_tasks(
            GetHistoryTasksRequest(
                SHARD_ID, TaskCategory.TIMER, TaskKey(EPOCH, 0), TaskKey(FAR_FUTURE, 0), 1000
            )
        )
        ours = [t for t in timers.items if begin <= t.key.task_id < end]
        _check(len(ours) == 1, f"{len(ours)} timer tasks of this lease, expected 1")
        await self.p.execution.range_complete_history_tasks(
            SHARD_ID, TaskCategory.TRANSFER, TaskKey.immediate(begin), TaskKey.immediate(end)
        )
        await self.p.execution.complete_history_task(SHARD_ID, TaskCategory.TIMER, ours[0].key)
        left = await self.p.execution.get_history_tasks(
            GetHistoryTasksRequest(
                SHARD_ID,
                TaskCategory.TRANSFER,
                TaskKey.immediate(begin),
                TaskKey.immediate(end),
                100,
            )
        )
        _check(not left.items, f"{len(left.items)} transfer tasks left after range completion")
        return "read 2 transfer + 1 timer task; completed them (range + single)"

    async def continue_as_new(self) -> str:
        old = self._current
        first = await self._append(
            old, "WorkflowTaskStarted", "WorkflowTaskCompleted", "WorkflowExecutionContinuedAsNew"
        )
        new = self._new_run(old.key.workflow_id)
        await self._append(
            new, "WorkflowExecutionStarted", "WorkflowTaskScheduled", new_branch=True
        )
        mutation = self._mutation(
            old, state=WorkflowState.COMPLETED, status=STATUS_CONTINUED_AS_NEW
        )
        await self.p.execution.update_workflow_execution(
            UpdateWorkflowExecutionRequest(
                SHARD_ID,
                self.range_id,
                UpdateWorkflowMode.UPDATE_CURRENT,
                mutation,
                new_snapshot=self._snapshot(new, [self._transfer_task()]),
            )
        )
        old.db_record_version += 1
        self.run = new
        return (
            f"old run closed at event {first + 2}; new run {new.key.run_id[:8]} "
            "started in the same write"
        )

    async def _event_ids(self, run: _Run) -> list[int]:
        ids: list[int] = []
        async for batch in self.history.iter_history(SHARD_ID, run.branch_token, page_size=2):
            for offset, raw in enumerate(batch.events):
                event = json.loads(raw)
                _check(event["event_id"] == batch.first_event_id + offset, "event id mismatch")
                ids.append(event["event_id"])
        return ids

    async def verify(self) -> str:
        old, new = self.first_run, self._current
        assert old is not None
        old_ids = await self._event_ids(old)
        _check(old_ids == list(range(1, old.next_event_id)), f"first run events {old_ids}")
        new_ids = await self._event_ids(new)
        _check(new_ids == [1, 2], f"new run events {new_ids}")
        current = await self.p.execution.get_current_execution(
            SHARD_ID, self.namespace_id, new.key.workflow_id
        )
        _check(current.run_id == new.key.run_id, "current pointer did not move to the new run")
        _check(current.state == WorkflowState.RUNNING, f"current state {current.state.name}")
        stored_old = await self.p.execution.get_workflow_execution(SHARD_ID, old.key)
        _check(
            stored_old.db_record_version == old.db_record_version,
            f"first run version {stored_old.db_record_version}, expected {old.db_record_version}",
        )
        _check(stored_old.next_event_id == old.next_event_id, "first run next_event_id differs")
        _check(not stored_old.timer_infos, "the fired timer is still stored")
        stored_new = await self.p.execution.get_workflow_execution(SHARD_ID, new.key)
        _check(stored_new.db_record_version == 1, "new run version is not 1")
        return (
            f"history 1-{len(old_ids)} contiguous (paged by 2) + new run 1-2; "
            f"current -> {new.key.run_id[:8]}; versions {stored_old.db_record_version}/1"
        )

    async def clean_up(self) -> str:
        await self.p.task.delete_task_queue(self.queue, self.queue_range_id)
        return f"deleted {self.queue.name} (workflow data kept)"


async def run_demo(
    persistence: Persistence, on_step: Callable[[DemoStep], None] | None = None
) -> DemoReport:
    """Run the scenario; stops at the first failed step (later steps depend on it)."""
    report = DemoReport(persistence.backend_name, persistence.description)
    scenario = _Scenario(persistence)
    for name, step in scenario.steps():
        started = time.perf_counter()
        try:
            detail = await step()
            ok = True
        except Exception as error:
            detail, ok = f"{type(error).__name__}: {error}", False
        result = DemoStep(name, ok, time.perf_counter() - started, detail)
        report.steps.append(result)
        if on_step is not None:
            on_step(result)
        if not ok:
            break
    report.operations = persistence.metrics.snapshot()
    return report
