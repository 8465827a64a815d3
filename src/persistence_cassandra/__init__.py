"""persistence-cassandra: the data layer of a durable-execution server.

Shard, execution, history, task and metadata stores behind one set of asyncio Protocols, with
Cassandra (lightweight transactions), SQLite and PostgreSQL backends::

    from persistence_cassandra import open_persistence

    async with await open_persistence() as persistence:   # embedded SQLite by default
        ...

The names below are the public API; everything else is reachable through its module
(``persistence_cassandra.records``, ``.middleware``, ``.testing`` ...) and is public there
when listed in that module's ``__all__``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from persistence_cassandra.config import (
    DatastoreConfig,
    PersistenceConfig,
    default_config,
    load_config,
    parse_config,
)
from persistence_cassandra.errors import (
    AlreadyExists,
    ConditionFailed,
    ConfigError,
    CurrentWorkflowConditionFailed,
    DataLoss,
    InvalidRequest,
    NamespaceAlreadyExists,
    NamespaceNotFound,
    NexusEndpointNotFound,
    NexusEndpointVersionConflict,
    NexusTableVersionConflict,
    NotFound,
    PersistenceError,
    QueueAlreadyExists,
    QueueNotFound,
    QueueVersionConflict,
    SchemaToolError,
    SchemaVersionMismatch,
    ShardOwnershipLost,
    TaskQueueUserDataConflict,
    Timeout,
    Unavailable,
    UserFacingError,
    WorkflowConditionFailed,
)
from persistence_cassandra.factory import (
    OpenOptions,
    available_backends,
    open_persistence,
    open_store_bundle,
    register_backend,
)
from persistence_cassandra.maintenance import TaskScavengerSchedule
from persistence_cassandra.middleware import (
    FaultInjection,
    FaultRule,
    MetricsRegistry,
    MiddlewareOptions,
    RateLimit,
    RetryPolicy,
)
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import DataBlob, Page
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
)
from persistence_cassandra.task_categories import register_task_category

__all__ = [
    "AlreadyExists",
    "Capabilities",
    "ClusterMetadataStore",
    "ConditionFailed",
    "ConfigError",
    "CurrentWorkflowConditionFailed",
    "DataBlob",
    "DataLoss",
    "DatastoreConfig",
    "ExecutionStore",
    "FaultInjection",
    "FaultRule",
    "HistoryStore",
    "InvalidRequest",
    "MetadataStore",
    "MetricsRegistry",
    "MiddlewareOptions",
    "NamespaceAlreadyExists",
    "NamespaceNotFound",
    "NexusEndpointNotFound",
    "NexusEndpointStore",
    "NexusEndpointVersionConflict",
    "NexusTableVersionConflict",
    "NotFound",
    "OpenOptions",
    "Page",
    "Persistence",
    "PersistenceConfig",
    "PersistenceError",
    "QueueAlreadyExists",
    "QueueNotFound",
    "QueueStore",
    "QueueVersionConflict",
    "RateLimit",
    "RetryPolicy",
    "SchemaToolError",
    "SchemaVersionMismatch",
    "ShardOwnershipLost",
    "ShardStore",
    "StoreBundle",
    "TaskQueueUserDataConflict",
    "TaskScavenger",
    "TaskScavengerSchedule",
    "TaskStore",
    "Timeout",
    "Unavailable",
    "UserFacingError",
    "WorkflowConditionFailed",
    "available_backends",
    "default_config",
    "load_config",
    "open_persistence",
    "open_store_bundle",
    "parse_config",
    "register_backend",
    "register_task_category",
]
