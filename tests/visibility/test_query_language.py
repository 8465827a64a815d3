"""The query language: what parses into which tree, and how mistakes are reported."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from persistence_cassandra.visibility.attributes import SYSTEM_ATTRIBUTES
from persistence_cassandra.visibility.parser import MAX_IN_VALUES, QueryError, parse_query
from persistence_cassandra.visibility.records import ExecutionStatus, SearchAttributeType
from persistence_cassandra.visibility.tree import (
    And,
    Between,
    Compare,
    In,
    IsNull,
    Or,
    OrderBy,
    OrderField,
    StartsWith,
)

CUSTOM = {"Amount": SearchAttributeType.INT, "Tags": SearchAttributeType.KEYWORD_LIST}
CUSTOM |= {"Urgent": SearchAttributeType.BOOL, "Score": SearchAttributeType.DOUBLE}


def test_precedence_parentheses_and_order() -> None:
    query = parse_query(
        "WorkflowType = 'a' OR (Amount BETWEEN 1 AND 5 AND Tags IN ('x', \"y\")) "
        "order by CloseTime asc",
        CUSTOM,
    )
    assert query.order == OrderBy(OrderField.CLOSE_TIME, descending=False)
    assert isinstance(query.where, Or)
    left, right = query.where.items
    assert left == Compare(SYSTEM_ATTRIBUTES["WorkflowType"], "=", "a")
    assert isinstance(right, And)
    assert isinstance(right.items[0], Between) and isinstance(right.items[1], In)
    assert right.items[1].values == ("x", "y")


def test_literals_are_typed() -> None:
    status = parse_query("ExecutionStatus = 'ContinuedAsNew'", CUSTOM).where
    assert isinstance(status, Compare) and status.value is ExecutionStatus.CONTINUED_AS_NEW
    start = parse_query("StartTime > '2026-01-02T03:04:05.123456+01:00'", CUSTOM).where
    assert isinstance(start, Compare)
    assert start.value == datetime(2026, 1, 2, 2, 4, 5, 123000, tzinfo=UTC)
    score = parse_query("Score >= 1", CUSTOM).where
    assert isinstance(score, Compare) and score.value == 1.0 and isinstance(score.value, float)
    urgent = parse_query("`Urgent` != TRUE", CUSTOM).where
    assert urgent == Compare(urgent.attribute, "!=", True)  # type: ignore[union-attr]
    assert isinstance(parse_query("WorkflowId STARTS_WITH 'it''s'", CUSTOM).where, StartsWith)
    assert parse_query("Tags is not null", CUSTOM).where == IsNull(
        parse_query("Tags IS NULL", CUSTOM).where.attribute,  # type: ignore[union-attr]
        negated=True,
    )
    assert parse_query("", CUSTOM).where is None
    assert parse_query("ORDER BY StartTime ASC", CUSTOM).order.descending is False


@pytest.mark.parametrize(
    ("query", "position", "attribute", "message"),
    [
        ("Colour = 'red'", 1, "Colour", "unknown search attribute"),
        ("Amount = 1.5", 10, "Amount", "expected an integer"),
        ("Amount STARTS_WITH 'a'", 8, "Amount", "STARTS_WITH is not supported on a Int"),
        ("Tags != 'a'", 6, "Tags", "!= is not supported on a KeywordList"),
        ("ExecutionStatus = 'Sleeping'", 19, "ExecutionStatus", "an execution status"),
        ("ExecutionStatus IS NULL", 17, "ExecutionStatus", "IS NULL is not supported"),
        ("StartTime < 'yesterday'", 13, "StartTime", "RFC 3339"),
        ("Urgent = 1", 10, "Urgent", "true or false"),
        ("WorkflowId = 'a' AND", 21, None, "expected a search attribute name"),
        ("WorkflowId = 'a' WorkflowType = 'b'", 18, None, "unexpected 'WorkflowType'"),
        ("WorkflowId = 'unterminated", 14, None, "unterminated string"),
        ("WorkflowId ~ 'a'", 12, None, "unexpected character"),
        ("(WorkflowId = 'a'", 18, None, "expected ')'"),
        ("ORDER BY RunId", 10, "RunId", "ORDER BY takes StartTime or CloseTime"),
        ("Amount BETWEEN 1 5", 18, "Amount", "expected AND"),
        ("WorkflowId", 11, "WorkflowId", "expected an operator"),
    ],
)
def test_errors_name_position_and_attribute(
    query: str, position: int, attribute: str | None, message: str
) -> None:
    with pytest.raises(QueryError) as error:
        parse_query(query, CUSTOM)
    assert (error.value.position, error.value.attribute) == (position, attribute)
    assert message in str(error.value)
    assert f"position {position}" in str(error.value)


def test_in_list_is_bounded() -> None:
    values = ", ".join(str(n) for n in range(MAX_IN_VALUES + 1))
    with pytest.raises(QueryError, match="at most"):
        parse_query(f"Amount IN ({values})", CUSTOM)
