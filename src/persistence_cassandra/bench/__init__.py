"""The benchmark: our store layer against the raw drivers, same statements, same run.

::

    persistence-cassandra bench                      # the embedded SQLite store (a temp file)
    persistence-cassandra --config c.yaml bench --store cass --store pg --json

:func:`run_bench_store` measures one datastore given its open
:class:`~persistence_cassandra.persistence.Persistence` and its :class:`RawBaseline`
(:func:`open_raw_baseline`); a new backend plugs its own baseline in with
:func:`register_raw_baseline`.
"""

from __future__ import annotations

from persistence_cassandra.bench.baseline import (
    RawBaseline,
    RawBaselineOpener,
    RawFailure,
    open_raw_baseline,
    register_raw_baseline,
)
from persistence_cassandra.bench.harness import Measurement, measure
from persistence_cassandra.bench.history_cost import AppendCost, ReadMemory
from persistence_cassandra.bench.operations import LIFECYCLE, OPERATIONS, operation_names
from persistence_cassandra.bench.report import BackendResult, BenchReport, Cell, machine_description
from persistence_cassandra.bench.runner import BenchEvent, BenchOptions, run_bench_store

__all__ = [
    "LIFECYCLE",
    "OPERATIONS",
    "AppendCost",
    "BackendResult",
    "BenchEvent",
    "BenchOptions",
    "BenchReport",
    "Cell",
    "Measurement",
    "RawBaseline",
    "RawBaselineOpener",
    "RawFailure",
    "ReadMemory",
    "machine_description",
    "measure",
    "open_raw_baseline",
    "operation_names",
    "register_raw_baseline",
    "run_bench_store",
]
