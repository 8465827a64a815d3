"""The visibility query tree compiled to parameterised SQL (SQLite and PostgreSQL alike).

Every literal becomes a ``?`` parameter; the only text the compiler writes comes from its own
tables of column names and operators, never from the query. Custom attributes are rows of
``visibility_attributes``, so a predicate on one is an ``EXISTS`` over that attribute's rows
(``IS NULL`` a ``NOT EXISTS``): a missing attribute makes every comparison false, which is the
reference semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from persistence_cassandra.records import to_epoch_ms
from persistence_cassandra.visibility.paging import OPEN_CLOSE_KEY, SortKey
from persistence_cassandra.visibility.records import SearchAttributeType
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
    OrderBy,
    OrderField,
    StartsWith,
)

__all__ = ["SqlFragment", "compile_keyset", "compile_order", "compile_where", "sql_value"]

_SYSTEM_COLUMNS = {
    "workflow_id": "v.workflow_id",
    "run_id": "v.run_id",
    "workflow_type": "v.workflow_type",
    "task_queue": "v.task_queue",
    "status": "v.status",
    "start_time": "v.start_time",
    "execution_time": "v.execution_time",
    "close_time": "v.close_time",
    "history_length": "v.history_length",
    "history_size_bytes": "v.history_size_bytes",
}
_OPERATORS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_VALUE_COLUMNS = {
    SearchAttributeType.KEYWORD: "a.keyword_value",
    SearchAttributeType.KEYWORD_LIST: "a.keyword_value",
    SearchAttributeType.TEXT: "a.keyword_value",
    SearchAttributeType.INT: "a.int_value",
    SearchAttributeType.BOOL: "a.int_value",
    SearchAttributeType.DATETIME: "a.int_value",
    SearchAttributeType.DOUBLE: "a.double_value",
}
_ATTRIBUTE_ROWS = (
    "SELECT 1 FROM visibility_attributes a WHERE a.namespace_id = v.namespace_id "
    "AND a.run_id = v.run_id AND a.name = ?"
)
_CLOSE_KEY = "COALESCE(v.close_time, ?)"


@dataclass(frozen=True, slots=True)
class SqlFragment:
    sql: str
    params: tuple[object, ...]


def sql_value(value: Literal) -> object:
    """A literal as the database stores it: times in ms, booleans and statuses as integers."""
    if isinstance(value, datetime):
        return to_epoch_ms(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return int(value)  # an ExecutionStatus is sent as its number
    return value


def _leaf(column: str, expr: Expr) -> SqlFragment:
    if isinstance(expr, Compare):
        return SqlFragment(f"{column} {_OPERATORS[expr.operator]} ?", (sql_value(expr.value),))
    if isinstance(expr, In):
        marks = ", ".join("?" for _ in expr.values)
        return SqlFragment(f"{column} IN ({marks})", tuple(sql_value(v) for v in expr.values))
    if isinstance(expr, Between):
        return SqlFragment(f"{column} BETWEEN ? AND ?", (sql_value(expr.low), sql_value(expr.high)))
    assert isinstance(expr, StartsWith)
    return SqlFragment(f"substr({column}, 1, ?) = ?", (len(expr.prefix), expr.prefix))


def _predicate(attribute: Attribute, expr: Expr) -> SqlFragment:
    if attribute.kind is AttributeKind.SYSTEM:
        column = _SYSTEM_COLUMNS[attribute.field]
        if isinstance(expr, IsNull):
            return SqlFragment(f"{column} IS {'NOT ' if expr.negated else ''}NULL", ())
        return _leaf(column, expr)
    if isinstance(expr, IsNull):
        return SqlFragment(
            f"{'' if expr.negated else 'NOT '}EXISTS ({_ATTRIBUTE_ROWS})", (attribute.name,)
        )
    inner = _leaf(_VALUE_COLUMNS[attribute.type], expr)
    return SqlFragment(
        f"EXISTS ({_ATTRIBUTE_ROWS} AND {inner.sql})", (attribute.name, *inner.params)
    )


def compile_where(expr: Expr | None) -> SqlFragment:
    """``expr`` as a boolean SQL expression over ``executions_visibility v``."""
    if expr is None:
        return SqlFragment("1 = 1", ())
    if isinstance(expr, (And, Or)):
        parts = [compile_where(item) for item in expr.items]
        joiner = " AND " if isinstance(expr, And) else " OR "
        return SqlFragment(
            "(" + joiner.join(part.sql for part in parts) + ")",
            tuple(param for part in parts for param in part.params),
        )
    return _predicate(expr.attribute, expr)


def _key_columns(order: OrderBy) -> list[str]:
    if order.field is OrderField.START_TIME:
        return ["v.start_time", "v.run_id"]
    return [_CLOSE_KEY, "v.start_time", "v.run_id"]


def _key_params(order: OrderBy) -> tuple[object, ...]:
    """Parameters the order's columns themselves take (the running close-time key)."""
    return (OPEN_CLOSE_KEY,) if order.field is OrderField.CLOSE_TIME else ()


def compile_order(order: OrderBy) -> SqlFragment:
    direction = " DESC" if order.descending else " ASC"
    return SqlFragment(
        "ORDER BY " + ", ".join(column + direction for column in _key_columns(order)),
        _key_params(order),
    )


def compile_keyset(order: OrderBy, cursor: SortKey) -> SqlFragment:
    """Rows strictly after ``cursor`` in ``order``, as nested comparisons (portable, unlike
    row-value comparison on every SQLite we support)."""
    columns = _key_columns(order)
    strictly = "<" if order.descending else ">"
    sql = ""
    params: list[object] = []
    for index in reversed(range(len(columns))):
        column = columns[index]
        column_params = list(_key_params(order)) if column == _CLOSE_KEY else []
        if not sql:
            sql = f"{column} {strictly} ?"
            params = [*column_params, cursor[index]]
        else:
            sql = f"({column} {strictly} ? OR ({column} = ? AND {sql}))"
            params = [*column_params, cursor[index], *column_params, cursor[index], *params]
    return SqlFragment(sql, tuple(params))
