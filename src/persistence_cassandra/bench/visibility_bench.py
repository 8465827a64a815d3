"""``visibility bench``: list (first page and a deep page) and count, for index-served and
merged queries, through our visibility store and as the same statements sent raw.

Executions are recorded in a fresh namespace (four workflow types, a third of them closed,
one Keyword attribute); every case is timed ``repeats`` times after one untimed warm-up call,
which is also when its statements are recorded for the raw side.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from persistence_cassandra.bench.visibility_replay import (
    StatementLog,
    prepare,
    recording_store,
    replay,
)
from persistence_cassandra.stores import VisibilityStore
from persistence_cassandra.visibility.records import (
    ExecutionStatus,
    SearchAttributeType,
    VisibilityStart,
)

__all__ = ["CASES", "VisibilityBenchRow", "populate", "run_visibility_bench"]

PAGE_SIZE = 50
WORKFLOW_TYPES = ("payment", "order", "refund", "audit")
POPULATE_CONCURRENCY = 32
STARTS_PER_MINUTE = 200
"""Executions are spread so that 10k span about an hour (one or two buckets on Cassandra)."""


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    shape: str
    """``index`` (served by one index) or ``merged`` (OR/IN merged from several)."""
    query: str
    call: str
    """``first page``, ``deep page`` or ``count``."""


_PAYMENT = "WorkflowType = 'payment'"
_RUNNING_ORDERS = "WorkflowType = 'order' AND ExecutionStatus = 'Running'"
_TYPE_IN = "WorkflowType IN ('payment', 'refund')"
_CUSTOMER_OR_FAILED = "Customer = 'c1' OR ExecutionStatus = 'Failed'"
CASES = [
    Case("type = payment", "index", _PAYMENT, "first page"),
    Case("type = payment", "index", _PAYMENT, "deep page"),
    Case("type = payment", "index", _PAYMENT, "count"),
    Case("running orders", "index", _RUNNING_ORDERS, "count"),
    Case("type IN (payment, refund)", "merged", _TYPE_IN, "first page"),
    Case("type IN (payment, refund)", "merged", _TYPE_IN, "deep page"),
    Case("type IN (payment, refund)", "merged", _TYPE_IN, "count"),
    Case("customer c1 OR failed", "merged", _CUSTOMER_OR_FAILED, "first page"),
]


@dataclass(frozen=True, slots=True)
class VisibilityBenchRow:
    backend: str
    executions: int
    case: str
    shape: str
    call: str
    ours_ms: float
    """Median latency through our store (middleware included)."""
    raw_ms: float
    """Median latency of the same statements sent raw."""
    statements: int
    rows_read: int
    result: int
    """Items on the page, or the count."""

    @property
    def ratio(self) -> float:
        return self.ours_ms / self.raw_ms if self.raw_ms else float("inf")


async def populate(store: VisibilityStore, namespace_id: str, executions: int) -> None:
    await store.register_search_attributes(namespace_id, {"Customer": SearchAttributeType.KEYWORD})
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(executions):
        queue.put_nowait(index)

    async def worker() -> None:
        while not queue.empty():
            index = queue.get_nowait()
            start = base + timedelta(milliseconds=index * 60_000 // STARTS_PER_MINUTE)
            run_id = f"run-{index:08d}"
            await store.record_started(
                VisibilityStart(
                    namespace_id, f"wf-{index}", run_id, WORKFLOW_TYPES[index % 4], "bench-queue",
                    start, start, search_attributes={"Customer": f"c{index % 7}"},
                )
            )  # fmt: skip
            if index % 3 == 0:
                status = ExecutionStatus.FAILED if index % 9 == 0 else ExecutionStatus.COMPLETED
                await store.record_closed(
                    namespace_id, run_id, close_time=start + timedelta(seconds=30),
                    status=status, history_length=10, history_size_bytes=1000,
                )  # fmt: skip

    await asyncio.gather(*(worker() for _ in range(POPULATE_CONCURRENCY)))


async def _deep_token(store: VisibilityStore, namespace_id: str, query: str, depth: int) -> bytes:
    """The token of page ``depth`` (or of the last page before it ends)."""
    token = b""
    for _ in range(depth):
        page = await store.list_executions(namespace_id, query, PAGE_SIZE, token)
        if not page.next_page_token:
            break
        token = page.next_page_token
    return token


def _call(
    store: VisibilityStore, namespace_id: str, case: Case, token: bytes
) -> Callable[[], Awaitable[int]]:
    async def run() -> int:
        if case.call == "count":
            return await store.count_executions(namespace_id, case.query)
        page = await store.list_executions(namespace_id, case.query, PAGE_SIZE, token)
        return len(page.items)

    return run


async def _median_ms(call: Callable[[], Awaitable[Any]], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def run_visibility_bench(
    store: VisibilityStore,
    raw_store: VisibilityStore,
    raw: Any,
    *,
    backend: str,
    executions: int,
    repeats: int = 5,
    namespace_id: str | None = None,
) -> list[VisibilityBenchRow]:
    """``store`` is what an application holds (middleware included), ``raw_store`` the
    backend's own store on the same connection (recorded), ``raw`` the raw baseline."""
    namespace_id = namespace_id or f"bench-{uuid.uuid4().hex[:10]}"
    await populate(store, namespace_id, executions)
    log = StatementLog()
    recorder = recording_store(raw_store, log)
    rows: list[VisibilityBenchRow] = []
    depth = max(1, executions // (2 * len(WORKFLOW_TYPES) * PAGE_SIZE))
    for case in CASES:
        token = b""
        if case.call == "deep page":
            token = await _deep_token(store, namespace_id, case.query, depth)
        log.statements.clear()
        log.recording = True
        result = await _call(recorder, namespace_id, case, token)()
        log.recording = False
        statements = list(log.statements)
        await prepare(raw, statements)
        rows_read = await replay(raw, statements)
        ours = await _median_ms(_call(store, namespace_id, case, token), repeats)
        raw_ms = await _median_ms(partial(replay, raw, statements), repeats)
        rows.append(
            VisibilityBenchRow(
                backend, executions, case.name, case.shape, case.call, ours, raw_ms,
                len(statements), rows_read, result,
            )
        )  # fmt: skip
    return rows
