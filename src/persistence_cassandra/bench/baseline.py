"""The raw-driver baseline a backend plugs into ``bench``.

For every operation ``bench`` measures, a :class:`RawBaseline` sends the **same statements** our
backend sends (the same text, parameters, transaction or batch shape, consistency and round
trips) straight through the backend's driver, with no more Python around them than an asyncio
program needs. The ratio ``ours / raw`` at the same concurrency is then the cost of our layers
(middleware, records, store code, runners), not of the database.

Methods take the same request records as the stores, because building them is the caller's
cost on both sides; a baseline translates them to parameters as directly as it can. Baselines
support the request shapes ``bench`` sends (new runs, ``UPDATE_CURRENT`` updates, activity,
timer and signal collections, transfer and timer tasks) and raise ``NotImplementedError`` for
others.

Built-in baselines: ``sqlite`` (sqlite3), ``postgres`` (psycopg), ``cassandra``
(cassandra-driver). A third-party backend registers its own with :func:`register_raw_baseline`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.errors import ConfigError
from persistence_cassandra.records import (
    AppendHistoryNodesRequest,
    CreateTasksRequest,
    CreateWorkflowExecutionRequest,
    DataBlob,
    ExecutionKey,
    GetHistoryTasksRequest,
    GetTasksRequest,
    QueueKey,
    ReadHistoryBranchRequest,
    ReadQueueMessagesRequest,
    TaskCategory,
    TaskKey,
    TaskQueueKey,
    UpdateTaskQueueUserDataRequest,
    UpdateWorkflowExecutionRequest,
)

__all__ = [
    "RawBaseline",
    "RawBaselineOpener",
    "RawFailure",
    "open_raw_baseline",
    "register_raw_baseline",
]


class RawFailure(Exception):
    """A raw statement's condition did not hold (the bench never expects one)."""


@runtime_checkable
class RawBaseline(Protocol):
    """The bench's operations, issued through a backend's driver directly."""

    driver: str
    """Driver and server, for the report (``"sqlite3 / SQLite 3.40.1"``)."""

    async def update_shard(
        self, shard_id: int, range_id: int, info: DataBlob, previous_range_id: int
    ) -> None: ...

    async def create_workflow_execution(self, request: CreateWorkflowExecutionRequest) -> None: ...

    async def update_workflow_execution(self, request: UpdateWorkflowExecutionRequest) -> None: ...

    async def get_workflow_execution(self, shard_id: int, key: ExecutionKey) -> object:
        """The run's stored rows, in whatever form the driver returns them."""
        ...

    async def get_history_tasks(self, request: GetHistoryTasksRequest) -> Sequence[object]: ...

    async def complete_history_task(
        self, shard_id: int, category: TaskCategory, key: TaskKey
    ) -> None: ...

    async def range_complete_history_tasks(
        self,
        shard_id: int,
        category: TaskCategory,
        inclusive_min: TaskKey,
        exclusive_max: TaskKey,
    ) -> None: ...

    async def append_history_nodes(self, request: AppendHistoryNodesRequest) -> None: ...

    async def read_history_branch(self, request: ReadHistoryBranchRequest) -> Sequence[object]: ...

    async def create_tasks(self, request: CreateTasksRequest) -> None: ...

    async def get_tasks(self, request: GetTasksRequest) -> Sequence[object]: ...

    async def complete_tasks_less_than(
        self, key: TaskQueueKey, exclusive_max_task_id: int
    ) -> None: ...

    async def get_namespace(self, name: str) -> object: ...

    # -- queues (schema v1.1)

    async def enqueue_message(self, key: QueueKey, payload: DataBlob) -> int:
        """The id the message got."""
        ...

    async def read_messages(self, request: ReadQueueMessagesRequest) -> Sequence[object]:
        """A first page: the queue's row, then its messages."""
        ...

    # Task-queue user data (one queue per call, as the bench sends it).
    async def update_task_queue_user_data(
        self, request: UpdateTaskQueueUserDataRequest
    ) -> None: ...

    async def get_task_queue_user_data(self, namespace_id: str, task_queue: str) -> object: ...

    async def close(self) -> None: ...


RawBaselineOpener = Callable[[DatastoreConfig], Awaitable[RawBaseline]]
"""Connects a baseline to the datastore the stores under test use."""

_BUILTINS: dict[str, str] = {
    "sqlite": "persistence_cassandra.bench.raw_sqlite:open_baseline",
    "postgres": "persistence_cassandra.bench.raw_postgres:open_baseline",
    "cassandra": "persistence_cassandra.bench.raw_cassandra:open_baseline",
}
_registered: dict[str, RawBaselineOpener] = {}


def register_raw_baseline(backend_name: str, opener: RawBaselineOpener) -> None:
    """Make ``bench`` compare ``backend_name`` against ``opener``'s baseline."""
    _registered[backend_name] = opener


async def open_raw_baseline(datastore: DatastoreConfig) -> RawBaseline:
    """The raw baseline of ``datastore``'s backend, connected to the same database."""
    name = datastore.backend_name
    opener = _registered.get(name)
    if opener is None:
        target = _BUILTINS.get(name)
        if target is None:
            raise ConfigError(
                f"bench: no raw-driver baseline for backend {name!r} "
                "(register one with persistence_cassandra.bench.register_raw_baseline)"
            )
        module_name, _, attribute = target.partition(":")
        opener = getattr(importlib.import_module(module_name), attribute)
    return await opener(datastore)
