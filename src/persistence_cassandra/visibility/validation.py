"""Checks of what callers write: custom attribute values against their registered types."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from persistence_cassandra.errors import InvalidRequest
from persistence_cassandra.records import truncate_to_ms
from persistence_cassandra.visibility.attributes import check_custom_attribute_name
from persistence_cassandra.visibility.records import AttributeValue, SearchAttributeType

__all__ = ["MAX_KEYWORD_LIST_ITEMS", "check_registration", "normalize_attributes"]

MAX_KEYWORD_LIST_ITEMS = 20
"""Astra warns above 20 collection items; a KeywordList is stored as collection entries."""
_INT_RANGE = range(-(2**63), 2**63)


def check_registration(attributes: Mapping[str, SearchAttributeType]) -> None:
    for name, type_ in attributes.items():
        check_custom_attribute_name(name)
        if not isinstance(type_, SearchAttributeType):
            raise InvalidRequest(f"search attribute {name!r}: {type_!r} is not a type")


def _normalize(name: str, type_: SearchAttributeType, value: object) -> AttributeValue:
    def wrong(expected: str) -> InvalidRequest:
        return InvalidRequest(
            f"search attribute {name!r} is {type_.value}: expected {expected}, got {value!r}"
        )

    if type_ in (SearchAttributeType.KEYWORD, SearchAttributeType.TEXT):
        if not isinstance(value, str):
            raise wrong("a str")
        return value
    if type_ is SearchAttributeType.KEYWORD_LIST:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise wrong("a list of str")
        if not all(isinstance(item, str) for item in value):
            raise wrong("a list of str")
        if len(value) > MAX_KEYWORD_LIST_ITEMS:
            raise wrong(f"at most {MAX_KEYWORD_LIST_ITEMS} items")
        return tuple(value)
    if type_ is SearchAttributeType.BOOL:
        if not isinstance(value, bool):
            raise wrong("a bool")
        return value
    if type_ is SearchAttributeType.INT:
        if isinstance(value, bool) or not isinstance(value, int) or value not in _INT_RANGE:
            raise wrong("a 64-bit int")
        return value
    if type_ is SearchAttributeType.DOUBLE:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong("a float")
        if value != value or value in (float("inf"), float("-inf")):
            raise wrong("a finite float")
        return float(value)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise wrong("a timezone-aware datetime")
    return truncate_to_ms(value)


def normalize_attributes(
    namespace_id: str,
    registered: Mapping[str, SearchAttributeType],
    values: Mapping[str, object],
) -> dict[str, AttributeValue | None]:
    """``values`` checked against ``registered`` (``None`` removes an attribute; an empty
    KeywordList is the same as removing it)."""
    normalized: dict[str, AttributeValue | None] = {}
    for name, value in values.items():
        type_ = registered.get(name)
        if type_ is None:
            raise InvalidRequest(
                f"search attribute {name!r} is not registered in namespace {namespace_id}"
            )
        if value is None:
            normalized[name] = None
            continue
        checked = _normalize(name, type_, value)
        normalized[name] = None if checked == () else checked
    return normalized
