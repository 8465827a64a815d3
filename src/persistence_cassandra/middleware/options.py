"""What middleware a ``Persistence`` gets; the factory stacks it in one documented order."""

from __future__ import annotations

from dataclasses import dataclass, field

from persistence_cassandra.middleware.fault_injection import FaultInjection
from persistence_cassandra.middleware.metrics import MetricsRegistry
from persistence_cassandra.middleware.rate_limit import RateLimit
from persistence_cassandra.middleware.retry import RetryPolicy

__all__ = ["MiddlewareOptions"]


@dataclass(frozen=True, slots=True)
class MiddlewareOptions:
    """Middleware around every store, outermost first:

    retry -> metrics -> rate limit -> fault injection -> backend store.

    Retry is outermost so that each attempt is measured, rate limited and exposed to faults;
    fault injection is innermost so that injected errors look exactly like backend errors to
    every other layer.
    """

    retry: RetryPolicy | None = field(default_factory=RetryPolicy)
    """``None`` disables retries."""
    metrics: bool = True
    registry: MetricsRegistry | None = None
    """Record into this registry (shared between several ``Persistence`` objects, say);
    by default each ``Persistence`` gets its own."""
    rate_limit: RateLimit | None = None
    faults: FaultInjection | None = None

    @classmethod
    def none(cls) -> MiddlewareOptions:
        """Raw stores: no retry, no metrics, no limit, no faults (for baselines)."""
        return cls(retry=None, metrics=False)
