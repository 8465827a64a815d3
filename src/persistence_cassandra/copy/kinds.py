"""The kinds of record a copy moves, counted and checksummed one by one.

Each kind is what one SQL table holds (the mutable-state collections are kinds of their own,
as they are tables of their own there), so that the verification table reads like a per-table
row count whatever the backends are.
"""

from __future__ import annotations

import enum

__all__ = ["COLLECTION_KINDS", "RecordKind"]


class RecordKind(enum.Enum):
    NAMESPACES = "namespaces"
    CLUSTER_METADATA = "cluster metadata"
    SHARDS = "shards"
    EXECUTIONS = "executions"
    CURRENT_EXECUTIONS = "current executions"
    ACTIVITY_INFOS = "activity infos"
    TIMER_INFOS = "timer infos"
    CHILD_EXECUTION_INFOS = "child execution infos"
    REQUEST_CANCEL_INFOS = "request cancel infos"
    SIGNAL_INFOS = "signal infos"
    SIGNALS_REQUESTED = "signals requested"
    BUFFERED_EVENTS = "buffered events"
    HISTORY_TREES = "history trees"
    HISTORY_NODES = "history nodes"
    HISTORY_TASKS = "history tasks"
    TASK_QUEUES = "task queues"
    TASKS = "tasks"
    # -- schema v1.1
    QUEUES = "queues"
    QUEUE_MESSAGES = "queue messages"
    NEXUS_ENDPOINTS = "nexus endpoints"
    REPLICATION_DLQ_TASKS = "replication DLQ tasks"
    # Task-queue user data (schema 1.1): one row per queue, and the build-id rows.
    TASK_QUEUE_USER_DATA = "task queue user data"
    BUILD_ID_MAPPINGS = "build id mappings"
    # visibility (issue 17)
    SEARCH_ATTRIBUTES = "search attributes"
    VISIBILITY = "visibility records"

    @property
    def label(self) -> str:
        return self.value


COLLECTION_KINDS = (
    RecordKind.ACTIVITY_INFOS,
    RecordKind.TIMER_INFOS,
    RecordKind.CHILD_EXECUTION_INFOS,
    RecordKind.REQUEST_CANCEL_INFOS,
    RecordKind.SIGNAL_INFOS,
    RecordKind.SIGNALS_REQUESTED,
    RecordKind.BUFFERED_EVENTS,
)
"""The rows a run carries besides its own: written and read with the run, counted apart."""
