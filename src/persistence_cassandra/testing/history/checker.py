"""The checker: pure functions from a recorded history and the final state to violations.

Two registers are checked, both with real-time order only (``a`` precedes ``b`` when
``a.complete < b.invoke``):

* **Shard ranges** (scenario a). A takeover ``update_shard(r+1, previous=r)`` is a conditional
  write of the range id. Ranges only grow, so once a takeover to ``r'`` has been acknowledged
  the stored range is at least ``r'`` for good, and any execution write fenced by ``r < r'``
  that starts afterwards must be refused. Two acknowledged takeovers to one range mean two
  owners held the same lease.
* **One run's ``db_record_version``** (scenario b). Each update is conditional on the version
  it read; every write tags the state with its op id, so a read names exactly the write it
  observed.

Unknown outcomes (``unknown``, ``escaped``) may have applied, at any time after their
invocation (a timed-out Paxos proposal can be completed later by another proposer); only
``fail`` is known not to have applied and only ``ok`` is known to have.
"""

from __future__ import annotations

import bisect
import enum
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from persistence_cassandra.testing.history.recorder import (
    ABSENT,
    Operation,
    OpKind,
    Outcome,
)

__all__ = [
    "FinalState",
    "HistoryReport",
    "RunState",
    "Violation",
    "ViolationKind",
    "check_history",
]


class ViolationKind(enum.StrEnum):
    ESCAPED_EXCEPTION = "exception escaped the error tree"
    RANGE_GRANTED_TWICE = "range id granted twice"
    STALE_FENCE_ACCEPTED = "fenced write accepted after a takeover to a higher range"
    VERSION_ACKNOWLEDGED_TWICE = "record version acknowledged twice"
    STALE_READ = "read older than a write acknowledged before it began"
    FAILED_WRITE_VISIBLE = "a definitely failed write is visible"
    UNEXPLAINED_STATE = "state that no write produced"
    FUTURE_READ = "read observed a write invoked after the read completed"
    ACKNOWLEDGED_WRITE_LOST = "acknowledged write missing from the final state"
    FINAL_STATE_UNREADABLE = "final state could not be read back"


@dataclass(frozen=True, slots=True)
class Violation:
    kind: ViolationKind
    description: str
    op_ids: tuple[int, ...] = ()

    def __str__(self) -> str:
        return f"{self.kind}: {self.description}"


@dataclass(frozen=True, slots=True)
class RunState:
    """What the run holds: its version and the op id its tag names (``None`` when absent)."""

    version: int
    writer: int | None


@dataclass(frozen=True, slots=True)
class FinalState:
    """What was read back after the clients stopped."""

    created_ranges: Mapping[int, int]
    """Range id each contended shard was created with before the clients started."""
    shard_ranges: Mapping[int, int] = field(default_factory=dict)
    """Range id read back per contended shard."""
    fenced_tasks: Mapping[int, frozenset[int]] = field(default_factory=dict)
    """Task ids found per contended shard (a fenced write's task id is its op id)."""
    run: RunState | None = None
    unreadable: tuple[str, ...] = ()
    """Parts that could not be read back, with the last error."""


def check_history(operations: Sequence[Operation], final: FinalState) -> list[Violation]:
    """Every violation of the history's invariants, in a stable order (empty when clean)."""
    violations: list[Violation] = []
    violations += _escapes(operations)
    violations += _ranges_granted_twice(operations)
    violations += _stale_fences(operations)
    violations += _shard_observations(operations, final)
    violations += _fenced_final_state(operations, final)
    violations += _versions_acknowledged_twice(operations)
    violations += _run_observations(operations, final)
    violations += [
        Violation(ViolationKind.FINAL_STATE_UNREADABLE, part) for part in final.unreadable
    ]
    return violations


def _escapes(operations: Sequence[Operation]) -> list[Violation]:
    return [
        Violation(
            ViolationKind.ESCAPED_EXCEPTION,
            f"nothing escapes as an exception outside the error tree, but {op.describe()}",
            (op.op_id,),
        )
        for op in operations
        if op.outcome is Outcome.ESCAPED
    ]


def _of(operations: Sequence[Operation], kind: OpKind, *outcomes: Outcome) -> list[Operation]:
    return [op for op in operations if op.kind is kind and (not outcomes or op.outcome in outcomes)]


def _ranges_granted_twice(operations: Sequence[Operation]) -> list[Violation]:
    granted: defaultdict[tuple[int, int], list[Operation]] = defaultdict(list)
    for op in _of(operations, OpKind.SHARD_BUMP, Outcome.OK):
        granted[(op.shard_id, op.range_id)].append(op)
    return [
        Violation(
            ViolationKind.RANGE_GRANTED_TWICE,
            f"shard {shard_id} range {range_id} acknowledged to {len(ops)} takeovers: "
            + "; ".join(op.describe() for op in ops),
            tuple(op.op_id for op in ops),
        )
        for (shard_id, range_id), ops in sorted(granted.items())
        if len(ops) > 1
    ]


class _Floor:
    """The highest value among acknowledged writes completed before a given time.

    Values of both registers only grow, so this is the least a read (or a fence check)
    starting at that time may see.
    """

    def __init__(self, writes: Sequence[Operation], value_of: Callable[[Operation], int]) -> None:
        ordered = sorted(writes, key=lambda op: op.complete)
        self._completes = [op.complete for op in ordered]
        self._best: list[tuple[int, Operation]] = []
        for op in ordered:
            value = value_of(op)
            if not self._best or value > self._best[-1][0]:
                self._best.append((value, op))
            else:
                self._best.append(self._best[-1])

    def before(self, time: float) -> tuple[int, Operation] | None:
        count = bisect.bisect_left(self._completes, time)
        return self._best[count - 1] if count else None


def _range_of(op: Operation) -> int:
    return op.range_id


def _version_of(op: Operation) -> int:
    return op.version


def _by_shard(ops: Sequence[Operation]) -> defaultdict[int, list[Operation]]:
    grouped: defaultdict[int, list[Operation]] = defaultdict(list)
    for op in ops:
        grouped[op.shard_id].append(op)
    return grouped


def _stale_fences(operations: Sequence[Operation]) -> list[Violation]:
    floors = {
        shard_id: _Floor(ops, _range_of)
        for shard_id, ops in _by_shard(_of(operations, OpKind.SHARD_BUMP, Outcome.OK)).items()
    }
    violations = []
    for write in _of(operations, OpKind.FENCED_WRITE, Outcome.OK):
        floor = floors.get(write.shard_id)
        found = floor.before(write.invoke) if floor else None
        if found and found[0] > write.range_id:
            takeover = found[1]
            violations.append(
                Violation(
                    ViolationKind.STALE_FENCE_ACCEPTED,
                    f"{write.describe()} was accepted although it began after "
                    f"{takeover.describe()} had completed",
                    (write.op_id, takeover.op_id),
                )
            )
    return violations


def _explain(
    what: str, read: Operation | None, candidates: Sequence[Operation]
) -> Violation | None:
    """Why ``what`` (observed by ``read``, or by the final read when ``None``) cannot have
    been produced by any of ``candidates``, the writes that would have produced it."""
    ids = (read.op_id,) if read else ()
    applicable = [op for op in candidates if op.outcome.may_have_applied]
    if not candidates:
        return Violation(ViolationKind.UNEXPLAINED_STATE, f"{what}: no write produced it", ids)
    if not applicable:
        return Violation(
            ViolationKind.FAILED_WRITE_VISIBLE,
            f"{what}, written only by definitely failed "
            + "; ".join(op.describe() for op in candidates),
            ids + tuple(op.op_id for op in candidates),
        )
    if read and all(op.invoke > read.complete for op in applicable):
        return Violation(
            ViolationKind.FUTURE_READ,
            f"{what}, but its writer began later: " + "; ".join(op.describe() for op in applicable),
            ids + tuple(op.op_id for op in applicable),
        )
    return None


def _too_old(
    what: str, value: int, floor: _Floor | None, read: Operation | None
) -> Violation | None:
    found = floor.before(read.invoke if read else math.inf) if floor else None
    if not found or value >= found[0]:
        return None
    kind = ViolationKind.STALE_READ if read else ViolationKind.ACKNOWLEDGED_WRITE_LOST
    when = "before the read began" if read else "during the run"
    return Violation(
        kind,
        f"{what}, older than {found[1].describe()} acknowledged {when}",
        ((read.op_id,) if read else ()) + (found[1].op_id,),
    )


def _shard_observations(operations: Sequence[Operation], final: FinalState) -> list[Violation]:
    bumps = _by_shard(_of(operations, OpKind.SHARD_BUMP))
    floors = {
        shard_id: _Floor([op for op in ops if op.outcome is Outcome.OK], _range_of)
        for shard_id, ops in bumps.items()
    }
    observations: list[tuple[int, int, Operation | None]] = [
        (op.shard_id, op.range_id, op)
        for op in _of(operations, OpKind.SHARD_READ, Outcome.OK)
        if op.shard_id in final.created_ranges
    ]
    observations += [(s, r, None) for s, r in sorted(final.shard_ranges.items())]
    violations = []
    for shard_id, range_id, read in observations:
        what = read.describe() if read else f"final read of shard {shard_id} saw range {range_id}"
        if range_id != final.created_ranges.get(shard_id):
            candidates = [op for op in bumps[shard_id] if op.range_id == range_id]
            if problem := _explain(what, read, candidates):
                violations.append(problem)
        if problem := _too_old(what, range_id, floors.get(shard_id), read):
            violations.append(problem)
    return violations


def _fenced_final_state(operations: Sequence[Operation], final: FinalState) -> list[Violation]:
    by_id = {op.op_id: op for op in operations}
    writes = _by_shard(_of(operations, OpKind.FENCED_WRITE))
    violations = []
    for shard_id, present in sorted(final.fenced_tasks.items()):
        for write in writes[shard_id]:
            if write.outcome is Outcome.OK and write.op_id not in present:
                violations.append(
                    Violation(
                        ViolationKind.ACKNOWLEDGED_WRITE_LOST,
                        f"{write.describe()} is not in the final state",
                        (write.op_id,),
                    )
                )
        for task_id in sorted(present):
            op = by_id.get(task_id)
            what = f"final state of shard {shard_id} holds task {task_id}"
            if op is None or op.kind is not OpKind.FENCED_WRITE or op.shard_id != shard_id:
                violations.append(
                    Violation(ViolationKind.UNEXPLAINED_STATE, f"{what}: no write produced it")
                )
            elif op.outcome is Outcome.FAIL:
                violations.append(
                    Violation(
                        ViolationKind.FAILED_WRITE_VISIBLE,
                        f"{what}, written by definitely failed {op.describe()}",
                        (op.op_id,),
                    )
                )
    return violations


def _versions_acknowledged_twice(operations: Sequence[Operation]) -> list[Violation]:
    acknowledged: defaultdict[int, list[Operation]] = defaultdict(list)
    for op in _of(operations, OpKind.RUN_WRITE, Outcome.OK):
        acknowledged[op.version].append(op)
    return [
        Violation(
            ViolationKind.VERSION_ACKNOWLEDGED_TWICE,
            f"db_record_version {version} acknowledged to {len(ops)} writes: "
            + "; ".join(op.describe() for op in ops),
            tuple(op.op_id for op in ops),
        )
        for version, ops in sorted(acknowledged.items())
        if len(ops) > 1
    ]


def _run_observations(operations: Sequence[Operation], final: FinalState) -> list[Violation]:
    by_id = {op.op_id: op for op in operations}
    floor = _Floor(_of(operations, OpKind.RUN_WRITE, Outcome.OK), _version_of)
    observations: list[tuple[RunState, Operation | None]] = [
        (RunState(op.version, op.writer), op) for op in _of(operations, OpKind.RUN_READ, Outcome.OK)
    ]
    if final.run is not None:
        observations.append((final.run, None))
    violations = []
    for state, read in observations:
        what = read.describe() if read else "final read of the run"
        if not read:
            what += f" saw version {state.version} by op {state.writer}"
        if state.version != ABSENT:
            writer = by_id.get(state.writer) if state.writer is not None else None
            produced = writer is not None and (
                writer.kind is OpKind.RUN_WRITE and writer.version == state.version
            )
            if problem := _explain(what, read, [writer] if writer and produced else []):
                violations.append(problem)
        if problem := _too_old(what, state.version, floor, read):
            violations.append(problem)
    return violations


@dataclass(slots=True)
class HistoryReport:
    """What a history check found: counts, the final state and every violation."""

    description: str
    operations: list[Operation]
    final: FinalState
    violations: list[Violation]
    elapsed: float = 0.0
    client_timeouts: int = 0
    faults: str = ""
    """What ``during`` did, when it was given (its return value, or its error)."""

    @property
    def counts(self) -> Counter[tuple[OpKind, Outcome]]:
        """Operations by kind and outcome."""
        return Counter((op.kind, op.outcome) for op in self.operations)

    @property
    def reads(self) -> int:
        return sum(1 for op in self.operations if op.kind.is_read)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        """One line per fact, for test output and issue notes."""
        counts = self.counts
        lines = [
            f"history check on {self.description or 'a store bundle'}: "
            f"{len(self.operations)} operations ({self.reads} reads) in {self.elapsed:.1f}s"
        ]
        for kind in OpKind:
            total = sum(n for (k, _), n in counts.items() if k is kind)
            by_outcome = ", ".join(
                f"{outcome} {counts[(kind, outcome)]}"
                for outcome in Outcome
                if counts[(kind, outcome)]
            )
            lines.append(f"{kind}: {total}" + (f" ({by_outcome})" if by_outcome else ""))
        lines.append(f"client-side timeouts: {self.client_timeouts}")
        if self.faults:
            lines.append(f"faults: {self.faults}")
        for shard_id, range_id in sorted(self.final.shard_ranges.items()):
            tasks = len(self.final.fenced_tasks.get(shard_id, ()))
            lines.append(f"final shard {shard_id}: range {range_id}, {tasks} fenced tasks")
        if self.final.run is not None:
            run = self.final.run
            lines.append(f"final run: version {run.version} written by op {run.writer}")
        lines.append(f"violations: {len(self.violations)}")
        lines += [f"violation: {violation}" for violation in self.violations]
        return "\n".join(lines)
