"""The row kinds of the ``executions`` table and how records map onto their columns.

One partition per shard holds every row a shard commits atomically (DESIGN.md section 4). The
``type`` clustering column tells the kinds apart, and each kind fills the remaining clustering
columns with fixed sentinel values so that a row is addressed by one full primary key:

=================  =========  ==========================  ============  =======
kind               ``type``   namespace / workflow / run  fire_time_ms  task_id
=================  =========  ==========================  ============  =======
shard              0          '' / '' / ''                0             0
workflow run       1          real ids                    0             0
current pointer    2          real ids / ''               0             0
history task       100 + c    '' / '' / ''                fire time     task id
=================  =========  ==========================  ============  =======

(``c`` is the persisted :class:`~persistence_cassandra.records.TaskCategory` number; immediate
categories always use fire time 0, so they order by task id alone.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from cassandra.query import UNSET_VALUE

from persistence_cassandra.records import (
    CurrentExecution,
    DataBlob,
    ExecutionKey,
    HistoryTask,
    TaskCategory,
    TaskCategoryType,
    TaskKey,
    WorkflowMutableState,
    WorkflowState,
    from_epoch_ms,
    to_epoch_ms,
)

__all__ = [
    "HISTORY_TASK_ROW_BASE",
    "NO_ID",
    "NO_TASK",
    "NO_TIME",
    "ROW_CURRENT",
    "ROW_KEY_WHERE",
    "ROW_RUN",
    "ROW_SHARD",
    "BlobTuple",
    "blob_map",
    "blob_or_unset",
    "current_from_row",
    "current_row_key",
    "history_task_row_key",
    "history_task_row_type",
    "mutable_state_from_row",
    "run_row_key",
    "shard_row_key",
    "task_fire_time_ms",
]

K = TypeVar("K")

ROW_SHARD = 0
ROW_RUN = 1
ROW_CURRENT = 2
HISTORY_TASK_ROW_BASE = 100

NO_ID = ""
NO_TIME = 0
NO_TASK = 0

ROW_KEY_WHERE = (
    "shard_id = ? AND type = ? AND namespace_id = ? AND workflow_id = ? AND run_id = ? "
    "AND fire_time_ms = ? AND task_id = ?"
)
"""The full primary key of one ``executions`` row; bind one of the ``*_row_key`` tuples."""

RowKey = tuple[int, int, str, str, str, int, int]
BlobTuple = tuple[bytes, str]
"""How a :class:`DataBlob` is stored inside a collection: ``tuple<blob, text>``."""


def shard_row_key(shard_id: int) -> RowKey:
    return (shard_id, ROW_SHARD, NO_ID, NO_ID, NO_ID, NO_TIME, NO_TASK)


def run_row_key(shard_id: int, key: ExecutionKey) -> RowKey:
    return (shard_id, ROW_RUN, key.namespace_id, key.workflow_id, key.run_id, NO_TIME, NO_TASK)


def current_row_key(shard_id: int, namespace_id: str, workflow_id: str) -> RowKey:
    return (shard_id, ROW_CURRENT, namespace_id, workflow_id, NO_ID, NO_TIME, NO_TASK)


def history_task_row_type(category: TaskCategory) -> int:
    return HISTORY_TASK_ROW_BASE + int(category)


def task_fire_time_ms(category: TaskCategory, key: TaskKey) -> int:
    """Scheduled categories order by fire time; immediate ones ignore it (always 0)."""
    if category.category_type is TaskCategoryType.SCHEDULED:
        return to_epoch_ms(key.fire_time)
    return NO_TIME


def history_task_row_key(shard_id: int, task: HistoryTask) -> RowKey:
    return (
        shard_id,
        history_task_row_type(task.category),
        NO_ID,
        NO_ID,
        NO_ID,
        task_fire_time_ms(task.category, task.key),
        task.key.task_id,
    )


def blob_map(entries: Mapping[K, DataBlob]) -> dict[K, BlobTuple]:
    return {key: (blob.data, blob.encoding) for key, blob in entries.items()}


def blob_or_unset(blob: DataBlob | None) -> tuple[Any, Any]:
    """Data and encoding columns of an optional blob, left unset (no tombstone) when absent."""
    if blob is None:
        return UNSET_VALUE, UNSET_VALUE
    return blob.data, blob.encoding


def _map_entries(stored: Mapping[K, BlobTuple]) -> Iterable[tuple[K, BlobTuple]]:
    # The driver decodes a map column into an OrderedMapSerializedKey, whose Mapping lookups
    # serialize the key again for every entry (items() costs about 1 µs an entry, most of a
    # run read's decoding); the (key, value) list it is built on is read directly.
    pairs = getattr(stored, "_items", None)
    return pairs if isinstance(pairs, list) else stored.items()


def _blobs(stored: Mapping[K, BlobTuple] | None) -> dict[K, DataBlob]:
    if not stored:
        return {}
    return {key: DataBlob(data, encoding) for key, (data, encoding) in _map_entries(stored)}


def _blob_list(stored: Iterable[BlobTuple] | None) -> list[DataBlob]:
    return [DataBlob(data, encoding) for data, encoding in stored or ()]


def mutable_state_from_row(row: Mapping[str, Any]) -> WorkflowMutableState:
    checksum = row.get("checksum")
    return WorkflowMutableState(
        key=ExecutionKey(row["namespace_id"], row["workflow_id"], row["run_id"]),
        execution_info=DataBlob(row["execution_info"] or b"", row["execution_info_encoding"]),
        execution_state=DataBlob(row["execution_state"] or b"", row["execution_state_encoding"]),
        next_event_id=row["next_event_id"],
        db_record_version=row["db_record_version"],
        activity_infos=_blobs(row.get("activity_map")),
        timer_infos=_blobs(row.get("timer_map")),
        child_execution_infos=_blobs(row.get("child_execution_map")),
        request_cancel_infos=_blobs(row.get("request_cancel_map")),
        signal_infos=_blobs(row.get("signal_map")),
        signal_requested_ids=set(row.get("signal_requested") or ()),
        buffered_events=_blob_list(row.get("buffered_events")),
        checksum=(
            DataBlob(checksum, row.get("checksum_encoding") or "") if checksum is not None else None
        ),
    )


def current_from_row(row: Mapping[str, Any]) -> CurrentExecution:
    start_time_ms = row.get("start_time_ms")
    return CurrentExecution(
        run_id=row["current_run_id"],
        create_request_id=row.get("create_request_id") or "",
        state=WorkflowState(row["workflow_state"]),
        status=row.get("workflow_status") or 0,
        last_write_version=row.get("last_write_version") or 0,
        start_time=from_epoch_ms(start_time_ms) if start_time_ms is not None else None,
        request_ids=frozenset(row.get("current_request_ids") or ()),
        first_execution_run_id=row.get("first_execution_run_id") or "",
    )
