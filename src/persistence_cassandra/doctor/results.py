"""What the doctor's checks find: one result per check, and the report of them all."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from persistence_cassandra.hints import MessagePart

__all__ = ["CheckResult", "DoctorReport", "Findings", "timed_check"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: str
    """``ok``, ``warn``, ``fail`` or ``skip``; only ``fail`` makes the doctor fail."""
    detail: str
    seconds: float | None = None
    warnings: tuple[str, ...] = ()
    """For ``warn``: each finding as a sentence, printed in full under the tables."""
    detail_parts: tuple[MessagePart, ...] = ()
    """For ``fail``: ``detail`` with the commands it names kept as data (see
    :mod:`persistence_cassandra.hints`), when the error carried them."""

    @property
    def failed(self) -> bool:
        return self.status == "fail"


@dataclass(slots=True)
class DoctorReport:
    backend: str
    target: str
    checks: list[CheckResult] = field(default_factory=list)
    operations: list[tuple[str, int, float, float]] = field(default_factory=list)
    """``(store.method, calls, p50 seconds, p99 seconds)`` of every call the doctor made."""

    @property
    def ok(self) -> bool:
        return not any(check.failed for check in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [check for check in self.checks if check.failed]

    @property
    def warnings(self) -> list[str]:
        return [warning for check in self.checks for warning in check.warnings]


@dataclass(frozen=True, slots=True)
class Findings:
    """What a check returns when it can warn: its detail and its warnings (none: ``ok``)."""

    detail: str
    warnings: tuple[str, ...] = ()


async def timed_check(name: str, check: Callable[[], Awaitable[str | Findings]]) -> CheckResult:
    started = time.perf_counter()
    try:
        result = await check()
    except Exception as error:
        elapsed = time.perf_counter() - started
        parts: tuple[MessagePart, ...] = getattr(error, "parts", ())
        prefix = f"{type(error).__name__}: "
        detail_parts = (prefix, *parts) if parts else ()
        return CheckResult(name, "fail", f"{prefix}{error}", elapsed, (), detail_parts)
    elapsed = time.perf_counter() - started
    if isinstance(result, str):
        return CheckResult(name, "ok", result, elapsed)
    status = "warn" if result.warnings else "ok"
    return CheckResult(name, status, result.detail, elapsed, result.warnings)
