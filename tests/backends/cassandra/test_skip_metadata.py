"""Rows responses without their result metadata (``execute_message``, protocol v5).

The body: byte for byte the driver's ``ExecuteMessage`` but for the ``Skip_metadata`` flag,
for every combination of the optional parts. On a real node: a direct read's response comes
without metadata and still decodes; after the table is altered and another client prepared the
statement again, the stale client is sent the new metadata once (``Metadata_changed``), keeps
it, and its next response skips it again with the new column decoded.
"""

from __future__ import annotations

import io
import itertools
import uuid
from typing import Any

import pytest
from cassandra import ConsistencyLevel, ProtocolVersion
from cassandra.protocol import ExecuteMessage, ResultMessage
from cassandra.query import UNSET_VALUE
from cassandra_test_support import Endpoint, open_session

from persistence_cassandra.backends.cassandra import direct_requests
from persistence_cassandra.backends.cassandra.execute_message import (
    ExecuteSkippingMetadata,
    skips_metadata,
)

_FLAGS_OFFSET = 2 + 16 + 2 + 16 + 2  # query id, metadata id (16 bytes each), consistency
_SKIP_METADATA = 0x02


def _body(message: ExecuteMessage) -> bytes:
    buffer = io.BytesIO()
    message.send_body(buffer, ProtocolVersion.V5)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("values", "fetch_size", "paging_state", "serial", "timestamp"),
    list(
        itertools.product(
            [None, [], [b"a", None, UNSET_VALUE, b"", b"x" * 70000]],
            [None, 5000],
            [None, b"page-state"],
            [None, ConsistencyLevel.LOCAL_SERIAL],
            [None, 1_733_000_000_000_000],
        )
    ),
)
def test_the_body_is_the_drivers_with_the_skip_metadata_flag(
    values: list[Any] | None,
    fetch_size: int | None,
    paging_state: bytes | None,
    serial: int | None,
    timestamp: int | None,
) -> None:
    arguments = (b"q" * 16, values, ConsistencyLevel.LOCAL_QUORUM, serial, fetch_size)
    keywords: dict[str, Any] = {
        "paging_state": paging_state,
        "timestamp": timestamp,
        "skip_meta": True,
        "result_metadata_id": b"m" * 16,
    }
    ours = _body(ExecuteSkippingMetadata(*arguments, **keywords))
    drivers = _body(ExecuteMessage(*arguments, **keywords))
    assert len(ours) == len(drivers)
    flags = int.from_bytes(ours[_FLAGS_OFFSET : _FLAGS_OFFSET + 4], "big")
    drivers_flags = int.from_bytes(drivers[_FLAGS_OFFSET : _FLAGS_OFFSET + 4], "big")
    assert flags == drivers_flags | _SKIP_METADATA
    assert drivers_flags & _SKIP_METADATA == 0, "the driver writes the flag now: drop ours"
    cut = slice(_FLAGS_OFFSET, _FLAGS_OFFSET + 4)
    assert ours[: cut.start] + ours[cut.stop :] == drivers[: cut.start] + drivers[cut.stop :]


def test_only_protocol_versions_that_name_the_metadata_skip_it() -> None:
    assert skips_metadata(ProtocolVersion.V5)
    assert not skips_metadata(ProtocolVersion.V4)
    assert not skips_metadata(ProtocolVersion.V3)


# --- on a real node ---------------------------------------------------------------------------


def _spy_on_responses(monkeypatch: pytest.MonkeyPatch) -> list[ResultMessage]:
    """Every response a direct request answers, as decoded."""
    responses: list[ResultMessage] = []
    real = direct_requests._Request._answer

    def spying(request: direct_requests._Request, waiter: Any, response: Any) -> None:
        if isinstance(response, ResultMessage):
            responses.append(response)
        real(request, waiter, response)

    monkeypatch.setattr(direct_requests._Request, "_answer", spying)
    return responses


async def test_a_read_comes_back_without_metadata_and_a_changed_table_sends_it_once(
    cassandra_endpoint: Endpoint, keyspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = await open_session(cassandra_endpoint, keyspace)
    other = await open_session(cassandra_endpoint, keyspace)
    table = f"skip_meta_{uuid.uuid4().hex[:8]}"
    select = f"SELECT * FROM {table} WHERE id = ?"
    try:
        assert stale.protocol_version == ProtocolVersion.V5
        await stale.execute_schema(
            f"CREATE TABLE {table} (id int PRIMARY KEY, tags map<text, frozen<list<int>>>)"
        )
        await stale.write(f"INSERT INTO {table} (id, tags) VALUES (?, ?)", (1, {"a": [1, 2]}))
        responses = _spy_on_responses(monkeypatch)
        assert (await stale.read(select, (1,))).rows == [{"id": 1, "tags": {"a": [1, 2]}}]
        assert responses[-1].column_metadata is None, "the node sent the metadata"

        # Another client alters the table and prepares the statement again: the node now
        # holds other result metadata under the same statement id than the stale client.
        await other.execute_schema(f"ALTER TABLE {table} ADD extra text")
        await other.write(f"UPDATE {table} SET extra = ? WHERE id = ?", ("new", 1))
        assert (await other.read(select, (1,))).rows[0]["extra"] == "new"

        before = len(responses)
        expected = [{"id": 1, "extra": "new", "tags": {"a": [1, 2]}}]
        assert (await stale.read(select, (1,))).rows == expected
        changed = responses[before]
        assert changed.column_metadata is not None, "Metadata_changed carries the columns"
        assert (await stale.read(select, (1,))).rows == expected
        assert responses[-1].column_metadata is None, "the new metadata was not kept"
    finally:
        await stale.execute_schema(f"DROP TABLE IF EXISTS {table}")
        await other.close()
        await stale.close()
