"""Requests sent straight to the loop-served connection (``direct_requests``).

On a real node: statements and batches go direct (the driver's ``execute_async`` is not
called), and a statement the node has forgotten (a table altered under it) is handed back to
the driver's path, which prepares it again; nothing ran, so that holds for writes too.

With a fake pool and connection (the decisions are pure logic, and a broken connection or a
read timeout cannot be provoked on demand on one shared node): which answers complete the
request and which hand it back, that the stream always returns to its pool exactly once, that a
timed-out stream is orphaned until its late answer, and that an answer from another thread
completes on the loop.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from cassandra import ConsistencyLevel, OperationTimedOut, WriteTimeout, WriteType
from cassandra.cluster import Session
from cassandra.connection import ConnectionException, ConnectionShutdown
from cassandra.protocol import (
    InvalidRequestException,
    PreparedQueryNotFound,
    ReadTimeoutErrorMessage,
    ResultMessage,
    WriteTimeoutErrorMessage,
)
from cassandra.query import tuple_factory
from cassandra_test_support import Endpoint, open_session

from persistence_cassandra.backends.cassandra.direct_requests import (
    HANDED_BACK,
    DirectProfile,
    _Request,
)
from persistence_cassandra.backends.cassandra.history_store import INSERT_NODE, READ_NODES

# --- on a real node ---------------------------------------------------------------------------


def _counting_execute_async(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []
    real = Session.execute_async

    def counting(self: Session, query: object, *args: Any, **kwargs: Any) -> Any:
        calls.append(query)
        return real(self, query, *args, **kwargs)

    monkeypatch.setattr(Session, "execute_async", counting)
    return calls


async def test_statements_and_batches_do_not_go_through_execute_async(
    cassandra_endpoint: Endpoint, keyspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await open_session(cassandra_endpoint, keyspace)
    try:
        tree = f"direct-{uuid.uuid4()}"
        await session.prepare(INSERT_NODE)
        await session.prepare(READ_NODES)
        calls = _counting_execute_async(monkeypatch)
        await session.write(INSERT_NODE, (tree, "b", 1, 1, 0, b"one", "proto3"))
        await session.write_batch(
            [(INSERT_NODE, (tree, "b", node, 1, 0, b"n", "proto3")) for node in (2, 3)]
        )
        page = await session.read_tuples(READ_NODES, (tree, "b", 1, 10))
        assert [row[0] for row in page.rows] == [1, 2, 3]
        assert calls == []
    finally:
        await session.close()


async def test_a_statement_the_node_forgot_is_prepared_again_by_the_driver(
    cassandra_endpoint: Endpoint, keyspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await open_session(cassandra_endpoint, keyspace)
    table = f"direct_{uuid.uuid4().hex[:8]}"
    insert = f"INSERT INTO {table} (id, value) VALUES (?, ?)"
    select = f"SELECT id, value FROM {table} WHERE id = ?"
    try:
        await session.execute_schema(f"CREATE TABLE {table} (id int PRIMARY KEY, value text)")
        await session.write(insert, (1, "before"))
        assert (await session.read(select, (1,))).rows == [{"id": 1, "value": "before"}]
        # Altering a table drops the node's prepared statements on it: the next EXECUTE of
        # either is answered UNPREPARED, which ran nothing.
        await session.execute_schema(f"ALTER TABLE {table} ADD extra text")
        calls = _counting_execute_async(monkeypatch)
        await session.write(insert, (2, "after"))
        assert len(calls) == 1, "the write was not handed back to the driver's path"
        rows = (await session.read(select, (2,))).rows
        assert rows == [{"id": 2, "value": "after"}]
        assert len(calls) == 2, "the read was not handed back to the driver's path"
        # Prepared again by the driver: direct from now on.
        await session.write(insert, (3, "later"))
        assert len(calls) == 2
    finally:
        await session.execute_schema(f"DROP TABLE IF EXISTS {table}")
        await session.close()


# --- the decisions, with a fake pool and connection -------------------------------------------


class _FakeHost:
    endpoint = "127.0.0.1:9042"


class _FakeConnection:
    orphaned_threshold = 3

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.orphaned_request_ids: set[int] = set()
        self.orphaned_threshold_reached = False
        self._requests: dict[int, object] = {}
        self.defunct_with: list[BaseException] = []

    def defunct(self, error: BaseException) -> None:
        self.defunct_with.append(error)


class _FakePool:
    is_shutdown = False

    def __init__(self) -> None:
        self.returned: list[bool] = []

    def return_connection(self, connection: object, stream_was_orphaned: bool = False) -> None:
        self.returned.append(stream_was_orphaned)


def _profile(*, is_write: bool) -> DirectProfile:
    return DirectProfile(
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
        timeout=10.0,
        row_factory=tuple_factory,
        make_query_plan=lambda keyspace, statement: [],
        is_write=is_write,
    )


def _request(*, is_write: bool) -> tuple[_Request, _FakePool, _FakeConnection]:
    loop = asyncio.get_running_loop()
    pool, connection = _FakePool(), _FakeConnection()
    request = _Request(
        loop,
        loop.create_future(),
        _profile(is_write=is_write),
        _FakeHost(),
        pool,
        connection,
        7,
        None,
    )
    connection._requests[7] = request
    request.timer = loop.call_later(10.0, request.on_timeout)
    return request, pool, connection


def _rows() -> ResultMessage:
    message = ResultMessage(kind=0x0002)
    message.column_names = ["a", "b"]
    message.parsed_rows = [(1, "x")]
    message.paging_state = b"next"
    return message


def _read_timeout() -> ReadTimeoutErrorMessage:
    info = {"consistency": 6, "required_responses": 2, "received_responses": 1}
    return ReadTimeoutErrorMessage(0x1200, "read timeout", dict(info, data_retrieved=False))


def _write_timeout() -> WriteTimeoutErrorMessage:
    info = {"consistency": 6, "required_responses": 2, "received_responses": 0}
    return WriteTimeoutErrorMessage(0x1100, "write timeout", dict(info, write_type=WriteType.CAS))


@pytest.mark.parametrize("is_write", [False, True])
async def test_rows_complete_the_request_and_return_the_stream(is_write: bool) -> None:
    request, pool, _ = _request(is_write=is_write)
    request(_rows())
    assert await request.waiter == ([(1, "x")], b"next")
    assert pool.returned == [False]
    assert request.timer is None


@pytest.mark.parametrize(
    ("is_write", "answer", "handed_back"),
    [
        (False, lambda: PreparedQueryNotFound(0x2500, "unprepared", b"id"), True),
        (True, lambda: PreparedQueryNotFound(0x2500, "unprepared", b"id"), True),
        (False, _read_timeout, True),
        (False, lambda: ConnectionException("reset"), True),
        (False, lambda: InvalidRequestException(0x2200, "bad", None), False),
        (True, lambda: InvalidRequestException(0x2200, "bad", None), False),
        (True, _write_timeout, False),
        (True, lambda: ConnectionException("reset"), False),
    ],
    ids=[
        "read-unprepared",
        "write-unprepared",
        "read-timeout",
        "read-broken-connection",
        "read-invalid",
        "write-invalid",
        "write-timeout",
        "write-broken-connection",
    ],
)
async def test_which_answers_go_back_to_the_drivers_path(
    is_write: bool, answer: Any, handed_back: bool
) -> None:
    request, pool, _ = _request(is_write=is_write)
    request(answer())
    if handed_back:
        assert await request.waiter is HANDED_BACK
    else:
        with pytest.raises(Exception) as caught:
            await request.waiter
        assert not isinstance(caught.value, (PreparedQueryNotFound, ReadTimeoutErrorMessage))
    assert pool.returned == [False]


async def test_a_write_timeout_is_the_drivers_exception_and_a_broken_connection_is_defunct() -> (
    None
):
    request, _, _ = _request(is_write=True)
    request(_write_timeout())
    with pytest.raises(WriteTimeout):
        await request.waiter
    request, _, connection = _request(is_write=True)
    reset = ConnectionException("reset")
    request(reset)
    with pytest.raises(ConnectionException):
        await request.waiter
    assert connection.defunct_with == [reset]
    request, _, connection = _request(is_write=True)
    request(ConnectionShutdown("closed"))
    with pytest.raises(ConnectionShutdown):
        await request.waiter
    assert connection.defunct_with == []  # already closed: nothing to mark


async def test_a_timeout_orphans_the_stream_and_the_late_answer_changes_nothing() -> None:
    request, pool, connection = _request(is_write=True)
    request.on_timeout()
    with pytest.raises(OperationTimedOut):
        await request.waiter
    assert connection.orphaned_request_ids == {7}
    assert 7 not in connection._requests
    assert pool.returned == [True]  # returned as orphaned: its stream id stays out of use


async def test_a_timeout_after_the_connection_failed_the_request_returns_the_stream_once() -> None:
    # The connection already took the request off its table (failing it from another thread):
    # the timer must not orphan a stream it no longer owns, and the failure, when it arrives,
    # returns the stream; the waiter keeps the timeout.
    request, pool, connection = _request(is_write=True)
    del connection._requests[7]
    request.on_timeout()
    assert connection.orphaned_request_ids == set()
    request(ConnectionShutdown("closed"))
    with pytest.raises(OperationTimedOut):
        await request.waiter
    assert pool.returned == [False]


async def test_an_answer_from_another_thread_completes_on_the_loop() -> None:
    request, pool, _ = _request(is_write=False)
    completed_on: list[int] = []
    request.waiter.add_done_callback(lambda _: completed_on.append(threading.get_ident()))
    thread = threading.Thread(target=request, args=(_rows(),))
    thread.start()
    thread.join()
    assert await request.waiter == ([(1, "x")], b"next")
    await asyncio.sleep(0)
    assert completed_on == [threading.get_ident()]
    assert pool.returned == [False]


async def test_an_answer_that_fails_to_translate_still_completes_the_request() -> None:
    request, pool, _ = _request(is_write=True)
    info = {"consistency": 6, "required_responses": 2, "received_responses": 0}
    request(WriteTimeoutErrorMessage(0x1100, "odd", dict(info, write_type="not a type")))
    with pytest.raises(KeyError):
        await request.waiter
    assert pool.returned == [False]


async def test_a_cancelled_request_still_returns_its_stream() -> None:
    request, pool, _ = _request(is_write=False)
    request.waiter.cancel()
    request(_rows())
    assert pool.returned == [False]
