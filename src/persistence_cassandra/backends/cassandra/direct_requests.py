"""Requests sent straight to a connection the event loop serves, without ``ResponseFuture``.

``Session.execute_async`` builds, for every request, a ``ResponseFuture`` made to be waited on
from any thread: a ``threading.Event`` (a condition and two locks), a callback lock and lists,
a query-plan iterator, ``partial`` objects for the send and the answer, and the retry,
speculative-execution, paging and tracing machinery around them. On a connection the event
loop serves (``ioLoop: asyncio``) the request is sent, answered and awaited on one thread,
and none of that is used on the common path. :class:`DirectSender` sends a prepared statement
or a batch of them with the driver's own message classes, stream ids, pools and load-balancing
plan, and completes an ``asyncio.Future`` from the response: about a quarter less client CPU
per request (issue 18, ``docs/benchmarks.md``).

What a direct request answers itself, as the driver would have: rows or a void result; a
server error on a write (the write profile never retries); a server error on a read that no
retry changes (an invalid request, say); a client timeout (the stream is orphaned, as the
driver does); a broken connection under a write, whose outcome is unknown.

What it hands back to the driver's path, by returning :data:`HANDED_BACK` (so every retry rule
stays the driver's): a request no host's connection could take (nothing was sent), a statement
the node no longer knows (``UNPREPARED``: nothing ran; the driver prepares it again), and a
read the read profile's retry policy may retry (read timeout, unavailable, overloaded,
bootstrapping, server error, broken connection): reads are idempotent, so sending one again
is always safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cassandra import OperationTimedOut
from cassandra.cluster import ExecutionProfile, Session
from cassandra.connection import ConnectionBusy, ConnectionException, ConnectionShutdown
from cassandra.protocol import (
    BatchMessage,
    ErrorMessage,
    ExecuteMessage,
    IsBootstrappingErrorMessage,
    OverloadedErrorMessage,
    PreparedQueryNotFound,
    ReadTimeoutErrorMessage,
    ResultMessage,
    ServerError,
    UnavailableErrorMessage,
)
from cassandra.query import BatchType, BoundStatement, PreparedStatement

from .execute_message import ExecuteSkippingMetadata, skips_metadata

__all__ = ["HANDED_BACK", "DirectProfile", "DirectSender", "Page"]

Page = tuple[list[Any], bytes | None]
"""The rows of a response (as the profile's row factory made them) and the next page's state."""

HANDED_BACK: Final = object()
"""The answer of a request the driver's own path must send (see the module's docstring)."""

RESULT_KIND_ROWS: Final = 0x0002

_RETRIED_READ_ERRORS = (
    ReadTimeoutErrorMessage,
    UnavailableErrorMessage,
    OverloadedErrorMessage,
    IsBootstrappingErrorMessage,
    ServerError,
)
"""Server errors the read profile's ``RetryPolicy`` may retry: the driver's path decides."""

_NO_ROWS: Final[Page] = ([], None)

_thread_id = threading.get_ident

_BORROW_WITHOUT_WAITING: Final = 0.0
"""``borrow_connection`` waits on a condition for a free stream when its timeout allows:
on the loop that serves the connection that wait could never end early, so never wait."""


@dataclass(frozen=True, slots=True)
class DirectProfile:
    """What a request takes from its execution profile, read once per session."""

    consistency_level: int
    serial_consistency_level: int | None
    timeout: float
    row_factory: Callable[[list[str], list[Any]], list[Any]]
    make_query_plan: Callable[[str | None, Any], Any]
    is_write: bool

    @classmethod
    def of(cls, profile: ExecutionProfile, *, is_write: bool) -> DirectProfile:
        return cls(
            consistency_level=profile.consistency_level,
            serial_consistency_level=profile.serial_consistency_level,
            timeout=profile.request_timeout,
            row_factory=profile.row_factory,
            make_query_plan=profile.load_balancing_policy.make_query_plan,
            is_write=is_write,
        )


class _Request:
    """One request in flight: its stream's callback (``__call__``) and its timer's."""

    __slots__ = (
        "connection",
        "host",
        "loop",
        "pool",
        "prepared",
        "profile",
        "request_id",
        "thread",
        "timer",
        "waiter",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        waiter: asyncio.Future[Any],
        profile: DirectProfile,
        host: Any,
        pool: Any,
        connection: Any,
        request_id: int,
        prepared: PreparedStatement | None,
    ) -> None:
        self.loop = loop
        self.waiter = waiter
        self.profile = profile
        self.host = host
        self.pool = pool
        self.connection = connection
        self.request_id = request_id
        self.prepared = prepared
        self.thread = _thread_id()  # requests are made on the loop's thread
        self.timer: asyncio.TimerHandle | None = None

    def __call__(self, response: Any) -> None:
        # A connection failed by one of the driver's threads (a heartbeat, say) fails its
        # requests from that thread: finish on the loop. (A thread check, not
        # get_running_loop(): that asks the kernel for the process id on every call.)
        if _thread_id() != self.thread or not self.loop.is_running():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                self.loop.call_soon_threadsafe(self, response)
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.pool.return_connection(self.connection)
        waiter = self.waiter
        if waiter.done():  # cancelled, or timed out after its stream was freed
            return
        try:
            self._answer(waiter, response)
        except Exception as exc:  # a bug or an odd answer: still fail the request, never hang it
            if not waiter.done():
                waiter.set_exception(exc)

    def _answer(self, waiter: asyncio.Future[Any], response: Any) -> None:
        if isinstance(response, ResultMessage):
            if response.kind == RESULT_KIND_ROWS:
                changed_metadata_id = getattr(response, "result_metadata_id", None)
                if changed_metadata_id is not None and self.prepared is not None:
                    # Metadata_changed: the statement's columns are no longer those this
                    # client holds; keep the node's, so the next responses may skip them again.
                    self.prepared.result_metadata = response.column_metadata
                    self.prepared.result_metadata_id = changed_metadata_id
                rows = self.profile.row_factory(response.column_names, response.parsed_rows)
                waiter.set_result((rows, response.paging_state))
            else:
                waiter.set_result(_NO_ROWS)
        elif isinstance(response, ErrorMessage):
            if isinstance(response, PreparedQueryNotFound) or (
                not self.profile.is_write and isinstance(response, _RETRIED_READ_ERRORS)
            ):
                waiter.set_result(HANDED_BACK)
            else:
                waiter.set_exception(response.to_exception())
        elif isinstance(response, ConnectionException):
            if not isinstance(response, ConnectionShutdown):
                self.connection.defunct(response)
            if self.profile.is_write:
                waiter.set_exception(response)
            else:
                waiter.set_result(HANDED_BACK)
        elif isinstance(response, Exception):
            waiter.set_exception(response)
        else:
            error = ConnectionException(f"Got unexpected message: {response!r}", self.host)
            self.connection.defunct(error)
            waiter.set_exception(error)

    def on_timeout(self) -> None:
        self.timer = None
        connection = self.connection
        pending = connection._requests.pop(self.request_id, None) is not None
        if pending and not self.pool.is_shutdown:
            # The node may still answer on this stream: keep it out of use until then (the
            # connection frees it when the late answer arrives), as the driver does.
            with connection.lock:
                connection.orphaned_request_ids.add(self.request_id)
                if len(connection.orphaned_request_ids) >= connection.orphaned_threshold:
                    connection.orphaned_threshold_reached = True
            self.pool.return_connection(connection, stream_was_orphaned=True)
        # else: the connection already failed it; its answer is on the way to __call__, which
        # returns the stream.
        if not self.waiter.done():
            where = str(self.host.endpoint)
            errors = {where: "Client request timeout. See Session.execute[_async](timeout)"}
            self.waiter.set_exception(OperationTimedOut(errors, self.host))


class DirectSender:
    """Sends prepared statements and batches of them for one driver session, on its loop."""

    def __init__(self, session: Session, loop: asyncio.AbstractEventLoop) -> None:
        self._session = session
        self._loop = loop
        self._loop_thread = _thread_id()
        cluster = session.cluster
        self._pools = session._pools
        handler = session.client_protocol_handler
        self._encode = handler.encode_message
        self._decode = handler.decode_message
        self._timestamp: Callable[[], int] | None = (
            cluster.timestamp_generator if session.use_client_timestamp else None
        )
        self._fetch_size: int = session.default_fetch_size
        self._uses_keyspace_flag: bool = cluster.protocol_version >= 5
        self._skips_metadata = skips_metadata(cluster.protocol_version)

    def on_loop(self) -> bool:
        """Whether the caller runs on the loop this sender sends from (it is created there).

        A thread check and ``is_running`` rather than ``asyncio.get_running_loop()``, which
        asks the kernel for the process id (to detect a fork) on every call: a system call
        per request. One loop at most runs in a thread, so the two tests are the same.
        """
        return _thread_id() == self._loop_thread and self._loop.is_running()

    def profile(self, name: str, *, is_write: bool) -> DirectProfile:
        return DirectProfile.of(self._session.get_execution_profile(name), is_write=is_write)

    def execute(
        self,
        statement: BoundStatement,
        profile: DirectProfile,
        paging_state: bytes | None,
    ) -> asyncio.Future[Any] | None:
        """Send a bound statement; None if no connection could take it (nothing was sent)."""
        prepared = statement.prepared_statement
        fetch_size = statement.fetch_size
        if not isinstance(fetch_size, int):  # FETCH_SIZE_UNSET
            fetch_size = self._fetch_size
        consistency = statement.consistency_level
        serial_consistency = statement.serial_consistency_level
        metadata = prepared.result_metadata
        skip = self._skips_metadata and bool(metadata) and prepared.result_metadata_id is not None
        message = (ExecuteSkippingMetadata if skip else ExecuteMessage)(
            prepared.query_id,
            statement.values,
            profile.consistency_level if consistency is None else consistency,
            profile.serial_consistency_level if serial_consistency is None else serial_consistency,
            fetch_size,
            paging_state,
            self._timestamp() if self._timestamp is not None else None,
            skip_meta=bool(metadata),
            result_metadata_id=prepared.result_metadata_id,
        )
        return self._send(message, statement, profile, metadata, prepared)

    def execute_batch(
        self, statements: Sequence[BoundStatement], profile: DirectProfile
    ) -> asyncio.Future[Any] | None:
        """Send a logged batch of bound statements; None as for :meth:`execute`."""
        first = statements[0]
        message = BatchMessage(
            BatchType.LOGGED,
            [(True, bound.prepared_statement.query_id, bound.values) for bound in statements],
            profile.consistency_level,
            profile.serial_consistency_level,
            self._timestamp() if self._timestamp is not None else None,
            first.keyspace if self._uses_keyspace_flag else None,
        )
        return self._send(message, first, profile, [], None)

    def _send(
        self,
        message: Any,
        routed_by: BoundStatement,
        profile: DirectProfile,
        metadata: Any,
        prepared: PreparedStatement | None,
    ) -> asyncio.Future[Any] | None:
        loop = self._loop
        for host in profile.make_query_plan(self._session.keyspace, routed_by):
            pool = self._pools.get(host)
            if pool is None or pool.is_shutdown:
                continue
            try:
                connection, request_id = pool.borrow_connection(_BORROW_WITHOUT_WAITING)
            except Exception:  # at capacity or closing: try the next host, as the driver does
                continue
            waiter: asyncio.Future[Any] = loop.create_future()
            request = _Request(loop, waiter, profile, host, pool, connection, request_id, prepared)
            try:
                connection.send_msg(
                    message,
                    request_id,
                    request,
                    encoder=self._encode,
                    decoder=self._decode,
                    result_metadata=metadata,
                )
            except (ConnectionException, ConnectionBusy):  # refused before sending anything
                connection._requests.pop(request_id, None)
                pool.return_connection(connection)
                continue
            request.timer = loop.call_later(profile.timeout, request.on_timeout)
            return waiter
        return None
