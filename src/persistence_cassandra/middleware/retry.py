"""Retry of transient failures: the outermost layer.

Only :class:`~persistence_cassandra.errors.Unavailable` is transient: the store says the request
was not served (no host, overloaded, connection refused), so sending it again cannot apply it
twice. Everything else is final for this layer:

* ``Timeout`` is never retried: a timed-out conditional write *may have committed*, and a blind
  second attempt could then fail its condition against its own first write (or, worse, apply a
  non-idempotent change twice). The caller must re-establish ownership and re-read.
* Condition failures (``ConditionFailed``, ``ShardOwnershipLost``, ...) are answers, not faults:
  repeating the same request returns the same answer.

Being outermost, each attempt passes through metrics, the rate limiter and fault injection
again, so metrics count attempts and a retry waits for its own rate-limit token.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from persistence_cassandra.errors import Unavailable
from persistence_cassandra.middleware.wrapping import Call, StoreCall

__all__ = ["RetryInterceptor", "RetryPolicy", "is_transient"]

T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """True only for errors that guarantee the request was not applied."""
    return isinstance(error, Unavailable)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter; small by default so callers see outages quickly."""

    max_attempts: int = 3
    """Total attempts including the first (1 disables retries)."""
    initial_interval: float = 0.05
    """Seconds before the second attempt (before jitter)."""
    backoff_coefficient: float = 2.0
    max_interval: float = 1.0
    jitter: float = 0.2
    """Each delay is drawn uniformly from ``[delay * (1 - jitter), delay]`` so that many
    clients failing together do not retry in lock step."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_interval < 0 or self.max_interval < 0:
            raise ValueError("retry intervals must not be negative")
        if self.backoff_coefficient < 1:
            raise ValueError("backoff_coefficient must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def delay(self, failed_attempts: int, rng: random.Random) -> float:
        """Seconds to wait after ``failed_attempts`` (>= 1) failures."""
        base = self.initial_interval * self.backoff_coefficient ** (failed_attempts - 1)
        capped = min(self.max_interval, base)
        return capped * (1 - self.jitter * rng.random())


class RetryInterceptor:
    """Retries calls that fail with a transient error, per :class:`RetryPolicy`."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        is_retryable: Callable[[BaseException], bool] = is_transient,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._is_retryable = is_retryable
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.retries = 0
        """Attempts made beyond the first, over the interceptor's lifetime."""

    async def __call__(self, store: str, method: str, call: Call[T]) -> T:
        result: T = await self.bind(store, method, call)()
        return result

    def bind(self, _store: str, _method: str, inner: StoreCall) -> StoreCall:
        async def retried(*args: Any, **kwargs: Any) -> Any:
            failed = 0
            while True:
                try:
                    return await inner(*args, **kwargs)
                except Exception as error:
                    failed += 1
                    if failed >= self.policy.max_attempts or not self._is_retryable(error):
                        raise
                self.retries += 1
                await self._sleep(self.policy.delay(failed, self._rng))

        return retried
