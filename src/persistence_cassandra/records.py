"""Record and request types that cross the store boundary.

Stores see opaque :class:`DataBlob` values plus the few "significant" columns that keys and
conditions need (ids, range ids, versions, states). Everything else stays inside blobs, so a
backend never has to understand the payload it stores.

Records that reads return in bulk (blobs, history nodes, tasks, history tasks, namespaces and
the like) are plain slotted dataclasses with a field hash rather than ``frozen=True``: a frozen
dataclass sets each field through ``object.__setattr__``, which made building a page of 100
tasks cost as much as reading it from SQLite. They are still values: stores never mutate a
record they were given or returned, and callers must not either (the hash would go stale).

Times are timezone-aware UTC ``datetime`` values with millisecond precision (the precision of a
Cassandra ``timestamp``); :func:`to_epoch_ms` / :func:`from_epoch_ms` convert at the backend edge.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Generic, TypeVar

T = TypeVar("T")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Fire time used for immediate history tasks, whose order is by task id alone."""


def to_epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch; naive datetimes are rejected to avoid silent shifts."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: persistence times must be timezone-aware (UTC)")
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_epoch_ms(value: int) -> datetime:
    """The UTC datetime of ``value`` milliseconds since the epoch."""
    return EPOCH + timedelta(milliseconds=value)


def truncate_to_ms(value: datetime) -> datetime:
    """``value`` at the millisecond precision every backend stores."""
    return from_epoch_ms(to_epoch_ms(value))


@dataclass(slots=True, unsafe_hash=True)
class DataBlob:
    """Serialized payload plus the name of its encoding (for example ``"proto3"`` or ``"json"``)."""

    data: bytes
    encoding: str = "proto3"


@dataclass(slots=True, unsafe_hash=True)
class Page(Generic[T]):
    """One page of a paged read. An empty ``next_page_token`` means there is nothing more."""

    items: list[T]
    next_page_token: bytes = b""


# --------------------------------------------------------------------------- shards


@dataclass(slots=True, unsafe_hash=True)
class ShardRecord:
    shard_id: int
    range_id: int
    info: DataBlob


# --------------------------------------------------------------------------- executions


class WorkflowState(enum.IntEnum):
    """Stable persisted values (Temporal's ``WorkflowExecutionState``)."""

    CREATED = 1
    RUNNING = 2
    COMPLETED = 3
    ZOMBIE = 4
    VOID = 5
    CORRUPTED = 6


class CreateWorkflowMode(enum.IntEnum):
    BRAND_NEW = 0
    """Fail with ``CurrentWorkflowConditionFailed`` if any current record exists."""
    UPDATE_CURRENT = 1
    """Workflow-id reuse: the current record must point at ``previous_run_id`` with
    ``previous_last_write_version`` and be COMPLETED; it is moved to the new run."""
    BYPASS_CURRENT = 2
    """Zombie: the current record is neither checked nor touched."""


class UpdateWorkflowMode(enum.IntEnum):
    UPDATE_CURRENT = 0
    """The current record must point at the updated run; a new run (continue-as-new) moves it."""
    BYPASS_CURRENT = 1
    """The current record must *not* point at the updated run; it is not touched."""
    IGNORE_CURRENT = 2
    """No check of the current record and no write to it."""


class ConflictResolveWorkflowMode(enum.IntEnum):
    UPDATE_CURRENT = 0
    BYPASS_CURRENT = 1


class TaskCategoryType(enum.IntEnum):
    IMMEDIATE = 1
    """Ordered by task id; the fire time is always :data:`EPOCH`."""
    SCHEDULED = 2
    """Ordered by (fire time, task id)."""


@dataclass(frozen=True, slots=True)
class TaskCategory:
    """A history task category: its persisted id, a name, and how its tasks are ordered.

    Categories are open: a server registers its own with
    :func:`persistence_cassandra.task_categories.register_task_category`. The built-ins are
    class attributes (``TaskCategory.TRANSFER`` ...) with ids that are persisted and frozen
    (Temporal's values; 6, its in-memory timer, is never persisted and stays reserved).
    """

    id: int
    name: str
    category_type: TaskCategoryType

    TRANSFER: ClassVar[TaskCategory]
    TIMER: ClassVar[TaskCategory]
    REPLICATION: ClassVar[TaskCategory]
    VISIBILITY: ClassVar[TaskCategory]
    ARCHIVAL: ClassVar[TaskCategory]
    OUTBOUND: ClassVar[TaskCategory]

    def __int__(self) -> int:
        # Backends persist the id: ``int(category)`` is what they write.
        return self.id

    def __repr__(self) -> str:
        return f"TaskCategory({self.id}, {self.name!r}, {self.category_type.name})"


TaskCategory.TRANSFER = TaskCategory(1, "TRANSFER", TaskCategoryType.IMMEDIATE)
TaskCategory.TIMER = TaskCategory(2, "TIMER", TaskCategoryType.SCHEDULED)
TaskCategory.REPLICATION = TaskCategory(3, "REPLICATION", TaskCategoryType.IMMEDIATE)
TaskCategory.VISIBILITY = TaskCategory(4, "VISIBILITY", TaskCategoryType.IMMEDIATE)
TaskCategory.ARCHIVAL = TaskCategory(5, "ARCHIVAL", TaskCategoryType.SCHEDULED)
TaskCategory.OUTBOUND = TaskCategory(7, "OUTBOUND", TaskCategoryType.IMMEDIATE)


@dataclass(frozen=True, slots=True, order=True)
class TaskKey:
    """Position of a history task within its category: (fire time, task id)."""

    fire_time: datetime
    task_id: int

    @staticmethod
    def immediate(task_id: int) -> TaskKey:
        return TaskKey(EPOCH, task_id)


@dataclass(slots=True, unsafe_hash=True)
class HistoryTask:
    category: TaskCategory
    key: TaskKey
    blob: DataBlob


@dataclass(frozen=True, slots=True)
class ExecutionKey:
    namespace_id: str
    workflow_id: str
    run_id: str


@dataclass(slots=True, unsafe_hash=True)
class CurrentExecution:
    """The current-run pointer of a workflow id, with what reuse decisions need."""

    run_id: str
    create_request_id: str
    state: WorkflowState
    status: int
    last_write_version: int
    start_time: datetime | None = None
    # Conflict payload fields (schema 1.1), what Temporal's CurrentWorkflowConditionFailed
    # carries so a start can be deduplicated or attached without a re-read.
    request_ids: frozenset[str] = frozenset()
    """Every request id attached to the run (its create request id included)."""
    first_execution_run_id: str = ""
    """The first run of the run's chain (continue-as-new, retries, cron); "" when unknown
    (pointers written before schema 1.1)."""


def _current_record(
    key: ExecutionKey,
    create_request_id: str,
    state: WorkflowState,
    status: int,
    last_write_version: int,
    start_time: datetime | None,
    request_ids: frozenset[str],
    first_execution_run_id: str,
) -> CurrentExecution:
    return CurrentExecution(
        run_id=key.run_id,
        create_request_id=create_request_id,
        state=state,
        status=status,
        last_write_version=last_write_version,
        start_time=start_time,
        request_ids=request_ids | {create_request_id} if create_request_id else request_ids,
        first_execution_run_id=first_execution_run_id or key.run_id,
    )


@dataclass(slots=True)
class WorkflowSnapshot:
    """A run written whole: a new run, a reset run, or a ``set`` overwrite.

    Collections replace whatever the run held before.
    """

    key: ExecutionKey
    execution_info: DataBlob
    execution_state: DataBlob
    next_event_id: int
    db_record_version: int
    state: WorkflowState
    status: int
    create_request_id: str
    last_write_version: int = 0
    start_time: datetime | None = None
    activity_infos: dict[int, DataBlob] = field(default_factory=dict)
    timer_infos: dict[str, DataBlob] = field(default_factory=dict)
    child_execution_infos: dict[int, DataBlob] = field(default_factory=dict)
    request_cancel_infos: dict[int, DataBlob] = field(default_factory=dict)
    signal_infos: dict[int, DataBlob] = field(default_factory=dict)
    signal_requested_ids: set[str] = field(default_factory=set)
    tasks: list[HistoryTask] = field(default_factory=list)
    checksum: DataBlob | None = None
    buffered_events: list[DataBlob] = field(default_factory=list)
    """Buffered events the run holds, in arrival order; they replace any the run held (a new
    run normally has none; a copy of an existing run between stores carries them)."""
    # Written to the current pointer when this run becomes (or stays) current (schema 1.1).
    request_ids: frozenset[str] = frozenset()
    """Request ids attached to the run besides ``create_request_id`` (the whole set)."""
    first_execution_run_id: str = ""
    """The first run of the chain; "" means this run is the first."""

    def current_record(self) -> CurrentExecution:
        return _current_record(
            self.key,
            self.create_request_id,
            self.state,
            self.status,
            self.last_write_version,
            self.start_time,
            self.request_ids,
            self.first_execution_run_id,
        )


@dataclass(slots=True)
class WorkflowMutation:
    """An incremental change to an existing run.

    The store applies it only if the stored ``db_record_version`` equals
    ``db_record_version - 1`` (the writer increments the version on every change).
    """

    key: ExecutionKey
    execution_info: DataBlob
    execution_state: DataBlob
    next_event_id: int
    db_record_version: int
    state: WorkflowState
    status: int
    create_request_id: str
    last_write_version: int = 0
    start_time: datetime | None = None
    upsert_activity_infos: dict[int, DataBlob] = field(default_factory=dict)
    delete_activity_infos: set[int] = field(default_factory=set)
    upsert_timer_infos: dict[str, DataBlob] = field(default_factory=dict)
    delete_timer_infos: set[str] = field(default_factory=set)
    upsert_child_execution_infos: dict[int, DataBlob] = field(default_factory=dict)
    delete_child_execution_infos: set[int] = field(default_factory=set)
    upsert_request_cancel_infos: dict[int, DataBlob] = field(default_factory=dict)
    delete_request_cancel_infos: set[int] = field(default_factory=set)
    upsert_signal_infos: dict[int, DataBlob] = field(default_factory=dict)
    delete_signal_infos: set[int] = field(default_factory=set)
    upsert_signal_requested_ids: set[str] = field(default_factory=set)
    delete_signal_requested_ids: set[str] = field(default_factory=set)
    new_buffered_events: DataBlob | None = None
    clear_buffered_events: bool = False
    tasks: list[HistoryTask] = field(default_factory=list)
    checksum: DataBlob | None = None
    # Written to the current pointer with the mutation (schema 1.1); see WorkflowSnapshot.
    request_ids: frozenset[str] = frozenset()
    first_execution_run_id: str = ""

    def current_record(self) -> CurrentExecution:
        return _current_record(
            self.key,
            self.create_request_id,
            self.state,
            self.status,
            self.last_write_version,
            self.start_time,
            self.request_ids,
            self.first_execution_run_id,
        )


@dataclass(slots=True)
class WorkflowMutableState:
    """Everything stored for one run, as read back."""

    key: ExecutionKey
    execution_info: DataBlob
    execution_state: DataBlob
    next_event_id: int
    db_record_version: int
    activity_infos: dict[int, DataBlob] = field(default_factory=dict)
    timer_infos: dict[str, DataBlob] = field(default_factory=dict)
    child_execution_infos: dict[int, DataBlob] = field(default_factory=dict)
    request_cancel_infos: dict[int, DataBlob] = field(default_factory=dict)
    signal_infos: dict[int, DataBlob] = field(default_factory=dict)
    signal_requested_ids: set[str] = field(default_factory=set)
    buffered_events: list[DataBlob] = field(default_factory=list)
    checksum: DataBlob | None = None


@dataclass(frozen=True, slots=True)
class CreateWorkflowExecutionRequest:
    shard_id: int
    range_id: int
    mode: CreateWorkflowMode
    new_snapshot: WorkflowSnapshot
    previous_run_id: str = ""
    previous_last_write_version: int = 0


@dataclass(frozen=True, slots=True)
class UpdateWorkflowExecutionRequest:
    shard_id: int
    range_id: int
    mode: UpdateWorkflowMode
    mutation: WorkflowMutation
    new_snapshot: WorkflowSnapshot | None = None
    """A run created in the same unit (continue-as-new); with UPDATE_CURRENT the current
    pointer moves to it."""


@dataclass(frozen=True, slots=True)
class ConflictResolveWorkflowExecutionRequest:
    shard_id: int
    range_id: int
    mode: ConflictResolveWorkflowMode
    reset_snapshot: WorkflowSnapshot
    """Written as a snapshot that replaces the run's collections; its ``db_record_version``
    is checked like a mutation's (stored == version - 1)."""
    new_snapshot: WorkflowSnapshot | None = None
    current_mutation: WorkflowMutation | None = None


@dataclass(frozen=True, slots=True)
class SetWorkflowExecutionRequest:
    shard_id: int
    range_id: int
    snapshot: WorkflowSnapshot
    """Overwrites an existing run (checked on ``db_record_version - 1``); never touches the
    current record."""


@dataclass(frozen=True, slots=True)
class GetHistoryTasksRequest:
    shard_id: int
    category: TaskCategory
    inclusive_min: TaskKey
    exclusive_max: TaskKey
    page_size: int
    next_page_token: bytes = b""


# --------------------------------------------------------------------------- history


@dataclass(slots=True, unsafe_hash=True)
class HistoryNode:
    """One batch of events on one branch, as stored."""

    node_id: int
    txn_id: int
    prev_txn_id: int
    events: DataBlob | None
    """``None`` when the read asked for metadata only."""


@dataclass(frozen=True, slots=True)
class AppendHistoryNodesRequest:
    shard_id: int
    tree_id: str
    branch_id: str
    node_id: int
    txn_id: int
    prev_txn_id: int
    events: DataBlob
    new_branch_tree_info: DataBlob | None = None
    """When set, this is the first append of a new branch: its tree row is written in the
    same atomic unit as the node."""


@dataclass(frozen=True, slots=True)
class ReadHistoryBranchRequest:
    shard_id: int
    tree_id: str
    branch_id: str
    min_node_id: int
    """Inclusive."""
    max_node_id: int
    """Exclusive."""
    page_size: int
    next_page_token: bytes = b""
    reverse: bool = False
    """Forward order is (node id asc, txn id desc); reverse is exactly its mirror."""
    metadata_only: bool = False


@dataclass(slots=True, unsafe_hash=True)
class HistoryTreeBranch:
    tree_id: str
    branch_id: str
    tree_info: DataBlob
    shard_id: int = 0


@dataclass(frozen=True, slots=True)
class HistoryBranchRange:
    """Nodes ``[begin_node_id, …)`` of ``branch_id`` that a delete removes."""

    branch_id: str
    begin_node_id: int


@dataclass(frozen=True, slots=True)
class DeleteHistoryBranchRequest:
    shard_id: int
    tree_id: str
    branch_id: str
    """Whose tree row is deleted."""
    ranges: Sequence[HistoryBranchRange]


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class TaskQueueKey:
    namespace_id: str
    name: str
    task_type: int
    """1 = workflow task queue, 2 = activity task queue (Temporal's values)."""


class TaskQueueKind(enum.IntEnum):
    """Stable persisted values (Temporal's ``TaskQueueKind``)."""

    NORMAL = 1
    STICKY = 2
    """A worker's own queue: it (and, on SQL, its tasks) is gone once ``expiry`` passes unless
    its owner keeps moving the expiry forward with ``update_task_queue``."""


@dataclass(slots=True, unsafe_hash=True)
class TaskQueueRecord:
    key: TaskQueueKey
    range_id: int
    info: DataBlob
    # Sticky task queues (schema 1.1).
    kind: TaskQueueKind = TaskQueueKind.NORMAL
    expiry: datetime | None = None
    """Past this time the queue does not exist: TTL on Cassandra, hidden and scavenged on
    SQL. ``None``: it never expires (normal queues)."""


@dataclass(slots=True, unsafe_hash=True)
class TaskRecord:
    task_id: int
    blob: DataBlob
    expiry: datetime | None = None
    """Past this time the task is gone: TTL on Cassandra, filtered and scavenged on SQL."""


@dataclass(frozen=True, slots=True)
class CreateTasksRequest:
    key: TaskQueueKey
    range_id: int
    """The caller's lease: tasks are written only if the stored range id still equals it."""
    tasks: Sequence[TaskRecord]
    updated_info: DataBlob | None = None
    """When set, the queue's info blob is rewritten in the same atomic unit."""
    queue_expiry: datetime | None = None
    """A sticky queue's expiry (as last written): the lease check rewrites the queue's row,
    and on Cassandra that write must keep the row's TTL. ``None`` for normal queues."""


@dataclass(frozen=True, slots=True)
class GetTasksRequest:
    key: TaskQueueKey
    inclusive_min_task_id: int
    exclusive_max_task_id: int
    page_size: int
    next_page_token: bytes = b""


# --------------------------------------------------------------------------- namespaces


@dataclass(slots=True, unsafe_hash=True)
class NamespaceRecord:
    id: str
    name: str
    detail: DataBlob
    is_global: bool = False
    notification_version: int = 0
    """The global notification version at the namespace's last change."""


@dataclass(frozen=True, slots=True)
class ClusterMetadataRecord:
    cluster_name: str
    metadata: DataBlob
    version: int


class MembershipRole(enum.IntEnum):
    FRONTEND = 1
    HISTORY = 2
    MATCHING = 3
    WORKER = 4


@dataclass(frozen=True, slots=True)
class ClusterMember:
    host_id: str
    rpc_address: str
    rpc_port: int
    role: MembershipRole
    session_start: datetime
    last_heartbeat: datetime
    record_expiry: datetime


@dataclass(frozen=True, slots=True)
class GetClusterMembersRequest:
    role: MembershipRole | None = None
    host_id: str | None = None
    rpc_address: str | None = None
    session_started_after: datetime | None = None
    last_heartbeat_within: timedelta | None = None
    page_size: int = 100
    next_page_token: bytes = b""


# --------------------------------------------------------------------------- queues
# Named queues in the shape of Temporal's queue v2: a queue is (queue type, queue name); its
# messages get ids 0, 1, 2 ... in enqueue order, assigned atomically with the message write so
# that a reader never sees an id whose predecessor is still missing.


class QueueType(enum.IntEnum):
    """The well-known queue types (persisted). A server may use other integers of its own."""

    HISTORY_TASK_DLQ = 1
    """One queue per (task category, source cluster, target cluster) of poison history tasks."""
    NAMESPACE_REPLICATION = 2
    """Namespace changes replicated to the other clusters."""
    NAMESPACE_REPLICATION_DLQ = 3
    """Namespace replication messages a remote cluster could not apply."""


FIRST_QUEUE_MESSAGE_ID = 0
"""The id of a queue's first message."""


@dataclass(frozen=True, slots=True, order=True)
class QueueKey:
    queue_type: int
    queue_name: str


@dataclass(slots=True, unsafe_hash=True)
class QueueRecord:
    """A queue's metadata row."""

    key: QueueKey
    metadata: DataBlob
    """Free-form blob of the queue's owner (the namespace replication queue keeps its ack
    levels here), written by compare-and-set on :attr:`version`."""
    version: int
    """0 at creation, +1 on every metadata update."""
    min_message_id: int
    """The lowest id not removed by a range delete."""
    next_message_id: int
    """The id the next enqueued message gets."""


@dataclass(slots=True, unsafe_hash=True)
class QueueMessage:
    message_id: int
    payload: DataBlob


@dataclass(frozen=True, slots=True)
class ReadQueueMessagesRequest:
    """Messages with ``inclusive_min_message_id <= id < exclusive_max_message_id`` (no upper
    bound when ``None``), in id order, in pages."""

    key: QueueKey
    page_size: int
    next_page_token: bytes = b""
    inclusive_min_message_id: int = FIRST_QUEUE_MESSAGE_ID
    exclusive_max_message_id: int | None = None


@dataclass(slots=True, unsafe_hash=True)
class QueueInfo:
    """One queue of a :meth:`~persistence_cassandra.stores.QueueStore.list_queues` page."""

    key: QueueKey
    message_count: int
    """Messages stored now (single deletes and range deletes both lower it)."""
    next_message_id: int


# --------------------------------------------------------------------------- nexus endpoints


@dataclass(slots=True, unsafe_hash=True)
class NexusEndpointRecord:
    """A Nexus endpoint: its id, its opaque definition and its version (0 means "create" in a
    write request; a stored endpoint has version 1 or more)."""

    id: str
    data: DataBlob
    version: int = 0


@dataclass(slots=True)
class NexusEndpointPage:
    """A page of endpoints (ordered by id) and the table version they were read at."""

    endpoints: list[NexusEndpointRecord]
    next_page_token: bytes
    table_version: int
    """0 before the first endpoint was ever created; +1 on every create, update or delete."""


# --------------------------------------------------------------------------- replication DLQ


@dataclass(slots=True, unsafe_hash=True)
class ReplicationDLQTask:
    """A replication task this cluster could not apply, parked per (shard, source cluster)."""

    source_cluster: str
    task_id: int
    blob: DataBlob


@dataclass(frozen=True, slots=True)
class GetReplicationTasksFromDLQRequest:
    """Parked tasks with ``inclusive_min_task_id <= task_id < exclusive_max_task_id``."""

    shard_id: int
    source_cluster: str
    inclusive_min_task_id: int
    exclusive_max_task_id: int
    page_size: int
    next_page_token: bytes = b""


# --------------------------------------------------------------------------- task-queue user data
# Worker-versioning data a matching service keeps per task queue (Temporal's
# ``TaskQueueUserData``), and the build-id -> task-queue mapping written with it.


@dataclass(slots=True, unsafe_hash=True)
class TaskQueueUserData:
    """One task queue's user-data blob and its version (1 after the first write)."""

    namespace_id: str
    task_queue: str
    data: DataBlob
    version: int


@dataclass(frozen=True, slots=True)
class TaskQueueUserDataUpdate:
    """A compare-and-set of one queue's user data.

    ``version`` is the version the caller read (0 when the queue has none yet); the store
    writes ``version + 1``. The build ids are added to / removed from the queue's build-id
    mapping in the same atomic unit.
    """

    task_queue: str
    data: DataBlob
    version: int
    build_ids_added: frozenset[str] = frozenset()
    build_ids_removed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class UpdateTaskQueueUserDataRequest:
    """Several queues of one namespace, written all or nothing (one conditional write)."""

    namespace_id: str
    updates: Sequence[TaskQueueUserDataUpdate]


@dataclass(frozen=True, slots=True)
class BuildIdMapping:
    """One build-id → task-queue row (what ``get_task_queues_by_build_id`` reads)."""

    namespace_id: str
    build_id: str
    task_queue: str
