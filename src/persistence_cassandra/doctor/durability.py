"""The doctor's ``durability`` check: can this Cassandra setup lose an acknowledged write?

It reads the server's commit-log mode (``system_views.settings``) and the keyspace's
replication, and judges them with the configured consistency in :func:`durability_warnings` (a
pure function). What it finds is a warning; it never makes the doctor fail.
"""

from __future__ import annotations

from collections.abc import Mapping

from persistence_cassandra.config import CassandraConfig
from persistence_cassandra.doctor.results import Findings
from persistence_cassandra.errors import PersistenceError

__all__ = [
    "SAFE_REPLICATION_FACTOR",
    "check_durability",
    "durability_warnings",
    "replication_factors",
]

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


async def check_durability(config: CassandraConfig) -> Findings:
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
    return Findings("; ".join(parts), tuple(warnings))
