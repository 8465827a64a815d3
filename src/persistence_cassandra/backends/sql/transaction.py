"""The unit of work of the SQL stores: a synchronous function over one transaction.

Store logic is plain synchronous code over a :class:`Tx` (a DB-API cursor plus the dialect),
so that the same functions run on SQLite and PostgreSQL. A :class:`TransactionRunner` runs one
such function, whole, on an executor thread: one hop off the event loop per store operation,
never one per statement.

Two kinds of statement let a networked database save round trips without changing the store
code: writes whose result is not needed are *deferred* (:meth:`Tx.defer`), and locking reads
that are checked together are issued together (:meth:`Tx.fetchone_each`). This base class runs
both at once, in order; PostgreSQL's subclass sends them in pipelines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from persistence_cassandra.backends.sql.dialect import SqlDialect

__all__ = ["LockedReads", "Lookup", "Row", "TransactionRunner", "Tx", "Work"]

T = TypeVar("T")
Row = tuple[Any, ...]
Lookup = tuple[str, Sequence[Any]]
"""A statement and its parameters."""


class Tx:
    """One open transaction (or, for reads, one autocommit connection)."""

    __slots__ = ("_cursor", "dialect")

    def __init__(self, cursor: Any, dialect: SqlDialect) -> None:
        self._cursor = cursor
        self.dialect = dialect

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        self._cursor.execute(self.dialect.sql(statement), params)
        count: int = self._cursor.rowcount
        return count

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        if batch:
            self._cursor.executemany(self.dialect.sql(statement), batch)

    def fetchone(self, statement: str, params: Sequence[Any] = ()) -> Row | None:
        self._cursor.execute(self.dialect.sql(statement), params)
        row: Row | None = self._cursor.fetchone()
        return row

    def fetchall(self, statement: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cursor.execute(self.dialect.sql(statement), params)
        rows: list[Row] = self._cursor.fetchall()
        return rows

    def fetchone_each(self, lookups: Sequence[Lookup]) -> list[Row | None]:
        """The first row of each lookup, run in order (possibly in one round trip)."""
        return [self.fetchone(statement, params) for statement, params in lookups]

    def defer(self, statement: str, params: Sequence[Any] = ()) -> None:
        """A write whose row count is not needed: it runs before the next statement that
        returns something, or with the COMMIT, and its error fails the transaction then."""
        self.execute(statement, params)

    def defer_many(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        self.executemany(statement, rows)


Work = Callable[[Tx], T]


class LockedReads:
    """The row-locking reads that guard one write, issued together and then checked in the
    order they were added: that order is the contract's error priority (fence, current
    pointer, run rows), whatever else failed too."""

    __slots__ = ("_checks", "_lookups")

    def __init__(self) -> None:
        self._lookups: list[Lookup] = []
        self._checks: list[Callable[[Row | None], None]] = []

    def add(self, lookup: Lookup, check: Callable[[Row | None], None]) -> None:
        """``check`` receives the lookup's first row (``None`` if none) and raises to refuse."""
        self._lookups.append(lookup)
        self._checks.append(check)

    def run(self, tx: Tx) -> None:
        for check, row in zip(self._checks, tx.fetchone_each(self._lookups), strict=True):
            check(row)


class TransactionRunner(Protocol):
    """Runs units of work against one database; shared by every store of a bundle."""

    @property
    def dialect(self) -> SqlDialect: ...

    async def write(self, work: Callable[[Tx], T]) -> T:
        """Run ``work`` in a read-write transaction: committed if it returns, rolled back if it
        raises. Driver errors come out translated into our error tree."""
        ...

    async def read(self, work: Callable[[Tx], T]) -> T:
        """Run ``work`` outside an explicit transaction (each statement sees committed data)."""
        ...

    async def close(self) -> None: ...
