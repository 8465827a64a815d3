"""The PostgreSQL backend (``pluginName: postgres``, ``postgres12`` or ``postgresql``).

psycopg 3 in its synchronous form: ``maxConns`` threads, each owning one connection, each
store operation running whole on one thread with its connection (:class:`PostgresRunner`).
The same synchronous store code then serves SQLite and PostgreSQL; psycopg releases the GIL
while it waits on the network, so the threads overlap their round trips. (psycopg's async API
was the alternative; it would need the store logic written a second time, and the cost to cut
is round trips, not thread hops.) A pool that lends a connection per operation was the first
design; owning them saves the checkout (a lock, a queue and a health check per operation),
which cost a fifth of a point read.

Connections are in autocommit mode: a read is one statement with no BEGIN/COMMIT round trips,
and a write opens its transaction explicitly, with its statements sent in pipelines
(:class:`PipelinedTx`): an execution update is two round trips, locks then writes with the
COMMIT.

Isolation is READ COMMITTED with explicit row locks, as Temporal's SQL stores use it: the
shard row is read ``FOR SHARE`` by execution writes and ``FOR UPDATE`` by a range-id bump, run
and current rows ``FOR UPDATE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from persistence_cassandra.errors import ConfigError

try:
    import psycopg
    from psycopg import conninfo as pg_conninfo
except ImportError as missing:  # pragma: no cover - psycopg is a dependency of the package
    # Only an install that left the driver out (or removed it) gets here: say what fixes it.
    raise ConfigError(
        f"the postgres backend needs the psycopg driver ({missing}); install it with "
        "pip install 'persistence-cassandra[postgres]'"
    ) from None

from persistence_cassandra.backend import OpenOptions
from persistence_cassandra.backends.sql.bundle import open_sql_bundle
from persistence_cassandra.backends.sql.dialect import SqlDialect
from persistence_cassandra.backends.sql.schema_setup import SqlVersionReader, ensure_bundled_schema
from persistence_cassandra.backends.sql.transaction import Lookup, Row, Tx
from persistence_cassandra.backends.sql.unit_threads import (
    STOP,
    Unit,
    UnitQueue,
    serve,
    settle,
    submit,
)
from persistence_cassandra.config import DatastoreConfig, SqlConfig
from persistence_cassandra.errors import (
    ConditionFailed,
    ConfigError,
    InvalidRequest,
    PersistenceError,
    SchemaVersionMismatch,
    Timeout,
    Unavailable,
)
from persistence_cassandra.schema.admin_postgres import PostgresSchemaAdmin
from persistence_cassandra.schema.bundled import EXPECTED_SCHEMA_VERSION
from persistence_cassandra.stores import Capabilities, StoreBundle

__all__ = [
    "BACKEND",
    "PostgresBackend",
    "PostgresDialect",
    "PostgresRunner",
    "connection_info",
    "connector",
]

T = TypeVar("T")

DEFAULT_PORT = 5432
CONNECT_TIMEOUT_SECONDS = 10

# SQLSTATE classes and codes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_UNIQUE_VIOLATION = "23505"
_QUERY_CANCELED = "57014"
_UNDEFINED_TABLE = "42P01"
_TRANSIENT_STATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
        "25006",  # read_only_sql_transaction (a standby answered)
    }
)
_TRANSIENT_CLASSES = ("08", "53", "58")  # connection, insufficient resources, system error


class PostgresDialect(SqlDialect):
    name = "postgres"
    paramstyle_placeholder = "%s"
    lock_shared = " FOR SHARE"
    lock_exclusive = " FOR UPDATE"
    begin_write = "BEGIN"
    table_exists_sql = (
        "SELECT 1 FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = ?"
    )

    def is_duplicate_key(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.Error) and exc.sqlstate == _UNIQUE_VIOLATION

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.Error | psycopg.Warning)

    def translate_error(self, exc: BaseException, *, committing: bool = False) -> PersistenceError:
        # libpq tries each address (and sslmode=prefer tries twice), repeating one reason per
        # attempt: keep each distinct line once.
        text = str(exc)
        head = "connection failed: " if text.startswith("connection failed: ") else ""
        lines = [line.strip() for line in text.removeprefix(head).splitlines() if line.strip()]
        detail = "postgres: " + head + "; ".join(dict.fromkeys(lines))
        state = getattr(exc, "sqlstate", None) or ""
        if committing and (
            isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
            or state.startswith("08")
        ):
            # The COMMIT may have reached the server before the connection broke.
            return Timeout(f"commit outcome unknown ({detail})", may_have_committed=True)
        if state == _UNIQUE_VIOLATION:
            return ConditionFailed(f"duplicate key ({detail})")
        if state == _QUERY_CANCELED:
            return Timeout(f"statement timed out ({detail})", may_have_committed=False)
        if state == _UNDEFINED_TABLE:
            return SchemaVersionMismatch(
                f"a table is missing ({detail}); run "
                "`persistence-cassandra schema update-schema ...`",
                actual=None,
                expected=EXPECTED_SCHEMA_VERSION,
            )
        if state in _TRANSIENT_STATES or state.startswith(_TRANSIENT_CLASSES):
            return Unavailable(detail)
        if isinstance(exc, psycopg.IntegrityError | psycopg.DataError | psycopg.NotSupportedError):
            return InvalidRequest(detail)
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return Unavailable(detail)
        if isinstance(exc, psycopg.ProgrammingError):
            return InvalidRequest(detail)
        return PersistenceError(detail)


_Pending = tuple[str, Any, bool]
"""A driver-ready statement, its parameters, and whether they are a list of rows."""


class PipelinedTx(Tx):
    """A transaction that sends statements in pipelines: the BEGIN and deferred writes travel
    with the next statement whose result is needed, locking reads checked together travel
    together, and the last deferred writes travel with the COMMIT. The server still runs
    them one by one, in order; only the waits between them are saved."""

    __slots__ = ("_connection", "_pending")

    def __init__(self, connection: psycopg.Connection[Any], dialect: SqlDialect) -> None:
        super().__init__(connection.cursor(), dialect)
        self._connection = connection
        self._pending: list[_Pending] = [(dialect.begin_write, None, False)]

    def _send(self, extra: list[_Pending]) -> list[psycopg.Cursor[Any]]:
        batch, self._pending = [*self._pending, *extra], []
        if len(batch) == 1:
            statement, params, many = batch[0]
            if many:
                self._cursor.executemany(statement, params)
            else:
                self._cursor.execute(statement, params)
            return [self._cursor]
        cursors = []
        with self._connection.pipeline():
            for statement, params, many in batch:
                cursor = self._connection.cursor()
                if many:
                    cursor.executemany(statement, params)
                else:
                    cursor.execute(statement, params)
                cursors.append(cursor)
        return cursors

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        count: int = self._send([(self.dialect.sql(statement), params, False)])[-1].rowcount
        return count

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        if batch:
            self._send([(self.dialect.sql(statement), batch, True)])

    def fetchone(self, statement: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._send([(self.dialect.sql(statement), params, False)])[-1].fetchone()
        return row

    def fetchall(self, statement: str, params: Sequence[Any] = ()) -> list[Row]:
        rows: list[Row] = self._send([(self.dialect.sql(statement), params, False)])[-1].fetchall()
        return rows

    def fetchone_each(self, lookups: Sequence[Lookup]) -> list[Row | None]:
        cursors = self._send([(self.dialect.sql(s), p, False) for s, p in lookups])
        return [cursor.fetchone() for cursor in cursors[len(cursors) - len(lookups) :]]

    def defer(self, statement: str, params: Sequence[Any] = ()) -> None:
        self._pending.append((self.dialect.sql(statement), params, False))

    def defer_many(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        if batch:
            self._pending.append((self.dialect.sql(statement), batch, True))

    def commit(self) -> None:
        if self._pending == [(self.dialect.begin_write, None, False)]:
            self._pending = []  # nothing was sent: no transaction to end
            return
        self._send([("COMMIT", None, False)])


class PostgresRunner:
    """``maxConns`` threads, each owning one connection for good, take units of work from one
    queue: a unit runs whole on one thread and its connection. A connection that breaks is
    closed after the unit it failed (which gets the translated error: ``Unavailable``, or
    ``Timeout`` if a COMMIT's outcome is unknown) and reopened for the next one."""

    def __init__(
        self, dialect: PostgresDialect, connect: Callable[[], psycopg.Connection[Any]], size: int
    ) -> None:
        self.dialect = dialect
        self.size = size
        self._connect = connect
        self._units: UnitQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._closed = False

    async def start(self) -> None:
        """Start the threads, each opening its connection; fails (and stops them) if any
        connection cannot be opened."""
        loop = asyncio.get_running_loop()
        opened: list[asyncio.Future[None]] = []
        for index in range(self.size):
            ready: asyncio.Future[None] = loop.create_future()
            thread = threading.Thread(
                target=self._thread_main, args=(loop, ready), name=f"pc-postgres-{index}"
            )
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
            opened.append(ready)
        outcomes = await asyncio.gather(*opened, return_exceptions=True)
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failures:
            await self.close()
            raise failures[0]

    async def write(self, work: Callable[[Tx], T]) -> T:
        self._check_open()
        return await submit(self._units, work, write=True)

    async def read(self, work: Callable[[Tx], T]) -> T:
        self._check_open()
        return await submit(self._units, work)

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("the PostgreSQL store is closed")

    def _open(self) -> psycopg.Connection[Any]:
        try:
            return self._connect()
        except psycopg.Error as exc:
            raise self.dialect.translate_error(exc) from exc

    def _thread_main(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        connection: psycopg.Connection[Any] | None = None
        try:
            connection = self._open()
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, ready, False, exc)
        else:
            loop.call_soon_threadsafe(settle, ready, True, None)

        def run(unit: Unit) -> Any:
            nonlocal connection
            if connection is None:
                connection = self._open()
            try:
                return self._run(connection, unit.work, unit.write)
            finally:
                if connection.broken or connection.closed:
                    connection.close()
                    connection = None

        try:
            serve(self._units, run)
        finally:
            if connection is not None:
                connection.close()

    def _run(self, connection: psycopg.Connection[Any], work: Callable[[Tx], T], write: bool) -> T:
        try:
            if not write:
                return work(Tx(connection.cursor(), self.dialect))
            tx = PipelinedTx(connection, self.dialect)
            try:
                result = work(tx)
            except BaseException:
                _roll_back(connection)
                raise
            try:
                tx.commit()
            except psycopg.Error as exc:
                _roll_back(connection)
                raise self.dialect.translate_error(exc, committing=True) from exc
            return result
        except PersistenceError:
            raise
        except BaseException as exc:
            if self.dialect.is_driver_error(exc):
                raise self.dialect.translate_error(exc) from exc
            raise

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._units.put(STOP)  # after every unit already queued: those still complete
        await asyncio.to_thread(self._join)

    def _join(self) -> None:
        for thread in self._threads:
            thread.join()


def _roll_back(connection: psycopg.Connection[Any]) -> None:
    # The original error is the one worth reporting; a broken connection is replaced by its
    # thread after the unit.
    if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            connection.execute("ROLLBACK")


def connection_info(sql: SqlConfig) -> tuple[str, str]:
    """``(conninfo, description)``: the libpq connection string and a description of the
    target that never contains the password."""
    host, port = "127.0.0.1", DEFAULT_PORT
    if sql.connect_addr:
        head, sep, tail = sql.connect_addr.rpartition(":")
        if sep and tail.isdigit():
            host, port = head or host, int(tail)
        else:
            host = sql.connect_addr
        host = host.strip("[]")
    params: dict[str, Any] = {
        "host": host,
        "port": port,
        "dbname": sql.database_name,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": "persistence-cassandra",
    }
    if sql.user:
        params["user"] = sql.user
    if sql.password is not None:
        params["password"] = sql.password.get_secret_value()
    tls = sql.tls
    if tls.enabled:
        params["sslmode"] = (
            "verify-full" if tls.enable_host_verification and tls.ca_file else "require"
        )
        for key, value in (
            ("sslrootcert", tls.ca_file),
            ("sslcert", tls.cert_file),
            ("sslkey", tls.key_file),
        ):
            if value:
                params[key] = value
    params.update(sql.connect_attributes)
    try:
        conninfo = pg_conninfo.make_conninfo(**params)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"sql: invalid PostgreSQL connection settings: {exc}") from None
    user = f"{sql.user}@" if sql.user else ""
    return conninfo, f"postgres {user}{host}:{port}/{sql.database_name}"


PREPARED_MAX = 512
"""More than psycopg's default 100, so that the stores' statements stay prepared server-side."""


def connector(conninfo: str) -> Callable[[], psycopg.Connection[Any]]:
    """A function opening one connection as the stores use it (autocommit, statements kept
    prepared)."""

    def connect() -> psycopg.Connection[Any]:
        connection = psycopg.connect(conninfo, autocommit=True)
        connection.prepared_max = PREPARED_MAX
        return connection

    return connect


def _probe(conninfo: str) -> str:
    """Connect once before starting the threads, so that a wrong address or password fails
    the open once, with the server's own error; returns the server version."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        return connection.info.parameter_status("server_version") or "unknown"


class PostgresBackend:
    name = "postgres"

    async def open(self, config: DatastoreConfig, options: OpenOptions) -> StoreBundle:
        sql = _postgres_config(config)
        conninfo, description = connection_info(sql)
        dialect = PostgresDialect()
        try:
            version = await asyncio.to_thread(_probe, conninfo)
        except psycopg.Error as exc:
            raise dialect.translate_error(exc) from exc
        runner = PostgresRunner(dialect, connector(conninfo), sql.max_conns)
        await runner.start()
        reader = SqlVersionReader(
            runner, backend="postgres", scope=sql.database_name, db_name=sql.database_name
        )

        async def create_schema() -> None:
            await _ensure_schema(conninfo, description, dialect, sql.database_name, reader)

        return await open_sql_bundle(
            runner,
            options=options,
            version_reader=reader,
            create_schema=create_schema,
            description=description,
            capabilities=Capabilities(),
            server_version=f"PostgreSQL {version}",
        )


async def _ensure_schema(
    conninfo: str,
    description: str,
    dialect: PostgresDialect,
    db_name: str,
    reader: SqlVersionReader,
) -> None:
    """Run the schema engine on a connection of its own: the engine is asyncio code (the pool's
    connections are synchronous), and its migration lock is a session-level advisory lock, held
    by one connection from start to end of the run."""
    try:
        connection = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    except psycopg.Error as exc:
        raise dialect.translate_error(exc) from exc
    try:
        where = description.removeprefix(f"{dialect.name} ")
        await ensure_bundled_schema(
            PostgresSchemaAdmin(connection, db_name=db_name, where=where), reader
        )
    finally:
        await connection.close()  # also releases the advisory lock if the run failed


def _postgres_config(config: DatastoreConfig) -> SqlConfig:
    if config.sql is None or config.sql.dialect != "postgres":
        raise ConfigError(
            "the postgres backend needs an 'sql:' datastore with pluginName postgres, "
            "postgres12 or postgresql"
        )
    return config.sql


BACKEND = PostgresBackend()
