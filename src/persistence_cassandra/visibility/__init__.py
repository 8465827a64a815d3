"""Visibility: listing, filtering and counting executions, independent of any backend.

* :mod:`.records`: the records and attribute types;
* :mod:`.parser`: the query language (a subset of Temporal's list filter) into
* :mod:`.tree`: one typed query tree, which every backend compiles;
* :mod:`.evaluator`: the in-memory reference evaluator that defines the answers;
* :mod:`.paging`: the listing order and its keyset page tokens.
"""

from __future__ import annotations

from persistence_cassandra.visibility.parser import QueryError, parse_query
from persistence_cassandra.visibility.records import (
    AttributeValue,
    ExecutionStatus,
    SearchAttributeType,
    VisibilityRecord,
    VisibilityStart,
)

__all__ = [
    "AttributeValue",
    "ExecutionStatus",
    "QueryError",
    "SearchAttributeType",
    "VisibilityRecord",
    "VisibilityStart",
    "parse_query",
]
