"""The raw SQL baseline sends exactly the statements the SQL layer sends.

Two SQLite files get identical workers; every bench operation then runs once through our
stores on the first and once through the raw baseline on the second, with SQLite tracing every
statement either connection runs. The traces must be equal, up to values that legitimately
differ (blob bytes such as fork times in tree rows, and the clock in expiry filters).

The SQL text of the raw baseline is partly repeated from the SQL layer (which builds some
statements inline); this test is what keeps the two from drifting apart.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from persistence_cassandra.backends.sql import sqlite as sqlite_backend
from persistence_cassandra.bench.fixtures import NAMESPACE, prepare_workers
from persistence_cassandra.bench.operations import OPERATIONS
from persistence_cassandra.bench.raw_sqlite import RawSqliteBaseline
from persistence_cassandra.config import PersistenceConfig, parse_config
from persistence_cassandra.factory import open_persistence
from persistence_cassandra.records import DataBlob, NamespaceRecord

NAMESPACE_ID = "ns-parity"
SHARD = 424_242


class Trace:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.recording = False
        self._lock = threading.Lock()

    def traced(self, connect: Callable[[], sqlite3.Connection]) -> Callable[[], sqlite3.Connection]:
        def traced_connect() -> sqlite3.Connection:
            connection = connect()
            connection.set_trace_callback(self._record)
            return connection

        return traced_connect

    def _record(self, statement: str) -> None:
        if self.recording and not statement.startswith("PRAGMA"):
            with self._lock:
                self.statements.append(statement)

    def take(self) -> list[str]:
        taken, self.statements = self.statements, []
        return [_normalize(statement) for statement in taken]


def _normalize(statement: str) -> str:
    statement = re.sub(r"x'[0-9a-fA-F]*'", "x'…'", statement)
    return re.sub(r"\b1\d{12}\b", "<epoch-ms>", statement)  # the clock, in milliseconds


def _config(database: Path) -> PersistenceConfig:
    return parse_config(
        {
            "defaultStore": "s",
            "datastores": {"s": {"sql": {"pluginName": "sqlite", "databaseName": str(database)}}},
        }
    )


async def test_raw_sqlite_sends_the_sql_layers_statements(tmp_path, monkeypatch):
    ours_db, raw_db = tmp_path / "ours.db", tmp_path / "raw.db"
    ours_trace, raw_trace = Trace(), Trace()
    traces = {str(ours_db): ours_trace, str(raw_db): raw_trace}
    factory = sqlite_backend.connection_factory

    def traced_factory(
        database: str, attributes: dict[str, str], *, must_exist: bool
    ) -> Callable[[], sqlite3.Connection]:
        return traces[database].traced(factory(database, attributes, must_exist=must_exist))

    # The backend opens its connections through this module function: trace what it runs.
    monkeypatch.setattr(sqlite_backend, "connection_factory", traced_factory)
    ours = await open_persistence(_config(ours_db))
    setup = await open_persistence(_config(raw_db))
    raw = RawSqliteBaseline(raw_trace.traced(factory(str(raw_db), {}, must_exist=True)), 2)
    await raw.start()
    try:
        workers = []
        for persistence in (ours, setup):
            await persistence.metadata.create_namespace(
                NamespaceRecord(NAMESPACE_ID, NAMESPACE, DataBlob(b"{}"))
            )
            (worker,) = await prepare_workers(persistence, "parity", 1, SHARD, NAMESPACE_ID)
            workers.append(worker)
        ours_worker, raw_worker = workers
        ours_trace.recording = raw_trace.recording = True
        for operation in OPERATIONS:
            await operation.ours(ours, ours_worker)
            await operation.raw(raw, raw_worker)
            expected, actual = ours_trace.take(), raw_trace.take()
            assert expected, operation.name
            assert actual == expected, operation.name
    finally:
        await raw.close()
        await setup.close()
        await ours.close()
