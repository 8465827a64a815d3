"""Every driver exception class is translated into our error tree, at one function per dialect;
duplicate keys are recognised by driver error code on real databases."""

from __future__ import annotations

import inspect
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
import pytest

from persistence_cassandra.backends.sql.postgres import PostgresDialect
from persistence_cassandra.backends.sql.sqlite import SqliteDialect
from persistence_cassandra.errors import (
    ConditionFailed,
    InvalidRequest,
    PersistenceError,
    SchemaVersionMismatch,
    Timeout,
    Unavailable,
)


def _sqlite_exception_classes() -> list[type[BaseException]]:
    return [
        value
        for value in vars(sqlite3).values()
        if inspect.isclass(value) and issubclass(value, sqlite3.Error | sqlite3.Warning)
    ]


def _psycopg_exception_classes() -> list[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for module in (psycopg, psycopg.errors):
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, psycopg.Error | psycopg.Warning):
                found.add(value)
    return sorted(found, key=lambda cls: cls.__qualname__)


@pytest.mark.parametrize("exc_class", _sqlite_exception_classes(), ids=lambda c: c.__name__)
def test_every_sqlite_exception_class_is_mapped(exc_class: type[BaseException]) -> None:
    dialect = SqliteDialect()
    exc = exc_class("boom")
    assert dialect.is_driver_error(exc)
    assert isinstance(dialect.translate_error(exc), PersistenceError)


def test_sqlite_exception_classes_cover_the_dbapi_tree() -> None:
    names = {cls.__name__ for cls in _sqlite_exception_classes()}
    assert {
        "Warning",
        "Error",
        "InterfaceError",
        "DatabaseError",
        "DataError",
        "OperationalError",
        "IntegrityError",
        "InternalError",
        "ProgrammingError",
        "NotSupportedError",
    } <= names


@pytest.mark.parametrize("exc_class", _psycopg_exception_classes(), ids=lambda c: c.__qualname__)
def test_every_psycopg_exception_class_is_mapped(exc_class: type[BaseException]) -> None:
    dialect = PostgresDialect()
    exc = exc_class("boom")
    assert dialect.is_driver_error(exc)
    assert isinstance(dialect.translate_error(exc), PersistenceError)
    assert isinstance(dialect.translate_error(exc, committing=True), PersistenceError)


def test_psycopg_exception_classes_include_every_sqlstate_class() -> None:
    # Hundreds of SQLSTATE-specific classes: the parametrized test above sees them all.
    assert len(_psycopg_exception_classes()) > 200


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (psycopg.errors.UniqueViolation("dup"), ConditionFailed),
        (psycopg.errors.NotNullViolation("null"), InvalidRequest),
        (psycopg.errors.SerializationFailure("retry"), Unavailable),
        (psycopg.errors.DeadlockDetected("deadlock"), Unavailable),
        (psycopg.errors.LockNotAvailable("nowait"), Unavailable),
        (psycopg.errors.AdminShutdown("bye"), Unavailable),
        (psycopg.errors.TooManyConnections("full"), Unavailable),
        (psycopg.errors.QueryCanceled("timeout"), Timeout),
        (psycopg.errors.UndefinedTable("no table"), SchemaVersionMismatch),
        (psycopg.errors.StringDataRightTruncation("long"), InvalidRequest),
        (psycopg.errors.SyntaxError("bad"), InvalidRequest),
        (psycopg.OperationalError("connection lost"), Unavailable),
        (psycopg.InterfaceError("closed"), Unavailable),
    ],
    ids=lambda value: type(value).__name__,
)
def test_psycopg_mapping(exc: BaseException, expected: type[PersistenceError]) -> None:
    translated = PostgresDialect().translate_error(exc)
    assert type(translated) is expected
    if isinstance(translated, Timeout):
        assert translated.may_have_committed is False


def test_postgres_broken_connection_during_commit_has_unknown_outcome() -> None:
    translated = PostgresDialect().translate_error(
        psycopg.OperationalError("server closed the connection unexpectedly"), committing=True
    )
    assert isinstance(translated, Timeout)
    assert translated.may_have_committed is True


def test_postgres_clean_failures_at_commit_stay_clean() -> None:
    # A deferred constraint failing at COMMIT rolled back: a definite, not an unknown, outcome.
    translated = PostgresDialect().translate_error(
        psycopg.errors.UniqueViolation("dup"), committing=True
    )
    assert isinstance(translated, ConditionFailed)


# --------------------------------------------------------------------------- real databases


def _sqlite_table(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, u TEXT UNIQUE, v TEXT NOT NULL)")
    connection.execute("INSERT INTO t VALUES (1, 'a', 'x')")
    return connection


def test_sqlite_duplicate_keys_are_detected_by_error_code(tmp_path: Path) -> None:
    dialect = SqliteDialect()
    connection = _sqlite_table(tmp_path / "t.db")
    for statement in (
        "INSERT INTO t VALUES (1, 'b', 'x')",  # primary key
        "INSERT INTO t VALUES (2, 'a', 'x')",  # unique index
    ):
        with pytest.raises(sqlite3.IntegrityError) as caught:
            connection.execute(statement)
        assert dialect.is_duplicate_key(caught.value)
        assert isinstance(dialect.translate_error(caught.value), ConditionFailed)
    with pytest.raises(sqlite3.IntegrityError) as caught:
        connection.execute("INSERT INTO t VALUES (3, 'c', NULL)")
    assert not dialect.is_duplicate_key(caught.value)
    assert isinstance(dialect.translate_error(caught.value), InvalidRequest)
    connection.close()


def test_sqlite_busy_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    holder = _sqlite_table(path)
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    with pytest.raises(sqlite3.OperationalError) as caught:
        other.execute("BEGIN IMMEDIATE")
    assert isinstance(SqliteDialect().translate_error(caught.value), Unavailable)
    holder.execute("ROLLBACK")
    holder.close()
    other.close()


def test_sqlite_unknown_table_is_not_reported_as_transient(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "x.db")
    with pytest.raises(sqlite3.OperationalError) as caught:
        connection.execute("SELECT * FROM missing")
    translated = SqliteDialect().translate_error(caught.value)
    assert type(translated) is PersistenceError
    connection.close()


def test_postgres_duplicate_keys_are_detected_by_sqlstate(
    postgres_params: dict[str, Any], postgres_database: str
) -> None:
    dialect = PostgresDialect()
    with psycopg.connect(
        **{**postgres_params, "dbname": postgres_database}, autocommit=True
    ) as connection:
        connection.execute(
            "CREATE TEMPORARY TABLE t (k INTEGER PRIMARY KEY, u TEXT UNIQUE, v TEXT NOT NULL)"
        )
        connection.execute("INSERT INTO t VALUES (1, 'a', 'x')")
        for statement in (
            "INSERT INTO t VALUES (1, 'b', 'x')",
            "INSERT INTO t VALUES (2, 'a', 'x')",
        ):
            with pytest.raises(psycopg.IntegrityError) as caught:
                connection.execute(statement)
            assert dialect.is_duplicate_key(caught.value)
            assert isinstance(dialect.translate_error(caught.value), ConditionFailed)
        with pytest.raises(psycopg.IntegrityError) as caught:
            connection.execute("INSERT INTO t VALUES (3, 'c', NULL)")
        assert not dialect.is_duplicate_key(caught.value)
        assert isinstance(dialect.translate_error(caught.value), InvalidRequest)
