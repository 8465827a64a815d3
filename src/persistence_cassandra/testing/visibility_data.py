"""Visibility test data: a namespace's attributes, executions driven through a store and the
reference model alike, and page-by-page comparison of a store with the model."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from persistence_cassandra.records import DataBlob
from persistence_cassandra.stores import VisibilityStore
from persistence_cassandra.visibility.listing import collect_listing
from persistence_cassandra.visibility.records import (
    ExecutionStatus,
    SearchAttributeType,
    VisibilityStart,
)

__all__ = [
    "CUSTOM_ATTRIBUTES",
    "QUERIES",
    "VisibilityPair",
    "collect_listing",
    "history_start",
    "new_namespace",
]

T = SearchAttributeType
CUSTOM_ATTRIBUTES: dict[str, SearchAttributeType] = {
    "CustomerId": T.KEYWORD,
    "Tags": T.KEYWORD_LIST,
    "Note": T.TEXT,
    "Amount": T.INT,
    "Score": T.DOUBLE,
    "Urgent": T.BOOL,
    "DueAt": T.DATETIME,
}

QUERIES = [
    "",
    "WorkflowType = 'payment'",
    "WorkflowType != 'payment'",
    "ExecutionStatus = 'Running'",
    "ExecutionStatus IN ('Failed', 'TimedOut')",
    "ExecutionStatus = 'Completed' AND WorkflowType = 'order'",
    "WorkflowType = 'order' OR TaskQueue = 'q2'",
    "WorkflowId = 'wf-3' OR WorkflowId = 'wf-17'",
    "WorkflowId STARTS_WITH 'wf-1'",
    "CustomerId = 'c1'",
    "CustomerId IN ('c0', 'c2') AND Urgent = true",
    "Tags = 'red'",
    "Tags IN ('blue', 'green') ORDER BY StartTime ASC",
    "Tags IS NULL",
    "Amount > 50",
    "Amount BETWEEN 10 AND 60 AND WorkflowType = 'payment'",
    "Amount = 30 OR Score >= 0.5",
    "Score < 0.25",
    "Urgent = false",
    "DueAt IS NOT NULL AND DueAt < '2030-01-01T00:00:00Z'",
    "Note = 'hello world'",
    "Note STARTS_WITH 'hel'",
    "CloseTime IS NULL",
    "CloseTime IS NOT NULL ORDER BY CloseTime DESC",
    "ORDER BY CloseTime ASC",
    "StartTime >= '{t5}'",
    "StartTime BETWEEN '{t3}' AND '{t12}' AND ExecutionStatus = 'Running'",
    "StartTime < '{t8}' ORDER BY StartTime ASC",
    "(WorkflowType = 'order' AND Amount < 40) OR (CustomerId = 'c1' AND Tags = 'red')",
    "HistoryLength > 3 AND CloseTime > '{t0}'",
    "TaskQueue = 'q1' AND ExecutionStatus != 'Running'",
    "RunId = '{run4}'",
]
"""Queries every backend must answer as the reference evaluator does ({tN}: the start time
of the N-th execution of :meth:`VisibilityPair.populate`, {runN}: its run id)."""


def new_namespace() -> str:
    return f"vis-{uuid.uuid4().hex[:12]}"


def history_start() -> datetime:
    """A start time in the past: a start is written with its start time as write timestamp,
    so tests must not start executions in the future (docs/visibility.md)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(days=3)


@dataclass
class VisibilityPair:
    """The same calls made on a store under test and on the reference model."""

    store: VisibilityStore
    model: VisibilityStore
    namespace_id: str

    async def register(self) -> None:
        for target in (self.store, self.model):
            await target.register_search_attributes(self.namespace_id, CUSTOM_ATTRIBUTES)

    async def start(self, start: VisibilityStart) -> None:
        await self.store.record_started(start)
        await self.model.record_started(start)

    async def upsert(self, run_id: str, attributes: dict[str, object]) -> None:
        await self.store.upsert_search_attributes(self.namespace_id, run_id, attributes)
        await self.model.upsert_search_attributes(self.namespace_id, run_id, attributes)

    async def close(self, run_id: str, close_time: datetime, status: ExecutionStatus) -> None:
        for target in (self.store, self.model):
            await target.record_closed(
                self.namespace_id, run_id, close_time=close_time, status=status,
                history_length=len(run_id), history_size_bytes=100,
            )  # fmt: skip

    async def populate(self, count: int, seed: int = 7) -> dict[str, str]:
        """``count`` executions over several start hours; returns the {tN}/{runN} names."""
        rng = random.Random(seed)
        base = history_start()
        names: dict[str, str] = {}
        statuses = [s for s in ExecutionStatus if s is not ExecutionStatus.RUNNING]
        for index in range(count):
            start_time = base + timedelta(minutes=23 * index, milliseconds=rng.randrange(1000))
            run_id = f"run-{index:03d}-{uuid.uuid4().hex[:6]}"
            names[f"t{index}"] = start_time.isoformat()
            names[f"run{index}"] = run_id
            attributes: dict[str, object] = {}
            if rng.random() < 0.8:
                attributes["CustomerId"] = f"c{rng.randrange(3)}"
            if rng.random() < 0.7:
                attributes["Tags"] = rng.sample(["red", "green", "blue", "gold"], rng.randrange(3))
            if rng.random() < 0.5:
                attributes["Note"] = rng.choice(["hello world", "help", "other"])
            if rng.random() < 0.8:
                attributes["Amount"] = rng.choice([5, 10, 30, 60, 90])
            if rng.random() < 0.7:
                attributes["Score"] = rng.random()
            if rng.random() < 0.7:
                attributes["Urgent"] = rng.random() < 0.5
            if rng.random() < 0.5:
                attributes["DueAt"] = base + timedelta(days=rng.randrange(-5, 5000))
            await self.start(
                VisibilityStart(
                    self.namespace_id, f"wf-{index}", run_id,
                    rng.choice(["payment", "order", "refund"]), rng.choice(["q1", "q2"]),
                    start_time, start_time, DataBlob(b"memo", "proto3"), attributes,
                )
            )  # fmt: skip
            if rng.random() < 0.3:
                await self.upsert(run_id, {"Amount": rng.choice([30, 99]), "Tags": None})
            if rng.random() < 0.6:
                close = start_time + timedelta(minutes=rng.randrange(1, 300))
                await self.close(run_id, close, rng.choice(statuses))
        return names
