"""The attributes a query may name: Temporal's system attributes and a namespace's custom ones."""

from __future__ import annotations

import re
from collections.abc import Mapping

from persistence_cassandra.errors import InvalidRequest
from persistence_cassandra.visibility.records import SearchAttributeType
from persistence_cassandra.visibility.tree import Attribute, AttributeKind

__all__ = [
    "SYSTEM_ATTRIBUTES",
    "check_custom_attribute_name",
    "resolve_attribute",
]

_K = SearchAttributeType.KEYWORD
_I = SearchAttributeType.INT
_T = SearchAttributeType.DATETIME


def _system(
    name: str, type_: SearchAttributeType, field: str, *, status: bool = False
) -> Attribute:
    return Attribute(name, type_, AttributeKind.SYSTEM, field, is_status=status)


SYSTEM_ATTRIBUTES: dict[str, Attribute] = {
    attribute.name: attribute
    for attribute in (
        _system("WorkflowId", _K, "workflow_id"),
        _system("RunId", _K, "run_id"),
        _system("WorkflowType", _K, "workflow_type"),
        _system("TaskQueue", _K, "task_queue"),
        _system("ExecutionStatus", _K, "status", status=True),
        _system("StartTime", _T, "start_time"),
        _system("ExecutionTime", _T, "execution_time"),
        _system("CloseTime", _T, "close_time"),
        _system("HistoryLength", _I, "history_length"),
        _system("HistorySizeBytes", _I, "history_size_bytes"),
    )
}
"""By Temporal's names; these cannot be registered as custom attributes."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def check_custom_attribute_name(name: str) -> None:
    """InvalidRequest unless ``name`` can be registered as a custom attribute."""
    if not _NAME.fullmatch(name):
        raise InvalidRequest(
            f"search attribute name {name!r} must be a letter or '_' followed by up to 63 "
            "letters, digits or '_'"
        )
    if name in SYSTEM_ATTRIBUTES:
        raise InvalidRequest(f"{name!r} is a system search attribute and cannot be registered")


def resolve_attribute(name: str, custom: Mapping[str, SearchAttributeType]) -> Attribute | None:
    """The attribute ``name`` means in a namespace with ``custom`` attributes, or None."""
    system = SYSTEM_ATTRIBUTES.get(name)
    if system is not None:
        return system
    type_ = custom.get(name)
    if type_ is None:
        return None
    return Attribute(name, type_, AttributeKind.CUSTOM)
