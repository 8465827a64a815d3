"""What ``bench`` produces: per backend, per operation and concurrency, ours against raw; the
history figures; and the machine it ran on. Plain data with a JSON form."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from persistence_cassandra import __version__
from persistence_cassandra.bench.harness import Measurement
from persistence_cassandra.bench.history_cost import AppendCost, ReadMemory

__all__ = ["BackendResult", "BenchReport", "Cell", "machine_description"]


@dataclass(frozen=True, slots=True)
class Cell:
    operation: str
    concurrency: int
    ours: Measurement
    raw: Measurement

    @property
    def ratio(self) -> float:
        """Our throughput over the raw driver's (1.0: no overhead)."""
        return self.ours.per_second / self.raw.per_second if self.raw.per_second else 0.0

    @property
    def cpu_overhead(self) -> float:
        """Client CPU seconds per operation we spend beyond the raw driver."""
        return self.ours.cpu_per_operation - self.raw.cpu_per_operation


@dataclass(slots=True)
class BackendResult:
    store: str
    backend: str
    target: str
    driver: str
    cells: list[Cell] = field(default_factory=list)
    append_costs: list[AppendCost] = field(default_factory=list)
    read_memory: ReadMemory | None = None
    setup_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def append_growth(self) -> float | None:
        """Cost per event at the longest history over the shortest (target: <= 1.2)."""
        if len(self.append_costs) < 2 or not self.append_costs[0].per_event:
            return None
        return self.append_costs[-1].per_event / self.append_costs[0].per_event


def _memory_total() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def machine_description() -> dict[str, Any]:
    memory = _memory_total()
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1) if memory else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "persistence_cassandra": __version__,
    }


def _measurement_json(measurement: Measurement) -> dict[str, Any]:
    return {
        "operations": measurement.operations,
        "seconds": round(measurement.seconds, 4),
        "per_second": round(measurement.per_second, 1),
        "p50_ms": round(measurement.p50 * 1000, 3),
        "p99_ms": round(measurement.p99 * 1000, 3),
        "cpu_us_per_op": round(measurement.cpu_per_operation * 1e6, 1),
        "server_cpu_us_per_op": (
            None
            if (server := measurement.server_cpu_per_operation) is None
            else round(server * 1e6, 1)
        ),
        "slices": measurement.slices,
        "slice_per_second": [round(rate, 1) for rate in measurement.slice_rates],
        "errors": measurement.errors,
        "first_error": measurement.first_error,
    }


@dataclass(slots=True)
class BenchReport:
    machine: dict[str, Any]
    settings: dict[str, Any]
    backends: list[BackendResult] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(c.ours.errors + c.raw.errors for b in self.backends for c in b.cells)

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "settings": self.settings,
            "backends": [
                {
                    "store": backend.store,
                    "backend": backend.backend,
                    "target": backend.target,
                    "driver": backend.driver,
                    "setup_seconds": round(backend.setup_seconds, 2),
                    "seconds": round(backend.seconds, 2),
                    "operations": [
                        {
                            "operation": cell.operation,
                            "concurrency": cell.concurrency,
                            "ratio": round(cell.ratio, 3),
                            "cpu_overhead_us_per_op": round(cell.cpu_overhead * 1e6, 1),
                            "ours": _measurement_json(cell.ours),
                            "raw": _measurement_json(cell.raw),
                        }
                        for cell in backend.cells
                    ],
                    "append_cost": [
                        {
                            "events_per_workflow": cost.events_per_workflow,
                            "workflows": cost.workflows,
                            "events": cost.events,
                            "seconds": round(cost.seconds, 3),
                            "us_per_event": round(cost.per_event * 1e6, 2),
                        }
                        for cost in backend.append_costs
                    ],
                    "append_growth": (
                        None if backend.append_growth is None else round(backend.append_growth, 3)
                    ),
                    "read_memory": _memory_json(backend.read_memory),
                }
                for backend in self.backends
            ],
        }


def _memory_json(memory: ReadMemory | None) -> dict[str, Any] | None:
    if memory is None:
        return None
    return {
        "events": memory.events,
        "batches": memory.batches,
        "write_seconds": round(memory.write_seconds, 2),
        "read_seconds": round(memory.read_seconds, 3),
        "events_per_second": round(memory.events / memory.read_seconds)
        if memory.read_seconds
        else 0,
        "traced_peak_mib": round(memory.traced_peak_bytes / 2**20, 2),
        "rss_peak_delta_mib": (
            None
            if memory.rss_peak_delta_bytes is None
            else round(memory.rss_peak_delta_bytes / 2**20, 2)
        ),
    }
