"""The history check on real stores finds nothing, without and with injected faults.

The servers come from the built-in targets (``PC_CASSANDRA_HOSTS``, ``PC_POSTGRES_DSN``, or
what :mod:`harness.servers` finds); one that cannot be reached fails its
test. Faults are injected by the fault-injection middleware for a window while the clients
run, including timeouts raised *after* the write committed, the unknown outcome the checker
must accept either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

import pytest

from persistence_cassandra.middleware import FaultInjectionInterceptor, FaultRule, wrap_store
from persistence_cassandra.stores import ExecutionStore, ShardStore, StoreBundle
from persistence_cassandra.testing.history import HistoryReport, Outcome, run_history_check
from persistence_cassandra.testing.targets import get_target

T = TypeVar("T")

FAULT_RULES = [
    FaultRule("Timeout", 0.04, after_call=True),
    FaultRule("Timeout", 0.02),
    FaultRule("Unavailable", 0.02, after_call=True),
    FaultRule("Unavailable", 0.02),
]


class FaultWindow:
    """Injects :data:`FAULT_RULES` only while open, so faults start and stop mid-run."""

    def __init__(self, seed: int) -> None:
        self.injector = FaultInjectionInterceptor(FAULT_RULES, seed=seed)
        self.open = False

    async def __call__(self, store: str, method: str, call: Callable[[], Awaitable[T]]) -> T:
        if self.open:
            return await self.injector(store, method, call)
        return await call()

    def during(self, seconds: float) -> Callable[[], Awaitable[object]]:
        async def inject() -> str:
            self.open = True
            try:
                await asyncio.sleep(seconds)
            finally:
                self.open = False
            return f"{sum(self.injector.injected.values())} faults in {seconds:g}s"

        return inject

    def wrap(self, bundle: StoreBundle) -> StoreBundle:
        return replace(
            bundle,
            shard=wrap_store(bundle.shard, ShardStore, self),
            execution=wrap_store(bundle.execution, ExecutionStore, self),
        )


def assert_clean(report: HistoryReport, operations: int) -> None:
    print(report.summary())
    assert report.violations == [], report.summary()
    assert len(report.operations) >= operations
    # Both scenarios made progress: takeovers, fenced writes and version bumps landed.
    assert report.final.run is not None and report.final.run.version > 10
    assert all(len(tasks) > 5 for tasks in report.final.fenced_tasks.values())


def assert_faults_met_traffic(report: HistoryReport) -> None:
    unknown = sum(1 for op in report.operations if op.outcome is Outcome.UNKNOWN)
    assert unknown > 5, report.summary()


@pytest.fixture(scope="module")
async def cassandra() -> AsyncIterator[StoreBundle]:
    async with get_target("cassandra").open() as bundle:
        yield bundle


async def test_sqlite_file_history_is_clean() -> None:
    async with get_target("sqlite-file").open() as bundle:
        assert_clean(await run_history_check(bundle, operations=2000, seed=1), 2000)


async def test_sqlite_file_history_is_clean_under_faults() -> None:
    window = FaultWindow(seed=2)
    async with get_target("sqlite-file").open() as bundle:
        report = await run_history_check(
            window.wrap(bundle), operations=1500, seed=2, during=window.during(0.5)
        )
    assert_clean(report, 1500)
    assert_faults_met_traffic(report)
    assert "faults in 0.5s" in report.faults


@pytest.mark.postgres
async def test_postgres_history_is_clean() -> None:
    async with get_target("postgres").open() as bundle:
        assert_clean(await run_history_check(bundle, operations=1500, seed=3), 1500)


@pytest.mark.cassandra
async def test_cassandra_history_is_clean(cassandra: StoreBundle) -> None:
    assert_clean(await run_history_check(cassandra, operations=1500, seed=4), 1500)


@pytest.mark.cassandra
async def test_cassandra_history_is_clean_under_faults(cassandra: StoreBundle) -> None:
    window = FaultWindow(seed=5)
    report = await run_history_check(
        window.wrap(cassandra), operations=800, seed=5, during=window.during(1.5)
    )
    assert_clean(report, 800)
    assert_faults_met_traffic(report)


async def test_the_clients_run_until_the_faults_are_done() -> None:
    async def slow_faults() -> str:
        await asyncio.sleep(0.4)
        return "done"

    loop = asyncio.get_running_loop()
    async with get_target("sqlite-file").open() as bundle:
        started = loop.time()
        report = await run_history_check(bundle, operations=20, during=slow_faults)
    assert loop.time() - started >= 0.4
    assert len(report.operations) > 20
    assert report.faults == "'done'"
    assert report.violations == []


async def test_a_failing_fault_injector_stops_the_run_and_propagates() -> None:
    async def broken() -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("could not kill the node")

    async with get_target("sqlite-file").open() as bundle:
        with pytest.raises(RuntimeError, match="could not kill the node"):
            await run_history_check(bundle, operations=100_000, during=broken)
