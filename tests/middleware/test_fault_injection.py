"""Fault injection: probabilities, targeting, seeds and unknown-outcome faults."""

from __future__ import annotations

import pytest

from persistence_cassandra.errors import Timeout, Unavailable
from persistence_cassandra.middleware import FaultInjectionInterceptor, FaultRule


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        return "ok"


async def outcomes(injector: FaultInjectionInterceptor, n: int, store="shard", method="m"):
    seen = []
    for _ in range(n):
        try:
            await injector(store, method, Counting())
            seen.append("ok")
        except Exception as error:
            seen.append(type(error).__name__)
    return seen


async def test_same_seed_same_faults():
    rules = [FaultRule("Unavailable", 0.3)]
    first = await outcomes(FaultInjectionInterceptor(rules, seed=42), 200)
    second = await outcomes(FaultInjectionInterceptor(rules, seed=42), 200)
    assert first == second
    assert 20 < first.count("Unavailable") < 100


async def test_probability_zero_and_one():
    assert set(await outcomes(FaultInjectionInterceptor([FaultRule("Unavailable", 0)]), 50)) == {
        "ok"
    }
    always = FaultInjectionInterceptor([FaultRule("ConditionFailed", 1)])
    assert set(await outcomes(always, 50)) == {"ConditionFailed"}
    assert always.injected == {"shard.m:ConditionFailed": 50}


async def test_rules_target_store_and_method():
    injector = FaultInjectionInterceptor(
        [FaultRule("Unavailable", 1, store="execution", method="update_workflow_execution")]
    )
    assert (
        await outcomes(injector, 3, "execution", "update_workflow_execution") == ["Unavailable"] * 3
    )
    assert await outcomes(injector, 3, "execution", "get_workflow_execution") == ["ok"] * 3
    assert await outcomes(injector, 3, "shard", "update_workflow_execution") == ["ok"] * 3


async def test_a_fault_before_the_call_never_runs_it():
    injector = FaultInjectionInterceptor([FaultRule("Unavailable", 1)])
    call = Counting()
    with pytest.raises(Unavailable):
        await injector("shard", "update_shard", call)
    assert call.calls == 0


async def test_timeout_after_the_call_reports_an_unknown_outcome():
    injector = FaultInjectionInterceptor([FaultRule("Timeout", 1, after_call=True)])
    call = Counting()
    with pytest.raises(Timeout) as raised:
        await injector("execution", "update_workflow_execution", call)
    assert call.calls == 1
    assert raised.value.may_have_committed is True


async def test_timeout_before_the_call_has_not_committed():
    injector = FaultInjectionInterceptor([FaultRule("Timeout", 1)])
    with pytest.raises(Timeout) as raised:
        await injector("execution", "update_workflow_execution", Counting())
    assert raised.value.may_have_committed is False


def test_parse_rules():
    assert FaultRule.parse("execution.*:Unavailable=0.05") == FaultRule(
        "Unavailable", 0.05, "execution", "*"
    )
    assert FaultRule.parse("after:*.update_shard:Timeout=1") == FaultRule(
        "Timeout", 1.0, "*", "update_shard", after_call=True
    )
    with pytest.raises(ValueError, match="bad fault rule"):
        FaultRule.parse("nonsense")


@pytest.mark.parametrize(
    ("error", "probability"), [("Meltdown", 0.1), ("Unavailable", 1.5), ("Unavailable", -0.1)]
)
def test_bad_rules_are_refused(error, probability):
    with pytest.raises(ValueError):
        FaultRule(error, probability)
