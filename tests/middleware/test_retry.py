"""Retry: only Unavailable is retried, with capped exponential backoff and jitter."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persistence_cassandra.errors import (
    ConditionFailed,
    CurrentWorkflowConditionFailed,
    InvalidRequest,
    NotFound,
    ShardOwnershipLost,
    Timeout,
    Unavailable,
    WorkflowConditionFailed,
)
from persistence_cassandra.middleware import RetryInterceptor, RetryPolicy, is_transient


class Flaky:
    """Fails with the given errors, in order, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.attempts = 0

    async def __call__(self) -> str:
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def interceptor(policy: RetryPolicy | None = None) -> tuple[RetryInterceptor, list[float]]:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    return RetryInterceptor(policy, sleep=sleep, rng=random.Random(1)), delays


async def test_unavailable_is_retried_until_success():
    retry, delays = interceptor(RetryPolicy(max_attempts=3))
    call = Flaky(Unavailable("a"), Unavailable("b"))
    assert await retry("shard", "update_shard", call) == "done"
    assert call.attempts == 3
    assert len(delays) == 2
    assert retry.retries == 2


async def test_gives_up_after_max_attempts_with_the_last_error():
    retry, _ = interceptor(RetryPolicy(max_attempts=3))
    call = Flaky(Unavailable("1"), Unavailable("2"), Unavailable("3"), Unavailable("4"))
    with pytest.raises(Unavailable, match="3"):
        await retry("shard", "update_shard", call)
    assert call.attempts == 3


NEVER_RETRIED = [
    Timeout("lwt timed out", may_have_committed=True),
    Timeout("read timed out", may_have_committed=False),
    ConditionFailed("cas"),
    WorkflowConditionFailed("version", actual_db_record_version=3),
    CurrentWorkflowConditionFailed("current", None),
    ShardOwnershipLost(1, actual_range_id=9),
    NotFound("missing"),
    InvalidRequest("too big"),
    RuntimeError("bug"),
]


@pytest.mark.parametrize("error", NEVER_RETRIED, ids=lambda e: type(e).__name__)
async def test_non_transient_errors_are_not_retried(error):
    retry, delays = interceptor(RetryPolicy(max_attempts=5))
    call = Flaky(error)
    with pytest.raises(type(error)):
        await retry("execution", "update_workflow_execution", call)
    assert call.attempts == 1
    assert delays == []
    assert not is_transient(error)


async def test_timeout_after_a_transient_error_stops_retrying():
    retry, _ = interceptor(RetryPolicy(max_attempts=5))
    call = Flaky(Unavailable("down"), Timeout("unknown outcome", may_have_committed=True))
    with pytest.raises(Timeout):
        await retry("execution", "create_workflow_execution", call)
    assert call.attempts == 2


async def test_single_attempt_policy_disables_retries():
    retry, _ = interceptor(RetryPolicy(max_attempts=1))
    call = Flaky(Unavailable("down"))
    with pytest.raises(Unavailable):
        await retry("task", "get_tasks", call)
    assert call.attempts == 1


async def test_delays_grow_exponentially_and_are_capped():
    policy = RetryPolicy(
        max_attempts=6, initial_interval=0.1, backoff_coefficient=2, max_interval=0.5, jitter=0
    )
    retry, delays = interceptor(policy)
    with pytest.raises(Unavailable):
        await retry("shard", "get_or_create_shard", Flaky(*[Unavailable("x")] * 6))
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


@given(
    failed=st.integers(min_value=1, max_value=30),
    initial=st.floats(min_value=0, max_value=2),
    coefficient=st.floats(min_value=1, max_value=4),
    cap=st.floats(min_value=0, max_value=5),
    jitter=st.floats(min_value=0, max_value=1),
    seed=st.integers(),
)
def test_delay_stays_within_jitter_of_the_capped_backoff(
    failed, initial, coefficient, cap, jitter, seed
):
    policy = RetryPolicy(
        max_attempts=2,
        initial_interval=initial,
        backoff_coefficient=coefficient,
        max_interval=cap,
        jitter=jitter,
    )
    nominal = min(cap, initial * coefficient ** (failed - 1))
    delay = policy.delay(failed, random.Random(seed))
    assert nominal * (1 - jitter) - 1e-12 <= delay <= nominal + 1e-12


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"initial_interval": -1}, {"backoff_coefficient": 0.5}, {"jitter": 2}],
)
def test_bad_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)
