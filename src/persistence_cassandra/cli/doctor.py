"""``doctor``: is the configured store reachable, at the right schema, and behaving?

:func:`run_doctor` opens the store and runs a fixed list of checks, each timed, none stopping
the others (a failed connection skips the rest). The writes it makes are confined to records
named after a fresh ``doctor-<uuid>``: a membership row that expires by itself and a cluster
metadata record deleted at the end.

On Cassandra one more check, ``durability``, reads the server's commit-log mode
(``system_views.settings``) and the keyspace's replication, and judges them with the configured
consistency in :func:`durability_warnings` (a pure function). What it finds is a warning, shown
in plain words under the tables; it never makes the doctor fail.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import click
from rich.console import Console
from rich.table import Table

from persistence_cassandra.cli.context import CliContext, run_async
from persistence_cassandra.cli.output import console_for
from persistence_cassandra.config import (
    CassandraConfig,
    DatastoreConfig,
    PersistenceConfig,
    default_config,
)
from persistence_cassandra.errors import (
    ConditionFailed,
    NotFound,
    PersistenceError,
    SchemaVersionMismatch,
)
from persistence_cassandra.factory import OpenOptions, open_persistence
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

__all__ = [
    "CheckResult",
    "DoctorReport",
    "doctor_command",
    "durability_warnings",
    "print_report",
    "replication_factors",
    "report_json",
    "run_doctor",
]

MEMBERSHIP_TTL = timedelta(seconds=30)
"""The doctor's membership row disappears from reads after this, without a delete."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: str
    """``ok``, ``warn``, ``fail`` or ``skip``; only ``fail`` makes the doctor fail."""
    detail: str
    seconds: float | None = None
    warnings: tuple[str, ...] = ()
    """For ``warn``: each finding as a sentence, printed in full under the tables."""

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
class _Findings:
    """What a check returns when it can warn: its detail and its warnings (none: ``ok``)."""

    detail: str
    warnings: tuple[str, ...] = ()


async def _timed(name: str, check: Callable[[], Awaitable[str | _Findings]]) -> CheckResult:
    started = time.perf_counter()
    try:
        result = await check()
    except Exception as error:
        elapsed = time.perf_counter() - started
        return CheckResult(name, "fail", f"{type(error).__name__}: {error}", elapsed)
    elapsed = time.perf_counter() - started
    if isinstance(result, str):
        return CheckResult(name, "ok", result, elapsed)
    status = "warn" if result.warnings else "ok"
    return CheckResult(name, status, result.detail, elapsed, result.warnings)


# --------------------------------------------------------------------------- durability

_QUORUM_LEVELS = {"QUORUM", "LOCAL_QUORUM", "EACH_QUORUM", "ALL"}
_SINGLE_REPLICA_LEVELS = {"ANY", "ONE", "LOCAL_ONE"}
_COUNTED_LEVELS = {"TWO": 2, "THREE": 3}
_SERIAL_LEVELS = {"SERIAL", "LOCAL_SERIAL"}
SAFE_REPLICATION_FACTOR = 3
"""The smallest RF at which one crashed node cannot take an acknowledged quorum write with it
(on periodic sync) and one node down still leaves a quorum."""


def replication_factors(replication: Mapping[str, str]) -> dict[str, int] | None:
    """Replicas per data center from a keyspace's ``replication`` map (``"*"`` for
    SimpleStrategy); ``None`` for a strategy whose replica count is not written there."""
    strategy = replication.get("class", "").rsplit(".", 1)[-1]
    if strategy == "SimpleStrategy":
        count = _replica_count(replication.get("replication_factor", ""))
        return None if count is None else {"*": count}
    if strategy == "NetworkTopologyStrategy":
        counts = {dc: _replica_count(value) for dc, value in replication.items() if dc != "class"}
        known = {dc: count for dc, count in counts.items() if count is not None}
        return known or None
    return None


def _replica_count(value: str) -> int | None:
    # "3/1" is three replicas of which one transient: only the full ones keep data.
    full, _, transient = value.partition("/")
    try:
        return int(full) - (int(transient) if transient else 0)
    except ValueError:
        return None


def _quorum(replicas: int) -> int:
    return replicas // 2 + 1


def durability_warnings(
    commitlog_sync: str | None,
    replication: Mapping[str, str] | None,
    consistency: str,
    serial_consistency: str = "LOCAL_SERIAL",
    *,
    datacenter: str | None = None,
    keyspace: str = "the keyspace",
) -> list[str]:
    """What, in this setup, can lose an acknowledged write or break fencing and CAS.

    ``commitlog_sync`` is the server's ``commitlog_sync`` setting (``None``: not readable),
    ``replication`` the keyspace's replication map (``None``: not readable), ``consistency``
    and ``serial_consistency`` the configured pair, ``datacenter`` the local data center (the
    one whose replicas ``LOCAL_*`` levels count). Pure: no I/O, one sentence per finding.
    """
    found: list[str] = []
    factors = replication_factors(replication) if replication is not None else None
    # Without a known local data center, the thinnest one decides.
    local: int | None = None
    if factors:
        local = factors.get(datacenter or "", min(factors.values()))
    total = sum(factors.values()) if factors else None
    mode = (commitlog_sync or "").lower()
    if mode == "periodic" and local is not None and local < SAFE_REPLICATION_FACTOR:
        found.append(
            f"{keyspace} keeps {local} replica(s) of each row and the server syncs its commit "
            "log only periodically (commitlog_sync: periodic): a node that crashes loses the "
            "writes it acknowledged since its last sync, so after a restart a range id can be "
            "granted twice and fencing breaks. Use replication factor 3 or more, or set "
            "commitlog_sync to batch or group on every node."
        )
    level = consistency.upper()
    if level in _SINGLE_REPLICA_LEVELS:
        found.append(
            f"consistency {level} is below a quorum: a write is acknowledged once one replica "
            "has it and a read asks one replica, so with more than one replica a read can miss "
            "an acknowledged write and fencing and compare-and-set break. Use LOCAL_QUORUM."
        )
    elif level in _COUNTED_LEVELS and total is not None and _COUNTED_LEVELS[level] < _quorum(total):
        found.append(
            f"consistency {level} is below a quorum of {keyspace}'s {total} replicas "
            f"({_quorum(total)}): a read can miss an acknowledged write, which breaks fencing "
            "and compare-and-set. Use LOCAL_QUORUM."
        )
    elif level not in _QUORUM_LEVELS and level not in _COUNTED_LEVELS:
        found.append(f"consistency {level} is not a level this check knows; use LOCAL_QUORUM.")
    serial = serial_consistency.upper()
    if serial not in _SERIAL_LEVELS:
        found.append(
            f"serial consistency {serial} is not SERIAL or LOCAL_SERIAL: lightweight "
            "transactions then give no compare-and-set guarantee. Use LOCAL_SERIAL."
        )
    return found


_COMMITLOG_SYNC = "SELECT value FROM system_views.settings WHERE name = 'commitlog_sync'"
_REPLICATION = "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?"


async def _durability(config: CassandraConfig) -> _Findings:
    # Its own short-lived session: the stores' session is private to the backend, and the
    # doctor must not depend on what a store exposes.
    from persistence_cassandra.backends.cassandra.session import CassandraSession

    session = await CassandraSession.connect(config)
    notes: list[str] = []
    try:
        try:
            row = (await session.read(_COMMITLOG_SYNC)).first()
            commitlog: str | None = str(row["value"]) if row else None
            if commitlog is None:
                notes.append("the server does not report commitlog_sync")
        except PersistenceError as error:
            # Astra DB (and roles without access to system_views) cannot read it.
            commitlog = None
            notes.append(f"commit log mode not readable ({type(error).__name__})")
        row = (await session.read(_REPLICATION, [config.keyspace])).first()
        replication = dict(row["replication"]) if row else None
    finally:
        await session.close()
    pair = config.consistency.default
    warnings = durability_warnings(
        commitlog,
        replication,
        pair.consistency,
        pair.serial_consistency,
        datacenter=config.datacenter,
        keyspace=f"keyspace {config.keyspace}",
    )
    factors = replication_factors(replication) if replication else None
    shown = ", ".join(f"{dc}: {n}" if dc != "*" else str(n) for dc, n in (factors or {}).items())
    parts = [
        f"commit log {commitlog or 'unknown'}",
        f"RF {shown or 'unknown'}",
        f"consistency {pair.consistency}/{pair.serial_consistency}",
        *notes,
    ]
    if warnings:
        parts.append(f"{len(warnings)} warning(s) below")
    return _Findings("; ".join(parts), tuple(warnings))


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
    embedded = config is None
    chosen = config or default_config()
    datastore = chosen.datastore(store)
    report = DoctorReport(backend=datastore.backend_name, target="")
    persistence: Persistence | None = None

    async def connect() -> str:
        nonlocal persistence
        try:
            # No retry: the doctor reports the store as it is, not as retries make it look.
            # No schema creation either (not even for the embedded default): the doctor looks
            # and changes nothing, so a store that does not exist yet is reported as such.
            persistence = await open_persistence(
                chosen,
                store=store,
                middleware=MiddlewareOptions(retry=None),
                options=OpenOptions(create_schema=_in_memory(datastore)),
            )
        except SchemaVersionMismatch as error:
            if embedded and error.actual is None:
                raise SchemaVersionMismatch(
                    f"the embedded store {_embedded_path(chosen)} does not exist yet; any "
                    "command that uses it creates it (for example `persistence-cassandra demo` "
                    "or `persistence-cassandra workload`)",
                    actual=None,
                    expected=error.expected,
                ) from error
            raise
        report.backend = persistence.backend_name
        report.target = persistence.description
        return persistence.description or persistence.backend_name

    report.checks.append(await _timed("connect", connect))
    names = ["server version", "schema", "read", "write/read round trip", "conditional write"]
    cassandra = datastore.cassandra
    if cassandra is not None:
        names.append("durability")
    if persistence is None:
        report.checks.extend(CheckResult(name, "skip", "not connected") for name in names)
        return report
    opened: Persistence = persistence
    try:
        doctor_id = str(uuid.uuid4())
        checks: list[Callable[[], Awaitable[str | _Findings]]] = [
            lambda: _server_version(opened),
            lambda: _schema_version(opened),
            lambda: _notification_version(opened),
            lambda: _membership_round_trip(opened, doctor_id),
            lambda: _conditional_round_trip(opened, f"doctor-{doctor_id}"),
        ]
        if cassandra is not None:
            settings = cassandra
            checks.append(lambda: _durability(settings))
        for name, check in zip(names, checks, strict=True):
            report.checks.append(await _timed(name, check))
        report.operations = [
            (summary.name, summary.calls, summary.p50, summary.p99)
            for summary in opened.metrics.snapshot()
        ]
    finally:
        await opened.close()
    return report


def _in_memory(datastore: DatastoreConfig) -> bool:
    # An in-memory database lives and dies with the doctor: creating its schema leaves nothing.
    return datastore.sql is not None and datastore.sql.database_name == ":memory:"


def _embedded_path(config: PersistenceConfig) -> str:
    sql = config.datastore().sql
    return sql.database_name if sql is not None else "(unknown)"


_STATUS_STYLE = {
    "ok": "[green]OK[/green]",
    "warn": "[yellow]WARN[/yellow]",
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
    for warning in report.warnings:
        console.print(f"[bold yellow]WARNING:[/bold yellow] {warning}", soft_wrap=True)


def report_json(report: DoctorReport) -> dict[str, object]:
    """The report for ``--json``: every check, the operations' latencies, the warnings."""
    return {
        "ok": report.ok,
        "backend": report.backend,
        "target": report.target,
        "checks": [
            {
                "name": check.name,
                "status": check.status,
                "detail": check.detail,
                "seconds": None if check.seconds is None else round(check.seconds, 6),
                "warnings": list(check.warnings),
            }
            for check in report.checks
        ],
        "operations": [
            {"operation": name, "calls": calls, "p50_ms": p50 * 1000, "p99_ms": p99 * 1000}
            for name, calls, p50, p99 in report.operations
        ],
        "warnings": report.warnings,
    }


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.pass_obj
def doctor_command(context: CliContext, as_json: bool = False) -> None:
    """Check connectivity, versions and round trips of the store.

    Reports the backend, target, server and schema versions, then times a write/read round
    trip (cluster membership) and a conditional-write round trip (cluster metadata CAS). On
    Cassandra it also warns (without failing) when the commit-log mode, replication factor or
    consistency level can lose acknowledged writes.
    """
    config = context.load_config()
    report = run_async(
        run_doctor(None if context.config_path is None else config, store=context.store)
    )
    if as_json:
        click.echo(json.dumps(report_json(report), indent=2))
    else:
        print_report(report, console_for())
    if not report.ok:
        first = report.failures[0]
        raise click.ClickException(
            f"doctor: {len(report.failures)} check(s) failed; {first.name}: {first.detail}"
        )
