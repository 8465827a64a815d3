"""The order of a visibility listing and its page tokens.

Pages are keyset pages: a token holds the sort key of the last execution returned, and the
next page is every match strictly after it in the listing's order. Executions that arrive
(or close) meanwhile therefore never shift a page boundary: a new execution lands before the
cursor or after it, and is seen or not, but nothing is returned twice or skipped.

The order is total: ``StartTime`` then ``RunId`` (both descending for ``DESC``); for
``CloseTime``, a running execution (no close time) sorts as if it closed at the end of time.
"""

from __future__ import annotations

import base64
import binascii
import json

from persistence_cassandra.errors import InvalidRequest
from persistence_cassandra.records import to_epoch_ms
from persistence_cassandra.visibility.records import VisibilityRecord
from persistence_cassandra.visibility.tree import OrderBy, OrderField

__all__ = [
    "OPEN_CLOSE_KEY",
    "SortKey",
    "after_cursor",
    "decode_token",
    "encode_token",
    "sort_key",
    "sort_key_of",
]

SortKey = tuple[int, ...] | tuple[int, int, str] | tuple[int, str]
OPEN_CLOSE_KEY = 2**62
"""The close-time sort key of a running execution."""


def sort_key_of(order: OrderBy, start_ms: int, close_ms: int | None, run_id: str) -> SortKey:
    if order.field is OrderField.START_TIME:
        return (start_ms, run_id)
    return (OPEN_CLOSE_KEY if close_ms is None else close_ms, start_ms, run_id)


def sort_key(order: OrderBy, record: VisibilityRecord) -> SortKey:
    close_ms = None if record.close_time is None else to_epoch_ms(record.close_time)
    return sort_key_of(order, to_epoch_ms(record.start_time), close_ms, record.run_id)


def after_cursor(order: OrderBy, key: SortKey, cursor: SortKey) -> bool:
    """Whether ``key`` comes strictly after ``cursor`` in the listing's order."""
    return key < cursor if order.descending else key > cursor


def _order_name(order: OrderBy) -> str:
    return f"{order.field.value}:{'desc' if order.descending else 'asc'}"


def encode_token(order: OrderBy, cursor: SortKey | None) -> bytes:
    if cursor is None:
        return b""
    document = {"order": _order_name(order), "after": list(cursor)}
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode())


def decode_token(order: OrderBy, token: bytes) -> SortKey | None:
    """The cursor in ``token`` (None for the first page); InvalidRequest for a token that is
    not ours or belongs to a listing in another order."""
    if not token:
        return None
    try:
        document = json.loads(base64.urlsafe_b64decode(token))
        after = document["after"]
        same_order = document["order"] == _order_name(order)
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidRequest("malformed visibility page token") from None
    if not same_order:
        raise InvalidRequest("the page token belongs to a listing in another order")
    expected = 2 if order.field is OrderField.START_TIME else 3
    if not isinstance(after, list) or len(after) != expected:
        raise InvalidRequest("malformed visibility page token")
    *numbers, run_id = after
    if not all(isinstance(n, int) for n in numbers) or not isinstance(run_id, str):
        raise InvalidRequest("malformed visibility page token")
    return (*numbers, run_id)
