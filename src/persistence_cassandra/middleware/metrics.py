"""In-process metrics: per ``store.method`` call count, errors by type and a latency histogram.

No exporter and no dependency: the registry is read by ``doctor``, ``demo`` and ``bench``, and
an application can poll :meth:`MetricsRegistry.snapshot` into whatever system it uses.

The histogram uses logarithmic buckets, each ``2 ** (1/8)`` (about 9 %) wider than the one
below, starting at one microsecond; a quantile is therefore exact to within one bucket, i.e.
within about 9 % of the true value, in constant memory whatever the number of calls.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from persistence_cassandra.middleware.wrapping import Call, StoreCall

__all__ = [
    "LatencyHistogram",
    "MetricsInterceptor",
    "MetricsRegistry",
    "OperationMetrics",
    "OperationSummary",
]

T = TypeVar("T")

_BUCKETS_PER_DOUBLING = 8
_SMALLEST = 1e-6
"""Seconds; faster calls all fall in bucket 0."""


def _upper_bound(bucket: int) -> float:
    return float(_SMALLEST * 2 ** ((bucket + 1) / _BUCKETS_PER_DOUBLING))


class LatencyHistogram:
    """Latencies in seconds, in log-spaced buckets (sparse: only buckets that were hit)."""

    __slots__ = ("_buckets", "count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = 0.0

    def record(self, seconds: float) -> None:
        # Runs on every store call, so inline: bucket b holds [SMALLEST * 2**(b/8),
        # SMALLEST * 2**((b+1)/8)); bucket 0 also holds everything faster.
        if seconds <= _SMALLEST:
            if seconds < 0.0:
                seconds = 0.0
            bucket = 0
        else:
            bucket = math.floor(math.log2(seconds / _SMALLEST) * _BUCKETS_PER_DOUBLING)
        self._buckets[bucket] += 1
        self.count += 1
        self.total += seconds
        if seconds < self.minimum:
            self.minimum = seconds
        if seconds > self.maximum:
            self.maximum = seconds

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (nearest rank), to within one bucket; 0.0 when empty."""
        if not 0 <= q <= 1:
            raise ValueError("quantile must be between 0 and 1")
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= rank:
                return min(max(_upper_bound(bucket), self.minimum), self.maximum)
        return self.maximum  # pragma: no cover - rank <= count always stops the loop


@dataclass(slots=True)
class OperationMetrics:
    """Live counters of one ``store.method``."""

    calls: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    """Failed calls by exception class name."""
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    """Every call, failed or not."""


@dataclass(frozen=True, slots=True)
class OperationSummary:
    """A point-in-time readout of one ``store.method``; latencies in seconds."""

    store: str
    method: str
    calls: int
    errors: dict[str, int]
    mean: float
    p50: float
    p99: float
    max: float

    @property
    def name(self) -> str:
        return f"{self.store}.{self.method}"

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


class MetricsRegistry:
    """Every operation's metrics, keyed by ``(store, method)``."""

    def __init__(self) -> None:
        self._operations: dict[tuple[str, str], OperationMetrics] = {}

    def operation(self, store: str, method: str) -> OperationMetrics:
        try:
            return self._operations[store, method]
        except KeyError:
            found = self._operations[store, method] = OperationMetrics()
            return found

    def snapshot(self) -> list[OperationSummary]:
        """Summaries of every operation called since the start (or the last reset), sorted by
        name."""
        return [
            OperationSummary(
                store=store,
                method=method,
                calls=metrics.calls,
                errors=dict(metrics.errors),
                mean=metrics.latency.mean,
                p50=metrics.latency.quantile(0.5),
                p99=metrics.latency.quantile(0.99),
                max=metrics.latency.maximum,
            )
            for (store, method), metrics in sorted(self._operations.items())
            if metrics.calls
        ]

    def total_calls(self) -> int:
        return sum(metrics.calls for metrics in self._operations.values())

    def reset(self) -> None:
        # In place: wrappers hold their methods' OperationMetrics from the time they were built.
        for metrics in self._operations.values():
            metrics.calls = 0
            metrics.errors.clear()
            metrics.latency = LatencyHistogram()


class MetricsInterceptor:
    """Counts and times every attempt (it sits inside retry, so each retry is one more call)."""

    def __init__(
        self, registry: MetricsRegistry, *, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.registry = registry
        self._clock = clock

    async def __call__(self, store: str, method: str, call: Call[T]) -> T:
        result: T = await self.bind(store, method, call)()
        return result

    def bind(self, store: str, method: str, inner: StoreCall) -> StoreCall:
        metrics = self.registry.operation(store, method)
        clock = self._clock

        async def timed(*args: Any, **kwargs: Any) -> Any:
            metrics.calls += 1
            started = clock()
            try:
                return await inner(*args, **kwargs)
            except Exception as error:
                metrics.errors[type(error).__name__] += 1
                raise
            finally:
                metrics.latency.record(clock() - started)

        return timed
