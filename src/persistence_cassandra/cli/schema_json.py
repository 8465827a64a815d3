"""``--json`` of ``schema status``, ``schema history`` and ``schema verify``: the same facts
their lines show, as documents a script can read (times in ISO 8601, UTC as stored)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from persistence_cassandra.schema.admin import HistoryEntry, MigrationRecord
from persistence_cassandra.schema.inspection import SchemaStatus, VerifyReport

__all__ = ["history_json", "status_json", "verify_json"]


def verify_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "checked": list(report.checked),
        "unrecorded": list(report.unrecorded),
        "drift": [
            {
                "version": drift.version,
                "file": drift.file_name,
                "kind": str(drift.kind),
                "detail": drift.detail,
            }
            for drift in report.drift
        ],
        "setup_checked": list(report.setup_checked),
        "setup_unchecked": list(report.setup_unchecked),
    }


def status_json(status: SchemaStatus) -> dict[str, Any]:
    stored = status.stored
    return {
        "target": status.target,
        "current_version": stored.curr_version if stored is not None else None,
        "min_compatible_version": stored.min_compatible_version if stored is not None else None,
        "written": (
            stored.creation_time.isoformat(timespec="seconds")
            if stored is not None and stored.creation_time
            else None
        ),
        "latest_available": status.latest,
        "pending": list(status.pending),
        "incomplete": [
            {
                "version": run.version,
                "applied_statements": run.applied_statements,
                "statement_count": run.statement_count,
                "started_at": run.started_at,
                "run_by": run.run_by,
            }
            for run in status.incomplete
        ],
        "adapted": [{"version": version, "statements": count} for version, count in status.adapted],
        "verify": verify_json(status.verify) if status.verify is not None else None,
    }


def history_json(
    target: str, entries: Sequence[HistoryEntry], records: Sequence[MigrationRecord]
) -> dict[str, Any]:
    return {
        "target": target,
        "history": [
            {
                "update_time": entry.update_time.isoformat(timespec="seconds"),
                "old_version": entry.old_version,
                "new_version": entry.new_version,
                "manifest_md5": entry.manifest_md5,
                "description": entry.description,
            }
            for entry in entries
        ],
        "runs": [
            {
                "run_by": record.run_by,
                "kind": str(record.kind),
                "version": record.version,
                "state": str(record.state),
                "statement_count": record.statement_count,
                "files": len(record.file_checksums),
                "started_at": record.started_at.isoformat(timespec="seconds"),
                "finished_at": (
                    record.finished_at.isoformat(timespec="seconds") if record.finished_at else None
                ),
                "adaptation": list(record.adaptation),
            }
            for record in sorted(records, key=lambda r: r.started_at)
        ],
    }
