"""``doctor``: is the configured store reachable, at the right schema, and behaving?

:func:`run_doctor` opens the store and runs a fixed list of checks, each timed, none stopping
the others (a failed connection skips the rest). The writes it makes are confined to records
named after a fresh ``doctor-<uuid>``: a membership row that expires by itself and a cluster
metadata record deleted at the end. On Cassandra one more check, ``durability``
(:mod:`.durability`), warns about setups that can lose acknowledged writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from persistence_cassandra.backend import OpenOptions
from persistence_cassandra.config import DatastoreConfig, PersistenceConfig, default_config
from persistence_cassandra.doctor.durability import check_durability
from persistence_cassandra.doctor.results import CheckResult, DoctorReport, Findings, timed_check
from persistence_cassandra.errors import ConditionFailed, NotFound, SchemaVersionMismatch
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

__all__ = ["MEMBERSHIP_TTL", "run_doctor"]

MEMBERSHIP_TTL = timedelta(seconds=30)
"""The doctor's membership row disappears from reads after this, without a delete."""


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

    report.checks.append(await timed_check("connect", connect))
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
        checks: list[Callable[[], Awaitable[str | Findings]]] = [
            lambda: _server_version(opened),
            lambda: _schema_version(opened),
            lambda: _notification_version(opened),
            lambda: _membership_round_trip(opened, doctor_id),
            lambda: _conditional_round_trip(opened, f"doctor-{doctor_id}"),
        ]
        if cassandra is not None:
            settings = cassandra
            checks.append(lambda: check_durability(settings))
        for name, check in zip(names, checks, strict=True):
            report.checks.append(await timed_check(name, check))
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
