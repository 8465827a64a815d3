"""Reading a store for a copy: only read methods, paged with read-ahead, and the history walk.

The copy engine never holds its source's stores, only a :class:`StoreReader`, which exposes
nothing that writes: that is how "the source is only read" is kept by construction rather than
by care. The same reader serves the verification pass on both sides.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from persistence_cassandra.errors import DataLoss, NotFound
from persistence_cassandra.managers.history_token import decode_tree_info
from persistence_cassandra.records import (
    EPOCH,
    BuildIdMapping,
    ClusterMetadataRecord,
    CurrentExecution,
    ExecutionKey,
    GetHistoryTasksRequest,
    GetReplicationTasksFromDLQRequest,
    GetTasksRequest,
    HistoryNode,
    HistoryTask,
    HistoryTreeBranch,
    NamespaceRecord,
    NexusEndpointRecord,
    Page,
    QueueInfo,
    QueueKey,
    QueueMessage,
    QueueRecord,
    ReadHistoryBranchRequest,
    ReadQueueMessagesRequest,
    ReplicationDLQTask,
    ShardRecord,
    TaskCategory,
    TaskKey,
    TaskQueueKey,
    TaskQueueRecord,
    TaskQueueUserData,
    TaskRecord,
    WorkflowMutableState,
)
from persistence_cassandra.stores import (
    ClusterMetadataStore,
    ExecutionStore,
    HistoryStore,
    MetadataStore,
    NexusEndpointStore,
    QueueStore,
    ShardStore,
    TaskStore,
    VisibilityStore,
)
from persistence_cassandra.visibility.records import SearchAttributeType, VisibilityRecord

__all__ = [
    "MAX_ID",
    "MIN_ID",
    "NodeSource",
    "StoreReader",
    "StoreSet",
    "branches_to_read",
    "read_ahead",
]

T = TypeVar("T")

MIN_ID = -(2**63)
MAX_ID = 2**63 - 1
"""Exclusive upper bound covering every id a signed 64-bit column holds (but this one)."""

_FIRST_FIRE_TIME = EPOCH
_LAST_FIRE_TIME = datetime(9999, 12, 31, tzinfo=UTC)
ALL_TASK_KEYS = (TaskKey(_FIRST_FIRE_TIME, MIN_ID), TaskKey(_LAST_FIRE_TIME, MAX_ID))
"""The ``[inclusive, exclusive)`` key range that covers every history task of a category."""


class StoreSet(Protocol):
    """Every store of one datastore: a :class:`~persistence_cassandra.stores.StoreBundle`
    or a :class:`~persistence_cassandra.persistence.Persistence` (with its middleware)."""

    shard: ShardStore
    execution: ExecutionStore
    history: HistoryStore
    task: TaskStore
    metadata: MetadataStore
    cluster_metadata: ClusterMetadataStore
    queue: QueueStore
    nexus_endpoint: NexusEndpointStore
    description: str
    visibility: VisibilityStore | None


# --------------------------------------------------------------------------- queues, Nexus,
# replication DLQ (schema v1.1): read methods of StoreReader, kept in their own section.


class _QueueReads:
    _stores: StoreSet

    async def queues(self, queue_type: int, page_size: int, token: bytes) -> Page[QueueInfo]:
        return await self._stores.queue.list_queues(queue_type, page_size, token)

    async def queue(self, key: QueueKey) -> QueueRecord | None:
        try:
            return await self._stores.queue.get_queue(key)
        except NotFound:
            return None

    async def queue_messages(
        self, key: QueueKey, page_size: int, token: bytes
    ) -> Page[QueueMessage]:
        return await self._stores.queue.read_messages(
            ReadQueueMessagesRequest(key, page_size, token, inclusive_min_message_id=MIN_ID)
        )

    async def nexus_endpoints(self, page_size: int, token: bytes) -> Page[NexusEndpointRecord]:
        page = await self._stores.nexus_endpoint.list_nexus_endpoints(page_size, token)
        return Page(page.endpoints, page.next_page_token)

    async def nexus_endpoint(self, endpoint_id: str) -> NexusEndpointRecord | None:
        try:
            return await self._stores.nexus_endpoint.get_nexus_endpoint(endpoint_id)
        except NotFound:
            return None

    async def nexus_table_version(self) -> int:
        return (await self._stores.nexus_endpoint.list_nexus_endpoints(1)).table_version

    async def replication_dlq_tasks(
        self, shard_id: int, source_cluster: str, page_size: int, token: bytes
    ) -> Page[ReplicationDLQTask]:
        return await self._stores.execution.get_replication_tasks_from_dlq(
            GetReplicationTasksFromDLQRequest(shard_id, source_cluster, 0, MAX_ID, page_size, token)
        )


class StoreReader(_QueueReads):
    """The read methods of a store set, and nothing else."""

    def __init__(self, stores: StoreSet) -> None:
        self._stores = stores
        self.description = stores.description

    # ------------------------------------------------------------------ namespaces, cluster

    async def namespaces(self, page_size: int, token: bytes) -> Page[NamespaceRecord]:
        return await self._stores.metadata.list_namespaces(page_size, token)

    async def namespace(self, namespace_id: str) -> NamespaceRecord | None:
        try:
            return await self._stores.metadata.get_namespace(id=namespace_id)
        except NotFound:
            return None

    async def namespace_by_name(self, name: str) -> NamespaceRecord | None:
        try:
            return await self._stores.metadata.get_namespace(name=name)
        except NotFound:
            return None

    async def notification_version(self) -> int:
        return await self._stores.metadata.get_metadata()

    async def cluster_metadata_page(
        self, page_size: int, token: bytes
    ) -> Page[ClusterMetadataRecord]:
        return await self._stores.cluster_metadata.list_cluster_metadata(page_size, token)

    async def cluster_metadata(self, cluster_name: str) -> ClusterMetadataRecord | None:
        try:
            return await self._stores.cluster_metadata.get_cluster_metadata(cluster_name)
        except NotFound:
            return None

    # ------------------------------------------------------------------ visibility (issue 17)

    async def search_attributes(self, namespace_id: str) -> dict[str, SearchAttributeType]:
        if self._stores.visibility is None:
            return {}
        return await self._stores.visibility.get_search_attributes(namespace_id)

    async def visibility_page(
        self, namespace_id: str, page_size: int, token: bytes
    ) -> Page[VisibilityRecord]:
        """A namespace's visibility records, oldest start first (empty without visibility)."""
        if self._stores.visibility is None:
            return Page([])
        return await self._stores.visibility.list_executions(
            namespace_id, "ORDER BY StartTime ASC", page_size, token
        )

    async def visibility_record(self, namespace_id: str, run_id: str) -> VisibilityRecord | None:
        if self._stores.visibility is None:
            return None
        try:
            return await self._stores.visibility.get_execution(namespace_id, run_id)
        except NotFound:
            return None

    # ------------------------------------------------------------------ shards, executions

    async def shard(self, shard_id: int) -> ShardRecord | None:
        try:
            return await self._stores.shard.get_or_create_shard(shard_id)
        except NotFound:
            return None

    async def runs(self, shard_id: int, page_size: int, token: bytes) -> Page[WorkflowMutableState]:
        return await self._stores.execution.list_concrete_executions(shard_id, page_size, token)

    async def run(self, shard_id: int, key: ExecutionKey) -> WorkflowMutableState | None:
        try:
            return await self._stores.execution.get_workflow_execution(shard_id, key)
        except NotFound:
            return None

    async def current(
        self, shard_id: int, namespace_id: str, workflow_id: str
    ) -> CurrentExecution | None:
        try:
            return await self._stores.execution.get_current_execution(
                shard_id, namespace_id, workflow_id
            )
        except NotFound:
            return None

    async def history_tasks(
        self, shard_id: int, category: TaskCategory, page_size: int, token: bytes
    ) -> Page[HistoryTask]:
        low, high = ALL_TASK_KEYS
        return await self._stores.execution.get_history_tasks(
            GetHistoryTasksRequest(shard_id, category, low, high, page_size, token)
        )

    # ------------------------------------------------------------------ history

    async def tree_rows(self, page_size: int, token: bytes) -> Page[HistoryTreeBranch]:
        return await self._stores.history.get_all_history_tree_branches(page_size, token)

    async def tree(self, shard_id: int, tree_id: str) -> list[HistoryTreeBranch]:
        return await self._stores.history.get_history_tree_containing_branch(shard_id, tree_id)

    async def nodes(self, source: NodeSource, page_size: int, token: bytes) -> Page[HistoryNode]:
        """Every row of the branch, shadowed transactions included (node asc, txn desc)."""
        return await self._stores.history.read_history_branch(
            ReadHistoryBranchRequest(
                shard_id=source.shard_id,
                tree_id=source.tree_id,
                branch_id=source.branch_id,
                min_node_id=1,
                max_node_id=MAX_ID,
                page_size=page_size,
                next_page_token=token,
            )
        )

    # ------------------------------------------------------------------ matching

    async def task_queues(self, page_size: int, token: bytes) -> Page[TaskQueueRecord]:
        return await self._stores.task.list_task_queues(page_size, token)

    async def task_queue(self, key: TaskQueueKey) -> TaskQueueRecord | None:
        try:
            return await self._stores.task.get_task_queue(key)
        except NotFound:
            return None

    async def tasks(self, key: TaskQueueKey, page_size: int, token: bytes) -> Page[TaskRecord]:
        return await self._stores.task.get_tasks(
            GetTasksRequest(key, MIN_ID, MAX_ID, page_size, token)
        )

    async def history_task_category_ids(self, shard_id: int) -> list[int]:
        return await self._stores.execution.list_history_task_category_ids(shard_id)

    # ------------------------------------------------------------------ task-queue user data

    async def user_data(self, page_size: int, token: bytes) -> Page[TaskQueueUserData]:
        return await self._stores.task.scan_task_queue_user_data(page_size, token)

    async def build_id_mappings(self, page_size: int, token: bytes) -> Page[BuildIdMapping]:
        return await self._stores.task.scan_build_id_mappings(page_size, token)

    async def one_user_data(self, namespace_id: str, task_queue: str) -> TaskQueueUserData | None:
        try:
            return await self._stores.task.get_task_queue_user_data(namespace_id, task_queue)
        except NotFound:
            return None


async def read_ahead(
    fetch: Callable[[bytes], Awaitable[Page[T]]], token: bytes = b""
) -> AsyncGenerator[tuple[Page[T], bytes], None]:
    """Each page with the token of the page after it (``b""`` after the last), fetching that
    next page while the caller works on this one. Use with ``contextlib.aclosing`` so that an
    abandoned read-ahead is cancelled at once."""
    pending: asyncio.Future[Page[T]] = asyncio.ensure_future(fetch(token))
    try:
        while True:
            page = await pending
            following = page.next_page_token
            if following:
                if following == token:
                    raise DataLoss("a paged read returned the same page token twice")
                pending = asyncio.ensure_future(fetch(following))
            yield page, following
            if not following:
                return
            token = following
    finally:
        if not pending.done():
            pending.cancel()


# --------------------------------------------------------------------------- the history walk


@dataclass(frozen=True, slots=True)
class NodeSource:
    """One branch id whose node rows a copy reads, with the shard its tree belongs to."""

    shard_id: int
    tree_id: str
    branch_id: str


def _ancestor_ids(row: HistoryTreeBranch) -> set[str]:
    try:
        info = decode_tree_info(row.tree_info)
    except DataLoss:
        # A tree row this package did not write (another tool's format): its own nodes are
        # still copied; only nodes of already-deleted ancestors cannot be found from it.
        return set()
    return {ancestor.branch_id for ancestor in info.branch.ancestors}


async def branches_to_read(reader: StoreReader, rows: list[HistoryTreeBranch]) -> list[NodeSource]:
    """The branch ids whose nodes belong with this page of tree rows: each row's own branch,
    plus ancestors that no longer have a tree row (deleting a branch keeps the node ranges its
    forks still read). Such an orphan is claimed by exactly one row of its tree, the smallest
    branch id that reads through it, so that paging never visits it twice."""
    sources = [NodeSource(row.shard_id, row.tree_id, row.branch_id) for row in rows]
    forked = [(row, ancestors) for row in rows if (ancestors := _ancestor_ids(row))]
    tree_keys = sorted({(row.shard_id, row.tree_id) for row, _ in forked})
    read = await asyncio.gather(
        *(reader.tree(shard_id, tree_id) for shard_id, tree_id in tree_keys)
    )
    trees = dict(zip(tree_keys, read, strict=True))
    for row, ancestors in forked:
        tree = trees[(row.shard_id, row.tree_id)]
        present = {branch.branch_id for branch in tree}
        for orphan in sorted(ancestors - present):
            readers = [branch.branch_id for branch in tree if orphan in _ancestor_ids(branch)]
            if readers and min(readers) == row.branch_id:
                sources.append(NodeSource(row.shard_id, row.tree_id, orphan))
    return sources
