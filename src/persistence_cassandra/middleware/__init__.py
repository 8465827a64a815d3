"""Cross-cutting concerns as store wrappers: retry, metrics, rate limit, fault injection.

Every concern is an :class:`Interceptor`; :func:`wrap_store` builds, from a store Protocol, an
object whose methods route through one (a :class:`InterceptorChain` stacks several). The
factory composes them in one order (see :class:`MiddlewareOptions`); stores never know.
"""

from __future__ import annotations

from persistence_cassandra.middleware.fault_injection import (
    FAULT_ERRORS,
    FaultInjection,
    FaultInjectionInterceptor,
    FaultRule,
)
from persistence_cassandra.middleware.metrics import (
    LatencyHistogram,
    MetricsInterceptor,
    MetricsRegistry,
    OperationMetrics,
    OperationSummary,
)
from persistence_cassandra.middleware.options import MiddlewareOptions
from persistence_cassandra.middleware.rate_limit import RateLimit, RateLimitInterceptor, TokenBucket
from persistence_cassandra.middleware.retry import RetryInterceptor, RetryPolicy, is_transient
from persistence_cassandra.middleware.wrapping import (
    Call,
    Interceptor,
    InterceptorChain,
    protocol_methods,
    store_name_of,
    wrap_store,
)

__all__ = [
    "FAULT_ERRORS",
    "Call",
    "FaultInjection",
    "FaultInjectionInterceptor",
    "FaultRule",
    "Interceptor",
    "InterceptorChain",
    "LatencyHistogram",
    "MetricsInterceptor",
    "MetricsRegistry",
    "MiddlewareOptions",
    "OperationMetrics",
    "OperationSummary",
    "RateLimit",
    "RateLimitInterceptor",
    "RetryInterceptor",
    "RetryPolicy",
    "TokenBucket",
    "is_transient",
    "protocol_methods",
    "store_name_of",
    "wrap_store",
]
