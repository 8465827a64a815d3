"""Copying a datastore into another through the store Protocols (``persistence-cassandra
copy``): any pair of backends, resumable, idempotent, verified by per-kind counts and
checksums. The engine is :func:`copy_stores`; the CLI is a thin adapter over it."""

from __future__ import annotations

from persistence_cassandra.copy.census import holds_any_data, take_census
from persistence_cassandra.copy.digest import Census, Tally
from persistence_cassandra.copy.engine import (
    CopyOptions,
    CopyResult,
    CopyStatus,
    VerificationRow,
    compare_censuses,
    copy_stores,
)
from persistence_cassandra.copy.kinds import RecordKind
from persistence_cassandra.copy.reader import StoreReader, StoreSet
from persistence_cassandra.copy.state import CopyState, CopyStateError
from persistence_cassandra.copy.target import CopyInterrupted, Outcome, TargetConflict
from persistence_cassandra.copy.units import CopyListener, NullListener

__all__ = [
    "Census",
    "CopyInterrupted",
    "CopyListener",
    "CopyOptions",
    "CopyResult",
    "CopyState",
    "CopyStateError",
    "CopyStatus",
    "NullListener",
    "Outcome",
    "RecordKind",
    "StoreReader",
    "StoreSet",
    "Tally",
    "TargetConflict",
    "VerificationRow",
    "compare_censuses",
    "copy_stores",
    "holds_any_data",
    "take_census",
]
