"""The check of a whole member group, from the store alone, once every member has stopped.

No member's memory survives a crash, so this check reads what the stores say about every
workflow of the group (their ids follow from the group's name and size) and checks the
invariants that must hold however the work moved between members:

* every workflow id has a **current pointer** naming a **closed** run that exists;
* every **run** of the group (listed per shard with ``list_concrete_executions``) is closed,
  has no pending activity, timer or signal, and its **history**, found through the branch token
  in its stored execution info, holds events ``1 .. next_event_id - 1`` without a gap, from
  the start event to a closing event;
* **no history task is left** in any shard with an id of the group's leases (from the group's
  first range id on that shard, recorded in the lease blob), and **no matching task** in the
  task queues of members that finished; the queues of a member that died or was evicted are
  taken over (range bump) and their stale tasks dropped and counted, as a matching host does
  with a dead partition owner's backlog.

The members' own findings come first: what they saw while running, and their model check of
the chains each of them ran from start to end (:func:`.check_chains`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from persistence_cassandra.errors import NotFound
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import (
    EPOCH,
    GetHistoryTasksRequest,
    GetTasksRequest,
    TaskCategory,
    TaskKey,
    TaskQueueRecord,
    WorkflowState,
)
from persistence_cassandra.workload.group import (
    MemberResult,
    group_record_name,
    join_group,
    read_member_results,
    shard_of,
    workflow_id,
)
from persistence_cassandra.workload.integrity import FAR_FUTURE, check_run_history
from persistence_cassandra.workload.payloads import ExecutionInfo, ExecutionStateDoc
from persistence_cassandra.workload.report import (
    Counters,
    IntegrityReport,
    Violation,
    ViolationLog,
    WorkloadSettings,
)
from persistence_cassandra.workload.shards import decode_lease, id_block
from persistence_cassandra.workload.state import RunState, WorkloadContext

__all__ = ["GroupReport", "KillRecord", "check_group"]

PAGE = 100


@dataclass(slots=True)
class KillRecord:
    """What the coordinating parent did to a member (for the report's takeover times)."""

    member: str
    mode: str
    """``kill`` (SIGKILL) or ``pause`` (SIGSTOP, then SIGCONT after the takeover)."""
    at: float
    """Wall clock (epoch seconds)."""


@dataclass(slots=True)
class GroupReport:
    group: str
    backend: str
    target: str
    settings: WorkloadSettings
    members: dict[str, MemberResult]
    integrity: IntegrityReport
    seconds: float = 0.0
    """Wall time of the members' run (set by the coordinating parent)."""
    kill: KillRecord | None = None
    stale_matching_tasks: int = 0
    """Tasks left in the queues of members that died, dropped by the check."""
    runs_by_workflow: int = 0

    @property
    def ok(self) -> bool:
        return self.integrity.ok

    @property
    def counters(self) -> Counters:
        total = Counters()
        for result in self.members.values():
            for name in Counters.__dataclass_fields__:
                setattr(total, name, getattr(total, name) + getattr(result.counters, name))
        return total

    def takeover_seconds(self) -> list[float]:
        """Death (the parent's kill) → range bump, for every shard taken from the victim."""
        if self.kill is None:
            return []
        victim = f"{self.group}/{self.kill.member}"
        return sorted(
            t.bumped_at - self.kill.at
            for result in self.members.values()
            for t in result.takeovers
            if t.from_member == victim and t.bumped_at >= self.kill.at
        )

    def to_json(self) -> dict[str, Any]:
        counters = self.counters
        return {
            "group": self.group,
            "backend": self.backend,
            "target": self.target,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "settings": {
                "workflows": self.settings.workflows,
                "shards": self.settings.shards,
                "concurrency": self.settings.concurrency,
                "transitions": self.settings.transitions,
                "seed": self.settings.seed,
            },
            "counters": {name: getattr(counters, name) for name in Counters.__dataclass_fields__},
            "members": {name: result.to_json() for name, result in sorted(self.members.items())},
            "kill": None
            if self.kill is None
            else {"member": self.kill.member, "mode": self.kill.mode, "at": self.kill.at},
            "takeover_seconds": [round(s, 3) for s in self.takeover_seconds()],
            "stale_matching_tasks": self.stale_matching_tasks,
            "integrity": self.integrity.to_json(),
        }


async def _namespace(persistence: Persistence, name: str) -> str:
    return (await persistence.metadata.get_namespace(name=name)).id


async def check_group(persistence: Persistence, group: str) -> GroupReport:
    """Check every workflow of ``group`` from the store (run it after all members stopped)."""
    started = time.perf_counter()
    try:
        await persistence.cluster_metadata.get_cluster_metadata(group_record_name(group))
    except NotFound:
        raise NotFound(f"no workload group {group!r} in this store") from None
    settings = await join_group(persistence, group, _placeholder(group))
    members = await read_member_results(persistence, group)
    report = IntegrityReport()
    violations: list[Violation] = []
    for name, result in sorted(members.items()):
        violations.extend(
            Violation(f"member {name}: {v.where}", v.problem) for v in result.violations
        )
    namespace_id = await _namespace(persistence, settings.namespace)
    context = WorkloadContext(
        persistence=persistence,
        history=persistence.history_manager,
        settings=settings,
        namespace_id=namespace_id,
        counters=Counters(),
        violations=ViolationLog(),
    )
    prefix = f"{group}-"
    runs: dict[str, list[Any]] = {}
    for shard_id in range(1, settings.shards + 1):
        token = b""
        while True:
            page = await persistence.execution.list_concrete_executions(shard_id, PAGE, token)
            for stored in page.items:
                if stored.key.workflow_id.startswith(prefix):
                    runs.setdefault(stored.key.workflow_id, []).append((shard_id, stored))
            if not page.next_page_token:
                break
            token = page.next_page_token
    for index in range(settings.workflows):
        workflow = workflow_id(group, index)
        shard_id = shard_of(workflow, settings.shards)
        where = f"workflow {workflow}"
        try:
            current = await persistence.execution.get_current_execution(
                shard_id, namespace_id, workflow
            )
        except NotFound:
            violations.append(Violation(where, "never started (no current pointer)"))
            continue
        report.current_pointers += 1
        if current.state is not WorkflowState.COMPLETED:
            violations.append(Violation(where, f"current run is {current.state.name}"))
        if current.run_id not in {stored.key.run_id for _, stored in runs.get(workflow, [])}:
            violations.append(
                Violation(where, f"current pointer names a missing run {current.run_id}")
            )
    for workflow, stored_runs in sorted(runs.items()):
        for shard_id, stored in stored_runs:
            where = f"workflow {workflow} run {stored.key.run_id[:8]}"
            try:
                violations.extend(await _check_run(context, report, shard_id, stored, where))
            except Exception as error:
                violations.append(
                    Violation(where, f"reading it back failed: {type(error).__name__}: {error}")
                )
    violations.extend(await _leftover_history_tasks(persistence, group, settings, report))
    leftovers, stale = await _leftover_matching_tasks(persistence, group, members, report)
    violations.extend(leftovers)
    report.violations = violations
    report.seconds = time.perf_counter() - started
    return GroupReport(
        group=group,
        backend=persistence.backend_name,
        target=persistence.description,
        settings=settings,
        members=members,
        integrity=report,
        stale_matching_tasks=stale,
        runs_by_workflow=len(runs),
    )


def _placeholder(group: str) -> WorkloadSettings:
    # Never stored: check_group only runs where the group record exists.
    return WorkloadSettings(1, 1, 1, 1, 0, None, 1, "workload", group)


async def _check_run(
    context: WorkloadContext, report: IntegrityReport, shard_id: int, stored: Any, where: str
) -> list[Violation]:
    problems: list[Violation] = []
    report.runs_checked += 1
    state = ExecutionStateDoc.decode(stored.execution_state)
    if state.state is not WorkflowState.COMPLETED:
        problems.append(Violation(where, f"left {state.state.name}"))
    for name, entries in (
        ("activities", stored.activity_infos),
        ("timers", stored.timer_infos),
        ("signals", stored.signal_infos),
    ):
        if entries:
            problems.append(Violation(where, f"{len(entries)} pending {name} left"))
    info = ExecutionInfo.decode(stored.execution_info)
    run = RunState(
        key=stored.key,
        shard_id=shard_id,
        branch_token=info.branch_token,
        create_request_id="",
        start_time=EPOCH,
        next_event_id=stored.next_event_id,
        state=state.state,
    )
    problems.extend(await check_run_history(context, report, run, where))
    return problems


async def _leftover_history_tasks(
    persistence: Persistence, group: str, settings: WorkloadSettings, report: IntegrityReport
) -> list[Violation]:
    problems: list[Violation] = []
    for shard_id in range(1, settings.shards + 1):
        shard = await persistence.shard.get_or_create_shard(shard_id)
        lease = decode_lease(shard.info.data)
        if lease.get("group") != group:
            problems.append(Violation(f"shard {shard_id}", "not held by the group at the end"))
            continue
        begin = id_block(int(lease["group_first_range_id"]))[0]
        end = id_block(shard.range_id)[1]
        transfer = await persistence.execution.get_history_tasks(
            GetHistoryTasksRequest(
                shard_id, TaskCategory.TRANSFER, TaskKey.immediate(begin), TaskKey.immediate(end), 5
            )
        )
        if transfer.items:
            ids = [task.key.task_id for task in transfer.items]
            problems.append(Violation(f"shard {shard_id}", f"transfer tasks left over: {ids}"))
        timers: list[int] = []
        token = b""
        while True:
            page = await persistence.execution.get_history_tasks(
                GetHistoryTasksRequest(
                    shard_id, TaskCategory.TIMER, TaskKey(EPOCH, 0), FAR_FUTURE, PAGE, token
                )
            )
            timers.extend(t.key.task_id for t in page.items if begin <= t.key.task_id < end)
            if not page.next_page_token:
                break
            token = page.next_page_token
        if timers:
            problems.append(Violation(f"shard {shard_id}", f"timer tasks left over: {timers[:5]}"))
        report.task_ranges_scanned += 2
    return problems


async def _leftover_matching_tasks(
    persistence: Persistence,
    group: str,
    members: dict[str, MemberResult],
    report: IntegrityReport,
) -> tuple[list[Violation], int]:
    problems: list[Violation] = []
    stale = 0
    prefix = f"{group}:"
    token = b""
    queues: list[TaskQueueRecord] = []
    while True:
        listed = await persistence.task.list_task_queues(PAGE, token)
        queues.extend(q for q in listed.items if q.key.name.startswith(prefix))
        if not listed.next_page_token:
            break
        token = listed.next_page_token
    for queue in queues:
        member = queue.key.name.split(":")[1]
        begin, end = 0, id_block(queue.range_id)[1]
        page = await persistence.task.get_tasks(GetTasksRequest(queue.key, begin, end, PAGE))
        report.task_ranges_scanned += 1
        result = members.get(member)
        if result is not None and result.status == "done":
            if page.items:
                ids = [task.task_id for task in page.items[:5]]
                problems.append(
                    Violation(f"task queue {queue.key.name}", f"matching tasks left over: {ids}")
                )
            continue
        # A dead member's partition: take it over and drop its backlog (the workflows those
        # tasks were for were finished by the members that took their shards).
        range_id = queue.range_id + 1
        await persistence.task.update_task_queue(
            TaskQueueRecord(queue.key, range_id, queue.info), queue.range_id
        )
        while page.items:
            stale += len(page.items)
            await persistence.task.complete_tasks_less_than(queue.key, page.items[-1].task_id + 1)
            page = await persistence.task.get_tasks(GetTasksRequest(queue.key, begin, end, PAGE))
    return problems, stale


def describe_members(report: GroupReport) -> list[str]:
    """One line per member, for the terminal report."""
    lines = []
    for name, result in sorted(report.members.items()):
        c = result.counters
        lines.append(
            f"member {name}: {result.status}, {c.workflows_completed} workflows completed "
            f"({c.recovered} taken over mid-run), {c.handed_over} handed over, "
            f"{len(result.takeovers)} shards taken over, {c.fenced_writes} writes fenced, "
            f"final shards {result.shards}"
        )
    return lines
