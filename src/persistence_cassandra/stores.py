"""The store Protocols: the narrow, blob-oriented interface that is all a backend implements.

Rules every implementation keeps (the conformance suite in ``persistence_cassandra.testing``
checks them):

* Every write that can conflict is conditional, the condition is checked atomically with the
  write, and a conflict raises a typed error from :mod:`persistence_cassandra.errors` carrying
  the actual stored values.
* Every execution write (create, update, conflict-resolve, set, add history tasks) is fenced by
  the shard's range id in the same atomic unit: if the stored range id differs from the
  request's, nothing is written and :class:`~persistence_cassandra.errors.ShardOwnershipLost`
  is raised.
* When several conditions fail at once the error raised is the first of
  ``ShardOwnershipLost`` > ``CurrentWorkflowConditionFailed`` > ``WorkflowConditionFailed`` >
  ``ConditionFailed``.
* Paged reads take ``page_size`` and an opaque ``next_page_token`` (``b""`` for the first
  page) and return a :class:`~persistence_cassandra.records.Page` whose empty token means the
  end. A page may hold fewer items than asked for even when more follow.
* Driver exceptions never escape: they are translated at one boundary per backend.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from persistence_cassandra.records import (
    AppendHistoryNodesRequest,
    BuildIdMapping,
    ClusterMember,
    ClusterMetadataRecord,
    ConflictResolveWorkflowExecutionRequest,
    CreateTasksRequest,
    CreateWorkflowExecutionRequest,
    CurrentExecution,
    DataBlob,
    DeleteHistoryBranchRequest,
    ExecutionKey,
    GetClusterMembersRequest,
    GetHistoryTasksRequest,
    GetReplicationTasksFromDLQRequest,
    GetTasksRequest,
    HistoryNode,
    HistoryTask,
    HistoryTreeBranch,
    NamespaceRecord,
    NexusEndpointPage,
    NexusEndpointRecord,
    Page,
    QueueInfo,
    QueueKey,
    QueueMessage,
    QueueRecord,
    ReadHistoryBranchRequest,
    ReadQueueMessagesRequest,
    ReplicationDLQTask,
    SetWorkflowExecutionRequest,
    ShardRecord,
    TaskCategory,
    TaskKey,
    TaskQueueKey,
    TaskQueueRecord,
    TaskQueueUserData,
    TaskRecord,
    UpdateTaskQueueUserDataRequest,
    UpdateWorkflowExecutionRequest,
    WorkflowMutableState,
)
from persistence_cassandra.visibility.records import (
    ExecutionStatus,
    SearchAttributeType,
    VisibilityRecord,
    VisibilityStart,
)

__all__ = [
    "Capabilities",
    "ClusterMetadataStore",
    "ExecutionStore",
    "HistoryStore",
    "MetadataStore",
    "NexusEndpointStore",
    "QueueStore",
    "ShardStore",
    "StoreBundle",
    "TaskScavenger",
    "TaskStore",
    "VisibilityStore",
]

ShardInitializer = Callable[[], tuple[int, DataBlob]]
"""Called only when the shard row is absent: returns ``(range_id, info)`` to insert."""


@runtime_checkable
class ShardStore(Protocol):
    async def get_or_create_shard(
        self, shard_id: int, create: ShardInitializer | None = None
    ) -> ShardRecord:
        """Read the shard; if absent and ``create`` is given, insert-if-absent its result.

        A lost insert race re-reads and returns the winner's row. Absent without ``create``
        raises ``NotFound``.
        """
        ...

    async def update_shard(
        self, shard_id: int, range_id: int, info: DataBlob, previous_range_id: int
    ) -> None:
        """Write ``range_id`` and ``info`` if the stored range id equals ``previous_range_id``,
        else raise ``ShardOwnershipLost`` carrying the stored range id (also for a missing
        shard: nobody may write a shard it never acquired)."""
        ...


@runtime_checkable
class ExecutionStore(Protocol):
    async def create_workflow_execution(self, request: CreateWorkflowExecutionRequest) -> None:
        """Insert a new run (and, per mode, the current pointer), fenced by the range id.

        BRAND_NEW with an existing current record raises ``CurrentWorkflowConditionFailed``
        carrying that record; a run row that already exists raises ``WorkflowConditionFailed``.
        """
        ...

    async def update_workflow_execution(self, request: UpdateWorkflowExecutionRequest) -> None:
        """Apply a mutation (and optionally create a new run), conditional on the run's
        ``db_record_version`` and, per mode, on the current pointer; fenced by the range id.
        A missing run raises ``ConditionFailed``."""
        ...

    async def conflict_resolve_workflow_execution(
        self, request: ConflictResolveWorkflowExecutionRequest
    ) -> None:
        """Replace a run with a reset snapshot, optionally mutate the current run and create a
        new run, all in one atomic unit with the same conditions as an update.

        With UPDATE_CURRENT and a ``current_mutation`` ("suppress current"), the current pointer
        must point at the mutated run and moves to the new run if any, else the reset run."""
        ...

    async def set_workflow_execution(self, request: SetWorkflowExecutionRequest) -> None:
        """Overwrite an existing run; a missing run raises ``ConditionFailed``."""
        ...

    async def get_workflow_execution(
        self, shard_id: int, key: ExecutionKey
    ) -> WorkflowMutableState:
        """The run's mutable state; ``NotFound`` if the run does not exist."""
        ...

    async def get_current_execution(
        self, shard_id: int, namespace_id: str, workflow_id: str
    ) -> CurrentExecution:
        """The current-run pointer; ``NotFound`` if there is none."""
        ...

    async def delete_workflow_execution(self, shard_id: int, key: ExecutionKey) -> None:
        """Delete the run (all its collections). Deleting a missing run succeeds."""
        ...

    async def delete_current_workflow_execution(self, shard_id: int, key: ExecutionKey) -> None:
        """Delete the current pointer only if it still points at ``key.run_id``."""
        ...

    async def list_concrete_executions(
        self, shard_id: int, page_size: int, next_page_token: bytes = b""
    ) -> Page[WorkflowMutableState]:
        """Every run of the shard, in pages."""
        ...

    async def add_history_tasks(
        self,
        shard_id: int,
        range_id: int,
        namespace_id: str,
        workflow_id: str,
        tasks: list[HistoryTask],
    ) -> None:
        """Insert history tasks, fenced by the range id."""
        ...

    async def get_history_tasks(self, request: GetHistoryTasksRequest) -> Page[HistoryTask]:
        """Tasks with ``inclusive_min <= key < exclusive_max``: immediate categories ordered by
        task id, scheduled categories by (fire time, task id)."""
        ...

    async def complete_history_task(
        self, shard_id: int, category: TaskCategory, key: TaskKey
    ) -> None:
        """Delete one task; a missing task is not an error."""
        ...

    async def range_complete_history_tasks(
        self,
        shard_id: int,
        category: TaskCategory,
        inclusive_min: TaskKey,
        exclusive_max: TaskKey,
    ) -> None:
        """Delete every task with ``inclusive_min <= key < exclusive_max``."""
        ...

    # -- replication-task dead-letter queue (one per shard and source cluster). Not fenced:
    # parking or dropping a task the shard cannot apply changes no mutable state.

    async def put_replication_task_to_dlq(self, shard_id: int, task: ReplicationDLQTask) -> None:
        """Park a replication task; putting the same task id again overwrites it."""
        ...

    async def get_replication_tasks_from_dlq(
        self, request: GetReplicationTasksFromDLQRequest
    ) -> Page[ReplicationDLQTask]:
        """Parked tasks of the request's range, in task id order, in pages."""
        ...

    async def delete_replication_task_from_dlq(
        self, shard_id: int, source_cluster: str, task_id: int
    ) -> None:
        """Drop one parked task; a missing task is not an error."""
        ...

    async def range_delete_replication_tasks_from_dlq(
        self,
        shard_id: int,
        source_cluster: str,
        inclusive_min_task_id: int,
        exclusive_max_task_id: int,
    ) -> None:
        """Drop every parked task with ``inclusive_min_task_id <= task_id <
        exclusive_max_task_id``."""
        ...

    async def is_replication_dlq_empty(self, shard_id: int, source_cluster: str) -> bool:
        """Whether no task of ``source_cluster`` is parked for the shard."""

    # ----------------------------------------------------------------- open task categories

    async def list_history_task_category_ids(self, shard_id: int) -> list[int]:
        """The ids of every category that has tasks stored in the shard, registered in this
        process or not (so a copy or a scan can refuse categories it cannot interpret
        instead of skipping their tasks)."""
        ...


@runtime_checkable
class HistoryStore(Protocol):
    """Raw history rows; ancestry, shadowing and paging logic live in the history manager."""

    async def append_history_nodes(self, request: AppendHistoryNodesRequest) -> None:
        """Idempotent upsert of one (tree, branch, node, txn) row; a new branch also writes its
        tree row in the same atomic unit."""
        ...

    async def read_history_branch(self, request: ReadHistoryBranchRequest) -> Page[HistoryNode]:
        """Rows of one branch id with ``min_node_id <= node_id < max_node_id``, all txn ids,
        in (node asc, txn desc) order, or exactly reversed."""
        ...

    async def fork_history_branch(
        self, shard_id: int, tree_id: str, new_branch_id: str, tree_info: DataBlob
    ) -> None:
        """Write the new branch's tree row; never copies nodes."""
        ...

    async def delete_history_branch(self, request: DeleteHistoryBranchRequest) -> None:
        """Delete the branch's tree row and, per range, the nodes with node id >= begin."""
        ...

    async def delete_history_nodes(
        self, shard_id: int, tree_id: str, branch_id: str, node_id: int, txn_id: int
    ) -> None:
        """Delete exactly one (node, txn) row (trim after a failed write)."""
        ...

    async def get_history_tree_containing_branch(
        self, shard_id: int, tree_id: str
    ) -> list[HistoryTreeBranch]:
        """Every branch row of the tree."""
        ...

    async def get_all_history_tree_branches(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[HistoryTreeBranch]:
        """Scan every branch of every tree (scavenger use; may skip or repeat rows under
        concurrent change)."""
        ...


@runtime_checkable
class TaskStore(Protocol):
    async def create_task_queue(self, record: TaskQueueRecord) -> None:
        """Insert the queue; ``ConditionFailed`` if it exists."""
        ...

    async def get_task_queue(self, key: TaskQueueKey) -> TaskQueueRecord:
        """``NotFound`` if absent or past its ``expiry`` (a sticky queue that expired is gone
        for every operation: TTL on Cassandra, hidden until scavenged on SQL)."""
        ...

    async def update_task_queue(self, record: TaskQueueRecord, previous_range_id: int) -> None:
        """Write if the stored range id equals ``previous_range_id``, else ``ConditionFailed``
        (also when the queue does not exist)."""
        ...

    async def delete_task_queue(self, key: TaskQueueKey, range_id: int) -> None:
        """Delete the queue and its tasks if the stored range id equals ``range_id``, else
        ``ConditionFailed``."""
        ...

    async def list_task_queues(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[TaskQueueRecord]:
        """Every task queue, in pages."""
        ...

    async def create_tasks(self, request: CreateTasksRequest) -> None:
        """Insert tasks atomically with a range-id check: a stale owner (or a missing queue)
        writes nothing and gets ``ConditionFailed``."""
        ...

    async def get_tasks(self, request: GetTasksRequest) -> Page[TaskRecord]:
        """Unexpired tasks with ``inclusive_min <= task_id < exclusive_max`` in task id order.

        Returning a task's ``expiry`` is optional (Cassandra keeps it only as a TTL)."""
        ...

    async def complete_tasks_less_than(
        self, key: TaskQueueKey, exclusive_max_task_id: int, limit: int | None = None
    ) -> int:
        """Delete tasks below ``exclusive_max_task_id``; returns the count, or -1 when the
        backend cannot know it."""
        ...

    # ----------------------------------------------------------------- task-queue user data
    # One versioned blob per task queue per namespace, plus the build-id -> task-queue
    # mapping written in the same atomic unit (worker versioning).

    async def get_task_queue_user_data(
        self, namespace_id: str, task_queue: str
    ) -> TaskQueueUserData:
        """``NotFound`` if the queue has no user data."""
        ...

    async def update_task_queue_user_data(self, request: UpdateTaskQueueUserDataRequest) -> None:
        """Compare-and-set every queue's version (0 = none yet; ``version + 1`` is written)
        and apply its build-id mapping changes, all in one atomic unit per namespace. Any
        mismatch writes nothing and raises ``TaskQueueUserDataConflict`` naming the
        conflicting queues."""
        ...

    async def list_task_queue_user_data(
        self, namespace_id: str, page_size: int, next_page_token: bytes = b""
    ) -> Page[TaskQueueUserData]:
        """Every queue of the namespace that has user data, in pages."""
        ...

    async def get_task_queues_by_build_id(self, namespace_id: str, build_id: str) -> list[str]:
        """The queues whose mapping names ``build_id`` (any order)."""
        ...

    async def count_task_queues_by_build_id(self, namespace_id: str, build_id: str) -> int: ...

    # Copy and restore: whole-store scans and a write that keeps the version.

    async def create_task_queue_user_data(
        self, entry: TaskQueueUserData, build_ids: frozenset[str] = frozenset()
    ) -> None:
        """Insert a queue's user data at ``entry.version`` with its build-id rows, in one
        atomic unit, if the queue has none; else ``ConditionFailed``."""
        ...

    async def scan_task_queue_user_data(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[TaskQueueUserData]:
        """Every queue's user data in every namespace, in pages (copy use; may be slow)."""
        ...

    async def scan_build_id_mappings(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[BuildIdMapping]:
        """Every build-id row in every namespace, in pages (copy use; may be slow)."""
        ...


@runtime_checkable
class MetadataStore(Protocol):
    """Namespaces, with a global notification version bumped by every change."""

    async def create_namespace(self, record: NamespaceRecord) -> None:
        """``NamespaceAlreadyExists`` if the name or the id is taken. Bumps the version."""
        ...

    async def get_namespace(
        self, *, id: str | None = None, name: str | None = None
    ) -> NamespaceRecord:
        """Exactly one of ``id`` and ``name``; ``NamespaceNotFound`` if absent."""
        ...

    async def update_namespace(self, record: NamespaceRecord) -> None:
        """Write if the global notification version still equals
        ``record.notification_version`` (read it with :meth:`get_metadata`), bumping it; else
        ``ConditionFailed``. ``NamespaceNotFound`` if the namespace does not exist."""
        ...

    async def rename_namespace(self, previous_name: str, new_name: str) -> None:
        """``NamespaceNotFound`` for a missing ``previous_name``; ``NamespaceAlreadyExists``
        when ``new_name`` is taken. Bumps the version."""
        ...

    async def delete_namespace(self, *, id: str | None = None, name: str | None = None) -> None:
        """Exactly one of ``id`` and ``name``; deleting a missing namespace succeeds."""
        ...

    async def list_namespaces(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[NamespaceRecord]: ...

    async def get_metadata(self) -> int:
        """The global notification version (0 before the first namespace change)."""
        ...


@runtime_checkable
class ClusterMetadataStore(Protocol):
    async def save_cluster_metadata(self, record: ClusterMetadataRecord) -> None:
        """``record.version == 0`` inserts if absent (stored as version 1); otherwise writes
        ``version + 1`` if the stored version equals ``record.version``. Else
        ``ConditionFailed`` (also for a version > 0 when no record exists)."""
        ...

    async def get_cluster_metadata(self, cluster_name: str) -> ClusterMetadataRecord:
        """``NotFound`` if absent."""
        ...

    async def list_cluster_metadata(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[ClusterMetadataRecord]: ...

    async def delete_cluster_metadata(self, cluster_name: str) -> None: ...

    async def upsert_cluster_membership(self, member: ClusterMember) -> None:
        """Insert or refresh a member; it disappears from reads after ``record_expiry``."""
        ...

    async def get_cluster_members(self, request: GetClusterMembersRequest) -> Page[ClusterMember]:
        """Unexpired members matching every given filter."""
        ...

    async def prune_cluster_membership(self, max_records: int = 1000) -> int:
        """Remove expired members; returns how many (0 where TTLs do the work)."""
        ...


# --------------------------------------------------------------------------- queues and Nexus


@runtime_checkable
class QueueStore(Protocol):
    """Named queues (Temporal's queue v2 shape): messages get ids 0, 1, 2 ... in enqueue
    order, each id assigned in the same atomic unit as its message, so a reader that sees a
    message also sees every earlier one that has not been deleted (no visible gaps)."""

    async def create_queue(self, key: QueueKey, metadata: DataBlob | None = None) -> None:
        """Create an empty queue (metadata version 0); ``QueueAlreadyExists`` if it exists."""
        ...

    async def get_queue(self, key: QueueKey) -> QueueRecord:
        """The queue's metadata row; ``QueueNotFound`` if absent."""
        ...

    async def update_queue_metadata(
        self, key: QueueKey, metadata: DataBlob, expected_version: int
    ) -> None:
        """Write ``metadata`` as version ``expected_version + 1`` if the stored version is
        ``expected_version``, else ``QueueVersionConflict``; ``QueueNotFound`` if absent."""
        ...

    async def enqueue_message(self, key: QueueKey, payload: DataBlob) -> int:
        """Append a message and return its id; ``QueueNotFound`` if the queue is absent.

        Concurrent enqueuers each get a distinct id; a ``Timeout`` with
        ``may_have_committed`` leaves it unknown whether the message was appended."""
        ...

    async def read_messages(self, request: ReadQueueMessagesRequest) -> Page[QueueMessage]:
        """Messages of the request's id range in id order; ``QueueNotFound`` if absent."""
        ...

    async def delete_message(self, key: QueueKey, message_id: int) -> None:
        """Delete one message; a missing message is not an error."""
        ...

    async def range_delete_messages(self, key: QueueKey, inclusive_max_message_id: int) -> int:
        """Delete every message with id <= ``inclusive_max_message_id`` (acknowledge) and raise
        the queue's ``min_message_id`` past it; returns how many ids the call newly covered.
        Ids not assigned yet are never deleted; repeating a delete returns 0."""
        ...

    async def list_queues(
        self, queue_type: int, page_size: int, next_page_token: bytes = b""
    ) -> Page[QueueInfo]:
        """Every queue of ``queue_type`` ordered by name, with its message count."""
        ...


@runtime_checkable
class NexusEndpointStore(Protocol):
    """The Nexus endpoint registry: every write is checked against both the endpoint's version
    and the whole table's version in one atomic unit, so a writer that listed the table can be
    sure nobody changed it meanwhile."""

    async def create_or_update_nexus_endpoint(
        self, endpoint: NexusEndpointRecord, last_known_table_version: int
    ) -> None:
        """``endpoint.version == 0`` creates it (stored as version 1), otherwise writes
        ``version + 1`` over stored version ``endpoint.version``; the table version moves from
        ``last_known_table_version`` to one more. ``NexusTableVersionConflict`` when the table
        version differs (checked first), else ``NexusEndpointVersionConflict``; both carry the
        stored values."""
        ...

    async def get_nexus_endpoint(self, endpoint_id: str) -> NexusEndpointRecord:
        """``NexusEndpointNotFound`` if absent."""
        ...

    async def list_nexus_endpoints(
        self,
        page_size: int,
        next_page_token: bytes = b"",
        last_known_table_version: int | None = None,
    ) -> NexusEndpointPage:
        """Endpoints in id order with the table version. ``NexusTableVersionConflict`` when
        ``last_known_table_version`` is given and differs, or when the table changed since the
        page the token came from."""
        ...

    async def delete_nexus_endpoint(self, endpoint_id: str, last_known_table_version: int) -> None:
        """Delete the endpoint, bumping the table version; ``NexusTableVersionConflict`` when the
        table version differs, ``NexusEndpointNotFound`` when the endpoint is absent."""


# --------------------------------------------------------------------------- visibility


@runtime_checkable
class VisibilityStore(Protocol):
    """Executions as a server lists, filters and counts them (:mod:`persistence_cassandra.
    visibility` defines the records, the query language and its reference evaluator).

    Writes are idempotent and commute where a server may send them out of order: a repeated
    ``record_started`` changes nothing, and an upsert of search attributes never undoes a close
    (they write different fields). ``list_executions`` pages are keyset pages: a full page
    always carries a token, and executions arriving meanwhile never shift a page boundary.
    """

    async def register_search_attributes(
        self, namespace_id: str, attributes: Mapping[str, SearchAttributeType]
    ) -> None:
        """Register custom attributes; registering a name again with the same type is a
        no-op, with another type ``InvalidRequest``."""
        ...

    async def get_search_attributes(self, namespace_id: str) -> dict[str, SearchAttributeType]: ...

    async def record_started(self, start: VisibilityStart) -> None:
        """Record a running execution (nothing changes if the run is already recorded)."""
        ...

    async def upsert_search_attributes(
        self,
        namespace_id: str,
        run_id: str,
        attributes: Mapping[str, object],
        memo: DataBlob | None = None,
    ) -> None:
        """Set (``None``: remove) registered custom attributes of a recorded run, and its memo
        if given; ``NotFound`` for an unknown run."""
        ...

    async def record_closed(
        self,
        namespace_id: str,
        run_id: str,
        *,
        close_time: datetime,
        status: ExecutionStatus,
        history_length: int,
        history_size_bytes: int,
    ) -> None:
        """Record that the run closed; ``NotFound`` for an unknown run."""
        ...

    async def save_record(self, record: VisibilityRecord) -> None:
        """Write ``record`` whole, replacing what is stored (copy and repair tools)."""
        ...

    async def delete_execution(self, namespace_id: str, run_id: str) -> None:
        """Remove the run (removing an unknown run is harmless)."""
        ...

    async def get_execution(self, namespace_id: str, run_id: str) -> VisibilityRecord:
        """The run's record; ``NotFound`` if it is not recorded."""
        ...

    async def list_executions(
        self, namespace_id: str, query: str, page_size: int, next_page_token: bytes = b""
    ) -> Page[VisibilityRecord]:
        """One page of the executions matching ``query``, in its ``ORDER BY`` order (default
        ``StartTime DESC``); ``QueryError`` for a query that does not parse or type-check."""
        ...

    async def count_executions(self, namespace_id: str, query: str) -> int:
        """How many executions match ``query`` (its ``ORDER BY`` is ignored)."""
        ...

    async def count_executions_by_status(
        self, namespace_id: str, query: str
    ) -> dict[ExecutionStatus, int]:
        """How many executions match ``query``, per status (statuses without any omitted)."""
        ...


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do beyond the common contract; the conformance suite asks these,
    never backend names."""

    exact_task_completion_count: bool = True
    """``complete_tasks_less_than`` returns a real count rather than -1."""
    membership_prune_needed: bool = True
    """Expired membership rows must be pruned explicitly (no TTL)."""
    concurrent_writers: bool = True
    """Several connections may write at once (false for an in-memory SQLite database)."""
    expired_tasks_need_scavenging: bool = False
    """Expired tasks and sticky queues stay stored (hidden from reads) until a
    :class:`TaskScavenger` deletes them; false where TTLs do the work (Cassandra)."""
    extra: dict[str, bool] = field(default_factory=dict)


# --------------------------------------------------------------------------- optional capabilities


@runtime_checkable
class TaskScavenger(Protocol):
    """Deletes matching state whose expiry has passed, where the backend keeps it until told
    (SQL: no TTL). Offered as :attr:`StoreBundle.task_scavenger` when
    ``Capabilities.expired_tasks_need_scavenging``; run it on a schedule with
    :class:`persistence_cassandra.maintenance.TaskScavengerSchedule`."""

    async def scavenge_expired_tasks(self, limit: int = 1000) -> int:
        """Delete expired tasks and expired (sticky) task queues with all their tasks, in
        transactions of at most ``limit`` rows; returns how many rows went."""
        ...


@dataclass(slots=True)
class StoreBundle:
    """Every store of one backend, sharing one session or connection pool."""

    shard: ShardStore
    execution: ExecutionStore
    history: HistoryStore
    task: TaskStore
    metadata: MetadataStore
    cluster_metadata: ClusterMetadataStore
    capabilities: Capabilities
    close: Callable[[], Awaitable[None]]
    """Releases the shared session or pool."""
    description: str = ""
    """Human-readable target (file path, hosts and keyspace, DSN without password)."""
    server_info: Callable[[], Awaitable[dict[str, str]]] | None = None
    """Optional: what the server reports about itself, for ``doctor``. Well-known keys:
    ``server_version`` (SQLite library version, PostgreSQL ``version()``, Cassandra
    ``release_version``) and ``schema_version`` (the stored ``curr_version``); others are
    shown as given."""
    # -- queues and Nexus (schema v1.1); keyword-only so they can follow the defaults above.
    queue: QueueStore = field(kw_only=True)
    nexus_endpoint: NexusEndpointStore = field(kw_only=True)
    task_scavenger: TaskScavenger | None = None
    """Optional (see :class:`TaskScavenger`): ``None`` where expiry needs no maintenance."""

    # ------------------------------------------------------------------ visibility (issue 17)
    visibility: VisibilityStore | None = None
    """Listing, filtering and counting executions; ``None`` for a backend without it."""
