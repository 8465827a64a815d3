"""The workload: every store driven the way a history and a matching service drive it, then
read back and checked.

::

    from persistence_cassandra import open_persistence
    from persistence_cassandra.workload import WorkloadOptions, run_workload

    async with await open_persistence() as persistence:
        report = await run_workload(persistence, WorkloadOptions(workflows=50))
        assert report.ok, report.integrity.violations

The command ``persistence-cassandra workload`` is a thin adapter over :func:`run_workload`.
"""

from __future__ import annotations

from persistence_cassandra.workload.engine import (
    WorkloadOptions,
    WorkloadProgress,
    plan_chain,
    run_workload,
)
from persistence_cassandra.workload.report import (
    Counters,
    IntegrityReport,
    LatencySummary,
    Violation,
    WorkloadReport,
    WorkloadSettings,
)

__all__ = [
    "Counters",
    "IntegrityReport",
    "LatencySummary",
    "Violation",
    "WorkloadOptions",
    "WorkloadProgress",
    "WorkloadReport",
    "WorkloadSettings",
    "plan_chain",
    "run_workload",
]
