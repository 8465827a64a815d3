"""What a workload run produces: counters, per-operation figures, and the integrity verdict.

Everything here is plain data with a JSON form (``--json``); rendering it for a terminal is
the CLI's business.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from persistence_cassandra.middleware import OperationSummary

__all__ = [
    "Counters",
    "IntegrityReport",
    "LatencySummary",
    "Violation",
    "ViolationLog",
    "WorkloadReport",
    "WorkloadSettings",
]


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken expectation: where (a workflow, shard or queue) and what was found."""

    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


class ViolationLog:
    """Violations collected while the workload runs (processors, workflows) and after."""

    def __init__(self) -> None:
        self.items: list[Violation] = []
        self.times: list[float] = []
        """``time.monotonic()`` of each item (a group member drops what it saw past its lease)."""

    def add(self, where: str, problem: str) -> None:
        self.items.append(Violation(where, problem))
        self.times.append(time.monotonic())

    def before(self, moment: float) -> list[Violation]:
        """The violations recorded before ``moment`` (monotonic)."""
        return [item for item, at in zip(self.items, self.times, strict=True) if at < moment]

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Exact quantiles of a list of durations (seconds)."""

    count: int
    p50: float
    p99: float
    max: float

    @staticmethod
    def of(samples: Iterable[float]) -> LatencySummary:
        ordered = sorted(samples)
        if not ordered:
            return LatencySummary(0, 0.0, 0.0, 0.0)

        def rank(q: float) -> float:
            return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

        return LatencySummary(len(ordered), rank(0.5), rank(0.99), ordered[-1])


@dataclass(slots=True)
class Counters:
    """What the workload did (only successful steps are counted)."""

    workflows_started: int = 0
    workflows_completed: int = 0
    runs: int = 0
    transitions: int = 0
    events: int = 0
    history_appends: int = 0
    activities: int = 0
    timers_fired: int = 0
    signals: int = 0
    continued_as_new: int = 0
    id_reuses: int = 0
    resets: int = 0
    matching_tasks: int = 0
    transfer_tasks: int = 0
    stale_timers: int = 0
    """Due timers of an earlier owner of the shard (another run), completed in passing."""
    range_renewals: int = 0
    fenced_writes: int = 0
    """Execution writes the store refused with ``ShardOwnershipLost`` (another owner bumped
    the range id while they were in flight)."""
    handed_over: int = 0
    """Chains stopped because their shard moved to another member (it finishes them)."""
    recovered: int = 0
    """Chains taken over mid-run and finished from their stored mutable state."""
    poison_tasks_parked: int = 0
    """Transfer tasks that failed their first delivery and went to the history-task DLQ."""
    poison_tasks_replayed: int = 0
    """Parked tasks delivered again from the DLQ (and acknowledged there)."""


@dataclass(frozen=True, slots=True)
class WorkloadSettings:
    """The options a run actually used (after defaults were resolved)."""

    workflows: int
    shards: int
    concurrency: int
    transitions: int
    seed: int
    duration: float | None
    task_queues: int
    namespace: str
    run_tag: str
    """Prefix of this run's workflow ids."""


@dataclass(slots=True)
class IntegrityReport:
    runs_checked: int = 0
    events_read: int = 0
    branches_read: int = 0
    current_pointers: int = 0
    task_ranges_scanned: int = 0
    seconds: float = 0.0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "runs_checked": self.runs_checked,
            "events_read": self.events_read,
            "branches_read": self.branches_read,
            "current_pointers": self.current_pointers,
            "task_ranges_scanned": self.task_ranges_scanned,
            "seconds": round(self.seconds, 3),
            "violations": [{"where": v.where, "problem": v.problem} for v in self.violations],
        }


@dataclass(slots=True)
class WorkloadReport:
    backend: str
    target: str
    settings: WorkloadSettings
    seconds: float
    """Wall time of the workload phase (not of the integrity check)."""
    counters: Counters
    operations: Sequence[OperationSummary]
    """Per store operation, from the metrics middleware, for the workload phase only."""
    lifecycle: LatencySummary
    """Start to close of whole workflow chains (every run of a workflow id)."""
    integrity: IntegrityReport
    interrupted: int | None = None
    """``None`` for a run that finished; else how many workflows were in flight when a stop
    request ended it (their chains stop at their last stored write; no integrity check ran)."""

    @property
    def ok(self) -> bool:
        return self.integrity.ok and self.interrupted is None

    @property
    def store_calls(self) -> int:
        return sum(op.calls for op in self.operations)

    def rate(self, count: int) -> float:
        return count / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        settings = self.settings
        counters = self.counters
        return {
            "backend": self.backend,
            "target": self.target,
            "ok": self.ok,
            "settings": {
                "workflows": settings.workflows,
                "shards": settings.shards,
                "concurrency": settings.concurrency,
                "transitions": settings.transitions,
                "seed": settings.seed,
                "duration": settings.duration,
                "task_queues": settings.task_queues,
                "namespace": settings.namespace,
                "run_tag": settings.run_tag,
            },
            "seconds": round(self.seconds, 4),
            "counters": dataclasses.asdict(counters),
            "store_calls": self.store_calls,
            "store_calls_per_second": round(self.rate(self.store_calls), 1),
            "workflows_per_second": round(self.rate(counters.workflows_completed), 2),
            "lifecycle": _latency_json(self.lifecycle),
            "operations": [
                {
                    "operation": op.name,
                    "calls": op.calls,
                    "errors": dict(op.errors),
                    "per_second": round(self.rate(op.calls), 1),
                    "p50_ms": round(op.p50 * 1000, 3),
                    "p99_ms": round(op.p99 * 1000, 3),
                    "max_ms": round(op.max * 1000, 3),
                }
                for op in self.operations
            ],
            "integrity": self.integrity.to_json(),
            "interrupted": self.interrupted is not None,
            "in_flight_when_interrupted": self.interrupted or 0,
        }


def _latency_json(summary: LatencySummary) -> dict[str, Any]:
    return {
        "count": summary.count,
        "p50_ms": round(summary.p50 * 1000, 3),
        "p99_ms": round(summary.p99 * 1000, 3),
        "max_ms": round(summary.max * 1000, 3),
    }
