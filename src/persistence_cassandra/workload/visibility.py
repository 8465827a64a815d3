"""The workload's visibility: every run is recorded as a server records it (started, its
progress upserted after each transition, closed), in the store and in a reference model; the
integrity check compares the store's ``list`` and ``count`` answers with the model's.

Runs are tagged with the workload's run tag (``WorkloadRun``), so the comparison ignores what
earlier workloads left in the namespace.
"""

from __future__ import annotations

from datetime import datetime

from persistence_cassandra.errors import NotFound
from persistence_cassandra.records import DataBlob
from persistence_cassandra.stores import VisibilityStore
from persistence_cassandra.visibility.listing import collect_listing
from persistence_cassandra.visibility.records import (
    ExecutionStatus,
    SearchAttributeType,
    VisibilityStart,
)
from persistence_cassandra.visibility.reference_store import ReferenceVisibilityStore
from persistence_cassandra.workload.report import Violation
from persistence_cassandra.workload.state import RunState
from persistence_cassandra.workload.writes import retry_idempotent

__all__ = ["WORKFLOW_TYPE", "VisibilityRecorder"]

WORKFLOW_TYPE = "workload-chain"
ATTRIBUTES = {"WorkloadRun": SearchAttributeType.KEYWORD, "Progress": SearchAttributeType.INT}
CHECK_PAGE_SIZE = 37
"""Odd, so that page boundaries fall inside runs of equal start times too."""


class VisibilityRecorder:
    def __init__(self, store: VisibilityStore, namespace_id: str, run_tag: str) -> None:
        self._store = store
        self._model = ReferenceVisibilityStore()
        self._namespace_id = namespace_id
        self._tag = run_tag.replace("'", "")

    async def prepare(self) -> None:
        for target in (self._store, self._model):
            await retry_idempotent(
                target.register_search_attributes, self._namespace_id, ATTRIBUTES
            )

    async def started(self, run: RunState, task_queue: str) -> None:
        start = VisibilityStart(
            self._namespace_id, run.key.workflow_id, run.key.run_id, WORKFLOW_TYPE, task_queue,
            run.start_time, run.start_time, DataBlob(b"", ""),
            {"WorkloadRun": self._tag, "Progress": 0},
        )  # fmt: skip
        # Every visibility write is idempotent: a timed-out one is simply sent again.
        await retry_idempotent(self._store.record_started, start)
        await self._model.record_started(start)

    async def _known(self, run: RunState) -> bool:
        """Whether this workload started the run (a run taken over from another member of a
        group was started by that member: only the store hears of it)."""
        try:
            await self._model.get_execution(self._namespace_id, run.key.run_id)
        except NotFound:
            return False
        return True

    async def progressed(self, run: RunState, transitions: int) -> None:
        values = {"Progress": transitions}
        await retry_idempotent(
            self._store.upsert_search_attributes, self._namespace_id, run.key.run_id, values
        )
        if await self._known(run):
            await self._model.upsert_search_attributes(self._namespace_id, run.key.run_id, values)

    async def closed(self, run: RunState, status: ExecutionStatus, close_time: datetime) -> None:
        targets: list[VisibilityStore] = [self._store]
        if await self._known(run):
            targets.append(self._model)
        for target in targets:
            await retry_idempotent(
                target.record_closed, self._namespace_id, run.key.run_id,
                close_time=close_time, status=status, history_length=run.next_event_id - 1,
                history_size_bytes=0,
            )  # fmt: skip

    def queries(self) -> list[str]:
        tag = f"WorkloadRun = '{self._tag}'"
        return [
            tag,
            f"{tag} AND ExecutionStatus = 'Running'",
            f"{tag} AND ExecutionStatus IN ('Completed', 'ContinuedAsNew')",
            f"{tag} AND (Progress >= 2 OR ExecutionStatus = 'ContinuedAsNew')",
            f"{tag} ORDER BY StartTime ASC",
            f"{tag} AND CloseTime IS NOT NULL ORDER BY CloseTime DESC",
        ]

    async def check(self) -> list[Violation]:
        """Where the store's answers differ from the model's (empty when they agree)."""
        found: list[Violation] = []
        for query in self.queries():
            where = f"visibility {query!r}"
            counts = [
                await retry_idempotent(target.count_executions, self._namespace_id, query)
                for target in (self._store, self._model)
            ]
            if counts[0] != counts[1]:
                found.append(Violation(where, f"count {counts[0]}, expected {counts[1]}"))
            by_status = [
                await retry_idempotent(target.count_executions_by_status, self._namespace_id, query)
                for target in (self._store, self._model)
            ]
            if by_status[0] != by_status[1]:
                found.append(
                    Violation(where, f"counts by status {by_status[0]}, expected {by_status[1]}")
                )
            listed = await collect_listing(self._store, self._namespace_id, query, CHECK_PAGE_SIZE)
            expected = await collect_listing(
                self._model, self._namespace_id, query, CHECK_PAGE_SIZE
            )
            if listed != expected:
                got = [run for page in listed for run in page]
                want = [run for page in expected for run in page]
                missing = sorted(set(want) - set(got))[:5]
                extra = sorted(set(got) - set(want))[:5]
                found.append(
                    Violation(
                        where,
                        f"listed {len(got)} run(s) in {len(listed)} page(s), expected "
                        f"{len(want)} in {len(expected)} (missing {missing}, extra {extra}, "
                        "or out of order)",
                    )
                )
        return found
