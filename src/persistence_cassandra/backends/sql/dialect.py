"""What differs between the SQL databases we run on, and nothing else.

The stores in this package are written once against a DB-API connection; a :class:`SqlDialect`
supplies the few pieces of syntax and driver behaviour that differ (placeholders, row locks,
upsert, how a transaction begins) and is the one place where a driver's exceptions are turned
into our error tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from persistence_cassandra.errors import PersistenceError

__all__ = ["SqlDialect"]


class SqlDialect:
    """Base dialect: standard SQL with ``?`` placeholders and ``ON CONFLICT`` upserts.

    Store code writes every statement with ``?`` placeholders; :meth:`sql` rewrites them for a
    driver that uses another style. Statements therefore never contain a literal ``?``.
    """

    name: str = "sql"
    paramstyle_placeholder: str = "?"
    """What a ``?`` placeholder becomes for this driver."""
    lock_shared: str = ""
    """Suffix of a SELECT that takes a shared row lock (empty where the database has none)."""
    lock_exclusive: str = ""
    """Suffix of a SELECT that takes an exclusive row lock (empty where the database has none)."""
    begin_write: str = "BEGIN"
    """Statement that opens a read-write transaction."""

    table_exists_sql: str = ""
    """A query with one ``?`` (a table name) returning a row when that table exists."""

    def sql(self, statement: str) -> str:
        """``statement`` with its ``?`` placeholders in this driver's style."""
        if self.paramstyle_placeholder == "?":
            return statement
        return _rewrite_placeholders(statement, self.paramstyle_placeholder)

    def upsert(self, table: str, key_columns: Sequence[str], value_columns: Sequence[str]) -> str:
        """An insert that overwrites the value columns when the key already exists."""
        columns = [*key_columns, *value_columns]
        marks = ", ".join("?" for _ in columns)
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        if not value_columns:
            return f"{head} ON CONFLICT ({', '.join(key_columns)}) DO NOTHING"
        updates = ", ".join(f"{c} = excluded.{c}" for c in value_columns)
        return f"{head} ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {updates}"

    def insert_if_absent(self, table: str, columns: Sequence[str]) -> str:
        """An insert that writes nothing (rowcount 0) when any unique key already exists.

        Preferred over catching a duplicate-key error: on PostgreSQL an error aborts the whole
        transaction, while a skipped insert lets the transaction read the winner and go on.
        """
        marks = ", ".join("?" for _ in columns)
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING"

    def is_duplicate_key(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a unique or primary-key violation, judged by driver error code."""
        raise NotImplementedError

    def is_driver_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` comes from this dialect's driver (and so must be translated)."""
        raise NotImplementedError

    def translate_error(self, exc: BaseException, *, committing: bool = False) -> PersistenceError:
        """The error of our tree that ``exc`` (a driver exception) means.

        ``committing`` tells that ``exc`` was raised by the COMMIT itself, where a lost
        connection leaves the outcome unknown.
        """
        raise NotImplementedError


@lru_cache(maxsize=1024)
def _rewrite_placeholders(statement: str, placeholder: str) -> str:
    return statement.replace("?", placeholder)
