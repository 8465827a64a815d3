"""Running one operation at a fixed concurrency and measuring it.

``concurrency`` workers loop, each sending one operation at a time, until ``count`` operations
were started or ``max_seconds`` passed; throughput is completed operations over wall time, and
latency quantiles are exact (every duration is kept). The process's CPU time over the run
(every thread: event loop, executor threads, the driver's I/O thread) divided by the operations
is the steadiest figure on a busy machine: it is what our code adds, per operation, whatever
the database's latency does. A failed operation is counted, not
timed, and the first error is kept for the report: a baseline that silently failed fast would
otherwise look like a fast baseline.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Measurement", "measure"]

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

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_per_operation(self) -> float:
        return self.cpu_seconds / self.operations if self.operations else 0.0


def _quantile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def measure(
    operation: Callable[[W], Awaitable[object]],
    workers: Sequence[W],
    count: int,
    max_seconds: float,
) -> Measurement:
    """Run ``operation`` ``count`` times with one loop per worker (the concurrency)."""
    latencies: list[float] = []
    errors = 0
    first_error = ""
    remaining = count
    clock = time.perf_counter
    cpu_started = time.process_time()
    started = clock()
    deadline = started + max_seconds

    async def loop(worker: W) -> None:
        nonlocal remaining, errors, first_error
        while remaining > 0 and clock() < deadline:
            remaining -= 1
            begin = clock()
            try:
                await operation(worker)
            except Exception as error:
                errors += 1
                first_error = first_error or f"{type(error).__name__}: {error}"
                continue
            latencies.append(clock() - begin)

    await asyncio.gather(*(loop(worker) for worker in workers))
    elapsed = clock() - started
    cpu = time.process_time() - cpu_started
    latencies.sort()
    return Measurement(
        operations=len(latencies),
        seconds=elapsed,
        p50=_quantile(latencies, 0.5),
        p99=_quantile(latencies, 0.99),
        errors=errors,
        first_error=first_error,
        cpu_seconds=cpu,
    )
