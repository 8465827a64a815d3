"""Writing records into the target of a copy, idempotently, through the store Protocols.

Two families of writes, two ways to be idempotent:

* **Upserts** (history nodes and tree rows, history tasks, matching tasks): writing a record
  again rewrites the same key with the same values, which changes nothing. They are written
  blind.
* **Conditional creates** (namespaces, cluster metadata, shards, runs with their current
  pointers, task queues): the store refuses to create what exists. A refusal is answered by
  reading the target's record and comparing it with the source's: equal means a previous run
  of the copy wrote it (nothing to do); different means the target holds other data, which is
  a :class:`TargetConflict` unless ``force`` is set, in which case the target's record is
  replaced.

Every write goes through one semaphore, which bounds the writes in flight for the whole copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from persistence_cassandra.copy.reader import NodeSource, StoreReader, StoreSet
from persistence_cassandra.errors import (
    ConditionFailed,
    CurrentWorkflowConditionFailed,
    NamespaceAlreadyExists,
    ShardOwnershipLost,
    UserFacingError,
    WorkflowConditionFailed,
)
from persistence_cassandra.records import (
    AppendHistoryNodesRequest,
    ClusterMetadataRecord,
    CreateTasksRequest,
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    CurrentExecution,
    DataBlob,
    ExecutionKey,
    HistoryNode,
    HistoryTask,
    HistoryTreeBranch,
    NamespaceRecord,
    NexusEndpointRecord,
    QueueKey,
    QueueMessage,
    QueueRecord,
    ReplicationDLQTask,
    ShardRecord,
    TaskQueueKey,
    TaskQueueRecord,
    TaskQueueUserData,
    TaskRecord,
    WorkflowMutableState,
    WorkflowSnapshot,
    WorkflowState,
)
from persistence_cassandra.visibility.records import SearchAttributeType, VisibilityRecord

__all__ = [
    "PAD_NAMESPACE_PREFIX",
    "CopyInterrupted",
    "Outcome",
    "TargetConflict",
    "TargetWriter",
    "snapshot_of",
]

T = TypeVar("T")
P = ParamSpec("P")

PAD_NAMESPACE_PREFIX = "__persistence_cassandra_copy_pad__"
"""Name prefix of the short-lived namespace used to advance the notification version."""

MAX_BATCH_RECORDS = 100
MAX_BATCH_BYTES = 256 * 1024
"""Tasks written per call: well under Cassandra's (and Astra's) batch size limit."""


class TargetConflict(UserFacingError):
    """The target holds a different record where the copy would write one."""


class CopyInterrupted(UserFacingError):
    """Something else wrote to the target during the copy (a shard or queue lease moved)."""


class Outcome(enum.Enum):
    WRITTEN = "written"
    PRESENT = "present"
    """An identical record was already there (a previous run of the copy wrote it)."""
    OVERWRITTEN = "overwritten"
    """A different record was there and ``force`` replaced it."""


def snapshot_of(state: WorkflowMutableState, current: CurrentExecution | None) -> WorkflowSnapshot:
    """The snapshot that recreates ``state``; ``current`` is the run's current pointer when the
    pointer points at it. The run row stores no state or status of its own (only the pointer
    does), so a run that is not current gets neutral values there."""
    return WorkflowSnapshot(
        key=state.key,
        execution_info=state.execution_info,
        execution_state=state.execution_state,
        next_event_id=state.next_event_id,
        db_record_version=state.db_record_version,
        state=current.state if current is not None else WorkflowState.COMPLETED,
        status=current.status if current is not None else 0,
        create_request_id=current.create_request_id if current is not None else "",
        last_write_version=current.last_write_version if current is not None else 0,
        start_time=current.start_time if current is not None else None,
        request_ids=current.request_ids if current is not None else frozenset(),
        first_execution_run_id=current.first_execution_run_id if current is not None else "",
        activity_infos=dict(state.activity_infos),
        timer_infos=dict(state.timer_infos),
        child_execution_infos=dict(state.child_execution_infos),
        request_cancel_infos=dict(state.request_cancel_infos),
        signal_infos=dict(state.signal_infos),
        signal_requested_ids=set(state.signal_requested_ids),
        checksum=state.checksum,
        buffered_events=list(state.buffered_events),
    )


def batches(
    items: Sequence[T], size_of: Callable[[T], int], *, max_bytes: int = MAX_BATCH_BYTES
) -> Iterator[list[T]]:
    """``items`` cut into runs of at most :data:`MAX_BATCH_RECORDS` and about ``max_bytes``."""
    batch: list[T] = []
    size = 0
    for item in items:
        item_size = size_of(item)
        if batch and (len(batch) >= MAX_BATCH_RECORDS or size + item_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


# --------------------------------------------------------------------------- queues, Nexus,
# replication DLQ (schema v1.1): write methods of TargetWriter, kept in their own section.

FILLER = DataBlob(b"", "pc-copy-filler")
"""What a copy enqueues (and deletes at once) to make the target assign the source's ids past a
message the source deleted: ids are only ever assigned by enqueueing."""


async def _landed(write: Awaitable[T]) -> T:
    """``write``, finished even when the copy is cancelled meanwhile (the cancellation is
    raised once it has landed). Ids are assigned by enqueueing: an enqueue that a cancelled copy
    left in flight (an SQL unit still queued, a request on the wire) would otherwise take an id
    after the copy stopped, under the resumed copy's feet."""
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


class _QueueWrites:
    """Mixed into :class:`TargetWriter`, which provides these members."""

    _stores: StoreSet
    reader: StoreReader
    force: bool

    if TYPE_CHECKING:

        def _conflict(self, what: str) -> TargetConflict: ...

        async def _write(
            self, call: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
        ) -> T: ...

    async def put_queue(self, record: QueueRecord) -> tuple[Outcome, QueueRecord]:
        """Create the queue with the source's metadata at the source's version (each update
        adds one), or take up a queue an interrupted run of this copy left; returns the outcome
        and the target's queue. A target queue ahead of the source is a conflict that
        ``force`` cannot settle: queues cannot be deleted."""
        store = self._stores.queue
        existing = await self.reader.queue(record.key)
        if existing == record:
            return Outcome.PRESENT, record
        if existing is None:
            await self._write(store.create_queue, record.key, record.metadata)
            existing = await self.reader.queue(record.key)
            assert existing is not None
        if (
            existing.version > record.version
            or existing.next_message_id > record.next_message_id
            or (existing.version == record.version and existing.metadata != record.metadata)
        ):
            raise TargetConflict(
                f"target {self.reader.description} already holds a different queue "
                f"{record.key.queue_type}/{record.key.queue_name!r} (queues cannot be overwritten)"
            )
        for version in range(existing.version, record.version):
            await self._write(store.update_queue_metadata, record.key, record.metadata, version)
        # A filler an interrupted run enqueued but did not delete yet.
        token = b""
        while True:
            page = await self.reader.queue_messages(record.key, 1000, token)
            for message in page.items:
                if message.payload.encoding == FILLER.encoding:
                    await self._write(store.delete_message, record.key, message.message_id)
            token = page.next_page_token
            if not token:
                break
        current = await self.reader.queue(record.key)
        assert current is not None
        return Outcome.WRITTEN, current

    async def _filler(self, key: QueueKey) -> int:
        store = self._stores.queue
        filler_id = await self._write(store.enqueue_message, key, FILLER)
        await self._write(store.delete_message, key, filler_id)
        return filler_id

    async def _advance_queue(self, key: QueueKey, next_id: int, wanted: int) -> int:
        while next_id < wanted:
            next_id = await _landed(self._filler(key)) + 1
        return next_id

    async def put_queue_messages(
        self, key: QueueKey, next_id: int, messages: list[QueueMessage]
    ) -> int:
        """Enqueue the source's messages with their own ids (those below ``next_id`` are this
        copy's already); returns the target's next id."""
        for message in messages:
            if message.message_id < next_id:
                continue
            next_id = await self._advance_queue(key, next_id, message.message_id)
            assigned = await _landed(
                self._write(self._stores.queue.enqueue_message, key, message.payload)
            )
            if assigned != message.message_id:
                raise CopyInterrupted(
                    f"queue {key.queue_type}/{key.queue_name!r}: the target assigned id "
                    f"{assigned} to source message {message.message_id} (another writer?)"
                )
            next_id = assigned + 1
        return next_id

    async def finish_queue(self, record: QueueRecord, next_id: int) -> None:
        """Bring the target's next id and min id to the source's."""
        await self._advance_queue(record.key, next_id, record.next_message_id)
        if record.min_message_id > 0:
            await self._write(
                self._stores.queue.range_delete_messages, record.key, record.min_message_id - 1
            )

    async def put_nexus_endpoint(self, record: NexusEndpointRecord) -> Outcome:
        """Create the endpoint and step its version up to the source's (every write adds one;
        the table version counts this store's own writes and is not copied)."""
        store = self._stores.nexus_endpoint
        existing = await self.reader.nexus_endpoint(record.id)
        if existing == record:
            return Outcome.PRESENT
        outcome = Outcome.WRITTEN
        if existing is not None and (
            existing.data != record.data or existing.version > record.version
        ):
            if not self.force:
                raise self._conflict(f"nexus endpoint {record.id!r}")
            table_version = await self.reader.nexus_table_version()
            await self._write(store.delete_nexus_endpoint, record.id, table_version)
            existing, outcome = None, Outcome.OVERWRITTEN
        version = existing.version if existing is not None else 0
        while version < record.version:
            table_version = await self.reader.nexus_table_version()
            step = NexusEndpointRecord(record.id, record.data, version)
            try:
                await self._write(store.create_or_update_nexus_endpoint, step, table_version)
            except ConditionFailed:
                raise CopyInterrupted(
                    f"nexus endpoint {record.id!r}: the target's registry changed during the "
                    "copy (another writer?)"
                ) from None
            version += 1
        return outcome

    async def put_replication_dlq_tasks(
        self, shard_id: int, tasks: list[ReplicationDLQTask]
    ) -> None:
        for task in tasks:
            await self._write(self._stores.execution.put_replication_task_to_dlq, shard_id, task)


class TargetWriter(_QueueWrites):
    """The target stores, written through conditional creates and upserts."""

    def __init__(self, stores: StoreSet, *, force: bool, max_in_flight: int) -> None:
        self._stores = stores
        self.reader = StoreReader(stores)
        self.description = stores.description
        self.force = force
        self._gate = asyncio.Semaphore(max_in_flight)

    async def _write(self, call: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        async with self._gate:
            return await call(*args, **kwargs)

    def _conflict(self, what: str) -> TargetConflict:
        return TargetConflict(
            f"target {self.description} already holds a different {what}; "
            "pass --force to overwrite it"
        )

    # ------------------------------------------------------------------ namespaces

    async def remove_pad_namespaces(self) -> None:
        """Delete pad namespaces an interrupted copy left behind (deletes do not move the
        notification version)."""
        token = b""
        while True:
            page = await self.reader.namespaces(100, token)
            for record in page.items:
                if record.name.startswith(PAD_NAMESPACE_PREFIX):
                    await self._write(self._stores.metadata.delete_namespace, id=record.id)
            token = page.next_page_token
            if not token:
                return

    async def advance_notification_version(self, version: int) -> None:
        """Bring the target's notification version up to ``version`` (never down).

        Stores stamp a namespace with the version current when it is written, so writing the
        source's namespaces in version order, each once the target's version has reached the
        namespace's, reproduces every stamp. The gaps (changes to namespaces since deleted or
        changed again) are filled by updates of a pad namespace that is then deleted.
        """
        metadata = self._stores.metadata
        current = await metadata.get_metadata()
        if current >= version:
            return
        suffix = uuid.uuid4().hex
        pad = NamespaceRecord(
            id=f"copy-pad-{suffix}",
            name=f"{PAD_NAMESPACE_PREFIX}{suffix}",
            detail=DataBlob(b"", "copy-pad"),
        )
        await self._write(metadata.create_namespace, pad)
        current += 1
        while current < version:
            stamped = dataclasses.replace(pad, notification_version=current)
            await self._write(metadata.update_namespace, stamped)
            current += 1
        await self._write(metadata.delete_namespace, id=pad.id)

    async def put_namespace(self, record: NamespaceRecord) -> Outcome:
        """Write ``record`` stamped with its own notification version (call in version
        order)."""
        existing = await self.reader.namespace(record.id)
        if existing == record:
            return Outcome.PRESENT
        by_name = await self.reader.namespace_by_name(record.name)
        outcome = Outcome.WRITTEN
        if existing is not None or by_name is not None:
            if not self.force:
                raise self._conflict(f"namespace {record.name!r} (id {record.id})")
            for stale in {r.id for r in (existing, by_name) if r is not None}:
                await self._write(self._stores.metadata.delete_namespace, id=stale)
            outcome = Outcome.OVERWRITTEN
        await self.advance_notification_version(record.notification_version)
        try:
            await self._write(self._stores.metadata.create_namespace, record)
        except NamespaceAlreadyExists:
            raise self._conflict(f"namespace {record.name!r} (id {record.id})") from None
        return outcome

    # ------------------------------------------------------------------ visibility (issue 17)

    async def put_search_attributes(
        self, namespace_id: str, attributes: Mapping[str, SearchAttributeType]
    ) -> None:
        """Register the source's attributes (a different type for a name is a conflict)."""
        store = self._stores.visibility
        if store is None:
            raise self._no_visibility()
        existing = await store.get_search_attributes(namespace_id)
        clashing = sorted(n for n, t in attributes.items() if existing.get(n, t) is not t)
        if clashing:
            raise self._conflict(f"type of search attribute {clashing[0]!r} in {namespace_id}")
        await self._write(store.register_search_attributes, namespace_id, attributes)

    async def put_visibility(self, record: VisibilityRecord) -> Outcome:
        store = self._stores.visibility
        if store is None:
            raise self._no_visibility()
        existing = await self.reader.visibility_record(record.namespace_id, record.run_id)
        if existing == record:
            return Outcome.PRESENT
        if existing is not None and not self.force:
            raise self._conflict(f"visibility record of run {record.run_id}")
        await self._write(store.save_record, record)
        return Outcome.WRITTEN if existing is None else Outcome.OVERWRITTEN

    def _no_visibility(self) -> TargetConflict:
        return TargetConflict(f"target {self.description} has no visibility store")

    # ------------------------------------------------------------------ cluster metadata

    async def put_cluster_metadata(self, record: ClusterMetadataRecord) -> Outcome:
        """Write the record and step its version up to the source's (every save adds one)."""
        store = self._stores.cluster_metadata
        existing = await self.reader.cluster_metadata(record.cluster_name)
        if existing == record:
            return Outcome.PRESENT
        outcome = Outcome.WRITTEN
        if existing is not None and (
            existing.metadata != record.metadata or existing.version > record.version
        ):
            if not self.force:
                raise self._conflict(f"cluster metadata {record.cluster_name!r}")
            await self._write(store.delete_cluster_metadata, record.cluster_name)
            existing, outcome = None, Outcome.OVERWRITTEN
        # An existing record with the same blob and a lower version is this copy's own,
        # interrupted while stepping the version: carry on from there.
        version = existing.version if existing is not None else 0
        while version < record.version:
            step = ClusterMetadataRecord(record.cluster_name, record.metadata, version)
            try:
                await self._write(store.save_cluster_metadata, step)
            except ConditionFailed:
                raise self._conflict(f"cluster metadata {record.cluster_name!r}") from None
            version += 1
        return outcome

    # ------------------------------------------------------------------ shards

    async def put_shard(
        self, record: ShardRecord, recorded_range: int | None
    ) -> tuple[int, Outcome]:
        """Create the shard with a range id above the source's, so that a host still holding
        the source's lease is fenced out of the target; returns the target's range id.

        ``recorded_range`` is the range id a previous run of this copy gave the shard."""
        wanted = recorded_range if recorded_range is not None else record.range_id + 1
        before = await self.reader.shard(record.shard_id)
        found = await self._write(
            self._stores.shard.get_or_create_shard, record.shard_id, lambda: (wanted, record.info)
        )
        if found.range_id == wanted and found.info == record.info:
            return wanted, Outcome.WRITTEN if before is None else Outcome.PRESENT
        if not self.force:
            raise self._conflict(f"shard {record.shard_id} (range id {found.range_id})")
        bumped = max(found.range_id, record.range_id) + 1
        await self._write(
            self._stores.shard.update_shard, record.shard_id, bumped, record.info, found.range_id
        )
        return bumped, Outcome.OVERWRITTEN

    # ------------------------------------------------------------------ runs

    async def put_run(
        self,
        shard_id: int,
        range_id: int,
        state: WorkflowMutableState,
        current: CurrentExecution | None,
    ) -> Outcome:
        """Create the run, and its current pointer when ``current`` (the source's pointer,
        pointing at this run) is given, in one fenced write."""
        request = CreateWorkflowExecutionRequest(
            shard_id=shard_id,
            range_id=range_id,
            mode=CreateWorkflowMode.BYPASS_CURRENT
            if current is None
            else CreateWorkflowMode.BRAND_NEW,
            new_snapshot=snapshot_of(state, current),
        )
        execution = self._stores.execution
        try:
            await self._write(execution.create_workflow_execution, request)
            return Outcome.WRITTEN
        except ShardOwnershipLost as exc:
            raise self._lease_moved(f"shard {shard_id}", exc) from None
        except (CurrentWorkflowConditionFailed, WorkflowConditionFailed):
            pass
        if await self._holds_run(shard_id, state, current):
            return Outcome.PRESENT
        key = state.key
        if not self.force:
            raise self._conflict(
                f"run {key.run_id} of workflow {key.workflow_id!r} (shard {shard_id})"
            )
        await self._write(execution.delete_workflow_execution, shard_id, key)
        pointer = await self.reader.current(shard_id, key.namespace_id, key.workflow_id)
        if pointer is not None and (current is not None or pointer.run_id == key.run_id):
            stale = ExecutionKey(key.namespace_id, key.workflow_id, pointer.run_id)
            await self._write(execution.delete_current_workflow_execution, shard_id, stale)
        try:
            await self._write(execution.create_workflow_execution, request)
        except ShardOwnershipLost as exc:
            raise self._lease_moved(f"shard {shard_id}", exc) from None
        return Outcome.OVERWRITTEN

    async def _holds_run(
        self, shard_id: int, state: WorkflowMutableState, current: CurrentExecution | None
    ) -> bool:
        key = state.key
        if await self.reader.run(shard_id, key) != state:
            return False
        pointer = await self.reader.current(shard_id, key.namespace_id, key.workflow_id)
        if current is not None:
            return pointer == current
        return pointer is None or pointer.run_id != key.run_id

    def _lease_moved(self, what: str, exc: Exception) -> CopyInterrupted:
        return CopyInterrupted(
            f"target {self.description}: {what} was taken over during the copy ({exc}); "
            "stop whatever writes to the target and run the copy again"
        )

    async def put_history_tasks(
        self, shard_id: int, range_id: int, tasks: Sequence[HistoryTask]
    ) -> None:
        execution = self._stores.execution

        async def add(batch: list[HistoryTask]) -> None:
            try:
                await self._write(execution.add_history_tasks, shard_id, range_id, "", "", batch)
            except ShardOwnershipLost as exc:
                raise self._lease_moved(f"shard {shard_id}", exc) from None

        await asyncio.gather(
            *(add(batch) for batch in batches(tasks, lambda t: len(t.blob.data) + 64))
        )

    # ------------------------------------------------------------------ history

    async def put_tree_row(self, row: HistoryTreeBranch) -> None:
        await self._write(
            self._stores.history.fork_history_branch,
            row.shard_id,
            row.tree_id,
            row.branch_id,
            row.tree_info,
        )

    async def put_node(self, source: NodeSource, node: HistoryNode) -> None:
        assert node.events is not None, "copies read whole rows, never metadata only"
        request = AppendHistoryNodesRequest(
            shard_id=source.shard_id,
            tree_id=source.tree_id,
            branch_id=source.branch_id,
            node_id=node.node_id,
            txn_id=node.txn_id,
            prev_txn_id=node.prev_txn_id,
            events=node.events,
        )
        await self._write(self._stores.history.append_history_nodes, request)

    # ------------------------------------------------------------------ matching

    async def put_task_queue(self, record: TaskQueueRecord) -> Outcome:
        store = self._stores.task
        try:
            await self._write(store.create_task_queue, record)
            return Outcome.WRITTEN
        except ConditionFailed:
            pass
        existing = await self.reader.task_queue(record.key)
        if existing == record:
            return Outcome.PRESENT
        what = f"task queue {record.key.name!r} (type {record.key.task_type})"
        if existing is None or not self.force:
            raise self._conflict(what)
        try:
            await self._write(store.update_task_queue, record, existing.range_id)
        except ConditionFailed as exc:
            raise self._lease_moved(what, exc) from None
        return Outcome.OVERWRITTEN

    async def put_task_queue_user_data(
        self, entry: TaskQueueUserData, build_ids: frozenset[str]
    ) -> Outcome:
        """Insert the queue's user data at its version with its build-id rows. Different
        data already there is a conflict even with ``force``: the store's only other write is
        a compare-and-set that moves the version, so it cannot reproduce the source's."""
        try:
            await self._write(self._stores.task.create_task_queue_user_data, entry, build_ids)
            return Outcome.WRITTEN
        except ConditionFailed:
            pass
        existing = await self.reader.one_user_data(entry.namespace_id, entry.task_queue)
        if existing == entry:
            return Outcome.PRESENT
        raise TargetConflict(
            f"target {self.description} already holds different user data for task queue "
            f"{entry.task_queue!r} (namespace {entry.namespace_id}); user data cannot be "
            "overwritten by a copy, remove it from the target first"
        )

    async def put_tasks(
        self,
        key: TaskQueueKey,
        range_id: int,
        tasks: Sequence[TaskRecord],
        queue_expiry: datetime | None = None,
    ) -> None:
        store = self._stores.task
        what = f"task queue {key.name!r} (type {key.task_type})"

        async def create(batch: list[TaskRecord]) -> None:
            try:
                await self._write(
                    store.create_tasks,
                    CreateTasksRequest(key, range_id, batch, queue_expiry=queue_expiry),
                )
            except ConditionFailed as exc:
                raise self._lease_moved(what, exc) from None

        await asyncio.gather(
            *(create(batch) for batch in batches(tasks, lambda t: len(t.blob.data) + 64))
        )
