"""Visibility rows on Cassandra: the columns, and records to and from them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from persistence_cassandra.backends.cassandra.session import Row
from persistence_cassandra.backends.cassandra.visibility_plan import keyword_list_entry
from persistence_cassandra.records import DataBlob, from_epoch_ms, to_epoch_ms
from persistence_cassandra.visibility.records import (
    AttributeValue,
    ExecutionStatus,
    SearchAttributeType,
    VisibilityRecord,
)

__all__ = [
    "BUCKET_MS",
    "COLUMNS",
    "MAP_COLUMNS",
    "AttributeColumns",
    "attribute_columns",
    "bucket_of",
    "record_from_row",
]

BUCKET_MS = 3_600_000
"""Executions started in the same hour share a partition (docs/visibility.md: hot partitions)."""

COLUMNS = (
    "namespace_id", "bucket", "start_time", "run_id", "workflow_id", "workflow_type",
    "task_queue", "execution_time", "status", "close_time", "history_length",
    "history_size_bytes", "memo", "memo_encoding", "sa_keyword", "sa_text", "sa_int",
    "sa_double", "sa_bool", "sa_datetime", "sa_keyword_list", "sa_keyword_list_values",
)  # fmt: skip

MAP_COLUMNS: dict[SearchAttributeType, str] = {
    SearchAttributeType.KEYWORD: "sa_keyword",
    SearchAttributeType.TEXT: "sa_text",
    SearchAttributeType.INT: "sa_int",
    SearchAttributeType.DOUBLE: "sa_double",
    SearchAttributeType.BOOL: "sa_bool",
    SearchAttributeType.DATETIME: "sa_datetime",
    SearchAttributeType.KEYWORD_LIST: "sa_keyword_list",
}
_TYPE_OF_COLUMN = {column: type_ for type_, column in MAP_COLUMNS.items()}


def bucket_of(start_ms: int) -> int:
    return start_ms // BUCKET_MS


def stored_value(value: AttributeValue) -> Any:
    if isinstance(value, datetime):
        return to_epoch_ms(value)
    if isinstance(value, tuple):
        return list(value)
    return value


AttributeColumns = dict[str, Any]


def attribute_columns(
    types: Mapping[str, SearchAttributeType], values: Mapping[str, AttributeValue | None]
) -> AttributeColumns:
    """The map columns (and the KeywordList entry set) holding ``values``."""
    columns: AttributeColumns = {column: {} for column in MAP_COLUMNS.values()}
    entries: set[str] = set()
    for name, value in values.items():
        if value is None:
            continue
        type_ = types[name]
        columns[MAP_COLUMNS[type_]][name] = stored_value(value)
        if isinstance(value, tuple):
            entries.update(keyword_list_entry(name, item) for item in value)
    columns["sa_keyword_list_values"] = entries
    return columns


def _attributes(row: Row) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {}
    for column, type_ in _TYPE_OF_COLUMN.items():
        for name, value in (row.get(column) or {}).items():
            if type_ is SearchAttributeType.DATETIME:
                attributes[name] = from_epoch_ms(value)
            elif type_ is SearchAttributeType.KEYWORD_LIST:
                attributes[name] = tuple(value)
            else:
                attributes[name] = value
    return attributes


def record_from_row(row: Row) -> VisibilityRecord:
    close_time = row["close_time"]
    return VisibilityRecord(
        namespace_id=row["namespace_id"],
        workflow_id=row["workflow_id"],
        run_id=row["run_id"],
        workflow_type=row["workflow_type"],
        task_queue=row["task_queue"],
        start_time=from_epoch_ms(row["start_time"]),
        execution_time=from_epoch_ms(row["execution_time"]),
        status=ExecutionStatus(row["status"]),
        close_time=None if close_time is None else from_epoch_ms(close_time),
        history_length=row["history_length"] or 0,
        history_size_bytes=row["history_size_bytes"] or 0,
        memo=DataBlob(row["memo"] or b"", row["memo_encoding"] or ""),
        search_attributes=_attributes(row),
    )
