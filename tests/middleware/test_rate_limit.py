"""Token bucket: bursts, steady rate, FIFO reservations and max_wait."""

from __future__ import annotations

import pytest

from persistence_cassandra.errors import Unavailable
from persistence_cassandra.middleware import RateLimit, RateLimitInterceptor, TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_burst_passes_then_callers_wait_one_interval_each():
    time = FakeTime()
    bucket = TokenBucket(10, 3, clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        assert await bucket.acquire()
    assert time.sleeps == []
    assert await bucket.acquire()
    assert time.sleeps == pytest.approx([0.1])


async def test_reservations_queue_up_without_sleeping_in_between():
    time = FakeTime()
    bucket = TokenBucket(10, 1, clock=time.clock, sleep=time.sleep)
    assert bucket.try_reserve(None) == 0
    # Three callers arriving at once are given successive slots.
    assert [bucket.try_reserve(None) for _ in range(3)] == pytest.approx([0.1, 0.2, 0.3])


async def test_tokens_refill_up_to_burst():
    time = FakeTime()
    bucket = TokenBucket(2, 2, clock=time.clock, sleep=time.sleep)
    await bucket.acquire()
    await bucket.acquire()
    time.now += 10  # idle: refills to the burst, not beyond
    assert bucket.wait_time() == 0
    await bucket.acquire()
    await bucket.acquire()
    assert bucket.wait_time() == pytest.approx(0.5)


async def test_interceptor_fails_fast_beyond_max_wait():
    time = FakeTime()
    limiter = RateLimitInterceptor(
        TokenBucket(1, 1, clock=time.clock, sleep=time.sleep), max_wait=0.5
    )

    async def call():
        return "ok"

    assert await limiter("shard", "update_shard", call) == "ok"
    with pytest.raises(Unavailable, match="rate limit"):
        await limiter("shard", "update_shard", call)
    time.now += 1
    assert await limiter("shard", "update_shard", call) == "ok"


def test_from_config_defaults_burst_to_the_rate():
    limiter = RateLimitInterceptor.from_config(RateLimit(per_second=2.5))
    assert limiter.bucket.burst == 3
    assert limiter.max_wait is None


@pytest.mark.parametrize("kwargs", [{"per_second": 0}, {"per_second": 1, "burst": -1}])
def test_bad_limits_are_refused(kwargs):
    with pytest.raises(ValueError):
        RateLimit(**kwargs)
