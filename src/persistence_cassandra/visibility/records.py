"""Visibility records: what a server lists, filters and counts, independent of any backend.

Times are timezone-aware UTC datetimes at millisecond precision (what every backend stores).
Custom search attributes are registered per namespace with a :class:`SearchAttributeType`;
their values are plain Python values of that type (a KeywordList is a tuple of strings).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from persistence_cassandra.errors import InvalidRequest
from persistence_cassandra.records import DataBlob

__all__ = [
    "AttributeValue",
    "ExecutionStatus",
    "SearchAttributeType",
    "VisibilityRecord",
    "VisibilityStart",
    "require_closed_status",
]

AttributeValue = str | int | float | bool | datetime | tuple[str, ...]
"""A custom search attribute's value: str (Keyword, Text), int, float, bool, datetime, or a
tuple of str (KeywordList)."""


class SearchAttributeType(enum.Enum):
    """The types of custom search attributes, by Temporal's names."""

    KEYWORD = "Keyword"
    KEYWORD_LIST = "KeywordList"
    TEXT = "Text"
    INT = "Int"
    DOUBLE = "Double"
    BOOL = "Bool"
    DATETIME = "Datetime"

    @classmethod
    def parse(cls, name: str) -> SearchAttributeType:
        """The type called ``name`` (case-insensitive); ValueError listing the known ones."""
        for member in cls:
            if member.value.lower() == name.strip().lower():
                return member
        known = ", ".join(member.value for member in cls)
        raise ValueError(f"unknown search attribute type {name!r} (known: {known})")


class ExecutionStatus(enum.IntEnum):
    """An execution's status, numbered as Temporal numbers them."""

    RUNNING = 1
    COMPLETED = 2
    FAILED = 3
    CANCELED = 4
    TERMINATED = 5
    CONTINUED_AS_NEW = 6
    TIMED_OUT = 7

    @property
    def query_name(self) -> str:
        """The name the query language uses (``Running``, ``ContinuedAsNew`` ...)."""
        return "".join(part.capitalize() for part in self.name.split("_"))

    @classmethod
    def from_query_name(cls, name: str) -> ExecutionStatus | None:
        for member in cls:
            if member.query_name.lower() == name.lower():
                return member
        return None


def require_closed_status(status: ExecutionStatus) -> None:
    """What every store checks before ``record_closed``: a closed execution is never Running."""
    if status is ExecutionStatus.RUNNING:
        raise InvalidRequest("a closed execution cannot have status Running")


@dataclass(frozen=True, slots=True)
class VisibilityStart:
    """What a server records when an execution starts."""

    namespace_id: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    start_time: datetime
    execution_time: datetime
    memo: DataBlob = field(default_factory=lambda: DataBlob(b"", ""))
    search_attributes: Mapping[str, object] = field(default_factory=dict)
    """Registered custom attributes; checked against their types by the store (a KeywordList
    may be given as a list)."""


@dataclass(frozen=True, slots=True)
class VisibilityRecord:
    """One execution as visibility shows it."""

    namespace_id: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    start_time: datetime
    execution_time: datetime
    status: ExecutionStatus
    close_time: datetime | None = None
    history_length: int = 0
    history_size_bytes: int = 0
    memo: DataBlob = field(default_factory=lambda: DataBlob(b"", ""))
    search_attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
