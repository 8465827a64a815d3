"""Planted bugs: store doubles that drop a condition must make the checker report it.

Each double is a real SQLite bundle with one method replaced through the middleware's
wrapping helper (a binding interceptor), so every other method keeps the real behaviour. The
replaced method makes its write unconditional the only way the real store allows: it re-reads
the stored value and retries with that as the condition until the write lands, i.e. last
writer wins.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from persistence_cassandra.errors import ShardOwnershipLost, WorkflowConditionFailed
from persistence_cassandra.middleware import wrap_store
from persistence_cassandra.middleware.wrapping import Call, StoreCall
from persistence_cassandra.records import DataBlob, HistoryTask, UpdateWorkflowExecutionRequest
from persistence_cassandra.stores import ExecutionStore, ShardStore, StoreBundle
from persistence_cassandra.testing.history import HistoryReport, ViolationKind, run_history_check
from persistence_cassandra.testing.targets import get_target

OPERATIONS = 600
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


@pytest.fixture
async def sqlite() -> AsyncIterator[StoreBundle]:
    async with get_target("sqlite-file").open() as bundle:
        yield bundle


async def check(bundle: StoreBundle) -> tuple[HistoryReport, set[ViolationKind]]:
    report = await run_history_check(bundle, operations=OPERATIONS, seed=7)
    print(report.summary())
    return report, {violation.kind for violation in report.violations}


async def test_a_shard_store_without_its_fence_grants_a_range_twice(
    sqlite: StoreBundle,
) -> None:
    report, kinds = await check(unfenced_update_shard(sqlite))
    assert ViolationKind.RANGE_GRANTED_TWICE in kinds, report.summary()
    granted = next(v for v in report.violations if v.kind is ViolationKind.RANGE_GRANTED_TWICE)
    assert "acknowledged to" in granted.description and len(granted.op_ids) >= 2


async def test_an_execution_store_without_its_fence_accepts_stale_writes(
    sqlite: StoreBundle,
) -> None:
    report, kinds = await check(unfenced_history_tasks(sqlite))
    assert ViolationKind.STALE_FENCE_ACCEPTED in kinds, report.summary()
    # The CAS scenario is untouched by this bug.
    assert ViolationKind.VERSION_ACKNOWLEDGED_TWICE not in kinds


async def test_an_execution_store_ignoring_the_record_version_acknowledges_one_twice(
    sqlite: StoreBundle,
) -> None:
    report, kinds = await check(version_blind_updates(sqlite))
    assert ViolationKind.VERSION_ACKNOWLEDGED_TWICE in kinds, report.summary()
    assert ViolationKind.RANGE_GRANTED_TWICE not in kinds
    assert ViolationKind.STALE_FENCE_ACCEPTED not in kinds


async def test_a_store_that_drops_acknowledged_writes_is_caught(sqlite: StoreBundle) -> None:
    report, kinds = await check(lossy_history_tasks(sqlite))
    # A dropped write never met the fence either, so a stale one may also be "accepted".
    assert ViolationKind.ACKNOWLEDGED_WRITE_LOST in kinds, report.summary()
    assert kinds <= {ViolationKind.ACKNOWLEDGED_WRITE_LOST, ViolationKind.STALE_FENCE_ACCEPTED}


async def test_an_exception_outside_the_error_tree_is_reported(sqlite: StoreBundle) -> None:
    report, kinds = await check(escaping_reads(sqlite))
    assert kinds == {ViolationKind.ESCAPED_EXCEPTION}, report.summary()
    assert "OSError" in report.violations[0].description


async def test_the_real_store_passes_the_same_runs(sqlite: StoreBundle) -> None:
    report, kinds = await check(sqlite)
    assert kinds == set(), report.summary()
