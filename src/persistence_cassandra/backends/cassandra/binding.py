"""Binding values to prepared statements, without the driver's per-value bookkeeping.

``PreparedStatement.bind`` builds a column-encryption key (a named tuple) for every value it
serializes and asks the encryption policy about it, even when there is no policy: on the
bench's lifecycle that was a tenth of the client CPU of a request. :func:`bind` serializes
each value with the column's type directly, through serializers looked up once per prepared
statement, and otherwise keeps the driver's rules: ``None`` is null, ``UNSET_VALUE`` (and
every value left off the end) is unset, an unset routing-key column is an error. Statements of
a session with a column-encryption policy go through the driver's own ``bind``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from cassandra.query import UNSET_VALUE, BoundStatement, PreparedStatement

__all__ = ["bind"]

Serializer = Callable[[Any, int], bytes]

_SERIALIZERS = "_pc_serializers"
"""The attribute caching a prepared statement's serializers (one per bind marker)."""


def _serializers(prepared: PreparedStatement) -> tuple[Serializer, ...] | None:
    cached: tuple[Serializer, ...] | None = prepared.__dict__.get(_SERIALIZERS)
    if cached is None and prepared.column_encryption_policy is None:
        cached = tuple(column.type.serialize for column in prepared.column_metadata)
        setattr(prepared, _SERIALIZERS, cached)
    return cached


def bind(prepared: PreparedStatement, values: Sequence[object]) -> BoundStatement:
    """``prepared`` bound to ``values`` (positional, at most one per marker).

    Raises ``ValueError`` for too many values or an unset routing-key column and
    ``TypeError`` for a value its column's type cannot serialize, as the driver does.
    """
    serializers = _serializers(prepared)
    if serializers is None:
        bound: BoundStatement = prepared.bind(values)
        return bound
    if len(values) > len(serializers):
        raise ValueError(
            f"Too many arguments provided to bind() (got {len(values)}, "
            f"expected {len(serializers)})"
        )
    protocol = prepared.protocol_version
    encoded: list[object] = []
    for index, value in enumerate(values):
        if value is None:
            encoded.append(None)
        elif value is UNSET_VALUE:
            encoded.append(_unset(prepared, index))
        else:
            try:
                encoded.append(serializers[index](value, protocol))
            except (TypeError, struct.error) as exc:
                column = prepared.column_metadata[index]
                raise TypeError(
                    f'Received an argument of invalid type for column "{column.name}". '
                    f"Expected: {column.type}, Got: {type(value)}; ({exc})"
                ) from exc
    for index in range(len(values), len(serializers)):
        encoded.append(_unset(prepared, index))
    statement = BoundStatement(prepared)
    statement.raw_values = values
    statement.values = encoded
    return statement


def _unset(prepared: PreparedStatement, index: int) -> object:
    if prepared.is_routing_key_index(index):
        name = prepared.column_metadata[index].name
        raise ValueError(f"Cannot bind UNSET_VALUE as a part of the routing key '{name}'")
    return UNSET_VALUE
