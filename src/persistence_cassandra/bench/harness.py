"""Running one operation at a fixed concurrency and measuring it.

``concurrency`` workers loop, each sending one operation at a time, until ``count`` operations
were started or ``max_seconds`` passed. One side of a cell is measured in several such slices
(see :mod:`~persistence_cassandra.bench.runner`), all kept in one :class:`Tally`. Throughput
is the **median** of the slices' throughputs (completed operations over the slice's wall
time), so that a slice a passing disturbance hit (a JVM collection, a flush, a neighbour on a
shared core) does not move the figure; the spread is kept for the report. Latency quantiles
are exact over every slice (every duration is kept). The process's CPU time per operation
(every thread: event loop, executor threads, the driver's I/O thread), also the median over
the slices, is the steadiest figure on a busy machine: it is what each side's Python costs,
whatever the database's latency does. A failed operation is counted, not timed, and the first
error is kept for the report: a baseline that silently failed fast would otherwise look like
a fast baseline.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["Measurement", "Tally", "measure"]

W = TypeVar("W")


@dataclass(frozen=True, slots=True)
class Measurement:
    operations: int
    """Completed without error."""
    seconds: float
    p50: float
    p99: float
    errors: int = 0
    first_error: str = ""
    cpu_seconds: float = 0.0
    """CPU time of the whole process (all threads) during the run."""
    slice_rates: tuple[float, ...] = ()
    """Each slice's completed operations per second."""
    slice_cpu: tuple[float, ...] = ()
    """Each slice's CPU seconds per completed operation."""
    slice_server_cpu: tuple[float, ...] = ()
    """Each slice's server CPU seconds per completed operation, where the server is a local
    process (:mod:`~persistence_cassandra.bench.local_node`); empty elsewhere."""

    @property
    def slices(self) -> int:
        """How many separately timed runs this measurement is made of."""
        return len(self.slice_rates)

    @property
    def per_second(self) -> float:
        """The median slice's throughput (over all operations when there are no slices)."""
        if self.slice_rates:
            return statistics.median(self.slice_rates)
        return self.operations / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_per_operation(self) -> float:
        """The median slice's CPU seconds per operation."""
        if self.slice_cpu:
            return statistics.median(self.slice_cpu)
        return self.cpu_seconds / self.operations if self.operations else 0.0

    @property
    def server_cpu_per_operation(self) -> float | None:
        """The median slice's server CPU seconds per operation; None when not measured."""
        return statistics.median(self.slice_server_cpu) if self.slice_server_cpu else None


def _quantile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(slots=True)
class Tally:
    """What the slices of one side of a cell add up to."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    errors: int = 0
    first_error: str = ""
    slice_rates: list[float] = field(default_factory=list)
    slice_cpu: list[float] = field(default_factory=list)
    slice_server_cpu: list[float] = field(default_factory=list)

    def measurement(self) -> Measurement:
        ordered = sorted(self.latencies)
        return Measurement(
            operations=len(ordered),
            seconds=self.seconds,
            p50=_quantile(ordered, 0.5),
            p99=_quantile(ordered, 0.99),
            errors=self.errors,
            first_error=self.first_error,
            cpu_seconds=self.cpu_seconds,
            slice_rates=tuple(self.slice_rates),
            slice_cpu=tuple(self.slice_cpu),
            slice_server_cpu=tuple(self.slice_server_cpu),
        )


async def measure(
    operation: Callable[[W], Awaitable[object]],
    workers: Sequence[W],
    count: int,
    max_seconds: float,
    tally: Tally | None = None,
) -> Tally:
    """Run ``operation`` ``count`` times with one loop per worker (the concurrency), as one
    slice added into ``tally`` (a new one by default), which is returned."""
    tally = tally if tally is not None else Tally()
    latencies = tally.latencies
    completed_before = len(latencies)
    remaining = count
    clock = time.perf_counter
    cpu_started = time.process_time()
    started = clock()
    deadline = started + max_seconds

    async def loop(worker: W) -> None:
        nonlocal remaining
        while remaining > 0 and clock() < deadline:
            remaining -= 1
            begin = clock()
            try:
                await operation(worker)
            except Exception as error:
                tally.errors += 1
                tally.first_error = tally.first_error or f"{type(error).__name__}: {error}"
                continue
            latencies.append(clock() - begin)

    await asyncio.gather(*(loop(worker) for worker in workers))
    seconds = clock() - started
    cpu = time.process_time() - cpu_started
    completed = len(latencies) - completed_before
    tally.seconds += seconds
    tally.cpu_seconds += cpu
    tally.slice_rates.append(completed / seconds if seconds > 0 else 0.0)
    tally.slice_cpu.append(cpu / completed if completed else 0.0)
    return tally
