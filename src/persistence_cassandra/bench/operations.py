"""The operations ``bench`` measures, each as a pair: through our stores, and raw.

Both halves build their request with the same worker method, then send it: ``ours`` through
the :class:`~persistence_cassandra.persistence.Persistence` an application holds (middleware
included), ``raw`` through the backend's :class:`~persistence_cassandra.bench.baseline.RawBaseline`.

The **lifecycle** is one short workflow as a history and a matching service record it: start
(first history batch on a new branch, the run with a transfer task), the transfer task read,
pushed to matching and completed, the matching task read and completed, four state transitions
with their history batches (an activity scheduled and completed on the way), the transfer
tasks range-completed, and the run read back: 17 store calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from persistence_cassandra.bench.baseline import RawBaseline
from persistence_cassandra.bench.fixtures import (
    COLLECTION_ENTRY,
    EVENT,
    NAMESPACE,
    STATUS_COMPLETED,
    TASK_BLOB,
    BenchWorker,
)
from persistence_cassandra.managers.history import MAX_EVENT_ID
from persistence_cassandra.managers.history_batch import HistoryEventBatch, encode_batch
from persistence_cassandra.managers.history_token import (
    HistoryBranch,
    HistoryTreeInfo,
    encode_tree_info,
)
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import (
    AppendHistoryNodesRequest,
    CreateTasksRequest,
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    ExecutionKey,
    GetHistoryTasksRequest,
    GetTasksRequest,
    TaskCategory,
    TaskKey,
    TaskQueueKey,
    TaskRecord,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowState,
    truncate_to_ms,
)

__all__ = ["LIFECYCLE", "OPERATIONS", "BenchOperation", "operation_names"]

LIFECYCLE = "workflow lifecycle"


@dataclass(frozen=True, slots=True)
class BenchOperation:
    name: str
    ours: Callable[[Persistence, BenchWorker], Awaitable[object]]
    raw: Callable[[RawBaseline, BenchWorker], Awaitable[object]]


# --------------------------------------------------------------------------- the lifecycle


class _Branch:
    """A branch and its token, encoded once."""

    __slots__ = ("branch", "token")

    def __init__(self, branch: HistoryBranch) -> None:
        self.branch = branch
        self.token = branch.token


class _Target(Protocol):
    """What the lifecycle needs; one adapter per side."""

    async def append(
        self, worker: BenchWorker, branch: _Branch, batch: HistoryEventBatch, txn: int, prev: int
    ) -> None: ...

    async def create(self, request: CreateWorkflowExecutionRequest) -> None: ...

    async def update(self, request: UpdateWorkflowExecutionRequest) -> None: ...

    async def get_history_tasks(self, request: GetHistoryTasksRequest) -> object: ...

    async def complete_history_task(
        self, shard_id: int, category: TaskCategory, key: TaskKey
    ) -> None: ...

    async def range_complete(
        self, shard_id: int, category: TaskCategory, low: TaskKey, high: TaskKey
    ) -> None: ...

    async def create_tasks(self, request: CreateTasksRequest) -> None: ...

    async def get_tasks(self, request: GetTasksRequest) -> object: ...

    async def complete_tasks(self, key: TaskQueueKey, exclusive_max: int) -> None: ...

    async def get(self, shard_id: int, key: ExecutionKey) -> object: ...


class _Ours:
    def __init__(self, persistence: Persistence) -> None:
        self._p = persistence

    async def append(
        self, worker: BenchWorker, branch: _Branch, batch: HistoryEventBatch, txn: int, prev: int
    ) -> None:
        await self._p.history_manager.append_history_nodes(
            worker.shard_id, branch.token, batch, txn, prev, is_new_branch=prev == 0
        )

    async def create(self, request: CreateWorkflowExecutionRequest) -> None:
        await self._p.execution.create_workflow_execution(request)

    async def update(self, request: UpdateWorkflowExecutionRequest) -> None:
        await self._p.execution.update_workflow_execution(request)

    async def get_history_tasks(self, request: GetHistoryTasksRequest) -> object:
        return await self._p.execution.get_history_tasks(request)

    async def complete_history_task(
        self, shard_id: int, category: TaskCategory, key: TaskKey
    ) -> None:
        await self._p.execution.complete_history_task(shard_id, category, key)

    async def range_complete(
        self, shard_id: int, category: TaskCategory, low: TaskKey, high: TaskKey
    ) -> None:
        await self._p.execution.range_complete_history_tasks(shard_id, category, low, high)

    async def create_tasks(self, request: CreateTasksRequest) -> None:
        await self._p.task.create_tasks(request)

    async def get_tasks(self, request: GetTasksRequest) -> object:
        return await self._p.task.get_tasks(request)

    async def complete_tasks(self, key: TaskQueueKey, exclusive_max: int) -> None:
        await self._p.task.complete_tasks_less_than(key, exclusive_max)

    async def get(self, shard_id: int, key: ExecutionKey) -> object:
        return await self._p.execution.get_workflow_execution(shard_id, key)


class _Raw:
    def __init__(self, baseline: RawBaseline) -> None:
        self._b = baseline

    async def append(
        self, worker: BenchWorker, branch: _Branch, batch: HistoryEventBatch, txn: int, prev: int
    ) -> None:
        # The same bytes the history manager stores: its framing and tree-info encodings.
        info = None
        if prev == 0:
            fork_time = truncate_to_ms(datetime.now(UTC))
            info = encode_tree_info(HistoryTreeInfo(branch.branch, fork_time, ""))
        await self._b.append_history_nodes(
            AppendHistoryNodesRequest(
                worker.shard_id,
                branch.branch.tree_id,
                branch.branch.branch_id,
                batch.first_event_id,
                txn,
                prev,
                encode_batch(batch),
                info,
            )
        )

    async def create(self, request: CreateWorkflowExecutionRequest) -> None:
        await self._b.create_workflow_execution(request)

    async def update(self, request: UpdateWorkflowExecutionRequest) -> None:
        await self._b.update_workflow_execution(request)

    async def get_history_tasks(self, request: GetHistoryTasksRequest) -> object:
        return await self._b.get_history_tasks(request)

    async def complete_history_task(
        self, shard_id: int, category: TaskCategory, key: TaskKey
    ) -> None:
        await self._b.complete_history_task(shard_id, category, key)

    async def range_complete(
        self, shard_id: int, category: TaskCategory, low: TaskKey, high: TaskKey
    ) -> None:
        await self._b.range_complete_history_tasks(shard_id, category, low, high)

    async def create_tasks(self, request: CreateTasksRequest) -> None:
        await self._b.create_tasks(request)

    async def get_tasks(self, request: GetTasksRequest) -> object:
        return await self._b.get_tasks(request)

    async def complete_tasks(self, key: TaskQueueKey, exclusive_max: int) -> None:
        await self._b.complete_tasks_less_than(key, exclusive_max)

    async def get(self, shard_id: int, key: ExecutionKey) -> object:
        return await self._b.get_workflow_execution(shard_id, key)


async def lifecycle(target: _Target, worker: BenchWorker) -> None:
    shard_id, key = worker.shard_id, worker.new_run()
    # A history service keeps the branch token in the run's state: encoded once per run.
    branch = _Branch(HistoryBranch(key.run_id, key.workflow_id))
    queue = worker.lifecycle_queue
    next_event_id, txn = 1, 0

    async def append(count: int) -> None:
        nonlocal next_event_id, txn
        (new_txn,) = worker.take_ids()
        batch = HistoryEventBatch(next_event_id, [EVENT] * count, "proto3")
        await target.append(worker, branch, batch, new_txn, txn)
        next_event_id += count
        txn = new_txn

    version = 1

    async def update(tasks: bool, **changes: object) -> int:
        nonlocal version
        version += 1
        transfer = [worker.transfer_task()] if tasks else []
        await target.update(
            UpdateWorkflowExecutionRequest(
                shard_id,
                worker.range_id,
                UpdateWorkflowMode.UPDATE_CURRENT,
                worker.mutation(key, version, next_event_id, transfer, **changes),  # type: ignore[arg-type]
            )
        )
        return transfer[0].key.task_id if transfer else 0

    await append(2)
    first_task = worker.transfer_task()
    await target.create(
        CreateWorkflowExecutionRequest(
            shard_id,
            worker.range_id,
            CreateWorkflowMode.BRAND_NEW,
            worker.snapshot(key, [first_task]),
        )
    )
    low = first_task.key
    await target.get_history_tasks(
        GetHistoryTasksRequest(
            shard_id, TaskCategory.TRANSFER, low, TaskKey.immediate(low.task_id + 1), 10
        )
    )
    matching_id = worker.take_task_id()
    await target.create_tasks(
        CreateTasksRequest(queue, worker.queue_range_id, [TaskRecord(matching_id, TASK_BLOB)])
    )
    await target.complete_history_task(shard_id, TaskCategory.TRANSFER, low)
    await target.get_tasks(GetTasksRequest(queue, matching_id, matching_id + 1, 10))
    await append(1)
    await update(False)
    await target.complete_tasks(queue, matching_id + 1)
    await append(2)
    entry = DataBlob(COLLECTION_ENTRY, "proto3")
    await update(True, upsert_activity_infos={next_event_id - 1: entry})
    await append(3)
    last_task = await update(True, delete_activity_infos={next_event_id - 4})
    await append(2)
    version += 1
    await target.update(
        UpdateWorkflowExecutionRequest(
            shard_id,
            worker.range_id,
            UpdateWorkflowMode.UPDATE_CURRENT,
            worker.mutation(
                key,
                version,
                next_event_id,
                [],
                state=WorkflowState.COMPLETED,
                status=STATUS_COMPLETED,
            ),
        )
    )
    await target.range_complete(
        shard_id, TaskCategory.TRANSFER, low, TaskKey.immediate(last_task + 1)
    )
    await target.get(shard_id, key)


# --------------------------------------------------------------------------- the table


def _manager_read(persistence: Persistence, worker: BenchWorker) -> Awaitable[object]:
    return persistence.history_manager.read_history_branch(
        worker.shard_id, worker.read_token, 1, MAX_EVENT_ID, 100
    )


OPERATIONS: tuple[BenchOperation, ...] = (
    BenchOperation(
        "shard.update_shard",
        lambda p, w: p.shard.update_shard(*w.shard_update()),
        lambda b, w: b.update_shard(*w.shard_update()),
    ),
    BenchOperation(
        "execution.create_workflow_execution",
        lambda p, w: p.execution.create_workflow_execution(w.create_request()),
        lambda b, w: b.create_workflow_execution(w.create_request()),
    ),
    BenchOperation(
        "execution.update_workflow_execution",
        lambda p, w: p.execution.update_workflow_execution(w.update_request()),
        lambda b, w: b.update_workflow_execution(w.update_request()),
    ),
    BenchOperation(
        "execution.get_workflow_execution",
        lambda p, w: p.execution.get_workflow_execution(w.shard_id, w.run),
        lambda b, w: b.get_workflow_execution(w.shard_id, w.run),
    ),
    BenchOperation(
        "history.append_history_nodes",
        lambda p, w: p.history.append_history_nodes(w.append_request()),
        lambda b, w: b.append_history_nodes(w.append_request()),
    ),
    BenchOperation(
        "history.read_history_branch",
        lambda p, w: p.history.read_history_branch(w.read_request()),
        lambda b, w: b.read_history_branch(w.read_request()),
    ),
    BenchOperation(
        "history_manager.read_history_branch",
        _manager_read,
        lambda b, w: b.read_history_branch(w.read_request()),
    ),
    BenchOperation(
        "task.create_tasks",
        lambda p, w: p.task.create_tasks(w.create_tasks_request()),
        lambda b, w: b.create_tasks(w.create_tasks_request()),
    ),
    BenchOperation(
        "task.get_tasks",
        lambda p, w: p.task.get_tasks(w.get_tasks_request()),
        lambda b, w: b.get_tasks(w.get_tasks_request()),
    ),
    BenchOperation(
        "metadata.get_namespace",
        lambda p, w: p.metadata.get_namespace(name=NAMESPACE),
        lambda b, w: b.get_namespace(NAMESPACE),
    ),
    # -- queues (schema v1.1): a DLQ or replication-queue append, and a reader's page
    BenchOperation(
        "queue.enqueue_message",
        lambda p, w: p.queue.enqueue_message(*w.enqueue_request()),
        lambda b, w: b.enqueue_message(*w.enqueue_request()),
    ),
    BenchOperation(
        "queue.read_messages",
        lambda p, w: p.queue.read_messages(w.read_messages_request()),
        lambda b, w: b.read_messages(w.read_messages_request()),
    ),
    BenchOperation(
        "task.update_task_queue_user_data",
        lambda p, w: p.task.update_task_queue_user_data(w.user_data_update()),
        lambda b, w: b.update_task_queue_user_data(w.user_data_update()),
    ),
    BenchOperation(
        "task.get_task_queue_user_data",
        lambda p, w: p.task.get_task_queue_user_data(w.user_data_namespace, w.user_data_queue),
        lambda b, w: b.get_task_queue_user_data(w.user_data_namespace, w.user_data_queue),
    ),
    BenchOperation(
        LIFECYCLE,
        lambda p, w: lifecycle(_Ours(p), w),
        lambda b, w: lifecycle(_Raw(b), w),
    ),
)


def operation_names() -> list[str]:
    return [operation.name for operation in OPERATIONS]
