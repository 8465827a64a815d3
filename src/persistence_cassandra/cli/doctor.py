"""``doctor``: is the configured store reachable, at the right schema, and behaving?

:func:`run_doctor` opens the store and runs a fixed list of checks, each timed, none stopping
the others (a failed connection skips the rest). The writes it makes are confined to records
named after a fresh ``doctor-<uuid>``: a membership row that expires by itself and a cluster
metadata record deleted at the end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import click
from rich.console import Console
from rich.table import Table

from persistence_cassandra.cli.context import CliContext, run_async
from persistence_cassandra.config import PersistenceConfig, default_config
from persistence_cassandra.errors import ConditionFailed, NotFound
from persistence_cassandra.factory import open_persistence
from persistence_cassandra.middleware import MiddlewareOptions
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import (
    ClusterMember,
    ClusterMetadataRecord,
    DataBlob,
    GetClusterMembersRequest,
    MembershipRole,
    truncate_to_ms,
)

__all__ = ["CheckResult", "DoctorReport", "doctor_command", "print_report", "run_doctor"]

MEMBERSHIP_TTL = timedelta(seconds=30)
"""The doctor's membership row disappears from reads after this, without a delete."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: str
    """``ok``, ``fail`` or ``skip``."""
    detail: str
    seconds: float | None = None

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


async def _timed(name: str, check: Callable[[], Awaitable[str]]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = await check()
    except Exception as error:
        elapsed = time.perf_counter() - started
        return CheckResult(name, "fail", f"{type(error).__name__}: {error}", elapsed)
    return CheckResult(name, "ok", detail, time.perf_counter() - started)


async def _server_version(persistence: Persistence) -> str:
    info = await persistence.server_info()
    return info.get("server_version", "not reported by this backend")


async def _schema_version(persistence: Persistence) -> str:
    info = await persistence.server_info()
    version = info.get("schema_version")
    return f"{version} (verified on open)" if version else "verified on open"


async def _notification_version(persistence: Persistence) -> str:
    version = await persistence.metadata.get_metadata()
    page = await persistence.metadata.list_namespaces(100)
    more = "+" if page.next_page_token else ""
    return f"namespaces: {len(page.items)}{more}; notification version {version}"


async def _membership_round_trip(persistence: Persistence, host_id: str) -> str:
    now = truncate_to_ms(datetime.now(UTC))
    member = ClusterMember(
        host_id=host_id,
        rpc_address="127.0.0.1",
        rpc_port=7233,
        role=MembershipRole.WORKER,
        session_start=now,
        last_heartbeat=now,
        record_expiry=now + MEMBERSHIP_TTL,
    )
    await persistence.cluster_metadata.upsert_cluster_membership(member)
    page = await persistence.cluster_metadata.get_cluster_members(
        GetClusterMembersRequest(host_id=host_id)
    )
    found = [m for m in page.items if m.host_id == host_id]
    if len(found) != 1 or found[0].rpc_port != member.rpc_port:
        raise AssertionError(f"membership row {host_id} not read back (got {len(found)} rows)")
    pruned = await persistence.cluster_metadata.prune_cluster_membership()
    return f"membership upsert + read of {host_id[:8]}; pruned {pruned} expired row(s)"


async def _conditional_round_trip(persistence: Persistence, name: str) -> str:
    store = persistence.cluster_metadata
    blob = DataBlob(b'{"doctor": true}', "json")
    try:
        await store.save_cluster_metadata(ClusterMetadataRecord(name, blob, version=0))
        first = await store.get_cluster_metadata(name)
        await store.save_cluster_metadata(ClusterMetadataRecord(name, blob, first.version))
        second = await store.get_cluster_metadata(name)
        if second.version != first.version + 1:
            raise AssertionError(f"version went {first.version} -> {second.version}")
        try:
            await store.save_cluster_metadata(ClusterMetadataRecord(name, blob, first.version))
        except ConditionFailed:
            pass
        else:
            raise AssertionError("a write with a stale version was accepted")
    finally:
        await store.delete_cluster_metadata(name)
    try:
        await store.get_cluster_metadata(name)
    except NotFound:
        return f"insert, CAS v{first.version}->v{second.version}, stale CAS refused, delete"
    raise AssertionError(f"cluster metadata {name} still readable after delete")


async def run_doctor(
    config: PersistenceConfig | None = None, *, store: str | None = None
) -> DoctorReport:
    """Open the store and run every check; never raises for a failed check."""
    backend = (config or default_config()).datastore(store).backend_name
    report = DoctorReport(backend=backend, target="")
    persistence: Persistence | None = None

    async def connect() -> str:
        nonlocal persistence
        # No retry: the doctor reports the store as it is, not as retries make it look.
        persistence = await open_persistence(
            config, store=store, middleware=MiddlewareOptions(retry=None)
        )
        report.backend = persistence.backend_name
        report.target = persistence.description
        return persistence.description or persistence.backend_name

    report.checks.append(await _timed("connect", connect))
    names = ["server version", "schema", "read", "write/read round trip", "conditional write"]
    if persistence is None:
        report.checks.extend(CheckResult(name, "skip", "not connected") for name in names)
        return report
    opened: Persistence = persistence
    try:
        doctor_id = str(uuid.uuid4())
        checks: list[Callable[[], Awaitable[str]]] = [
            lambda: _server_version(opened),
            lambda: _schema_version(opened),
            lambda: _notification_version(opened),
            lambda: _membership_round_trip(opened, doctor_id),
            lambda: _conditional_round_trip(opened, f"doctor-{doctor_id}"),
        ]
        for name, check in zip(names, checks, strict=True):
            report.checks.append(await _timed(name, check))
        report.operations = [
            (summary.name, summary.calls, summary.p50, summary.p99)
            for summary in opened.metrics.snapshot()
        ]
    finally:
        await opened.close()
    return report


_STATUS_STYLE = {
    "ok": "[green]OK[/green]",
    "fail": "[red]FAIL[/red]",
    "skip": "[yellow]SKIP[/yellow]",
}


def print_report(report: DoctorReport, console: Console) -> None:
    """Render the report as two tables: checks, then per-operation latencies."""
    table = Table(title=f"doctor: {report.target or report.backend}")
    table.add_column("check")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("detail", overflow="fold")
    for check in report.checks:
        elapsed = f"{check.seconds * 1000:.1f} ms" if check.seconds is not None else ""
        table.add_row(check.name, _STATUS_STYLE[check.status], elapsed, check.detail)
    console.print(table)
    if report.operations:
        latencies = Table(title="store operations")
        latencies.add_column("operation")
        latencies.add_column("calls", justify="right")
        latencies.add_column("p50", justify="right")
        latencies.add_column("p99", justify="right")
        for name, calls, p50, p99 in report.operations:
            latencies.add_row(name, str(calls), f"{p50 * 1000:.2f} ms", f"{p99 * 1000:.2f} ms")
        console.print(latencies)


@click.command("doctor")
@click.pass_obj
def doctor_command(context: CliContext) -> None:
    """Check connectivity, versions and round trips of the store.

    Reports the backend, target, server and schema versions, then times a write/read round
    trip (cluster membership) and a conditional-write round trip (cluster metadata CAS).
    """
    config = context.load_config()
    report = run_async(
        run_doctor(None if context.config_path is None else config, store=context.store)
    )
    print_report(report, Console())
    if not report.ok:
        first = report.failures[0]
        raise click.ClickException(
            f"doctor: {len(report.failures)} check(s) failed; {first.name}: {first.detail}"
        )
