"""A realistic store content for the copy tests (and the copy rate measurement), and a reader
that captures everything a store holds in comparable form.

:func:`populate` drives the stores the way a history and matching service would: namespaces
(created, updated, renamed, one deleted), cluster metadata with several versions, shards
leased a few times, workflows whose runs carry every collection, buffered events, history
written before each mutable-state change (with shadowed transactions from retried writes,
forks, and deleted branches whose ranges a fork still reads), continue-as-new chains, zombie
runs, history tasks of immediate and scheduled categories (some completed), task queues with
tasks (some with an expiry, some completed).

Every run's ``execution_info`` is JSON naming its branch tokens, so that :func:`capture` can
read each run's full history from any store through the history manager.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from copy_support import file_digest, open_stores, sqlite_store

from persistence_cassandra.copy import StoreSet
from persistence_cassandra.errors import NotFound
from persistence_cassandra.managers.history import HistoryBranchManager
from persistence_cassandra.managers.history_batch import HistoryEventBatch
from persistence_cassandra.managers.history_task_dlq import HistoryTaskDLQ, HistoryTaskDLQKey
from persistence_cassandra.managers.namespace_replication_queue import NamespaceReplicationQueue
from persistence_cassandra.records import (
    ClusterMetadataRecord,
    CreateTasksRequest,
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    ExecutionKey,
    GetHistoryTasksRequest,
    GetReplicationTasksFromDLQRequest,
    GetTasksRequest,
    HistoryTask,
    NamespaceRecord,
    NexusEndpointRecord,
    QueueType,
    ReadQueueMessagesRequest,
    ReplicationDLQTask,
    TaskCategory,
    TaskCategoryType,
    TaskKey,
    TaskQueueKey,
    TaskQueueKind,
    TaskQueueRecord,
    TaskQueueUserDataUpdate,
    TaskRecord,
    UpdateTaskQueueUserDataRequest,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowMutation,
    WorkflowSnapshot,
    WorkflowState,
    truncate_to_ms,
)
from persistence_cassandra.task_categories import (
    register_task_category,
    registered_task_categories,
)

STATUS_RUNNING = 1
STATUS_COMPLETED = 2
STATUS_CONTINUED_AS_NEW = 6
FIXED_TIME = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# A category a server registers at run time: the copy moves its tasks like a built-in's.
CALLBACK = register_task_category(951, "COPY_WORKLOAD_CALLBACK", TaskCategoryType.IMMEDIATE)


@dataclass(frozen=True)
class Shape:
    namespaces: int = 4
    shards: int = 4
    workflows: int = 60
    task_queues: int = 6
    tasks_per_queue: int = 30
    seed: int = 7
    concurrency: int = 16


def blob(text: str, encoding: str = "proto3") -> DataBlob:
    return DataBlob(text.encode(), encoding)


@dataclass
class _Shard:
    shard_id: int
    range_id: int
    txn: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    task: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_txn(self) -> int:
        return next(self.txn)

    def next_task(self) -> int:
        return next(self.task)


class _Workflows:
    def __init__(self, stores: StoreSet, shape: Shape, shards: dict[int, _Shard]) -> None:
        self.stores = stores
        self.history = HistoryBranchManager(stores.history, clock=lambda: FIXED_TIME)
        self.shape = shape
        self.shards = shards
        self.rng = random.Random(shape.seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128)))

    def _info(self, key: ExecutionKey, tokens: list[bytes], version: int) -> DataBlob:
        document = {
            "workflow_id": key.workflow_id,
            "branch_tokens": [base64.b64encode(t).decode() for t in tokens],
            "version": version,
        }
        return DataBlob(json.dumps(document, sort_keys=True).encode(), "json")

    async def _append(
        self,
        shard: _Shard,
        token: bytes,
        first_event_id: int,
        count: int,
        prev_txn: int,
        *,
        new_branch: bool = False,
        tag: str = "",
    ) -> int:
        txn = shard.next_txn()
        events = [f"event-{first_event_id + i}{tag}".encode() for i in range(count)]
        await self.history.append_history_nodes(
            shard.shard_id,
            token,
            HistoryEventBatch(first_event_id, events),
            txn,
            prev_txn,
            is_new_branch=new_branch,
        )
        return txn

    def _tasks(self, shard: _Shard, *categories: TaskCategory) -> list[HistoryTask]:
        tasks = []
        for category in categories:
            task_id = shard.next_task()
            if category.category_type.name == "SCHEDULED":
                fire = FIXED_TIME + timedelta(seconds=self.rng.randint(1, 10_000))
                key = TaskKey(truncate_to_ms(fire), task_id)
            else:
                key = TaskKey.immediate(task_id)
            tasks.append(HistoryTask(category, key, blob(f"task-{category.name}-{task_id}")))
        return tasks

    def _snapshot(
        self, key: ExecutionKey, tokens: list[bytes], shard: _Shard, **fields: Any
    ) -> WorkflowSnapshot:
        return WorkflowSnapshot(
            key=key,
            execution_info=self._info(key, tokens, 1),
            execution_state=blob(f"state-{key.run_id}-1"),
            next_event_id=4,
            db_record_version=1,
            state=WorkflowState.RUNNING,
            status=STATUS_RUNNING,
            create_request_id=f"request-{key.run_id}",
            last_write_version=1,
            start_time=FIXED_TIME,
            activity_infos={5: blob("activity-5")},
            timer_infos={"timer-1": blob("timer-1")},
            signal_requested_ids={"signal-request-a"},
            tasks=self._tasks(shard, TaskCategory.TRANSFER, TaskCategory.TIMER),
            checksum=blob(f"checksum-{key.run_id}", "checksum"),
            **fields,
        )

    async def _start(
        self, shard: _Shard, key: ExecutionKey, mode: CreateWorkflowMode, **previous: Any
    ) -> tuple[bytes, int]:
        token = self.history.new_branch_token(self.uuid())
        txn = await self._append(shard, token, 1, 3, 0, new_branch=True)
        snapshot = self._snapshot(key, [token], shard)
        await self.stores.execution.create_workflow_execution(
            CreateWorkflowExecutionRequest(
                shard.shard_id, shard.range_id, mode, snapshot, **previous
            )
        )
        return token, txn

    def _mutation(
        self,
        key: ExecutionKey,
        tokens: list[bytes],
        version: int,
        next_event_id: int,
        **fields: Any,
    ) -> WorkflowMutation:
        return WorkflowMutation(
            key=key,
            execution_info=self._info(key, tokens, version),
            execution_state=blob(f"state-{key.run_id}-{version}"),
            next_event_id=next_event_id,
            db_record_version=version,
            state=fields.pop("state", WorkflowState.RUNNING),
            status=fields.pop("status", STATUS_RUNNING),
            create_request_id=f"request-{key.run_id}",
            last_write_version=1,
            start_time=FIXED_TIME,
            checksum=blob(f"checksum-{key.run_id}-{version}", "checksum"),
            **fields,
        )

    async def _update(
        self,
        shard: _Shard,
        mutation: WorkflowMutation,
        mode: UpdateWorkflowMode = UpdateWorkflowMode.UPDATE_CURRENT,
        new: WorkflowSnapshot | None = None,
    ) -> None:
        await self.stores.execution.update_workflow_execution(
            UpdateWorkflowExecutionRequest(shard.shard_id, shard.range_id, mode, mutation, new)
        )

    async def run(self, index: int, namespace_ids: list[str]) -> None:
        """One workflow's life; which twists it takes depends on ``index``."""
        shard = self.shards[index % self.shape.shards + 1]
        namespace_id = namespace_ids[index % len(namespace_ids)]
        key = ExecutionKey(namespace_id, f"workflow-{index:05d}", self.uuid())
        token, txn = await self._start(shard, key, CreateWorkflowMode.BRAND_NEW)
        tokens = [token]

        txn = await self._append(shard, token, 4, 3, txn)
        await self._update(
            shard,
            self._mutation(
                key,
                tokens,
                2,
                7,
                upsert_child_execution_infos={4: blob("child-4")},
                upsert_request_cancel_infos={6: blob("cancel-6")},
                upsert_signal_infos={7: blob(f"signal-7-{index}")},
                upsert_timer_infos={"timer-2": blob("timer-2")},
                delete_timer_infos={"timer-1"},
                upsert_activity_infos={8: blob("activity-8"), 9: blob("activity-9")},
                upsert_signal_requested_ids={f"signal-request-{index}"},
                new_buffered_events=blob(f"buffered-1-{index}") if index % 2 == 0 else None,
                tasks=self._tasks(shard, TaskCategory.TRANSFER, TaskCategory.VISIBILITY),
            ),
        )
        version, next_event = 2, 7

        if index % 3 == 0:
            # A write whose mutable-state update failed leaves node 7 at an older txn; the retry
            # rewrites node 7 with a newer txn, which shadows it.
            await self._append(shard, token, 7, 2, txn, tag="-lost")
            txn = await self._append(shard, token, 7, 2, txn, tag="-retried")
            version, next_event = version + 1, 9
            await self._update(
                shard,
                self._mutation(
                    key,
                    tokens,
                    version,
                    next_event,
                    new_buffered_events=blob(f"buffered-2-{index}"),
                    delete_activity_infos={9},
                    tasks=self._tasks(shard, TaskCategory.TIMER, TaskCategory.REPLICATION),
                ),
            )

        if index % 5 == 0:
            # Reset: fork at event 4 and continue on the new branch.
            fork = (
                await self.history.fork_history_branch(shard.shard_id, token, 4)
            ).new_branch_token
            fork_txn = await self._append(shard, fork, 4, 2, 0, tag="-fork")
            tokens = [fork]
            if index % 10 == 0:
                # The old branch goes; its nodes below 4 stay, read through the fork.
                await self.history.delete_history_branch(shard.shard_id, token)
            else:
                tokens.append(token)
            version, next_event = version + 1, 6
            txn = fork_txn
            await self._update(
                shard,
                self._mutation(
                    key,
                    tokens,
                    version,
                    next_event,
                    clear_buffered_events=True,
                    tasks=self._tasks(shard, TaskCategory.ARCHIVAL),
                ),
            )

        if index % 4 == 0:
            # Continue-as-new: the run closes and a new run (its own tree) becomes current.
            new_key = ExecutionKey(namespace_id, key.workflow_id, self.uuid())
            new_token = self.history.new_branch_token(self.uuid())
            await self._append(shard, new_token, 1, 3, 0, new_branch=True, tag="-next")
            new = self._snapshot(new_key, [new_token], shard)
            version += 1
            await self._update(
                shard,
                self._mutation(
                    key,
                    tokens,
                    version,
                    next_event,
                    state=WorkflowState.COMPLETED,
                    status=STATUS_CONTINUED_AS_NEW,
                ),
                new=new,
            )
        elif index % 4 == 1:
            version += 1
            await self._update(
                shard,
                self._mutation(
                    key,
                    tokens,
                    version,
                    next_event,
                    state=WorkflowState.COMPLETED,
                    status=STATUS_COMPLETED,
                    tasks=self._tasks(shard, TaskCategory.OUTBOUND, CALLBACK),
                ),
            )

        if index % 7 == 0:
            # A zombie run of the same workflow: never current.
            zombie = ExecutionKey(namespace_id, key.workflow_id, self.uuid())
            await self._start(shard, zombie, CreateWorkflowMode.BYPASS_CURRENT)


async def _namespaces(stores: StoreSet, shape: Shape, rng: random.Random) -> list[str]:
    metadata = stores.metadata
    ids = []
    for n in range(shape.namespaces):
        namespace_id = str(uuid.UUID(int=rng.getrandbits(128)))
        ids.append(namespace_id)
        await metadata.create_namespace(
            NamespaceRecord(namespace_id, f"namespace-{n}", blob(f"detail-{n}"), n % 2 == 0)
        )
    gone = NamespaceRecord("namespace-gone-id", "namespace-gone", blob("gone"))
    await metadata.create_namespace(gone)
    await metadata.delete_namespace(id=gone.id)
    first = await metadata.get_namespace(id=ids[0])
    await metadata.update_namespace(
        NamespaceRecord(
            first.id, first.name, blob("detail-0-updated"), True, await metadata.get_metadata()
        )
    )
    if shape.namespaces > 1:
        await metadata.rename_namespace("namespace-1", "namespace-1-renamed")
    return ids


async def _cluster_metadata(stores: StoreSet) -> None:
    store = stores.cluster_metadata
    for version in range(3):
        await store.save_cluster_metadata(
            ClusterMetadataRecord("cluster-a", blob(f"cluster-a-v{version + 1}"), version)
        )
    await store.save_cluster_metadata(ClusterMetadataRecord("cluster-b", blob("cluster-b"), 0))


async def _shards(stores: StoreSet, shape: Shape) -> dict[int, _Shard]:
    shards = {}
    for shard_id in range(1, shape.shards + 1):
        record = await stores.shard.get_or_create_shard(
            shard_id, lambda s=shard_id: (1, blob(f"shard-{s}-range-1"))
        )
        range_id = record.range_id
        for _ in range(shard_id % 3):  # some shards changed owner a few times
            await stores.shard.update_shard(
                shard_id, range_id + 1, blob(f"shard-{shard_id}-range-{range_id + 1}"), range_id
            )
            range_id += 1
        shards[shard_id] = _Shard(shard_id, range_id)
    return shards


async def _task_queues(stores: StoreSet, shape: Shape, namespace_ids: list[str]) -> None:
    task = stores.task
    for q in range(shape.task_queues):
        key = TaskQueueKey(namespace_ids[q % len(namespace_ids)], f"queue-{q}", 1 + q % 2)
        await task.create_task_queue(TaskQueueRecord(key, 1, blob(f"queue-{q}-r1")))
        await task.update_task_queue(TaskQueueRecord(key, 2, blob(f"queue-{q}-r2")), 1)
        expiry = FIXED_TIME.replace(year=2099)
        tasks = [
            TaskRecord(q * 10_000 + t, blob(f"task-{q}-{t}"), expiry if t % 3 == 0 else None)
            for t in range(1, shape.tasks_per_queue + 1)
        ]
        for start in range(0, len(tasks), 10):
            await task.create_tasks(CreateTasksRequest(key, 2, tasks[start : start + 10]))
        await task.complete_tasks_less_than(key, q * 10_000 + 4)
    # A worker's sticky queue, alive for a day (its tasks carry its expiry along).
    sticky_key = TaskQueueKey(namespace_ids[0], "worker-7-sticky", 1)
    sticky = TaskQueueRecord(
        sticky_key,
        3,
        blob("sticky"),
        TaskQueueKind.STICKY,
        truncate_to_ms(datetime.now(UTC) + timedelta(days=1)),
    )
    await task.create_task_queue(sticky)
    await task.create_tasks(
        CreateTasksRequest(
            sticky_key, 3, [TaskRecord(1, blob("sticky-task"))], queue_expiry=sticky.expiry
        )
    )


async def _user_data(stores: StoreSet, namespace_ids: list[str]) -> None:
    """Versioned user data (versions 1 to 3) with build-id rows, in every namespace."""
    for n, namespace_id in enumerate(namespace_ids):
        for q in range(3):
            queue = f"queue-{q}"
            for version in range(q + 1):
                added = frozenset({f"build-{version}", f"build-{n}"})
                removed = frozenset({f"build-{version - 1}"} if version else ()) - added
                update = TaskQueueUserDataUpdate(
                    queue, blob(f"user-data-{n}-{q}-v{version + 1}"), version, added, removed
                )
                await stores.task.update_task_queue_user_data(
                    UpdateTaskQueueUserDataRequest(namespace_id, [update])
                )


async def _queues_and_endpoints(stores: StoreSet, shape: Shape) -> None:
    """Schema v1.1 records: DLQs with deleted and acknowledged messages, ack levels at a
    version above 0, Nexus endpoints at several versions, parked replication tasks."""
    dlq = HistoryTaskDLQ(stores.queue)
    for category in (TaskCategory.TRANSFER, TaskCategory.TIMER):
        key = HistoryTaskDLQKey(int(category), "cluster-a", "cluster_b")
        for task_id in range(6):
            fire = (
                FIXED_TIME if category is TaskCategory.TIMER else datetime(1970, 1, 1, tzinfo=UTC)
            )
            await dlq.enqueue_task(
                key, HistoryTask(category, TaskKey(fire, task_id), blob(f"poison-{task_id}"))
            )
        await dlq.delete_task(key, 3)  # a hole the target must keep
        await dlq.delete_tasks(key, 1)  # acknowledged prefix: min id 2
    replication = NamespaceReplicationQueue(stores.queue)
    for n in range(4):
        await replication.enqueue_message(blob(f"namespace-change-{n}"))
    levels = await replication.get_ack_levels()
    levels.cluster_ack_levels.update({"cluster-a": 1, "cluster-b": 2})
    await replication.update_ack_level(levels)
    await replication.delete_messages_before(1)
    await replication.enqueue_message_to_dlq(blob("namespace-change-failed"))
    nexus = stores.nexus_endpoint
    for n in range(3):
        table = (await nexus.list_nexus_endpoints(1)).table_version
        await nexus.create_or_update_nexus_endpoint(
            NexusEndpointRecord(f"endpoint-{n}", blob(f"endpoint-{n}-v1")), table
        )
        for version in range(1, n + 1):
            table += 1
            await nexus.create_or_update_nexus_endpoint(
                NexusEndpointRecord(f"endpoint-{n}", blob(f"endpoint-{n}-v{version + 1}"), version),
                table,
            )
    table = (await nexus.list_nexus_endpoints(1)).table_version
    await nexus.delete_nexus_endpoint("endpoint-0", table)
    for shard_id in range(1, shape.shards + 1, 2):
        for cluster in ("cluster-a", "cluster-b"):
            for task_id in range(shard_id, shard_id + 3):
                await stores.execution.put_replication_task_to_dlq(
                    shard_id,
                    ReplicationDLQTask(cluster, task_id, blob(f"repl-{cluster}-{task_id}")),
                )


async def populate(stores: StoreSet, shape: Shape = Shape()) -> None:
    """Fill an empty store with the workload of ``shape`` (deterministic for a seed)."""
    rng = random.Random(shape.seed)
    namespace_ids = await _namespaces(stores, shape, rng)
    await _cluster_metadata(stores)
    shards = await _shards(stores, shape)
    workflows = _Workflows(stores, shape, shards)
    gate = asyncio.Semaphore(shape.concurrency)

    async def one(index: int) -> None:
        async with gate:
            await workflows.run(index, namespace_ids)

    await asyncio.gather(*(one(i) for i in range(shape.workflows)))
    for shard in shards.values():
        # Some tasks were processed: gaps in the task ranges.
        await stores.execution.range_complete_history_tasks(
            shard.shard_id, TaskCategory.TRANSFER, TaskKey.immediate(0), TaskKey.immediate(5)
        )
    await _task_queues(stores, shape, namespace_ids)
    await _queues_and_endpoints(stores, shape)
    await _user_data(stores, namespace_ids)


# --------------------------------------------------------------------------- capture


async def _pages(fetch: Any) -> list[Any]:
    items: list[Any] = []
    token = b""
    while True:
        page = await fetch(token)
        items.extend(page.items)
        token = page.next_page_token
        if not token:
            return items


TASKS_LOW = TaskKey(datetime(1970, 1, 1, tzinfo=UTC), -(2**63))
TASKS_HIGH = TaskKey(datetime(9999, 1, 1, tzinfo=UTC), 2**63 - 1)


async def capture(stores: StoreSet, shard_ids: range | list[int]) -> dict[str, Any]:
    """Everything the store holds, read through the Protocols and (for history) the manager,
    in a form that compares equal between backends. Shard range ids are kept apart."""
    manager = HistoryBranchManager(stores.history)
    content: dict[str, Any] = {}
    namespaces = await _pages(lambda t: stores.metadata.list_namespaces(50, t))
    content["namespaces"] = sorted(namespaces, key=lambda r: r.id)
    content["notification_version"] = await stores.metadata.get_metadata()
    clusters = await _pages(lambda t: stores.cluster_metadata.list_cluster_metadata(50, t))
    content["cluster_metadata"] = sorted(clusters, key=lambda r: r.cluster_name)
    content["shard_ranges"] = {}
    runs: dict[tuple[int, str, str, str], Any] = {}
    for shard_id in shard_ids:
        try:
            shard = await stores.shard.get_or_create_shard(shard_id)
        except NotFound:
            continue
        content[f"shard {shard_id} info"] = shard.info
        content["shard_ranges"][shard_id] = shard.range_id
        listed = await _pages(
            lambda t, s=shard_id: stores.execution.list_concrete_executions(s, 7, t)
        )
        for state in listed:
            key = state.key
            read = await stores.execution.get_workflow_execution(shard_id, key)
            assert read == state, "a listed run reads back the same"
            current = await stores.execution.get_current_execution(
                shard_id, key.namespace_id, key.workflow_id
            )
            tokens = json.loads(read.execution_info.data)["branch_tokens"]
            histories = []
            for token in tokens:
                batches = [
                    batch
                    async for batch in manager.iter_history(
                        shard_id, base64.b64decode(token), page_size=3
                    )
                ]
                histories.append(batches)
            runs[(shard_id, key.namespace_id, key.workflow_id, key.run_id)] = {
                "state": read,
                "current": current,
                "is_current": current.run_id == key.run_id,
                "history": histories,
            }
        for category in registered_task_categories():
            content[f"shard {shard_id} {category.name} tasks"] = await _pages(
                lambda t, s=shard_id, c=category: stores.execution.get_history_tasks(
                    GetHistoryTasksRequest(s, c, TASKS_LOW, TASKS_HIGH, 4, t)
                )
            )
    content["runs"] = runs
    queues = await _pages(lambda t: stores.task.list_task_queues(5, t))
    content["task_queues"] = sorted(queues, key=lambda r: (r.key.namespace_id, r.key.name))
    content["tasks"] = {
        queue.key: await _pages(
            lambda t, k=queue.key: stores.task.get_tasks(GetTasksRequest(k, 0, 2**62, 9, t))
        )
        for queue in queues
    }
    user_data = await _pages(lambda t: stores.task.scan_task_queue_user_data(4, t))
    content["task_queue_user_data"] = sorted(
        user_data, key=lambda u: (u.namespace_id, u.task_queue)
    )
    mappings = await _pages(lambda t: stores.task.scan_build_id_mappings(4, t))
    content["build_id_mappings"] = sorted(
        mappings, key=lambda m: (m.namespace_id, m.build_id, m.task_queue)
    )
    trees = await _pages(lambda t: stores.history.get_all_history_tree_branches(11, t))
    content["history_trees"] = sorted(trees, key=lambda b: (b.tree_id, b.branch_id))
    for queue_type in QueueType:
        listed = await _pages(lambda t, q=queue_type: stores.queue.list_queues(q, 2, t))
        for info in listed:
            content[f"queue {info.key}"] = (
                info,
                await stores.queue.get_queue(info.key),
                await _pages(
                    lambda t, k=info.key: stores.queue.read_messages(
                        ReadQueueMessagesRequest(k, 2, t)
                    )
                ),
            )
    endpoints: list[NexusEndpointRecord] = []
    token = b""
    while True:
        page = await stores.nexus_endpoint.list_nexus_endpoints(2, token)
        endpoints += page.endpoints
        token = page.next_page_token
        if not token:
            break
    content["nexus_endpoints"] = endpoints
    for shard_id in shard_ids:
        for cluster in clusters:
            content[f"replication dlq {shard_id} {cluster.cluster_name}"] = await _pages(
                lambda t, s=shard_id, c=cluster.cluster_name: (
                    stores.execution.get_replication_tasks_from_dlq(
                        GetReplicationTasksFromDLQRequest(s, c, 0, 2**62, 2, t)
                    )
                )
            )
    return content


def without_ranges(content: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in content.items() if k != "shard_ranges"}


@dataclass(frozen=True)
class PopulatedSource:
    datastore: dict[str, Any]
    path: Path
    content: dict[str, Any]
    """What :func:`copy_workload.capture` reads from it."""
    digest: str
    """SHA-256 of the database file: a copy must leave it byte-identical."""


async def make_source(directory: Path, shape: Shape) -> PopulatedSource:
    path = directory / "source.db"
    store = sqlite_store(path)
    async with open_stores(store, create=True) as bundle:
        await populate(bundle, shape)
    async with open_stores(store) as bundle:
        content = await capture(bundle, range(1, shape.shards + 1))
    return PopulatedSource(store, path, content, file_digest(path))
