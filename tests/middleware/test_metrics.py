"""Metrics: per store.method counts, errors by type, and histogram quantiles."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persistence_cassandra.errors import ConditionFailed, Unavailable
from persistence_cassandra.middleware import LatencyHistogram, MetricsInterceptor, MetricsRegistry

BUCKET_FACTOR = 2 ** (1 / 8)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_counts_calls_errors_and_latency_per_operation():
    clock = FakeClock()
    registry = MetricsRegistry()
    metrics = MetricsInterceptor(registry, clock=clock)

    def taking(seconds: float, error: Exception | None = None):
        async def call():
            clock.now += seconds
            if error is not None:
                raise error
            return "ok"

        return call

    assert await metrics("shard", "update_shard", taking(0.010)) == "ok"
    assert await metrics("shard", "update_shard", taking(0.020)) == "ok"
    with pytest.raises(Unavailable):
        await metrics("shard", "update_shard", taking(0.5, Unavailable("x")))
    with pytest.raises(ConditionFailed):
        await metrics("task", "create_tasks", taking(0.001, ConditionFailed("y")))

    summaries = {s.name: s for s in registry.snapshot()}
    assert list(summaries) == ["shard.update_shard", "task.create_tasks"]
    shard = summaries["shard.update_shard"]
    assert shard.calls == 3
    assert shard.errors == {"Unavailable": 1}
    assert shard.error_count == 1
    assert shard.max == pytest.approx(0.5)
    assert shard.mean == pytest.approx((0.010 + 0.020 + 0.5) / 3)
    assert 0.020 <= shard.p50 <= 0.020 * BUCKET_FACTOR
    assert shard.p99 == pytest.approx(0.5)
    assert summaries["task.create_tasks"].errors == {"ConditionFailed": 1}
    assert registry.total_calls() == 4
    registry.reset()
    assert registry.snapshot() == []


def test_empty_histogram_reads_zero():
    histogram = LatencyHistogram()
    assert histogram.quantile(0.5) == 0.0
    assert histogram.mean == 0.0


def test_quantile_argument_is_checked():
    with pytest.raises(ValueError):
        LatencyHistogram().quantile(1.5)


@given(
    values=st.lists(st.floats(min_value=1e-6, max_value=100.0), min_size=1, max_size=300),
    q=st.floats(min_value=0.0, max_value=1.0),
)
def test_quantile_is_within_one_bucket_of_the_exact_value(values, q):
    histogram = LatencyHistogram()
    for value in values:
        histogram.record(value)
    ordered = sorted(values)
    exact = ordered[max(1, math.ceil(q * len(values))) - 1]
    estimate = histogram.quantile(q)
    assert exact / BUCKET_FACTOR * (1 - 1e-9) <= estimate <= exact * BUCKET_FACTOR * (1 + 1e-9)
    assert ordered[0] <= estimate <= ordered[-1]
    assert histogram.count == len(values)


@given(values=st.lists(st.floats(min_value=0.0, max_value=1e-6), min_size=1, max_size=20))
def test_sub_microsecond_values_stay_within_the_observed_range(values):
    histogram = LatencyHistogram()
    for value in values:
        histogram.record(value)
    assert min(values) <= histogram.quantile(0.5) <= max(values)


async def test_a_reset_registry_keeps_counting_through_existing_wrappers():
    from persistence_cassandra.middleware import wrap_store
    from persistence_cassandra.stores import ShardStore

    class Shards:
        async def get_or_create_shard(self, shard_id, create=None):
            return shard_id

        async def update_shard(self, *args):
            return None

    registry = MetricsRegistry()
    wrapped = wrap_store(Shards(), ShardStore, MetricsInterceptor(registry))
    await wrapped.get_or_create_shard(1)
    registry.reset()
    assert registry.snapshot() == []
    await wrapped.get_or_create_shard(2)
    assert [(s.name, s.calls) for s in registry.snapshot()] == [("shard.get_or_create_shard", 1)]
