"""An optional token bucket shared by every store call of one ``Persistence``.

It protects the database from a caller that would otherwise issue requests faster than the
cluster can absorb them (Temporal's persistence QPS limit). Calls wait for their token instead
of failing, unless ``max_wait`` is set: a call that would wait longer fails at once with
``Unavailable`` (which the retry layer above may retry after its backoff).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from persistence_cassandra.errors import Unavailable
from persistence_cassandra.middleware.wrapping import Call

__all__ = ["RateLimit", "RateLimitInterceptor", "TokenBucket"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Configuration of the limiter."""

    per_second: float
    burst: int = 0
    """Calls allowed back to back after an idle period; 0 means ``ceil(per_second)``."""
    max_wait: float | None = None
    """Seconds a call may wait for its token; ``None`` waits as long as needed."""

    def __post_init__(self) -> None:
        if self.per_second <= 0:
            raise ValueError("rate limit per_second must be positive")
        if self.burst < 0:
            raise ValueError("rate limit burst must not be negative")


class TokenBucket:
    """Tokens refill at ``rate`` per second up to ``burst``.

    A caller *reserves* its token, possibly driving the balance negative, and sleeps until the
    balance would have been non-negative. Reservations are served in call order, so a steady
    stream of callers cannot starve an earlier one. Single event loop only (no lock needed:
    the reservation happens without an ``await``).
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def wait_time(self) -> float:
        """Seconds the next caller would wait for its token."""
        self._refill()
        return max(0.0, (1 - self._tokens) / self.rate)

    def try_reserve(self, max_wait: float | None) -> float | None:
        """Reserve a token and return how long to wait for it, or ``None`` (nothing reserved)
        when that would exceed ``max_wait``."""
        wait = self.wait_time()
        if max_wait is not None and wait > max_wait:
            return None
        self._tokens -= 1
        return wait

    async def acquire(self, max_wait: float | None = None) -> bool:
        """Wait for a token; False (without waiting) if it would take longer than ``max_wait``."""
        wait = self.try_reserve(max_wait)
        if wait is None:
            return False
        if wait > 0:
            await self._sleep(wait)
        return True


class RateLimitInterceptor:
    """Takes one token per store call."""

    def __init__(self, bucket: TokenBucket, *, max_wait: float | None = None) -> None:
        self.bucket = bucket
        self.max_wait = max_wait

    @classmethod
    def from_config(cls, limit: RateLimit) -> RateLimitInterceptor:
        burst = limit.burst or max(1, int(-(-limit.per_second // 1)))
        return cls(TokenBucket(limit.per_second, burst), max_wait=limit.max_wait)

    async def __call__(self, store: str, method: str, call: Call[T]) -> T:
        if not await self.bucket.acquire(self.max_wait):
            raise Unavailable(
                f"{store}.{method}: persistence rate limit of {self.bucket.rate:g}/s exceeded"
            )
        return await call()
