"""Fault injection: the innermost layer, for tests and chaos runs.

Each :class:`FaultRule` gives a probability of failing calls of one store / method (``*`` for
any) with one error type. Draws come from one seeded ``random.Random``, so a run with the same
seed and the same call sequence injects the same faults.

A rule with ``after_call=True`` lets the real call run and *then* raises: with ``Timeout`` this
reproduces the hardest case a caller must handle, a write that committed but whose caller was
told it timed out (``may_have_committed=True``).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from persistence_cassandra.errors import (
    ConditionFailed,
    InvalidRequest,
    PersistenceError,
    Timeout,
    Unavailable,
)
from persistence_cassandra.middleware.wrapping import Call

__all__ = ["FAULT_ERRORS", "FaultInjection", "FaultInjectionInterceptor", "FaultRule"]

T = TypeVar("T")

FAULT_ERRORS: dict[str, Callable[[str, bool], PersistenceError]] = {
    "Unavailable": lambda message, _after: Unavailable(message),
    "Timeout": lambda message, after: Timeout(message, may_have_committed=after),
    "ConditionFailed": lambda message, _after: ConditionFailed(message),
    "InvalidRequest": lambda message, _after: InvalidRequest(message),
}
"""Error types a rule may inject, by name: ``f(message, after_call) -> error``."""


@dataclass(frozen=True, slots=True)
class FaultRule:
    error: str
    """A key of :data:`FAULT_ERRORS`."""
    probability: float
    store: str = "*"
    """Store name as metrics show it (``execution``, ``cluster_metadata`` ...) or ``*``."""
    method: str = "*"
    after_call: bool = False
    """Run the real call first, then raise (an unknown outcome)."""

    def __post_init__(self) -> None:
        if self.error not in FAULT_ERRORS:
            known = ", ".join(sorted(FAULT_ERRORS))
            raise ValueError(f"unknown fault error {self.error!r} (known: {known})")
        if not 0 <= self.probability <= 1:
            raise ValueError(f"fault probability must be between 0 and 1 (got {self.probability})")

    def matches(self, store: str, method: str) -> bool:
        return self.store in ("*", store) and self.method in ("*", method)

    @classmethod
    def parse(cls, text: str) -> FaultRule:
        """``[after:]store.method:Error=probability``, e.g. ``execution.*:Unavailable=0.05``."""
        after_call = text.startswith("after:")
        body = text.removeprefix("after:")
        try:
            target, spec = body.rsplit(":", 1)
            store, method = target.split(".", 1)
            error, probability = spec.split("=", 1)
            return cls(error.strip(), float(probability), store.strip(), method.strip(), after_call)
        except ValueError as exc:
            raise ValueError(
                f"bad fault rule {text!r}: expected [after:]store.method:Error=probability ({exc})"
            ) from None


@dataclass(frozen=True, slots=True)
class FaultInjection:
    """Configuration of the fault injector."""

    rules: Sequence[FaultRule]
    seed: int | None = None


class FaultInjectionInterceptor:
    """Raises configured errors at random, before (or after) the real call."""

    def __init__(self, rules: Sequence[FaultRule], *, seed: int | None = None) -> None:
        self.rules = tuple(rules)
        self._rng = random.Random(seed)
        self.injected: Counter[str] = Counter()
        """Injected faults by ``store.method:Error``."""

    @classmethod
    def from_config(cls, config: FaultInjection) -> FaultInjectionInterceptor:
        return cls(config.rules, seed=config.seed)

    def _draw(self, store: str, method: str) -> FaultRule | None:
        # Rules are tried in order and the first that fires wins, so a more specific rule
        # listed first takes precedence over a wildcard one.
        for rule in self.rules:
            if rule.matches(store, method) and self._rng.random() < rule.probability:
                return rule
        return None

    def _fail(self, rule: FaultRule, store: str, method: str) -> PersistenceError:
        self.injected[f"{store}.{method}:{rule.error}"] += 1
        when = "after the call" if rule.after_call else "before the call"
        return FAULT_ERRORS[rule.error](
            f"injected {rule.error} in {store}.{method} ({when})", rule.after_call
        )

    async def __call__(self, store: str, method: str, call: Call[T]) -> T:
        rule = self._draw(store, method)
        if rule is None:
            return await call()
        if not rule.after_call:
            raise self._fail(rule, store, method)
        await call()
        raise self._fail(rule, store, method)
