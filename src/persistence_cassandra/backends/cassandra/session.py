"""One shared driver session per store bundle, bridged to asyncio.

Everything the stores send goes through :class:`CassandraSession`, which keeps four promises:

* **The event loop never blocks on the network.** By default (``ioLoop: asyncio``) the
  driver's sockets are served by the event loop that connected the session
  (:mod:`.loop_connection`), and prepared statements and batches are sent straight to them
  (:mod:`.direct_requests`), each answer completing its ``asyncio.Future`` on the loop; what
  the driver's retry rules must decide goes through the driver's ``execute_async``. With
  ``ioLoop: driver`` every request uses ``execute_async``, its callbacks run on the driver's
  I/O thread and hand over through ``loop.call_soon_threadsafe``. The few blocking driver
  calls (connect, prepare, ``USE``, shutdown) run in the default executor.
* **Each statement is prepared once per session** and cached by its CQL text.
* **Consistency comes from one configurable pair**: ``LOCAL_QUORUM`` for reads and writes and
  ``LOCAL_SERIAL`` for the Paxos phase by default, from ``consistency.default``.
* **Writes are never retried by the driver.** A retried lightweight transaction whose first
  attempt did apply would fail its condition against its own write and be reported as a clean
  conflict. The driver's retry policy therefore only runs for reads; a failed write reaches
  :func:`~persistence_cassandra.backends.cassandra.errors.translate_error`, which decides
  between ``Unavailable`` (not applied) and ``Timeout(may_have_committed=True)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cassandra import ProtocolVersion
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    ResponseFuture,
    Session,
)
from cassandra.connection import ConnectionShutdown
from cassandra.policies import (
    FallthroughRetryPolicy,
    RetryPolicy,
)
from cassandra.query import (
    BatchStatement,
    BatchType,
    BoundStatement,
    PreparedStatement,
    SimpleStatement,
    Statement,
    tuple_factory,
)

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra import connection
from persistence_cassandra.backends.cassandra.binding import bind
from persistence_cassandra.backends.cassandra.direct_requests import (
    HANDED_BACK,
    DirectProfile,
    DirectSender,
    Page,
)
from persistence_cassandra.backends.cassandra.errors import translate_error
from persistence_cassandra.backends.cassandra.loop_connection import loop_connection_class
from persistence_cassandra.config import CassandraConfig

__all__ = [
    "READ_PROFILE",
    "WRITE_PROFILE",
    "CassandraSession",
    "QueryResult",
    "Row",
    "StatementSpec",
    "TupleResult",
    "build_cluster",
]

log = logging.getLogger(__name__)

Row = dict[str, Any]
StatementSpec = tuple[str, Sequence[object]]
"""A CQL text (prepared on first use) and the values bound to its ``?`` markers."""

T = TypeVar("T")

_running_loop = asyncio.events._get_running_loop
"""The current thread's running loop or None: a C call, no exception when there is none."""

READ_PROFILE = "persistence-read"
READ_TUPLES_PROFILE = "persistence-read-tuples"
"""Reads whose rows come back as tuples: for pages of many rows, where building a dict per
row cost as much as decoding it."""
WRITE_PROFILE = "persistence-write"
SCHEMA_PROFILE = "persistence-schema"

SCHEMA_TIMEOUT_SECONDS = 60.0
"""DDL waits for schema agreement, which is far slower than a data request."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    """The rows of one page (as dicts) and the driver's paging state for the next one."""

    rows: list[Row]
    paging_state: bytes | None = None

    @property
    def applied(self) -> bool:
        """For a conditional statement or batch: whether it was applied."""
        return bool(self.rows and self.rows[0].get("[applied]", False))

    @property
    def next_page_token(self) -> bytes:
        return self.paging_state or b""

    def first(self) -> Row | None:
        return self.rows[0] if self.rows else None


@dataclass(frozen=True, slots=True)
class TupleResult:
    """The rows of one page as tuples, in the order of the SELECT's columns."""

    rows: list[tuple[Any, ...]]
    paging_state: bytes | None = None

    @property
    def next_page_token(self) -> bytes:
        return self.paging_state or b""


def build_cluster(config: CassandraConfig) -> Cluster:
    """The stores' driver ``Cluster`` for ``config`` (not connected yet): the connection
    module's, with the read, write and schema profiles. Blocking: may resolve names."""
    return connection.build_cluster(config, _store_profiles(config))


def _store_profiles(config: CassandraConfig) -> dict[object, ExecutionProfile]:
    def profile(retry: RetryPolicy, timeout: float, **kwargs: Any) -> ExecutionProfile:
        return connection.execution_profile(config, timeout=timeout, retry_policy=retry, **kwargs)

    return {
        READ_PROFILE: profile(RetryPolicy(), config.timeout),
        READ_TUPLES_PROFILE: profile(RetryPolicy(), config.timeout, row_factory=tuple_factory),
        WRITE_PROFILE: profile(FallthroughRetryPolicy(), config.timeout),
        SCHEMA_PROFILE: profile(
            FallthroughRetryPolicy(), max(config.timeout, SCHEMA_TIMEOUT_SECONDS)
        ),
        # The default profile only serves the driver's own statements (``USE`` on every
        # connection); a deliberately tiny request timeout must not break those.
        EXEC_PROFILE_DEFAULT: profile(RetryPolicy(), max(config.timeout, config.connect_timeout)),
    }


def _settle(waiter: asyncio.Future[T], value: T | None, error: BaseException | None) -> None:
    if waiter.done():  # the awaiting task was cancelled
        return
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(value)  # type: ignore[arg-type]


# Both run where the driver completes a response: on the waiter's own loop (the loop-served
# connection, the common case: settled at once, no wakeup) or on another thread (the driver's
# I/O thread, or one of its threads failing a connection's requests), which must hand over.
# The loop may already be closed at interpreter exit.
def _hand_over(
    loop: asyncio.AbstractEventLoop,
    waiter: asyncio.Future[list[Any] | None],
    rows: list[Any] | None,
    error: BaseException | None,
) -> None:
    if _running_loop() is loop:
        _settle(waiter, rows, error)
        return
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, waiter, rows, error)


def _deliver_rows(
    rows: list[Any] | None,
    loop: asyncio.AbstractEventLoop,
    waiter: asyncio.Future[list[Any] | None],
) -> None:
    _hand_over(loop, waiter, rows, None)


def _deliver_error(
    error: BaseException,
    loop: asyncio.AbstractEventLoop,
    waiter: asyncio.Future[list[Any] | None],
) -> None:
    _hand_over(loop, waiter, None, error)


def _release(response: ResponseFuture) -> None:
    """Break the reference cycle between a finished response and its request timer.

    The driver's ``ResponseFuture`` keeps its timer in ``_timer`` and the timer holds the
    future's bound ``_on_timeout``: a cycle, so every response, with its rows, its statement
    and its callbacks (about 30 objects, 50 for a 20-row page), waits for the cyclic garbage
    collector instead of being freed when the last reference goes. At thousands of requests
    a second the collections that frees them cost more than the rest of our layer. The timer
    is cancelled by the time the response is final and no retry or speculative execution
    follows, so the future never reads ``_timer`` again.
    """
    response._timer = None


class CassandraSession:
    """The driver session shared by every store of a bundle."""

    def __init__(
        self,
        cluster: Cluster,
        session: Session,
        *,
        target: str,
        io_loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._cluster = cluster
        self._session = session
        self._io_loop = io_loop
        """The loop serving the driver's sockets (``ioLoop: asyncio``), else None."""
        self._direct: DirectSender | None = None
        self._direct_profiles: dict[str, DirectProfile] = {}
        if io_loop is not None:
            self._direct = DirectSender(session, io_loop)
            self._direct_profiles = {
                name: self._direct.profile(name, is_write=name == WRITE_PROFILE)
                for name in (READ_PROFILE, READ_TUPLES_PROFILE, WRITE_PROFILE)
            }
        self._in_flight: set[asyncio.Future[Any]] = set()
        """Requests awaiting the driver, failed by :meth:`close` if the driver drops them."""
        self._prepared: dict[str, PreparedStatement] = {}
        self._preparing: dict[str, asyncio.Future[PreparedStatement]] = {}
        self._target = target
        self.keyspace: str | None = None

    @classmethod
    async def connect(cls, config: CassandraConfig) -> CassandraSession:
        """Connect to the cluster (no keyspace yet; see :meth:`use_keyspace`)."""
        io_loop = asyncio.get_running_loop() if config.io_loop == "asyncio" else None
        options: dict[str, Any] = {}
        if io_loop is not None:
            options["connection_class"] = loop_connection_class(io_loop)
        cluster, session = await connection.connect(config, _store_profiles(config), **options)
        target = connection.describe_endpoint(config)
        return cls(cluster, session, target=target, io_loop=io_loop)

    @property
    def description(self) -> str:
        """Hosts (or Astra bundle) and keyspace; never credentials."""
        keyspace = f" keyspace {self.keyspace}" if self.keyspace else ""
        return f"cassandra {self._target}{keyspace}"

    @property
    def protocol_version(self) -> int:
        version: int = self._cluster.protocol_version
        return version

    @property
    def _per_statement_keyspace(self) -> bool:
        # Protocol v5 names the keyspace in each PREPARE/QUERY; Cassandra 5 warns about `USE`
        # combined with prepared statements. Protocol v4 (Astra DB) has only `USE`.
        uses_flag: bool = ProtocolVersion.uses_keyspace_flag(self.protocol_version)
        return uses_flag

    async def use_keyspace(self, keyspace: str) -> None:
        """Make ``keyspace`` the keyspace of the stores' (unqualified) CQL."""
        if not self._per_statement_keyspace:
            try:
                await _in_thread(lambda: self._session.set_keyspace(keyspace))
            except Exception as exc:
                raise translate_error(exc, is_write=False) from exc
        self.keyspace = keyspace
        self._prepared.clear()  # prepared for the previous keyspace

    async def prepare(self, cql: str) -> PreparedStatement:
        """The prepared statement for ``cql``, prepared on first use only."""
        prepared = self._prepared.get(cql)
        if prepared is not None:
            return prepared
        pending = self._preparing.get(cql)
        if pending is None:
            pending = asyncio.ensure_future(self._prepare_once(cql))
            self._preparing[cql] = pending
        return await asyncio.shield(pending)

    async def _prepare_once(self, cql: str) -> PreparedStatement:
        self._check_io_loop(asyncio.get_running_loop())
        try:
            keyspace = self.keyspace if self._per_statement_keyspace else None
            prepared: PreparedStatement = await _in_thread(
                lambda: self._session.prepare(cql, keyspace=keyspace)
            )
        except Exception as exc:
            raise translate_error(exc, is_write=False) from exc
        finally:
            self._preparing.pop(cql, None)
        self._prepared[cql] = prepared
        return prepared

    async def read(
        self,
        cql: str,
        params: Sequence[object] = (),
        *,
        page_size: int | None = None,
        paging_state: bytes | None = None,
    ) -> QueryResult:
        """One page of a query (all rows when ``page_size`` is None and results are small)."""
        prepared = self._prepared.get(cql) or await self.prepare(cql)
        rows, state = await self._page(READ_PROFILE, prepared, cql, params, page_size, paging_state)
        return QueryResult(rows, state)

    async def read_tuples(
        self,
        cql: str,
        params: Sequence[object] = (),
        *,
        page_size: int | None = None,
        paging_state: bytes | None = None,
    ) -> TupleResult:
        """:meth:`read`, with each row a tuple of the SELECT's columns, in order."""
        prepared = self._prepared.get(cql) or await self.prepare(cql)
        rows, state = await self._page(
            READ_TUPLES_PROFILE, prepared, cql, params, page_size, paging_state
        )
        return TupleResult(rows, state)

    def _page(
        self,
        profile: str,
        prepared: PreparedStatement,
        cql: str,
        params: Sequence[object],
        page_size: int | None,
        paging_state: bytes | None,
    ) -> Coroutine[Any, Any, Page]:
        # A plain method handing back _execute_bound's coroutine: the statement is looked up
        # (and ``prepare`` awaited, on a miss only) by the caller, so a read costs no coroutine
        # of its own beyond the one the store awaits.
        return self._execute_bound(
            _read_statement(prepared, cql, params, page_size),
            profile=profile,
            is_write=False,
            paging_state=paging_state or None,
        )

    async def write(self, cql: str, params: Sequence[object] = ()) -> QueryResult:
        """One write; for a conditional statement check :attr:`QueryResult.applied`."""
        prepared = self._prepared.get(cql) or await self.prepare(cql)
        statement = _bound(prepared, cql, params)
        rows, _ = await self._execute_bound(
            statement, profile=WRITE_PROFILE, is_write=True, paging_state=None
        )
        return QueryResult(rows)

    async def write_batch(self, statements: Sequence[StatementSpec]) -> QueryResult:
        """One logged batch; conditional when any statement has an ``IF``."""
        bound: list[BoundStatement] = []
        for cql, params in statements:
            prepared = self._prepared.get(cql) or await self.prepare(cql)
            bound.append(_bound(prepared, cql, params))
        if bound and self._direct is not None and self._direct.on_loop():
            waiter = self._direct.execute_batch(bound, self._direct_profiles[WRITE_PROFILE])
            if waiter is not None:
                page = await self._direct_answer(waiter, is_write=True)
                if page is not HANDED_BACK:
                    return QueryResult(page[0])
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        for statement in bound:
            batch.add(statement)
        rows, _ = await self._execute(batch, profile=WRITE_PROFILE, is_write=True)
        return QueryResult(rows)

    async def execute_schema(self, cql: str) -> None:
        """A DDL statement, unprepared; returns once the cluster agrees on the schema."""
        keyspace = self.keyspace if self._per_statement_keyspace else None
        await self._execute(
            SimpleStatement(cql, keyspace=keyspace), profile=SCHEMA_PROFILE, is_write=True
        )

    async def _execute_bound(
        self,
        statement: BoundStatement,
        *,
        profile: str,
        is_write: bool,
        paging_state: bytes | None,
    ) -> Page:
        """A bound statement, sent directly when this loop serves the connections."""
        if self._direct is not None and self._direct.on_loop():
            waiter = self._direct.execute(statement, self._direct_profiles[profile], paging_state)
            if waiter is not None:
                page = await self._direct_answer(waiter, is_write=is_write)
                if page is not HANDED_BACK:
                    return page  # type: ignore[no-any-return]
        return await self._execute(
            statement, profile=profile, is_write=is_write, paging_state=paging_state
        )

    async def _direct_answer(self, waiter: asyncio.Future[Any], *, is_write: bool) -> Any:
        self._in_flight.add(waiter)
        try:
            return await waiter
        except Exception as exc:
            raise translate_error(exc, is_write=is_write) from exc
        finally:
            self._in_flight.discard(waiter)

    async def _execute(
        self,
        statement: Statement,
        *,
        profile: str,
        is_write: bool,
        paging_state: bytes | None = None,
    ) -> Page:
        """The driver's path: the rows (as the profile's row factory made them) and the next
        page's state."""
        loop = asyncio.get_running_loop()
        if loop is not self._io_loop:
            self._check_io_loop(loop)
        waiter: asyncio.Future[list[Any] | None] = loop.create_future()
        try:
            response: ResponseFuture = self._session.execute_async(
                statement, execution_profile=profile, paging_state=paging_state
            )
        except Exception as exc:
            raise translate_error(exc, is_write=is_write) from exc
        # Module-level callbacks with the waiter as an argument: no closure per request, and
        # nothing that refers back to the response (which holds its callbacks).
        arguments = (loop, waiter)
        response.add_callbacks(
            _deliver_rows, _deliver_error, callback_args=arguments, errback_args=arguments
        )
        self._in_flight.add(waiter)
        try:
            rows = await waiter
        except Exception as exc:
            _release(response)
            raise translate_error(exc, is_write=is_write) from exc
        finally:
            self._in_flight.discard(waiter)
        _release(response)
        # The rows the driver handed over, and the paging state it keeps on the response (the
        # public ResultSet would wrap and copy them first).
        return (rows if rows is not None else []), response._paging_state

    def _check_io_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        # Used from another loop than the one serving its sockets: fine while that loop runs
        # (responses hand over between the two), a hang if it does not. Say so instead.
        io_loop = self._io_loop
        if io_loop is None or io_loop is loop:
            return
        if io_loop.is_closed() or not io_loop.is_running():
            raise errors.InvalidRequest(
                f"the {self.description} session was opened on an event loop that is no "
                "longer running, and that loop serves its connections (cassandra.ioLoop: "
                "asyncio): open the stores on the loop that uses them, or set ioLoop: driver"
            )

    async def close(self) -> None:
        """Shut the cluster connection down (idempotent)."""
        if not self._cluster.is_shutdown:
            await _in_thread(self._cluster.shutdown)
        # A read whose connection the shutdown closed is retried by the driver on its executor,
        # which the shutdown has stopped: the retry is dropped and the request would never
        # complete. Whatever is still waiting fails, its outcome unknown.
        closed = ConnectionShutdown(f"the {self.description} session was closed")
        for waiter in list(self._in_flight):
            with contextlib.suppress(RuntimeError):  # its loop is closed
                waiter.get_loop().call_soon_threadsafe(_settle, waiter, None, closed)


def _read_statement(
    prepared: PreparedStatement, cql: str, params: Sequence[object], page_size: int | None
) -> BoundStatement:
    statement = _bound(prepared, cql, params)
    statement.is_idempotent = True
    if page_size is not None:
        if page_size <= 0:
            raise errors.InvalidRequest(f"page size must be positive (got {page_size})")
        statement.fetch_size = page_size
    return statement


def _bound(prepared: PreparedStatement, cql: str, params: Sequence[object]) -> BoundStatement:
    try:
        return bind(prepared, params)
    except (TypeError, ValueError, OverflowError) as exc:
        raise errors.InvalidRequest(f"cannot bind values to {cql!r}: {exc}") from exc


async def _in_thread(call: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, call)
