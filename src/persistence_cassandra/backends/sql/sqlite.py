"""The embedded SQLite backend (``pluginName: sqlite``): a file, or ``:memory:``.

A file runs in WAL mode, so readers never wait for the writer; writes take the database lock
up front (``BEGIN IMMEDIATE``) and a busy timeout rides out other processes' writes. How units
of work reach the connections (one writer thread with group commit, reader threads) is
:mod:`~persistence_cassandra.backends.sql.sqlite_runner`.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from persistence_cassandra.backend import OpenOptions
from persistence_cassandra.backends.sql.bundle import open_sql_bundle
from persistence_cassandra.backends.sql.dialect import SqlDialect
from persistence_cassandra.backends.sql.schema_setup import (
    SqlVersionReader,
    ensure_bundled_schema,
    missing_database,
)
from persistence_cassandra.backends.sql.sqlite_runner import SqliteRunner
from persistence_cassandra.config import DatastoreConfig, SqlConfig
from persistence_cassandra.errors import (
    ConditionFailed,
    ConfigError,
    InvalidRequest,
    PersistenceError,
    Unavailable,
)
from persistence_cassandra.schema.admin_sqlite import SQLITE_DB_NAME, SqliteSchemaAdmin
from persistence_cassandra.stores import Capabilities, StoreBundle

__all__ = [
    "BACKEND",
    "SqliteBackend",
    "SqliteDialect",
    "check_database_file",
    "connection_factory",
]


MEMORY = ":memory:"
DEFAULT_PRAGMAS: dict[str, str] = {
    "journal_mode": "WAL",
    # FULL: a transaction acknowledged as committed survives power loss, as a durable
    # execution store must promise. NORMAL (faster, may lose the last commits on power loss,
    # never corrupts) can be chosen with connectAttributes.
    "synchronous": "FULL",
    "busy_timeout": "10000",
    "foreign_keys": "OFF",
}
# connectAttributes keys that are SQLite URI parameters; every other key is a pragma.
_URI_PARAMETERS = frozenset({"cache", "immutable", "mode", "modeof", "nolock", "psow", "vfs"})
_PRAGMA_NAME = re.compile(r"[a-z_]+")
_PRAGMA_VALUE = re.compile(r"[A-Za-z0-9_.\-]+")
_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_TRANSIENT = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_INTERRUPT,
    }
)
_DUPLICATE_KEY = frozenset({sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE})


class SqliteDialect(SqlDialect):
    name = "sqlite"
    # No row locks: BEGIN IMMEDIATE takes the database write lock up front, which serializes
    # writers and so gives every row the guarantee FOR SHARE / FOR UPDATE give elsewhere.
    lock_shared = ""
    lock_exclusive = ""
    begin_write = "BEGIN IMMEDIATE"
    table_exists_sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"

    def is_duplicate_key(self, exc: BaseException) -> bool:
        return (
            isinstance(exc, sqlite3.IntegrityError)
            and getattr(exc, "sqlite_errorcode", None) in _DUPLICATE_KEY
        )

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.Error | sqlite3.Warning)

    def translate_error(self, exc: BaseException, *, committing: bool = False) -> PersistenceError:
        # SQLite rolls a failed COMMIT back (or leaves it open to roll back), so unlike a
        # networked database a failed commit never has an unknown outcome: ``committing``
        # changes nothing here.
        code = getattr(exc, "sqlite_errorcode", None)
        primary = None if code is None else code & 0xFF
        detail = f"sqlite: {exc}"
        if self.is_duplicate_key(exc):
            return ConditionFailed(f"duplicate key ({detail})")
        if isinstance(exc, sqlite3.IntegrityError):
            return InvalidRequest(detail)
        if primary in _BUSY:
            return Unavailable(f"database is locked by another writer ({detail})")
        if primary == sqlite3.SQLITE_TOOBIG:
            return InvalidRequest(detail)
        if primary in _TRANSIENT:
            return Unavailable(detail)
        if isinstance(exc, sqlite3.DataError | sqlite3.InterfaceError | sqlite3.NotSupportedError):
            return InvalidRequest(detail)
        if isinstance(exc, sqlite3.ProgrammingError):
            # What the driver raises for use of a closed connection, i.e. a closed store.
            return Unavailable(detail)
        if isinstance(exc, sqlite3.OperationalError | sqlite3.InternalError) and primary is None:
            return Unavailable(detail)
        return PersistenceError(detail)


def _split_attributes(attributes: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    uri: dict[str, str] = {}
    pragmas = dict(DEFAULT_PRAGMAS)
    for name, value in attributes.items():
        key = name.lower()
        if key in _URI_PARAMETERS:
            uri[key] = value
            continue
        if not _PRAGMA_NAME.fullmatch(key) or not _PRAGMA_VALUE.fullmatch(str(value)):
            raise ConfigError(f"sql.connectAttributes: invalid SQLite pragma {name}={value!r}")
        pragmas[key] = str(value)
    return uri, pragmas


def _apply_pragma(connection: sqlite3.Connection, statement: str, deadline: float) -> None:
    # Switching a new file to WAL needs it to be free of other connections, and SQLite answers
    # SQLITE_BUSY at once (no busy handler) while several stores open the same new file: wait
    # for it within the busy timeout, as every other statement does.
    while True:
        try:
            connection.execute(statement)
            return
        except sqlite3.OperationalError as exc:
            busy = (exc.sqlite_errorcode & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def connection_factory(
    database: str, attributes: dict[str, str], *, must_exist: bool
) -> Callable[[], sqlite3.Connection]:
    """A function opening one configured connection to ``database``."""
    uri_parameters, pragmas = _split_attributes(attributes)
    memory = database == MEMORY
    if memory:
        pragmas.pop("journal_mode")  # an in-memory database has no WAL
    if must_exist and not memory:
        uri_parameters.setdefault("mode", "rw")
    if memory and not uri_parameters:
        target, uri = MEMORY, False
    else:
        path = MEMORY if memory else quote(str(Path(database).expanduser().resolve()))
        query = "&".join(f"{k}={quote(v)}" for k, v in uri_parameters.items())
        target, uri = f"file:{path}" + (f"?{query}" if query else ""), True
    try:
        busy_seconds = int(pragmas["busy_timeout"]) / 1000
    except ValueError:
        raise ConfigError("sql.connectAttributes: busy_timeout must be milliseconds") from None

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(
            target,
            uri=uri,
            timeout=busy_seconds,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # used by one thread at a time, closed by another
            cached_statements=256,
        )
        deadline = time.monotonic() + busy_seconds
        for name, value in pragmas.items():
            _apply_pragma(connection, f"PRAGMA {name} = {value}", deadline)
        return connection

    return connect


class SqliteBackend:
    name = "sqlite"

    async def open(self, config: DatastoreConfig, options: OpenOptions) -> StoreBundle:
        sql = _sqlite_config(config)
        memory = sql.database_name == MEMORY
        location = await asyncio.to_thread(
            _prepare_file, sql.database_name, create=options.create_schema
        )
        connect = connection_factory(
            sql.database_name, sql.connect_attributes, must_exist=not options.create_schema
        )
        readers = 0 if memory else max(1, min(4, sql.max_conns - 1))
        runner = SqliteRunner(SqliteDialect(), connect, readers)
        try:
            await runner.start()
        except (Unavailable, InvalidRequest) as exc:
            # The driver's words ("unable to open database file") do not say which file.
            raise type(exc)(f"SQLite database {location}: {exc}") from exc
        reader = SqlVersionReader(runner, backend="sqlite", scope=location, db_name=SQLITE_DB_NAME)

        async def create_schema() -> None:
            # On the write connection, from the writer thread: the only connection an
            # in-memory database has, and the one a file's writes already serialize through.
            admin = SqliteSchemaAdmin(
                runner.write_connection, path=location, executor=runner.writer_executor()
            )
            try:
                await ensure_bundled_schema(admin, reader)
            finally:
                await admin.close()  # leaves the runner's connection and thread alone

        return await open_sql_bundle(
            runner,
            options=options,
            version_reader=reader,
            create_schema=create_schema,
            description=f"sqlite {location}",
            capabilities=Capabilities(concurrent_writers=not memory),
            server_version=f"SQLite {sqlite3.sqlite_version}",
        )


def _prepare_file(database: str, *, create: bool) -> str:
    """The database's location (``:memory:`` or the absolute path); creates the file's
    directory when the schema is to be created, and refuses a missing file otherwise (rather
    than silently creating an empty database)."""
    if database == MEMORY:
        return MEMORY
    path = Path(database).expanduser().resolve()
    check_database_file(path)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise missing_database("sqlite", str(path), f"SQLite database {path}")
    return str(path)


SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file (an empty file is a new database)."""


def check_database_file(path: Path) -> None:
    """``ConfigError`` naming ``path`` if it is a directory or a file that is not an SQLite
    database: both are refused at once, before any connection thread starts, where SQLite itself
    would only fail on the first statement."""
    if path.is_dir():
        raise ConfigError(f"SQLite database {path} is a directory, not a database file")
    if not path.is_file():
        if path.exists():
            raise ConfigError(f"SQLite database {path} is not a regular file")
        if path.parent.exists() and not path.parent.is_dir():
            raise ConfigError(f"SQLite database {path}: {path.parent} is not a directory")
        return
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise ConfigError(f"SQLite database {path} cannot be read: {exc.strerror}") from None
    if header and header != SQLITE_HEADER:
        raise ConfigError(f"{path} is not an SQLite database (its first bytes are not SQLite's)")


def _sqlite_config(config: DatastoreConfig) -> SqlConfig:
    if config.sql is None or config.sql.dialect != "sqlite":
        raise ConfigError("the sqlite backend needs an 'sql:' datastore with pluginName sqlite")
    return config.sql


BACKEND = SqliteBackend()
