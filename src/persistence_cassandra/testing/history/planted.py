"""Planted bugs: store doubles that each drop one guarantee, for showing that the history
checker catches what it is meant to catch (on any backend: the doubles wrap a real bundle).

Each double replaces one method through the middleware's wrapping helper (a binding
interceptor), so every other method keeps the real behaviour. A replaced conditional write
becomes unconditional the only way the real store allows: it re-reads the stored value and
retries with that as the condition until the write lands, i.e. last writer wins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from persistence_cassandra.errors import ShardOwnershipLost, WorkflowConditionFailed
from persistence_cassandra.middleware import wrap_store
from persistence_cassandra.middleware.wrapping import Call, StoreCall
from persistence_cassandra.records import DataBlob, HistoryTask, UpdateWorkflowExecutionRequest
from persistence_cassandra.stores import ExecutionStore, ShardStore, StoreBundle

__all__ = [
    "escaping_reads",
    "lossy_history_tasks",
    "unfenced_history_tasks",
    "unfenced_update_shard",
    "version_blind_updates",
]

ATTEMPTS = 100


async def until_written(write: Callable[[], Awaitable[None]], lost: type[Exception]) -> None:
    for _ in range(ATTEMPTS - 1):
        try:
            return await write()
        except lost:
            continue
    await write()


class Replace:
    """Swaps one store method for ``make(inner)``; every other call goes straight through."""

    def __init__(self, method: str, make: Callable[[StoreCall], StoreCall]) -> None:
        self.method, self.make = method, make

    async def __call__(self, store: str, method: str, call: Call[Any]) -> Any:
        return await call()

    def bind(self, store: str, method: str, inner: StoreCall) -> StoreCall:
        return self.make(inner) if method == self.method else inner


def unfenced_update_shard(bundle: StoreBundle) -> StoreBundle:
    """``update_shard`` that ignores ``previous_range_id``: reads the stored range and makes
    that the condition, i.e. an unconditional read-then-write."""

    def make(inner: StoreCall) -> StoreCall:
        async def update_shard(
            shard_id: int, range_id: int, info: DataBlob, previous_range_id: int
        ) -> None:
            async def write() -> None:
                stored = await bundle.shard.get_or_create_shard(shard_id)
                await inner(shard_id, range_id, info, stored.range_id)

            await until_written(write, ShardOwnershipLost)

        return update_shard

    return replace(
        bundle, shard=wrap_store(bundle.shard, ShardStore, Replace("update_shard", make))
    )


def unfenced_history_tasks(bundle: StoreBundle) -> StoreBundle:
    """``add_history_tasks`` that swallows the range check: writes under whatever range the
    shard holds now instead of the caller's."""

    def make(inner: StoreCall) -> StoreCall:
        async def add_history_tasks(
            shard_id: int,
            range_id: int,
            namespace_id: str,
            workflow_id: str,
            tasks: list[HistoryTask],
        ) -> None:
            async def write() -> None:
                stored = await bundle.shard.get_or_create_shard(shard_id)
                await inner(shard_id, stored.range_id, namespace_id, workflow_id, tasks)

            await until_written(write, ShardOwnershipLost)

        return add_history_tasks

    execution = wrap_store(bundle.execution, ExecutionStore, Replace("add_history_tasks", make))
    return replace(bundle, execution=execution)


def version_blind_updates(bundle: StoreBundle) -> StoreBundle:
    """``update_workflow_execution`` that ignores ``db_record_version``: last writer wins."""

    def make(inner: StoreCall) -> StoreCall:
        async def update_workflow_execution(request: UpdateWorkflowExecutionRequest) -> None:
            async def write() -> None:
                key = request.mutation.key
                stored = await bundle.execution.get_workflow_execution(request.shard_id, key)
                change = replace(request.mutation, db_record_version=stored.db_record_version + 1)
                await inner(replace(request, mutation=change))

            await until_written(write, WorkflowConditionFailed)

        return update_workflow_execution

    execution = wrap_store(
        bundle.execution, ExecutionStore, Replace("update_workflow_execution", make)
    )
    return replace(bundle, execution=execution)


def lossy_history_tasks(bundle: StoreBundle) -> StoreBundle:
    """``add_history_tasks`` that acknowledges every tenth write without making it."""
    calls = 0

    def make(inner: StoreCall) -> StoreCall:
        async def add_history_tasks(*args: Any) -> None:
            nonlocal calls
            calls += 1
            if calls % 10:
                await inner(*args)

        return add_history_tasks

    execution = wrap_store(bundle.execution, ExecutionStore, Replace("add_history_tasks", make))
    return replace(bundle, execution=execution)


def escaping_reads(bundle: StoreBundle) -> StoreBundle:
    """A shard read that lets a foreign exception out now and then."""
    calls = 0

    def make(inner: StoreCall) -> StoreCall:
        async def get_or_create_shard(shard_id: int, create: Any = None) -> Any:
            nonlocal calls
            calls += 1
            if calls % 50 == 0:
                raise OSError("connection reset (untranslated)")
            return await inner(shard_id, create)

        return get_or_create_shard

    shard = wrap_store(bundle.shard, ShardStore, Replace("get_or_create_shard", make))
    return replace(bundle, shard=shard)
