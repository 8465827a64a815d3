"""The object an application holds: every store of one datastore, wrapped by middleware.

Build it with :func:`persistence_cassandra.factory.open_persistence`; use it as an async
context manager (or call :meth:`Persistence.close`) so the shared session or pool is released::

    async with await open_persistence() as persistence:
        shard = await persistence.shard.get_or_create_shard(1, initial_shard)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

from persistence_cassandra.middleware.metrics import MetricsRegistry
from persistence_cassandra.stores import (
    Capabilities,
    ClusterMetadataStore,
    ExecutionStore,
    HistoryStore,
    MetadataStore,
    NexusEndpointStore,
    QueueStore,
    ShardStore,
    StoreBundle,
    TaskScavenger,
    TaskStore,
    VisibilityStore,
)

if TYPE_CHECKING:
    from persistence_cassandra.managers.history import HistoryBranchManager
    from persistence_cassandra.managers.history_task_dlq import HistoryTaskDLQ
    from persistence_cassandra.managers.namespace_replication_queue import (
        NamespaceReplicationQueue,
    )

__all__ = ["Persistence"]


@dataclass(slots=True, eq=False)
class Persistence:
    """Every store of one datastore, each wrapped by the configured middleware."""

    shard: ShardStore
    execution: ExecutionStore
    history: HistoryStore
    """The raw history rows; most callers want :attr:`history_manager` instead."""
    task: TaskStore
    metadata: MetadataStore
    cluster_metadata: ClusterMetadataStore
    capabilities: Capabilities
    metrics: MetricsRegistry
    """Per ``store.method`` counts, errors and latencies (empty when metrics are disabled)."""
    description: str
    """The target: file path, hosts and keyspace, or DSN without password."""
    backend_name: str
    raw: StoreBundle = field(repr=False)
    """The backend's stores without middleware (baselines and diagnostics only)."""
    # -- queues and Nexus (schema v1.1); keyword-only so they can follow the defaults above.
    queue: QueueStore = field(kw_only=True)
    """Named queues; most callers want :attr:`history_task_dlq` or
    :attr:`namespace_replication_queue` instead."""
    nexus_endpoint: NexusEndpointStore = field(kw_only=True)
    task_scavenger: TaskScavenger | None = None
    """Deletes expired tasks and sticky queues where the backend keeps them until told
    (``capabilities.expired_tasks_need_scavenging``); ``None`` where TTLs do it. Run it on a
    schedule with :class:`persistence_cassandra.maintenance.TaskScavengerSchedule`."""
    visibility: VisibilityStore | None = None
    """Listing, filtering and counting executions (issue 17); ``None`` if the backend has none."""
    _history_manager: HistoryBranchManager | None = field(default=None, init=False, repr=False)
    _history_task_dlq: HistoryTaskDLQ | None = field(default=None, init=False, repr=False)
    _namespace_replication_queue: NamespaceReplicationQueue | None = field(
        default=None, init=False, repr=False
    )
    _closed: bool = field(default=False, init=False, repr=False)

    @property
    def history_manager(self) -> HistoryBranchManager:
        """Branch-aware history (ancestry, shadowing, paging) over :attr:`history`, built once."""
        if self._history_manager is None:
            # Imported here so that opening a store does not pay for the manager's imports.
            from persistence_cassandra.managers.history import HistoryBranchManager

            self._history_manager = HistoryBranchManager(self.history)
        return self._history_manager

    @property
    def history_task_dlq(self) -> HistoryTaskDLQ:
        """Dead-letter queues of history tasks (per category, source and target cluster) over
        :attr:`queue`, built once."""
        if self._history_task_dlq is None:
            from persistence_cassandra.managers.history_task_dlq import HistoryTaskDLQ

            self._history_task_dlq = HistoryTaskDLQ(self.queue)
        return self._history_task_dlq

    @property
    def namespace_replication_queue(self) -> NamespaceReplicationQueue:
        """The namespace replication queue, its ack levels and its DLQ over :attr:`queue`."""
        if self._namespace_replication_queue is None:
            from persistence_cassandra.managers.namespace_replication_queue import (
                NamespaceReplicationQueue,
            )

            self._namespace_replication_queue = NamespaceReplicationQueue(self.queue)
        return self._namespace_replication_queue

    async def server_info(self) -> dict[str, str]:
        """What the backend reports about its server (``server_version``, ``schema_version``
        ...); empty when the backend reports nothing."""
        if self.raw.server_info is None:
            return {}
        return await self.raw.server_info()

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Release the shared session or pool; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        await self.raw.close()

    async def __aenter__(self) -> Persistence:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
