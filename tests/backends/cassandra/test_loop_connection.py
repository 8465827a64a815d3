"""The loop-served connection (``cassandra.ioLoop``) on a real node.

Requests complete on the event loop with no thread hand-over; a write bigger than the socket
buffers goes out in pieces as the socket drains; a session closed under requests in flight
fails them instead of leaving them hanging; a session used from a loop other than the one
serving it, once that loop is gone, says so instead of hanging. ``ioLoop: driver`` keeps the
driver's own I/O thread.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from cassandra_test_support import Endpoint, make_config

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra import direct_requests
from persistence_cassandra.backends.cassandra.history_store import INSERT_NODE, READ_NODES
from persistence_cassandra.backends.cassandra.loop_connection import LoopConnection
from persistence_cassandra.backends.cassandra.session import CassandraSession
from persistence_cassandra.config import CassandraConfig


def _config(endpoint: Endpoint, keyspace: str, **settings: Any) -> CassandraConfig:
    config = make_config(endpoint, keyspace, **settings).cassandra
    assert config is not None
    return config


async def _open(endpoint: Endpoint, keyspace: str, **settings: Any) -> CassandraSession:
    session = await CassandraSession.connect(_config(endpoint, keyspace, **settings))
    await session.use_keyspace(keyspace)
    return session


def _node(size: int = 16) -> tuple[object, ...]:
    return (f"loop-{uuid.uuid4()}", str(uuid.uuid4()), 1, 1, 0, b"e" * size, "proto3")


async def _data_read_back(session: CassandraSession, node: tuple[object, ...]) -> list[object]:
    """The ``data`` of the history nodes at ``node``'s branch, as a read returns them."""
    page = await session.read_tuples(READ_NODES, (node[0], node[1], 1, 10))
    return [row[3] for row in page.rows]


async def test_responses_complete_on_the_loop_thread_without_a_hand_over(
    cassandra_endpoint: Endpoint, keyspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await _open(cassandra_endpoint, keyspace)
    try:
        assert issubclass(session._cluster.connection_class, LoopConnection)
        threads: list[int] = []
        answer = direct_requests._Request.__call__

        def recording(request: direct_requests._Request, response: Any) -> None:
            threads.append(threading.get_ident())
            answer(request, response)

        monkeypatch.setattr(direct_requests._Request, "__call__", recording)
        node = _node()
        await session.write(INSERT_NODE, node)
        page = await session.read_tuples(READ_NODES, (node[0], node[1], 1, 10))
        assert len(page.rows) == 1
        assert threads == [threading.get_ident()] * 2
    finally:
        await session.close()


async def test_the_driver_thread_is_kept_with_io_loop_driver(
    cassandra_endpoint: Endpoint, keyspace: str
) -> None:
    session = await _open(cassandra_endpoint, keyspace, ioLoop="driver")
    try:
        assert not issubclass(session._cluster.connection_class, LoopConnection)
        node = _node()
        await session.write(INSERT_NODE, node)
        assert await _data_read_back(session, node) == [node[5]]
    finally:
        await session.close()


async def test_writes_larger_than_the_socket_buffers_drain_in_pieces(
    cassandra_endpoint: Endpoint, keyspace: str
) -> None:
    # Four 6 MB requests at once: far more than a loopback socket takes in one send, so the
    # connection keeps the rest and sends it as the socket becomes writable again.
    session = await _open(cassandra_endpoint, keyspace)
    try:
        nodes = [_node(6 * 1024 * 1024) for _ in range(4)]
        await asyncio.gather(*(session.write(INSERT_NODE, node) for node in nodes))
        for node in nodes:
            assert await _data_read_back(session, node) == [node[5]]
    finally:
        await session.close()


async def test_closing_under_requests_in_flight_fails_them_instead_of_hanging(
    cassandra_endpoint: Endpoint, keyspace: str
) -> None:
    session = await _open(cassandra_endpoint, keyspace)
    node = _node()
    await session.write(INSERT_NODE, node)
    await session.read_tuples(READ_NODES, (node[0], node[1], 1, 10))  # prepared: no waits
    reads = [
        asyncio.ensure_future(session.read_tuples(READ_NODES, (node[0], node[1], 1, 10)))
        for _ in range(200)
    ]
    await asyncio.sleep(0)  # sent, most of them not answered yet
    await session.close()
    done, pending = await asyncio.wait(reads, timeout=10)
    assert not pending, f"{len(pending)} of 200 requests still hang after the close"
    for read in done:
        if read.exception() is None:
            assert len(read.result().rows) == 1
        else:
            assert isinstance(read.exception(), errors.PersistenceError)


async def test_a_session_whose_loop_is_gone_says_so_instead_of_hanging(
    cassandra_endpoint: Endpoint, keyspace: str
) -> None:
    opened: list[CassandraSession] = []

    def open_on_a_loop_of_its_own() -> None:
        opened.append(asyncio.run(_open(cassandra_endpoint, keyspace)))

    thread = threading.Thread(target=open_on_a_loop_of_its_own)
    thread.start()
    thread.join()
    session = opened[0]
    try:
        with pytest.raises(errors.InvalidRequest, match="ioLoop"):
            await session.read_tuples(READ_NODES, ("t", "b", 1, 10))
    finally:
        await asyncio.to_thread(session._cluster.shutdown)


async def test_a_session_is_served_by_its_own_loop_while_another_loop_uses_it(
    cassandra_endpoint: Endpoint, keyspace: str
) -> None:
    # Opened (and served) on a loop in another thread, used from this one: the responses
    # cross over to this loop through call_soon_threadsafe.
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        state["session"] = await _open(cassandra_endpoint, keyspace)
        state["loop"], state["stop"] = asyncio.get_running_loop(), stop
        ready.set()
        await stop.wait()
        await state["session"].close()

    thread = threading.Thread(target=lambda: asyncio.run(serve()))
    thread.start()
    assert await asyncio.to_thread(ready.wait, 30)
    try:
        session: CassandraSession = state["session"]
        node = _node()
        await session.write(INSERT_NODE, node)
        assert await _data_read_back(session, node) == [node[5]]
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        await asyncio.to_thread(thread.join)
