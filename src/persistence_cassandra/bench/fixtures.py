"""What each benchmark worker owns, and the requests it sends.

A worker is one coroutine's worth of state: its own shard (leased), its own run (for updates
and reads), its own history branches, its own task queues. Workers never share a row, so the
figures measure the store path, not contention; ``ours`` and ``raw`` get separate workers
built identically. Every request comes from one builder used by both sides, inside the timed
loop, so building records costs both the same.

Names and ids are derived from a tag and the worker's index (no randomness), so two sets of
workers built with the same tag send byte-identical requests (the statement-parity test relies
on it).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from persistence_cassandra.managers.history import MAX_EVENT_ID
from persistence_cassandra.managers.history_batch import HistoryEventBatch, encode_batch
from persistence_cassandra.managers.history_token import HistoryBranch
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import (
    AppendHistoryNodesRequest,
    CreateTasksRequest,
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    ExecutionKey,
    GetTasksRequest,
    HistoryTask,
    QueueKey,
    ReadHistoryBranchRequest,
    ReadQueueMessagesRequest,
    TaskCategory,
    TaskKey,
    TaskQueueKey,
    TaskQueueRecord,
    TaskQueueUserDataUpdate,
    TaskRecord,
    UpdateTaskQueueUserDataRequest,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowMutation,
    WorkflowSnapshot,
    WorkflowState,
)

__all__ = [
    "EVENTS_PER_NODE",
    "NAMESPACE",
    "READ_BRANCH_NODES",
    "BenchWorker",
    "prepare_workers",
]

NAMESPACE = "bench"
READ_BRANCH_NODES = 20
"""Batches in the branch the read operations read (one page)."""
EVENTS_PER_NODE = 3
QUEUED_TASKS = 10
"""Tasks waiting in the queue that ``get_tasks`` reads."""
BENCH_QUEUE_TYPE = 9100
"""The bench's own queue type (never one a server lists)."""
QUEUED_MESSAGES = 20
"""Messages in the queue that ``read_messages`` reads (one page)."""
RANGE_BITS = 20
START_TIME = datetime(2024, 1, 1, tzinfo=UTC)
"""A fixed start time: requests of two identically built workers stay byte-identical."""
STATUS_RUNNING = 1
STATUS_COMPLETED = 2

_bytes = random.Random(20240101)
EXECUTION_INFO = _bytes.randbytes(400)
EXECUTION_STATE = _bytes.randbytes(80)
COLLECTION_ENTRY = _bytes.randbytes(120)
TASK_BLOB = DataBlob(_bytes.randbytes(100), "proto3")
SHARD_INFO = DataBlob(_bytes.randbytes(60), "proto3")
EVENT = _bytes.randbytes(150)
"""One serialized history event (a typical small event)."""


USER_DATA = DataBlob(b"\x0a\x20" + b"v" * 200, "proto3")
"""A task queue's user data as worker versioning writes it: a few hundred bytes."""


def _events(first_event_id: int, count: int) -> DataBlob:
    return encode_batch(HistoryEventBatch(first_event_id, [EVENT] * count, "proto3"))


NODE_BLOB = _events(1, EVENTS_PER_NODE)
"""The blob the raw append operation writes (the store never looks inside)."""


def _uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


@dataclass(slots=True)
class BenchWorker:
    index: int
    tag: str
    shard_id: int
    namespace_id: str = ""
    range_id: int = 0
    next_id: int = 0
    """Next id of the shard's lease block (history task ids, transaction ids)."""
    run: ExecutionKey = field(default_factory=lambda: ExecutionKey("", "", ""))
    run_version: int = 1
    append_branch: HistoryBranch = field(default_factory=lambda: HistoryBranch("-", "-"))
    next_node_id: int = 1
    last_txn_id: int = 0
    read_branch: HistoryBranch = field(default_factory=lambda: HistoryBranch("-", "-"))
    read_token: bytes = b""
    queue: TaskQueueKey = field(default_factory=lambda: TaskQueueKey("", "", 1))
    lifecycle_queue: TaskQueueKey = field(default_factory=lambda: TaskQueueKey("", "", 1))
    queue_range_id: int = 1
    next_task_id: int = 0
    runs_created: int = 0
    message_queue: QueueKey = field(default_factory=lambda: QueueKey(0, ""))
    """The queue ``enqueue_message`` appends to."""
    read_queue: QueueKey = field(default_factory=lambda: QueueKey(0, ""))
    """The queue ``read_messages`` reads (:data:`QUEUED_MESSAGES` messages)."""
    user_data_namespace: str = ""
    """Its own namespace: all of a namespace's user data is one Cassandra partition, and 128
    workers on one partition would measure Paxos contention, not the store."""
    user_data_queue: str = ""
    user_data_version: int = 0
    """The version the worker last wrote: it is the queue's only writer."""

    def name(self, what: str) -> str:
        return f"{self.tag}-w{self.index}-{what}"

    def take_ids(self, count: int = 1) -> list[int]:
        ids = list(range(self.next_id, self.next_id + count))
        self.next_id += count
        return ids

    def take_task_id(self) -> int:
        self.next_task_id += 1
        return self.next_task_id

    # ------------------------------------------------------------------ records

    def new_run(self) -> ExecutionKey:
        self.runs_created += 1
        workflow_id = self.name(f"wf{self.runs_created}")
        return ExecutionKey(self.namespace_id, workflow_id, _uuid(workflow_id))

    def snapshot(
        self, key: ExecutionKey, tasks: list[HistoryTask], **collections: object
    ) -> WorkflowSnapshot:
        return WorkflowSnapshot(
            key=key,
            execution_info=DataBlob(EXECUTION_INFO, "proto3"),
            execution_state=DataBlob(EXECUTION_STATE, "proto3"),
            next_event_id=3,
            db_record_version=1,
            state=WorkflowState.RUNNING,
            status=STATUS_RUNNING,
            create_request_id=_uuid(key.run_id),
            start_time=START_TIME,
            tasks=tasks,
            **collections,  # type: ignore[arg-type]
        )

    def mutation(
        self,
        key: ExecutionKey,
        version: int,
        next_event_id: int,
        tasks: list[HistoryTask],
        *,
        state: WorkflowState = WorkflowState.RUNNING,
        status: int = STATUS_RUNNING,
        **changes: object,
    ) -> WorkflowMutation:
        return WorkflowMutation(
            key=key,
            execution_info=DataBlob(EXECUTION_INFO, "proto3"),
            execution_state=DataBlob(EXECUTION_STATE, "proto3"),
            next_event_id=next_event_id,
            db_record_version=version,
            state=state,
            status=status,
            create_request_id=_uuid(key.run_id),
            start_time=START_TIME,
            tasks=tasks,
            **changes,  # type: ignore[arg-type]
        )

    def transfer_task(self) -> HistoryTask:
        (task_id,) = self.take_ids()
        return HistoryTask(TaskCategory.TRANSFER, TaskKey.immediate(task_id), TASK_BLOB)

    # ------------------------------------------------------------------ per operation

    def shard_update(self) -> tuple[int, int, DataBlob, int]:
        """``update_shard`` arguments: the next range id of the worker's shard."""
        self.range_id += 1
        return self.shard_id, self.range_id, SHARD_INFO, self.range_id - 1

    def create_request(self) -> CreateWorkflowExecutionRequest:
        return CreateWorkflowExecutionRequest(
            self.shard_id,
            self.range_id,
            CreateWorkflowMode.BRAND_NEW,
            self.snapshot(self.new_run(), [self.transfer_task()]),
        )

    def update_request(self) -> UpdateWorkflowExecutionRequest:
        """The worker's run: the next version, one timer upserted, one transfer task."""
        self.run_version += 1
        mutation = self.mutation(
            self.run,
            self.run_version,
            3 + self.run_version,
            [self.transfer_task()],
            upsert_timer_infos={"timer-1": DataBlob(COLLECTION_ENTRY, "proto3")},
        )
        return UpdateWorkflowExecutionRequest(
            self.shard_id, self.range_id, UpdateWorkflowMode.UPDATE_CURRENT, mutation
        )

    def append_request(self) -> AppendHistoryNodesRequest:
        """The next batch of the worker's append branch."""
        (txn_id,) = self.take_ids()
        request = AppendHistoryNodesRequest(
            self.shard_id,
            self.append_branch.tree_id,
            self.append_branch.branch_id,
            self.next_node_id,
            txn_id,
            self.last_txn_id,
            NODE_BLOB,
        )
        self.next_node_id += EVENTS_PER_NODE
        self.last_txn_id = txn_id
        return request

    def read_request(self) -> ReadHistoryBranchRequest:
        return ReadHistoryBranchRequest(
            self.shard_id,
            self.read_branch.tree_id,
            self.read_branch.branch_id,
            1,
            MAX_EVENT_ID,
            page_size=100,
        )

    def create_tasks_request(self) -> CreateTasksRequest:
        task = TaskRecord(self.take_task_id(), TASK_BLOB)
        return CreateTasksRequest(self.queue, self.queue_range_id, [task])

    def user_data_update(self) -> UpdateTaskQueueUserDataRequest:
        """The next compare-and-set of the worker's queue (from the version it last wrote)."""
        version = self.user_data_version
        self.user_data_version += 1
        update = TaskQueueUserDataUpdate(self.user_data_queue, USER_DATA, version)
        return UpdateTaskQueueUserDataRequest(self.user_data_namespace, [update])

    def get_tasks_request(self) -> GetTasksRequest:
        first = self.queue_range_id << RANGE_BITS
        return GetTasksRequest(self.queue, first, first + QUEUED_TASKS + 1, page_size=100)

    def enqueue_request(self) -> tuple[QueueKey, DataBlob]:
        return self.message_queue, TASK_BLOB

    def read_messages_request(self) -> ReadQueueMessagesRequest:
        return ReadQueueMessagesRequest(self.read_queue, page_size=100)


def _worker(tag: str, index: int, shard_id: int, namespace_id: str) -> BenchWorker:
    worker = BenchWorker(index, tag, shard_id, namespace_id)
    worker.run = ExecutionKey(namespace_id, worker.name("run"), _uuid(worker.name("run")))
    worker.append_branch = HistoryBranch(_uuid(worker.name("append")), _uuid(worker.name("a")))
    worker.read_branch = HistoryBranch(_uuid(worker.name("read")), _uuid(worker.name("r")))
    worker.read_token = worker.read_branch.token
    worker.queue = TaskQueueKey(namespace_id, worker.name("queue"), 1)
    worker.lifecycle_queue = TaskQueueKey(namespace_id, worker.name("lifecycle"), 1)
    worker.message_queue = QueueKey(BENCH_QUEUE_TYPE, worker.name("messages"))
    worker.read_queue = QueueKey(BENCH_QUEUE_TYPE, worker.name("read-messages"))
    return worker


async def _prepare(persistence: Persistence, worker: BenchWorker) -> None:
    """Lease the worker's shard and queues, create its run, branches and queued tasks."""
    shard = await persistence.shard.get_or_create_shard(worker.shard_id, lambda: (0, SHARD_INFO))
    worker.range_id = shard.range_id + 1
    await persistence.shard.update_shard(
        worker.shard_id, worker.range_id, SHARD_INFO, shard.range_id
    )
    worker.next_id = worker.range_id << RANGE_BITS
    entry = DataBlob(COLLECTION_ENTRY, "proto3")
    await persistence.execution.create_workflow_execution(
        CreateWorkflowExecutionRequest(
            worker.shard_id,
            worker.range_id,
            CreateWorkflowMode.BRAND_NEW,
            worker.snapshot(
                worker.run,
                [],
                activity_infos={5: entry, 9: entry},
                timer_infos={"timer-1": entry, "timer-2": entry},
            ),
        )
    )
    manager = persistence.history_manager
    for branch, nodes in ((worker.read_branch, READ_BRANCH_NODES), (worker.append_branch, 1)):
        previous = 0
        for node in range(nodes):
            (txn_id,) = worker.take_ids()
            await manager.append_history_nodes(
                worker.shard_id,
                branch.token,
                HistoryEventBatch(1 + node * EVENTS_PER_NODE, [EVENT] * EVENTS_PER_NODE),
                txn_id,
                previous,
                is_new_branch=node == 0,
            )
            previous = txn_id
        if branch is worker.append_branch:
            worker.next_node_id, worker.last_txn_id = 1 + nodes * EVENTS_PER_NODE, previous
    worker.user_data_namespace = f"{worker.namespace_id}-{worker.index}"
    worker.user_data_queue = worker.name("user-data")
    await persistence.task.update_task_queue_user_data(worker.user_data_update())
    for queue in (worker.queue, worker.lifecycle_queue):
        await persistence.task.create_task_queue(TaskQueueRecord(queue, 1, TASK_BLOB))
    worker.next_task_id = worker.queue_range_id << RANGE_BITS
    await persistence.task.create_tasks(
        CreateTasksRequest(
            worker.queue,
            worker.queue_range_id,
            [TaskRecord(worker.take_task_id(), TASK_BLOB) for _ in range(QUEUED_TASKS)],
        )
    )
    for messages in (worker.message_queue, worker.read_queue):
        await persistence.queue.create_queue(messages)
    for _ in range(QUEUED_MESSAGES):
        await persistence.queue.enqueue_message(worker.read_queue, TASK_BLOB)


async def prepare_workers(
    persistence: Persistence,
    tag: str,
    count: int,
    first_shard_id: int,
    namespace_id: str,
    *,
    parallel: int = 16,
) -> list[BenchWorker]:
    """``count`` workers on shards ``first_shard_id ..``, prepared through ``persistence``."""
    workers = [_worker(tag, index, first_shard_id + index, namespace_id) for index in range(count)]
    limit = asyncio.Semaphore(parallel)

    async def prepare(worker: BenchWorker) -> None:
        async with limit:
            await _prepare(persistence, worker)

    await asyncio.gather(*(prepare(worker) for worker in workers))
    return workers
