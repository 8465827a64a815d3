"""The visibility bench's raw side: record the statements a visibility store sends for one
call, then send exactly those (same text, same values, same page size and paging state)
through the backend's raw baseline driver, with nothing of ours in between.

What the raw side does not do is everything the store adds: reading the namespace's attribute
types, parsing and planning the query, decoding rows into records, evaluating residual
predicates, merging conjuncts, building page tokens, and the middleware.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from persistence_cassandra.backends.cassandra.session import CassandraSession, QueryResult
from persistence_cassandra.backends.cassandra.visibility_store import CassandraVisibilityStore
from persistence_cassandra.backends.sql.transaction import Row, TransactionRunner, Tx
from persistence_cassandra.backends.sql.visibility_store import SqlVisibilityStore
from persistence_cassandra.stores import VisibilityStore

__all__ = ["RecordedStatement", "StatementLog", "recording_store", "replay"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RecordedStatement:
    text: str
    """In the driver's own placeholder style."""
    params: tuple[object, ...]
    page_size: int | None = None
    paging_state: bytes = b""


@dataclass(slots=True)
class StatementLog:
    statements: list[RecordedStatement] = field(default_factory=list)
    recording: bool = False

    def add(self, statement: RecordedStatement) -> None:
        if self.recording:
            self.statements.append(statement)


class _RecordingTx:
    def __init__(self, tx: Tx, log: StatementLog) -> None:
        self._tx = tx
        self._log = log
        self.dialect = tx.dialect

    def fetchall(self, statement: str, params: Sequence[Any] = ()) -> list[Row]:
        self._log.add(RecordedStatement(self.dialect.sql(statement), tuple(params)))
        return self._tx.fetchall(statement, params)

    def fetchone(self, statement: str, params: Sequence[Any] = ()) -> Row | None:
        self._log.add(RecordedStatement(self.dialect.sql(statement), tuple(params)))
        return self._tx.fetchone(statement, params)

    def __getattr__(self, name: str) -> Any:  # writes pass through unrecorded
        return getattr(self._tx, name)


class _RecordingRunner:
    def __init__(self, runner: TransactionRunner, log: StatementLog) -> None:
        self._runner = runner
        self._log = log
        self.dialect = runner.dialect

    async def read(self, work: Callable[[Tx], T]) -> T:
        return await self._runner.read(lambda tx: work(_RecordingTx(tx, self._log)))  # type: ignore[arg-type]

    async def write(self, work: Callable[[Tx], T]) -> T:
        return await self._runner.write(work)

    async def close(self) -> None:
        await self._runner.close()


class _RecordingSession:
    def __init__(self, session: CassandraSession, log: StatementLog) -> None:
        self._session = session
        self._log = log

    async def read(
        self,
        cql: str,
        params: Sequence[object] = (),
        *,
        page_size: int | None = None,
        paging_state: bytes | None = None,
    ) -> QueryResult:
        self._log.add(RecordedStatement(cql, tuple(params), page_size, paging_state or b""))
        return await self._session.read(cql, params, page_size=page_size, paging_state=paging_state)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def recording_store(store: VisibilityStore, log: StatementLog) -> VisibilityStore:
    """A second store over ``store``'s connection whose reads are logged in ``log``."""
    # The bench reaches into the backend's store for its connection: it is a diagnostic
    # that must see exactly what the store sends.
    if isinstance(store, SqlVisibilityStore):
        return SqlVisibilityStore(_RecordingRunner(store._runner, log))
    if isinstance(store, CassandraVisibilityStore):
        return CassandraVisibilityStore(_RecordingSession(store._session, log))  # type: ignore[arg-type]
    raise TypeError(f"no statement recorder for {type(store).__name__}")


async def prepare(raw: Any, statements: Sequence[RecordedStatement]) -> None:
    """Prepare the recorded CQL on the raw session ahead of timing (SQL needs nothing)."""
    prepared = getattr(raw, "_prepared", None)
    session = getattr(raw, "_session", None)
    if prepared is None or session is None:
        return
    from cassandra import ProtocolVersion

    # Prepared as the baseline prepares its own: in its keyspace, per statement where the
    # protocol allows it (otherwise the session is already in the keyspace).
    keyspace = None
    if ProtocolVersion.uses_keyspace_flag(session.cluster.protocol_version):
        keyspace = next(iter(prepared.values())).keyspace
    for statement in statements:
        if statement.text not in prepared:
            prepared[statement.text] = await asyncio.to_thread(
                session.prepare, statement.text, keyspace=keyspace
            )


async def replay(raw: Any, statements: Sequence[RecordedStatement]) -> int:
    """Send ``statements`` in order through the raw baseline; returns the rows received."""
    rows = 0
    prepared = getattr(raw, "_prepared", None)
    for statement in statements:
        if prepared is not None:  # Cassandra
            bound = prepared[statement.text].bind(statement.params)
            bound.is_idempotent = True
            if statement.page_size is not None:
                bound.fetch_size = statement.page_size
            if statement.paging_state:
                bound.paging_state = statement.paging_state
            rows += len(await raw._execute(bound, raw._read_profile))
        else:
            rows += len(await raw._read(statement.text, statement.params))
    return rows
