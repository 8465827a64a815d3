"""Planted bugs (:mod:`persistence_cassandra.testing.history.planted`): store doubles that drop
a condition must make the checker report it. Each wraps a real SQLite bundle."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.history import HistoryReport, ViolationKind, run_history_check
from persistence_cassandra.testing.history.planted import (
    escaping_reads,
    lossy_history_tasks,
    unfenced_history_tasks,
    unfenced_update_shard,
    version_blind_updates,
)
from persistence_cassandra.testing.targets import get_target

OPERATIONS = 600


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
