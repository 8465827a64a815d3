"""Keyset paging tokens: the key of the last row returned, as compact JSON.

A token names a position, not an offset, so rows inserted or deleted between two pages never
shift the pages that follow. Callers treat it as opaque bytes; ``b""`` means the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from persistence_cassandra.errors import InvalidRequest

__all__ = ["check_page_size", "decode_token", "encode_token", "split_page"]

R = TypeVar("R")


def encode_token(position: Sequence[Any]) -> bytes:
    return json.dumps(list(position), separators=(",", ":")).encode()


def decode_token(token: bytes, arity: int) -> list[Any] | None:
    """The position in ``token`` (``None`` for the first page); a malformed token is the
    caller's mistake."""
    if not token:
        return None
    try:
        position = json.loads(token)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("invalid next_page_token") from None
    if not isinstance(position, list) or len(position) != arity:
        raise InvalidRequest("invalid next_page_token")
    return position


def check_page_size(page_size: int) -> None:
    if page_size <= 0:
        raise InvalidRequest(f"page_size must be positive (got {page_size})")


def split_page(
    rows: list[R], page_size: int, key: Callable[[R], Sequence[Any]]
) -> tuple[list[R], bytes]:
    """The page and its token, from ``rows`` read with ``LIMIT page_size + 1``: the extra row
    proves more follow, so the last page carries an empty token rather than a token to an
    empty page."""
    if len(rows) > page_size:
        page = rows[:page_size]
        return page, encode_token(key(page[-1]))
    return rows, b""
