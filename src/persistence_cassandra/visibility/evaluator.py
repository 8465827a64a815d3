"""The in-memory reference evaluator: what every backend's answers must equal.

Backends use it too, for the part of a query their indexes cannot serve (Cassandra evaluates
residual predicates on the rows an index returned), so "the same answers everywhere" has one
definition.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from persistence_cassandra.records import to_epoch_ms
from persistence_cassandra.visibility.paging import SortKey, after_cursor, sort_key
from persistence_cassandra.visibility.records import AttributeValue, VisibilityRecord
from persistence_cassandra.visibility.tree import (
    And,
    Attribute,
    AttributeKind,
    Between,
    Compare,
    Expr,
    In,
    IsNull,
    Literal,
    Or,
    Query,
    StartsWith,
)

__all__ = ["matches", "reference_count", "reference_page"]

Comparable = str | int | float | bool


def _values(attribute: Attribute, record: VisibilityRecord) -> list[Comparable]:
    """The attribute's values on ``record`` (a KeywordList has several, a missing one none)."""
    raw: object
    if attribute.kind is AttributeKind.SYSTEM:
        raw = getattr(record, attribute.field)
    else:
        raw = record.search_attributes.get(attribute.name)
    if raw is None:
        return []
    if isinstance(raw, tuple):
        return [_comparable(value) for value in raw]
    return [_comparable(raw)]  # type: ignore[arg-type]


def _comparable(value: AttributeValue | Literal) -> Comparable:
    """Datetimes compare as epoch milliseconds, statuses as their numbers."""
    if isinstance(value, datetime):
        return to_epoch_ms(value)
    if isinstance(value, tuple):  # pragma: no cover - lists are split by _values
        raise TypeError("a list is not a single value")
    return value


def _compare(left: Comparable, operator: str, right: Comparable) -> bool:
    if operator == "=":
        return left == right
    if operator == "!=":
        return left != right
    if operator == "<":
        return left < right  # type: ignore[operator]
    if operator == "<=":
        return left <= right  # type: ignore[operator]
    if operator == ">":
        return left > right  # type: ignore[operator]
    return left >= right  # type: ignore[operator]


def matches(expr: Expr | None, record: VisibilityRecord) -> bool:
    """Whether ``record`` satisfies ``expr`` (``None`` matches everything)."""
    if expr is None:
        return True
    if isinstance(expr, And):
        return all(matches(item, record) for item in expr.items)
    if isinstance(expr, Or):
        return any(matches(item, record) for item in expr.items)
    values = _values(expr.attribute, record)
    if isinstance(expr, IsNull):
        return bool(values) == expr.negated
    if isinstance(expr, Compare):
        right = _comparable(expr.value)
        return any(_compare(value, expr.operator, right) for value in values)
    if isinstance(expr, In):
        wanted = {_comparable(value) for value in expr.values}
        return any(value in wanted for value in values)
    if isinstance(expr, Between):
        low, high = _comparable(expr.low), _comparable(expr.high)
        return any(low <= value <= high for value in values)  # type: ignore[operator]
    assert isinstance(expr, StartsWith)
    return any(isinstance(value, str) and value.startswith(expr.prefix) for value in values)


def reference_page(
    records: Iterable[VisibilityRecord],
    query: Query,
    page_size: int,
    cursor: SortKey | None,
) -> tuple[list[VisibilityRecord], SortKey | None]:
    """One page of ``query`` over ``records`` after ``cursor``, and the next cursor (None at
    the end: a full page always has a cursor, which may lead to an empty page)."""
    chosen = sorted(
        (r for r in records if matches(query.where, r)),
        key=lambda r: sort_key(query.order, r),
        reverse=query.order.descending,
    )
    if cursor is not None:
        chosen = [r for r in chosen if after_cursor(query.order, sort_key(query.order, r), cursor)]
    page = chosen[:page_size]
    next_cursor = sort_key(query.order, page[-1]) if len(page) == page_size else None
    return page, next_cursor


def reference_count(records: Iterable[VisibilityRecord], query: Query) -> int:
    return sum(1 for record in records if matches(query.where, record))
