"""The integrity check: read every workflow back and compare the stores with the workload's
model of what it wrote.

What is checked, for every workflow whose steps all succeeded:

* the **current pointer** names the last run of the chain, with its state and status;
* every **run** is stored at the version and next event id of its last write, closed with the
  expected status (continued-as-new runs included), with no pending activity, timer or signal
  left, and with the signal-request ids it recorded;
* the run's **history**, found through the branch token inside the *stored* execution info and
  read through the history manager's pager, holds events 1 .. next_event_id - 1 without a gap,
  starts with the start event and ends with a closing event;
* after a **reset**, the abandoned branch is still readable whole, and the tree lists both;
* **no task is left over**: no transfer or timer task with an id of this run's shard leases,
  no matching task in this run's task-queue leases;
* **poison tasks were replayed**: the run's history-task DLQ is empty and every task parked
  there was delivered again exactly once.

Violations the workload recorded while running (lost tasks, out-of-order reads, failed steps)
come first in the report.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from persistence_cassandra.errors import NotFound
from persistence_cassandra.records import (
    EPOCH,
    GetHistoryTasksRequest,
    GetTasksRequest,
    TaskCategory,
    TaskKey,
    WorkflowState,
)
from persistence_cassandra.workload.payloads import (
    EventType,
    ExecutionInfo,
    ExecutionStateDoc,
    decode_event,
)
from persistence_cassandra.workload.report import IntegrityReport, Violation
from persistence_cassandra.workload.state import ChainState, RunState, WorkloadContext
from persistence_cassandra.workload.writes import retry_idempotent

__all__ = ["FAR_FUTURE", "check_chains", "check_integrity", "check_run_history"]

HISTORY_PAGE_SIZE = 100
FAR_FUTURE = TaskKey(datetime(9999, 1, 1, tzinfo=UTC), 0)
SHOWN_IDS = 5


class _Checker:
    def __init__(self, context: WorkloadContext, report: IntegrityReport) -> None:
        self._context = context
        self._p = context.persistence
        self._report = report
        self.violations: list[Violation] = []

    def _fail(self, where: str, problem: str) -> None:
        self.violations.append(Violation(where, problem))

    # ------------------------------------------------------------------ workflows

    async def chain(self, chain: ChainState) -> None:
        where = f"workflow {chain.workflow_id}"
        try:
            await self._current_pointer(chain, where)
        except Exception as error:
            self._fail(where, f"reading the current pointer failed: {_describe(error)}")
        for run in chain.runs:
            run_where = f"{where} run {run.key.run_id[:8]}"
            try:
                await self._run(run, run_where)
            except Exception as error:
                self._fail(run_where, f"reading it back failed: {_describe(error)}")

    async def _current_pointer(self, chain: ChainState, where: str) -> None:
        last = chain.runs[-1]
        try:
            current = await retry_idempotent(
                self._p.execution.get_current_execution,
                chain.shard_id,
                self._context.namespace_id,
                chain.workflow_id,
            )
        except NotFound:
            self._fail(where, "no current pointer")
            return
        self._report.current_pointers += 1
        if current.run_id != last.key.run_id:
            self._fail(
                where,
                f"current pointer names run {current.run_id}, the last run is {last.key.run_id}",
            )
        elif current.state is not last.state or current.status != last.status:
            self._fail(
                where,
                f"current pointer says {current.state.name}/status {current.status}, the last "
                f"run is {last.state.name}/status {last.status}",
            )

    async def _run(self, run: RunState, where: str) -> None:
        try:
            stored = await retry_idempotent(
                self._p.execution.get_workflow_execution, run.shard_id, run.key
            )
        except NotFound:
            self._fail(where, "run not found")
            return
        self._report.runs_checked += 1
        if stored.db_record_version != run.db_record_version:
            self._fail(
                where,
                f"db_record_version {stored.db_record_version}, last write was "
                f"{run.db_record_version}",
            )
        if stored.next_event_id != run.next_event_id:
            self._fail(
                where, f"next_event_id {stored.next_event_id}, last write had {run.next_event_id}"
            )
        state = ExecutionStateDoc.decode(stored.execution_state)
        if state.state is not run.state or state.status != run.status:
            self._fail(
                where,
                f"stored as {state.state.name}/status {state.status}, expected "
                f"{run.state.name}/status {run.status}",
            )
        pending: dict[str, list[str]] = {
            "activities": [str(k) for k in stored.activity_infos],
            "timers": list(stored.timer_infos),
            "signals": [str(k) for k in stored.signal_infos],
        }
        for name, entries in pending.items():
            if entries:
                self._fail(where, f"{len(entries)} pending {name} left: {sorted(entries)}")
        if stored.signal_requested_ids != run.signal_requested_ids:
            self._fail(
                where,
                f"{len(stored.signal_requested_ids)} signal-request ids stored, "
                f"{len(run.signal_requested_ids)} written",
            )
        info = ExecutionInfo.decode(stored.execution_info)
        if info.branch_token != run.branch_token:
            self._fail(where, "the stored branch token is not the one last written")
        types = await self._history(where, run, info.branch_token, stored.next_event_id)
        if types is not None:
            if types[0] != EventType.STARTED:
                self._fail(where, f"history starts with {types[0]}")
            if run.state is WorkflowState.COMPLETED and types[-1] not in EventType.CLOSING:
                self._fail(where, f"closed run's history ends with {types[-1]}")
        if run.forked_from:
            await self._forked(run, where)

    async def _history(
        self, where: str, run: RunState, token: bytes, next_event_id: int
    ) -> list[str] | None:
        """The event types of events 1 .. next_event_id - 1; ``None`` after a violation."""
        types: list[str] = []
        expected = 1
        async for batch in self._context.history.iter_history(
            run.shard_id, token, page_size=HISTORY_PAGE_SIZE
        ):
            for offset, raw in enumerate(batch.events):
                event_id, event_type = decode_event(raw)
                if event_id != expected or event_id != batch.first_event_id + offset:
                    self._fail(
                        where,
                        f"history has event {event_id} where event {expected} belongs "
                        f"(batch from {batch.first_event_id})",
                    )
                    return None
                types.append(event_type)
                expected += 1
        self._report.branches_read += 1
        self._report.events_read += len(types)
        if expected != next_event_id:
            self._fail(
                where,
                f"history ends at event {expected - 1}, the run's next_event_id is {next_event_id}",
            )
            return None
        return types

    async def _forked(self, run: RunState, where: str) -> None:
        old = await self._history(
            f"{where} (branch before the reset)",
            run,
            run.forked_from,
            run.forked_from_next_event_id,
        )
        if old is None:
            return
        tree_id = self._context.history.parse_branch_token(run.branch_token).tree_id
        tree = await retry_idempotent(self._context.history.get_history_tree, run.shard_id, tree_id)
        listed = {detail.branch_id for detail in tree}
        for token in (run.forked_from, run.branch_token):
            branch_id = self._context.history.parse_branch_token(token).branch_id
            if branch_id not in listed:
                self._fail(where, f"history tree {tree_id} does not list branch {branch_id}")

    # ------------------------------------------------------------------ leftovers

    async def leftover_tasks(self) -> None:
        execution = self._p.execution
        for shard_id, services in sorted(self._context.shards.items()):
            begin, end = services.owner.id_bounds
            where = f"shard {shard_id}"
            transfer = await retry_idempotent(
                execution.get_history_tasks,
                GetHistoryTasksRequest(
                    shard_id,
                    TaskCategory.TRANSFER,
                    TaskKey.immediate(begin),
                    TaskKey.immediate(end),
                    SHOWN_IDS,
                ),
            )
            if transfer.items:
                ids = [task.key.task_id for task in transfer.items]
                self._fail(where, f"transfer tasks left over: {ids}")
            timers = await self._own_timers(shard_id, begin, end)
            if timers:
                self._fail(where, f"timer tasks left over: {timers[:SHOWN_IDS]}")
            self._report.task_ranges_scanned += 2
        for queue in (*self._context.workflow_queues, *self._context.activity_queues):
            begin, end = queue.id_bounds
            page = await retry_idempotent(
                self._p.task.get_tasks, GetTasksRequest(queue.key, begin, end, SHOWN_IDS)
            )
            if page.items:
                ids = [task.task_id for task in page.items]
                self._fail(f"task queue {queue.name}", f"matching tasks left over: {ids}")
            self._report.task_ranges_scanned += 1

    async def _own_timers(self, shard_id: int, begin: int, end: int) -> list[int]:
        # Timers are keyed by fire time first, so this run's ids can be anywhere in time.
        found: list[int] = []
        token = b""
        while True:
            page = await retry_idempotent(
                self._p.execution.get_history_tasks,
                GetHistoryTasksRequest(
                    shard_id,
                    TaskCategory.TIMER,
                    TaskKey(EPOCH, 0),
                    FAR_FUTURE,
                    HISTORY_PAGE_SIZE,
                    token,
                ),
            )
            found.extend(t.key.task_id for t in page.items if begin <= t.key.task_id < end)
            if not page.next_page_token:
                return found
            token = page.next_page_token


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


async def check_chains(
    context: WorkloadContext, chains: list[ChainState], *, concurrency: int = 16
) -> list[Violation]:
    """The model check of ``chains`` alone (no leftover-task scan): a group member's check of
    the chains it ran to their end."""
    checker = _Checker(context, IntegrityReport())
    limit = asyncio.Semaphore(max(1, concurrency))

    async def check(chain: ChainState) -> None:
        async with limit:
            await checker.chain(chain)

    await asyncio.gather(*(check(chain) for chain in chains))
    return checker.violations


async def check_run_history(
    context: WorkloadContext, report: IntegrityReport, run: RunState, where: str
) -> list[Violation]:
    """The history of one run, read through the branch token stored in its execution info:
    events ``1 .. next_event_id - 1`` without a gap, the start event first and, for a closed
    run, a closing event last."""
    checker = _Checker(context, report)
    types = await checker._history(where, run, run.branch_token, run.next_event_id)
    if types is not None:
        if types[0] != EventType.STARTED:
            checker._fail(where, f"history starts with {types[0]}")
        if run.state is WorkflowState.COMPLETED and types[-1] not in EventType.CLOSING:
            checker._fail(where, f"closed run's history ends with {types[-1]}")
    return checker.violations


async def _check_visibility(context: WorkloadContext) -> list[Violation]:
    """List and count answers against the workload's model (issue 17). Skipped when a chain
    failed (already a violation) or moved to another member (whose model has its runs)."""
    recorder = context.visibility
    if recorder is None or any(c.failure or c.handed_over for c in context.chains):
        return []
    try:
        return await recorder.check()
    except Exception as error:
        return [Violation("visibility", f"check failed: {_describe(error)}")]


async def check_integrity(context: WorkloadContext, *, concurrency: int = 16) -> IntegrityReport:
    """Read everything back; the report lists every violation (empty when all is well)."""
    report = IntegrityReport()
    started = time.perf_counter()
    checker = _Checker(context, report)
    limit = asyncio.Semaphore(max(1, concurrency))

    async def check(chain: ChainState) -> None:
        async with limit:
            await checker.chain(chain)

    # A failed chain is already a violation; its model stops at the failed step.
    await asyncio.gather(*(check(chain) for chain in context.chains if not chain.failure))
    try:
        await checker.leftover_tasks()
    except Exception as error:
        checker.violations.append(Violation("leftover tasks", f"scan failed: {_describe(error)}"))
    if context.dead_letters is not None:
        try:
            checker.violations += await context.dead_letters.check()
        except Exception as error:
            checker.violations.append(
                Violation("dead-letter queue", f"check failed: {_describe(error)}")
            )
    checker.violations.extend(await _check_visibility(context))
    report.violations = [*context.violations.items, *checker.violations]
    report.seconds = time.perf_counter() - started
    return report
