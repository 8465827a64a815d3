"""The typed query tree: what a parsed visibility query means, before any backend sees it.

Every backend compiles this tree (never the query text), and the in-memory reference
evaluator (:mod:`.evaluator`) defines its answers. Literals are already coerced to the
attribute's type: str, int, float, bool, datetime, or an :class:`ExecutionStatus`.

Semantics every backend keeps: a predicate on an attribute an execution does not have (a
custom attribute never set, ``CloseTime`` of a running execution) is false, ``!=``
included; ``IS NULL`` is true exactly then. On a KeywordList, ``=`` and ``IN`` mean "holds
one of these values".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from persistence_cassandra.visibility.records import ExecutionStatus, SearchAttributeType

__all__ = [
    "And",
    "Attribute",
    "AttributeKind",
    "Between",
    "Compare",
    "Expr",
    "In",
    "IsNull",
    "Literal",
    "Or",
    "OrderBy",
    "OrderField",
    "Query",
    "StartsWith",
]

Literal = str | int | float | bool | datetime | ExecutionStatus


class AttributeKind(enum.Enum):
    """How an attribute is stored: a system column or a registered custom attribute."""

    SYSTEM = "system"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    """As the query names it (``WorkflowType``, ``CustomerId``)."""
    type: SearchAttributeType
    kind: AttributeKind
    field: str = ""
    """For system attributes, the :class:`VisibilityRecord` field that holds the value."""
    is_status: bool = False
    """``ExecutionStatus``: compared by status name, only ``=``, ``!=`` and ``IN``."""


@dataclass(frozen=True, slots=True)
class Compare:
    attribute: Attribute
    operator: str
    """One of ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``."""
    value: Literal


@dataclass(frozen=True, slots=True)
class In:
    attribute: Attribute
    values: tuple[Literal, ...]


@dataclass(frozen=True, slots=True)
class Between:
    attribute: Attribute
    low: Literal
    high: Literal
    """Both bounds are inclusive."""


@dataclass(frozen=True, slots=True)
class StartsWith:
    attribute: Attribute
    prefix: str


@dataclass(frozen=True, slots=True)
class IsNull:
    attribute: Attribute
    negated: bool = False
    """``IS NOT NULL``."""


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]


Expr = Compare | In | Between | StartsWith | IsNull | And | Or


class OrderField(enum.Enum):
    START_TIME = "StartTime"
    CLOSE_TIME = "CloseTime"


@dataclass(frozen=True, slots=True)
class OrderBy:
    field: OrderField = OrderField.START_TIME
    descending: bool = True


@dataclass(frozen=True, slots=True)
class Query:
    where: Expr | None = None
    """``None``: every execution of the namespace."""
    order: OrderBy = OrderBy()
