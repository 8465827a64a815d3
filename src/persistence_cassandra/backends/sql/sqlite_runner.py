"""Runs SQLite units of work: one writer thread with group commit, and reader threads.

sqlite3 connections are not thread-safe and SQLite admits one writer at a time, so one
dedicated thread owns the write connection. Each COMMIT in ``synchronous=FULL`` costs an
fsync, which would cap writes at the disk's flush rate; so the writer takes every unit of work
queued when it becomes free (up to :data:`MAX_GROUP`) and runs them in one transaction, each
inside its own SAVEPOINT, with one COMMIT for the group:

* a unit that raises is rolled back to its savepoint alone; the others still commit;
* units run one after another, so each sees the writes of those before it, exactly as if they
  had committed one by one in that order;
* no outcome is reported before the COMMIT succeeds, and if the COMMIT (or the transaction)
  fails, every unit of the group gets that failure, including those that had raised a
  condition failure after seeing an earlier unit's write that is now gone.

A lone unit runs without a savepoint. In file mode (WAL) reads go to reader threads with their
own connections and never wait for the writer; an in-memory database exists only on the write
connection, so there reads are units of the writer too. Reader threads take units from one queue
and settle the caller's future themselves, like the writer: a read costs one queue put and one
``call_soon_threadsafe``, not an executor's future chained to an asyncio future.

The schema engine, which opens and commits its own transactions, also works on the write
connection (the only one an in-memory database has): :meth:`SqliteRunner.writer_executor`
runs its calls on the writer thread, between groups, in queue order.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from persistence_cassandra.backends.sql.dialect import SqlDialect
from persistence_cassandra.backends.sql.transaction import Tx
from persistence_cassandra.backends.sql.unit_threads import (
    STOP,
    Unit,
    UnitQueue,
    deliver,
    serve,
    settle,
    submit,
)
from persistence_cassandra.errors import Unavailable

__all__ = ["MAX_GROUP", "SqliteRunner"]

T = TypeVar("T")
P = ParamSpec("P")

MAX_GROUP = 64
"""Most units committed together: bounds how long one group holds the write lock."""


@dataclass(slots=True)
class _Call:
    """A call that runs on the writer thread outside any group (it manages its own
    transactions)."""

    function: Callable[[], Any]
    future: Future[Any]


class SqliteRunner:
    """The :class:`~persistence_cassandra.backends.sql.transaction.TransactionRunner` of
    SQLite."""

    def __init__(
        self, dialect: SqlDialect, connect: Callable[[], sqlite3.Connection], readers: int
    ) -> None:
        self.dialect = dialect
        self._connect = connect
        self._queue: queue.SimpleQueue[Unit | _Call | object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._write_connection: sqlite3.Connection | None = None
        self._reader_count = readers
        self._readers: list[threading.Thread] = []
        self._read_queue: UnitQueue = queue.SimpleQueue()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the writer thread, which opens the write connection (an in-memory database
        lives and dies with it)."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._writer = threading.Thread(
            target=self._writer_main, args=(loop, ready), name="pc-sqlite-writer", daemon=True
        )
        self._writer.start()
        for index in range(self._reader_count):
            reader = threading.Thread(
                target=self._reader_main, name=f"pc-sqlite-reader-{index}", daemon=True
            )
            reader.start()
            self._readers.append(reader)
        try:
            await ready
        except BaseException:
            # The writer has ended (or will, on STOP); the readers wait on their queue until
            # told to stop, and a join without it would hang the failed open for ever.
            self._closed = True
            self._queue.put(STOP)
            for _ in self._readers:
                self._read_queue.put(STOP)
            await asyncio.to_thread(self._shutdown)
            raise

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(STOP)  # after every unit already queued: those still complete
        for _ in self._readers:
            self._read_queue.put(STOP)
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        if self._writer is not None:
            self._writer.join()
        for reader in self._readers:
            reader.join()
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()

    def _open(self) -> sqlite3.Connection:
        connection = self._connect()
        with self._connections_lock:
            self._connections.append(connection)
        return connection

    # ------------------------------------------------------------------ the runner API

    async def write(self, work: Callable[[Tx], T]) -> T:
        self._check_open()
        return await submit(self._queue, work, write=True)

    async def read(self, work: Callable[[Tx], T]) -> T:
        if not self._readers:
            return await self.write(work)
        self._check_open()
        return await submit(self._read_queue, work)

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("the SQLite store is closed")

    # ------------------------------------------------------------------ the schema engine's access

    @property
    def write_connection(self) -> sqlite3.Connection:
        """The writer thread's connection (autocommit mode): use it only through
        :meth:`writer_executor`."""
        if self._write_connection is None:
            raise Unavailable("the SQLite store is not started")
        return self._write_connection

    def writer_executor(self) -> Executor:
        """A single-threaded executor whose calls run on the writer thread, each alone,
        between groups of units; a call must end any transaction it opens."""
        return _WriterExecutor(self)

    def _submit_call(self, function: Callable[[], T]) -> Future[T]:
        self._check_open()
        future: Future[T] = Future()
        self._queue.put(_Call(function, future))
        return future

    # ------------------------------------------------------------------ reader threads

    def _reader_main(self) -> None:
        connection: sqlite3.Connection | None = None  # opened on first use

        def read(unit: Unit) -> Any:
            nonlocal connection
            if connection is None:  # opened here, so that a failure goes to a caller
                connection = self._open()
            # A cursor per unit, closed after it: a statement left unfinished (a fetchone)
            # would keep its read snapshot open between units, and a WAL reader holding a
            # snapshot stops checkpoints from recycling the log, which then grows.
            cursor = connection.cursor()
            try:
                return unit.work(Tx(cursor, self.dialect))
            finally:
                cursor.close()

        serve(self._read_queue, read, self._failure)

    # ------------------------------------------------------------------ the writer thread

    def _writer_main(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            connection = self._open()
        except BaseException as exc:
            error = self._failure(exc)
            loop.call_soon_threadsafe(settle, ready, False, error)
            return
        self._write_connection = connection
        loop.call_soon_threadsafe(settle, ready, True, None)
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is STOP:
                break
            if isinstance(first, _Call):
                self._run_call(connection, first)
                continue
            group = [first]
            call: _Call | None = None  # ends the group: it must not run inside its transaction
            while len(group) < MAX_GROUP:
                try:
                    queued = self._queue.get_nowait()
                except queue.Empty:
                    break
                if queued is STOP:
                    stopping = True
                    break
                if isinstance(queued, _Call):
                    call = queued
                    break
                group.append(queued)
            units = [unit for unit in group if isinstance(unit, Unit)]
            try:
                outcomes = self._commit_group(connection, units)
            except BaseException as exc:  # a bug must not leave callers waiting forever
                outcomes = [(False, exc)] * len(units)
            for unit, (ok, value) in zip(units, outcomes, strict=True):
                deliver(unit, ok, value)
            if call is not None:
                self._run_call(connection, call)

    @staticmethod
    def _run_call(connection: sqlite3.Connection, call: _Call) -> None:
        if not call.future.set_running_or_notify_cancel():
            return
        try:
            ok, value = True, call.function()
        except BaseException as exc:
            ok, value = False, exc
        # The next group begins its own transaction: a call must not leave one open.
        if connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
        if ok:
            call.future.set_result(value)
        else:
            call.future.set_exception(value)

    def _failure(self, exc: BaseException) -> BaseException:
        if self.dialect.is_driver_error(exc):
            translated = self.dialect.translate_error(exc)
            translated.__cause__ = exc
            return translated
        return exc

    def _commit_group(
        self, connection: sqlite3.Connection, units: list[Unit]
    ) -> list[tuple[bool, Any]]:
        cursor = connection.cursor()
        tx = Tx(cursor, self.dialect)
        outcomes: list[tuple[bool, Any]] = []
        try:
            cursor.execute(self.dialect.begin_write)
            if len(units) == 1:
                try:
                    outcomes.append((True, units[0].work(tx)))
                except BaseException as exc:
                    outcomes.append((False, self._failure(exc)))
            else:
                for unit in units:
                    outcomes.append(self._run_in_savepoint(cursor, tx, unit))
            if len(units) == 1 and not outcomes[0][0]:
                cursor.execute("ROLLBACK")
            else:
                cursor.execute("COMMIT")
        except sqlite3.Error as exc:
            # BEGIN, a savepoint or the COMMIT failed: nothing of the group is stored.
            if connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    cursor.execute("ROLLBACK")
            outcomes = [(False, self._failure(exc)) for _ in units]
        finally:
            cursor.close()
        return outcomes

    def _run_in_savepoint(self, cursor: sqlite3.Cursor, tx: Tx, unit: Unit) -> tuple[bool, Any]:
        cursor.execute("SAVEPOINT unit")
        try:
            result = unit.work(tx)
        except BaseException as exc:
            # If the error already ended the transaction, this raises and fails the group.
            cursor.execute("ROLLBACK TO unit")
            cursor.execute("RELEASE unit")
            return False, self._failure(exc)
        cursor.execute("RELEASE unit")
        return True, result


class _WriterExecutor(Executor):
    """:meth:`SqliteRunner.writer_executor`: ``submit`` queues the call for the writer thread.
    Shutting it down does nothing; the runner's ``close`` ends the thread."""

    def __init__(self, runner: SqliteRunner) -> None:
        self._runner = runner

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self._runner._submit_call(lambda: fn(*args, **kwargs))
