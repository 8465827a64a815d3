"""Visibility on SQLite and PostgreSQL: one row per execution, one per custom attribute value.

Queries are parsed once (:mod:`persistence_cassandra.visibility.parser`) and the typed tree is
compiled to parameterised SQL (:mod:`.visibility_query`). Pages are keyset pages over the
listing's total order, served by the ``(namespace_id, start_time, run_id)`` index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from persistence_cassandra.backends.sql.paging import check_page_size
from persistence_cassandra.backends.sql.transaction import Row, TransactionRunner, Tx
from persistence_cassandra.backends.sql.visibility_query import (
    compile_keyset,
    compile_order,
    compile_where,
)
from persistence_cassandra.errors import InvalidRequest, NotFound
from persistence_cassandra.records import DataBlob, Page, from_epoch_ms, to_epoch_ms
from persistence_cassandra.visibility.paging import decode_token, encode_token, sort_key
from persistence_cassandra.visibility.parser import parse_query
from persistence_cassandra.visibility.records import (
    AttributeValue,
    ExecutionStatus,
    SearchAttributeType,
    VisibilityRecord,
    VisibilityStart,
    require_closed_status,
)
from persistence_cassandra.visibility.tree import Query
from persistence_cassandra.visibility.validation import check_registration, normalize_attributes

__all__ = ["SqlVisibilityStore"]

_COLUMNS = (
    "namespace_id", "run_id", "workflow_id", "workflow_type", "task_queue", "start_time",
    "execution_time", "status", "close_time", "history_length", "history_size_bytes", "memo",
    "memo_encoding",
)  # fmt: skip
_SELECT = "SELECT " + ", ".join(f"v.{c}" for c in _COLUMNS) + " FROM executions_visibility v"
_ATTRIBUTE_COLUMNS = (
    "namespace_id", "run_id", "name", "seq", "keyword_value", "int_value", "double_value",
)  # fmt: skip
_INSERT_ATTRIBUTE = (
    f"INSERT INTO visibility_attributes ({', '.join(_ATTRIBUTE_COLUMNS)}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_DELETE_ATTRIBUTE = (
    "DELETE FROM visibility_attributes WHERE namespace_id = ? AND run_id = ? AND name = ?"
)
_DELETE_ATTRIBUTES = "DELETE FROM visibility_attributes WHERE namespace_id = ? AND run_id = ?"
_DELETE_EXECUTION = "DELETE FROM executions_visibility WHERE namespace_id = ? AND run_id = ?"
_GET_TYPES = "SELECT name, type FROM visibility_search_attributes WHERE namespace_id = ?"
_GET_TYPE = "SELECT type FROM visibility_search_attributes WHERE namespace_id = ? AND name = ?"
_EXISTS = "SELECT 1 FROM executions_visibility WHERE namespace_id = ? AND run_id = ?"
_UPDATE_MEMO = (
    "UPDATE executions_visibility SET memo = ?, memo_encoding = ? "
    "WHERE namespace_id = ? AND run_id = ?"
)
_CLOSE = (
    "UPDATE executions_visibility SET status = ?, close_time = ?, history_length = ?, "
    "history_size_bytes = ? WHERE namespace_id = ? AND run_id = ?"
)
_ATTRIBUTES_OF = (
    "SELECT run_id, name, seq, keyword_value, int_value, double_value FROM visibility_attributes"
    " WHERE namespace_id = ? AND run_id IN ({marks}) ORDER BY run_id, name, seq"
)


def _attribute_rows(
    namespace_id: str, run_id: str, name: str, type_: SearchAttributeType, value: AttributeValue
) -> list[tuple[object, ...]]:
    head = (namespace_id, run_id, name)
    if isinstance(value, tuple):
        return [(*head, seq, item, None, None) for seq, item in enumerate(value)]
    if type_ is SearchAttributeType.DOUBLE:
        return [(*head, 0, None, None, value)]
    if isinstance(value, datetime):
        return [(*head, 0, None, to_epoch_ms(value), None)]
    if isinstance(value, bool | int):
        return [(*head, 0, None, int(value), None)]
    return [(*head, 0, value, None, None)]


def _attribute_value(type_: SearchAttributeType | None, rows: Sequence[Row]) -> AttributeValue:
    keyword, integer, double = rows[0][3], rows[0][4], rows[0][5]
    if type_ is SearchAttributeType.KEYWORD_LIST:
        return tuple(str(row[3]) for row in rows)
    if type_ is SearchAttributeType.DOUBLE:
        return float(double)
    if type_ is SearchAttributeType.BOOL:
        return bool(integer)
    if type_ is SearchAttributeType.DATETIME:
        return from_epoch_ms(int(integer))
    if type_ is SearchAttributeType.INT:
        return int(integer)
    return str(keyword)


def _record(row: Row, attributes: Mapping[str, AttributeValue]) -> VisibilityRecord:
    return VisibilityRecord(
        namespace_id=row[0],
        run_id=row[1],
        workflow_id=row[2],
        workflow_type=row[3],
        task_queue=row[4],
        start_time=from_epoch_ms(row[5]),
        execution_time=from_epoch_ms(row[6]),
        status=ExecutionStatus(row[7]),
        close_time=None if row[8] is None else from_epoch_ms(row[8]),
        history_length=row[9],
        history_size_bytes=row[10],
        memo=DataBlob(bytes(row[11]), row[12]),
        search_attributes=dict(attributes),
    )


class SqlVisibilityStore:
    def __init__(self, runner: TransactionRunner) -> None:
        self._runner = runner
        dialect = runner.dialect
        self._insert_execution = dialect.insert_if_absent("executions_visibility", _COLUMNS)
        self._upsert_execution = dialect.upsert("executions_visibility", _COLUMNS[:2], _COLUMNS[2:])
        self._insert_type = dialect.insert_if_absent(
            "visibility_search_attributes", ("namespace_id", "name", "type")
        )

    # ------------------------------------------------------------------ attribute registry
    async def register_search_attributes(
        self, namespace_id: str, attributes: Mapping[str, SearchAttributeType]
    ) -> None:
        check_registration(attributes)

        def work(tx: Tx) -> None:
            for name, type_ in attributes.items():
                if tx.execute(self._insert_type, (namespace_id, name, type_.value)):
                    continue
                row = tx.fetchone(_GET_TYPE, (namespace_id, name))
                if row is not None and row[0] != type_.value:
                    raise InvalidRequest(
                        f"search attribute {name!r} is already registered in namespace "
                        f"{namespace_id} as {row[0]}, not {type_.value}"
                    )

        await self._runner.write(work)

    @staticmethod
    def _types(tx: Tx, namespace_id: str) -> dict[str, SearchAttributeType]:
        return {
            row[0]: SearchAttributeType.parse(row[1])
            for row in tx.fetchall(_GET_TYPES, (namespace_id,))
        }

    async def get_search_attributes(self, namespace_id: str) -> dict[str, SearchAttributeType]:
        return await self._runner.read(lambda tx: self._types(tx, namespace_id))

    # ------------------------------------------------------------------ writes
    def _write_attributes(
        self,
        tx: Tx,
        namespace_id: str,
        run_id: str,
        types: Mapping[str, SearchAttributeType],
        values: Mapping[str, AttributeValue | None],
    ) -> None:
        rows: list[tuple[object, ...]] = []
        for name, value in values.items():
            tx.execute(_DELETE_ATTRIBUTE, (namespace_id, run_id, name))
            if value is not None:
                rows.extend(_attribute_rows(namespace_id, run_id, name, types[name], value))
        tx.executemany(_INSERT_ATTRIBUTE, rows)

    async def record_started(self, start: VisibilityStart) -> None:
        def work(tx: Tx) -> None:
            types = self._types(tx, start.namespace_id)
            values = normalize_attributes(start.namespace_id, types, start.search_attributes)
            row = (
                start.namespace_id, start.run_id, start.workflow_id, start.workflow_type,
                start.task_queue, to_epoch_ms(start.start_time),
                to_epoch_ms(start.execution_time), int(ExecutionStatus.RUNNING), None, 0, 0,
                start.memo.data, start.memo.encoding,
            )  # fmt: skip
            if tx.execute(self._insert_execution, row):
                self._write_attributes(tx, start.namespace_id, start.run_id, types, values)

        await self._runner.write(work)

    async def upsert_search_attributes(
        self,
        namespace_id: str,
        run_id: str,
        attributes: Mapping[str, object],
        memo: DataBlob | None = None,
    ) -> None:
        def work(tx: Tx) -> None:
            types = self._types(tx, namespace_id)
            values = normalize_attributes(namespace_id, types, attributes)
            if tx.fetchone(_EXISTS + tx.dialect.lock_exclusive, (namespace_id, run_id)) is None:
                raise NotFound(f"no visibility record of run {run_id} in {namespace_id}")
            self._write_attributes(tx, namespace_id, run_id, types, values)
            if memo is not None:
                tx.execute(_UPDATE_MEMO, (memo.data, memo.encoding, namespace_id, run_id))

        await self._runner.write(work)

    async def record_closed(
        self,
        namespace_id: str,
        run_id: str,
        *,
        close_time: datetime,
        status: ExecutionStatus,
        history_length: int,
        history_size_bytes: int,
    ) -> None:
        require_closed_status(status)
        params = (
            int(status), to_epoch_ms(close_time), history_length, history_size_bytes,
            namespace_id, run_id,
        )  # fmt: skip

        def work(tx: Tx) -> None:
            if not tx.execute(_CLOSE, params):
                raise NotFound(f"no visibility record of run {run_id} in {namespace_id}")

        await self._runner.write(work)

    async def save_record(self, record: VisibilityRecord) -> None:
        def work(tx: Tx) -> None:
            types = self._types(tx, record.namespace_id)
            values = normalize_attributes(record.namespace_id, types, record.search_attributes)
            close_ms = None if record.close_time is None else to_epoch_ms(record.close_time)
            tx.execute(
                self._upsert_execution,
                (
                    record.namespace_id, record.run_id, record.workflow_id,
                    record.workflow_type, record.task_queue, to_epoch_ms(record.start_time),
                    to_epoch_ms(record.execution_time), int(record.status), close_ms,
                    record.history_length, record.history_size_bytes, record.memo.data,
                    record.memo.encoding,
                ),
            )  # fmt: skip
            tx.execute(_DELETE_ATTRIBUTES, (record.namespace_id, record.run_id))
            self._write_attributes(tx, record.namespace_id, record.run_id, types, values)

        await self._runner.write(work)

    async def delete_execution(self, namespace_id: str, run_id: str) -> None:
        def work(tx: Tx) -> None:
            tx.execute(_DELETE_ATTRIBUTES, (namespace_id, run_id))
            tx.execute(_DELETE_EXECUTION, (namespace_id, run_id))

        await self._runner.write(work)

    # ------------------------------------------------------------------ reads
    def _records(
        self, tx: Tx, namespace_id: str, types: Mapping[str, SearchAttributeType], rows: list[Row]
    ) -> list[VisibilityRecord]:
        if not rows:
            return []
        run_ids = [row[1] for row in rows]
        marks = ", ".join("?" for _ in run_ids)
        by_run: dict[str, dict[str, list[Row]]] = {}
        for value_row in tx.fetchall(_ATTRIBUTES_OF.format(marks=marks), (namespace_id, *run_ids)):
            by_run.setdefault(value_row[0], {}).setdefault(value_row[1], []).append(value_row)
        return [
            _record(
                row,
                {
                    name: _attribute_value(types.get(name), value_rows)
                    for name, value_rows in by_run.get(row[1], {}).items()
                },
            )
            for row in rows
        ]

    async def get_execution(self, namespace_id: str, run_id: str) -> VisibilityRecord:
        def work(tx: Tx) -> VisibilityRecord:
            rows = tx.fetchall(
                f"{_SELECT} WHERE v.namespace_id = ? AND v.run_id = ?", (namespace_id, run_id)
            )
            if not rows:
                raise NotFound(f"no visibility record of run {run_id} in {namespace_id}")
            return self._records(tx, namespace_id, self._types(tx, namespace_id), rows)[0]

        return await self._runner.read(work)

    def _parse(
        self, tx: Tx, namespace_id: str, query: str
    ) -> tuple[Query, dict[str, SearchAttributeType]]:
        types = self._types(tx, namespace_id)
        return parse_query(query, types), types

    async def list_executions(
        self, namespace_id: str, query: str, page_size: int, next_page_token: bytes = b""
    ) -> Page[VisibilityRecord]:
        check_page_size(page_size)

        def work(tx: Tx) -> Page[VisibilityRecord]:
            parsed, types = self._parse(tx, namespace_id, query)
            cursor = decode_token(parsed.order, next_page_token)
            where = compile_where(parsed.where)
            sql = f"{_SELECT} WHERE v.namespace_id = ? AND {where.sql}"
            params: list[object] = [namespace_id, *where.params]
            if cursor is not None:
                keyset = compile_keyset(parsed.order, cursor)
                sql += f" AND {keyset.sql}"
                params.extend(keyset.params)
            order = compile_order(parsed.order)
            rows = tx.fetchall(f"{sql} {order.sql} LIMIT ?", (*params, *order.params, page_size))
            records = self._records(tx, namespace_id, types, rows)
            token = (
                encode_token(parsed.order, sort_key(parsed.order, records[-1]))
                if len(records) == page_size
                else b""
            )
            return Page(records, token)

        return await self._runner.read(work)

    async def count_executions(self, namespace_id: str, query: str) -> int:
        def work(tx: Tx) -> int:
            parsed, _ = self._parse(tx, namespace_id, query)
            where = compile_where(parsed.where)
            row = tx.fetchone(
                "SELECT COUNT(*) FROM executions_visibility v "
                f"WHERE v.namespace_id = ? AND {where.sql}",
                (namespace_id, *where.params),
            )
            return int(row[0]) if row is not None else 0

        return await self._runner.read(work)

    async def count_executions_by_status(
        self, namespace_id: str, query: str
    ) -> dict[ExecutionStatus, int]:
        def work(tx: Tx) -> dict[ExecutionStatus, int]:
            parsed, _ = self._parse(tx, namespace_id, query)
            where = compile_where(parsed.where)
            rows = tx.fetchall(
                "SELECT v.status, COUNT(*) FROM executions_visibility v "
                f"WHERE v.namespace_id = ? AND {where.sql} GROUP BY v.status",
                (namespace_id, *where.params),
            )
            return {ExecutionStatus(row[0]): int(row[1]) for row in rows}

        return await self._runner.read(work)
