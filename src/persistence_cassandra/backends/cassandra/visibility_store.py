"""Visibility on Cassandra 5 and Astra DB, served by storage-attached indexes (docs/visibility.md).

Layout (schema v1.2): ``visibility_executions`` holds one row per execution in a partition
per namespace and start hour, clustered newest first; ten SAI indexes (Astra's per-table
limit) serve equality on id, type, task queue and status, ranges on close time, and equality
on custom Keyword, Int, Bool and Datetime attributes and KeywordList items.
``visibility_buckets`` lists the hours that hold executions, ``visibility_runs`` maps a run
to its start time.

No write is conditional and none spans partitions in one request: a start is written with
its start time as the write timestamp, so a retried or late start never overwrites a close, an
upsert or a delete made after it; an upsert writes only attribute columns and a close only
status columns, so they commute.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime

from persistence_cassandra.backends.cassandra.session import CassandraSession, Row
from persistence_cassandra.backends.cassandra.visibility_plan import (
    NO_UPPER_BOUND,
    ConjunctPlan,
    QueryPlan,
    keyword_list_entry,
    plan_query,
)
from persistence_cassandra.backends.cassandra.visibility_rows import (
    COLUMNS,
    MAP_COLUMNS,
    attribute_columns,
    bucket_of,
    record_from_row,
    stored_value,
)
from persistence_cassandra.errors import InvalidRequest, NotFound
from persistence_cassandra.records import DataBlob, Page, to_epoch_ms
from persistence_cassandra.visibility.evaluator import matches
from persistence_cassandra.visibility.paging import (
    SortKey,
    after_cursor,
    decode_token,
    encode_token,
    sort_key,
)
from persistence_cassandra.visibility.parser import parse_query
from persistence_cassandra.visibility.records import (
    AttributeValue,
    ExecutionStatus,
    SearchAttributeType,
    VisibilityRecord,
    VisibilityStart,
    require_closed_status,
)
from persistence_cassandra.visibility.tree import OrderBy, OrderField, Query
from persistence_cassandra.visibility.validation import check_registration, normalize_attributes

__all__ = ["MAX_SORTED_MATCHES", "CassandraVisibilityStore", "select_statement"]

MAX_SORTED_MATCHES = 100_000
"""``ORDER BY CloseTime`` sorts every match in memory; beyond this the query is refused."""
FETCH_ROWS = 200
COUNT_FETCH_ROWS = 5000
BUCKET_FETCH = 100

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM visibility_executions"
_PARTITION = "namespace_id = ? AND bucket = ?"
_ROW = f"{_PARTITION} AND start_time = ? AND run_id = ?"
_INSERT = (
    f"INSERT INTO visibility_executions ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)
_INSERT_STARTED = f"{_INSERT} USING TIMESTAMP ?"
_INSERT_RUN = "INSERT INTO visibility_runs (namespace_id, run_id, start_time) VALUES (?, ?, ?)"
_INSERT_RUN_STARTED = f"{_INSERT_RUN} USING TIMESTAMP ?"
_GET_RUN = "SELECT start_time FROM visibility_runs WHERE namespace_id = ? AND run_id = ?"
_DELETE_RUN = "DELETE FROM visibility_runs WHERE namespace_id = ? AND run_id = ?"
_DELETE_ROW = f"DELETE FROM visibility_executions WHERE {_ROW}"
_INSERT_BUCKET = "INSERT INTO visibility_buckets (namespace_id, bucket) VALUES (?, ?)"
_BUCKETS = (
    "SELECT bucket FROM visibility_buckets WHERE namespace_id = ? AND bucket >= ? AND bucket <= ?"
)
_CLOSE = (
    "UPDATE visibility_executions SET status = ?, close_time = ?, history_length = ?, "
    f"history_size_bytes = ? WHERE {_ROW}"
)
_GET_ROW = f"{_SELECT} WHERE {_ROW}"
_GET_TYPES = "SELECT name, type FROM visibility_search_attributes WHERE namespace_id = ?"
_REGISTER = (
    "INSERT INTO visibility_search_attributes (namespace_id, name, type) VALUES (?, ?, ?) "
    "IF NOT EXISTS"
)

Bound = tuple[tuple[int, str], bool]
"""A bound on ``(start_time, run_id)`` and whether it is strict."""


def _tighter_upper(left: Bound | None, right: Bound | None) -> Bound | None:
    if left is None or right is None:
        return left or right
    if left[0] != right[0]:
        return left if left[0] < right[0] else right
    return left if left[1] else right


def _tighter_lower(left: Bound | None, right: Bound | None) -> Bound | None:
    if left is None or right is None:
        return left or right
    if left[0] != right[0]:
        return left if left[0] > right[0] else right
    return left if left[1] else right


def select_statement(
    conjunct: ConjunctPlan,
    lower: Bound | None,
    upper: Bound | None,
    *,
    ascending: bool,
    columns: str = "",
) -> tuple[str, list[object]]:
    """The CQL (and its values after namespace and bucket) reading one conjunct in a bucket."""
    cql = (f"SELECT {columns} FROM visibility_executions" if columns else _SELECT) + (
        f" WHERE {_PARTITION}"
    )
    params: list[object] = []
    if lower is not None:
        cql += f" AND (start_time, run_id) {'>' if lower[1] else '>='} (?, ?)"
        params.extend(lower[0])
    if upper is not None:
        cql += f" AND (start_time, run_id) {'<' if upper[1] else '<='} (?, ?)"
        params.extend(upper[0])
    for restriction, values in conjunct.restrictions:
        cql += f" AND {restriction}"
        params.extend(values)
    if ascending and not conjunct.indexed and not columns:
        cql += " ORDER BY start_time ASC, run_id ASC"  # SAI queries take no ORDER BY
    return cql, params


def _key(row: Row) -> tuple[int, str]:
    return (row["start_time"], row["run_id"])


class CassandraVisibilityStore:
    def __init__(self, session: CassandraSession) -> None:
        self._session = session

    # ------------------------------------------------------------------ attribute registry
    async def register_search_attributes(
        self, namespace_id: str, attributes: Mapping[str, SearchAttributeType]
    ) -> None:
        check_registration(attributes)
        for name, type_ in attributes.items():
            result = await self._session.write(_REGISTER, (namespace_id, name, type_.value))
            stored = result.first()
            if not result.applied and stored is not None and stored.get("type") != type_.value:
                raise InvalidRequest(
                    f"search attribute {name!r} is already registered in namespace "
                    f"{namespace_id} as {stored.get('type')}, not {type_.value}"
                )

    async def get_search_attributes(self, namespace_id: str) -> dict[str, SearchAttributeType]:
        rows = (await self._session.read(_GET_TYPES, (namespace_id,))).rows
        return {row["name"]: SearchAttributeType.parse(row["type"]) for row in rows}

    # ------------------------------------------------------------------ writes
    async def _start_ms(self, namespace_id: str, run_id: str) -> int | None:
        row = (await self._session.read(_GET_RUN, (namespace_id, run_id))).first()
        return None if row is None else int(row["start_time"])

    async def _require_start_ms(self, namespace_id: str, run_id: str) -> int:
        start_ms = await self._start_ms(namespace_id, run_id)
        if start_ms is None:
            raise NotFound(f"no visibility record of run {run_id} in {namespace_id}")
        return start_ms

    def _row_values(self, record: VisibilityRecord, columns: Mapping[str, object]) -> list[object]:
        start_ms = to_epoch_ms(record.start_time)
        close_ms = None if record.close_time is None else to_epoch_ms(record.close_time)
        values: dict[str, object] = {
            "namespace_id": record.namespace_id,
            "bucket": bucket_of(start_ms),
            "start_time": start_ms,
            "run_id": record.run_id,
            "workflow_id": record.workflow_id,
            "workflow_type": record.workflow_type,
            "task_queue": record.task_queue,
            "execution_time": to_epoch_ms(record.execution_time),
            "status": int(record.status),
            "close_time": close_ms,
            "history_length": record.history_length,
            "history_size_bytes": record.history_size_bytes,
            "memo": record.memo.data,
            "memo_encoding": record.memo.encoding,
            **columns,
        }
        return [values[column] for column in COLUMNS]

    async def record_started(self, start: VisibilityStart) -> None:
        types = await self.get_search_attributes(start.namespace_id)
        values = normalize_attributes(start.namespace_id, types, start.search_attributes)
        record = VisibilityRecord(
            start.namespace_id, start.workflow_id, start.run_id, start.workflow_type,
            start.task_queue, start.start_time, start.execution_time, ExecutionStatus.RUNNING,
            memo=start.memo,
        )  # fmt: skip
        start_ms = to_epoch_ms(start.start_time)
        # Written at the start time: anything done to the run later has a later timestamp.
        write_time_us = start_ms * 1000
        row = self._row_values(record, attribute_columns(types, values))
        # The bucket first and the run last: a run that can be found has its row and bucket.
        await self._session.write(_INSERT_BUCKET, (start.namespace_id, bucket_of(start_ms)))
        await self._session.write(_INSERT_STARTED, (*row, write_time_us))
        await self._session.write(
            _INSERT_RUN_STARTED, (start.namespace_id, start.run_id, start_ms, write_time_us)
        )

    async def upsert_search_attributes(
        self,
        namespace_id: str,
        run_id: str,
        attributes: Mapping[str, object],
        memo: DataBlob | None = None,
    ) -> None:
        types = await self.get_search_attributes(namespace_id)
        values = normalize_attributes(namespace_id, types, attributes)
        start_ms = await self._require_start_ms(namespace_id, run_id)
        key = (namespace_id, bucket_of(start_ms), start_ms, run_id)
        assignments: list[str] = []
        params: list[object] = []
        lists_changed = False
        for name, value in values.items():
            column = MAP_COLUMNS[types[name]]
            lists_changed |= types[name] is SearchAttributeType.KEYWORD_LIST
            if value is None:
                assignments.append(f"{column} = {column} - ?")
                params.append({name})
            else:
                assignments.append(f"{column}[?] = ?")
                params.extend((name, stored_value(value)))
        if lists_changed:
            # The indexed item set is rebuilt from the row's lists: upserts of one execution
            # arrive one after another (its visibility tasks are ordered), so this read is
            # not raced by another upsert of the same run.
            entries = await self._list_entries(key, values, types)
            assignments.append("sa_keyword_list_values = ?")
            params.append(entries)
        if memo is not None:
            assignments.extend(("memo = ?", "memo_encoding = ?"))
            params.extend((memo.data, memo.encoding))
        if not assignments:
            return
        await self._session.write(
            f"UPDATE visibility_executions SET {', '.join(assignments)} WHERE {_ROW}",
            (*params, *key),
        )

    async def _list_entries(
        self,
        key: tuple[object, ...],
        values: Mapping[str, AttributeValue | None],
        types: Mapping[str, SearchAttributeType],
    ) -> set[str]:
        row = (
            await self._session.read(
                f"SELECT sa_keyword_list FROM visibility_executions WHERE {_ROW}", key
            )
        ).first()
        lists: dict[str, list[str]] = dict((row or {}).get("sa_keyword_list") or {})
        for name, value in values.items():
            if types[name] is SearchAttributeType.KEYWORD_LIST:
                if value is None:
                    lists.pop(name, None)
                else:
                    assert isinstance(value, tuple)
                    lists[name] = list(value)
        return {keyword_list_entry(name, item) for name, items in lists.items() for item in items}

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
        start_ms = await self._require_start_ms(namespace_id, run_id)
        await self._session.write(
            _CLOSE,
            (
                int(status), to_epoch_ms(close_time), history_length, history_size_bytes,
                namespace_id, bucket_of(start_ms), start_ms, run_id,
            ),
        )  # fmt: skip

    async def save_record(self, record: VisibilityRecord) -> None:
        types = await self.get_search_attributes(record.namespace_id)
        values = normalize_attributes(record.namespace_id, types, record.search_attributes)
        start_ms = to_epoch_ms(record.start_time)
        stored_start = await self._start_ms(record.namespace_id, record.run_id)
        if stored_start is not None and stored_start != start_ms:
            await self.delete_execution(record.namespace_id, record.run_id)
        row = self._row_values(record, attribute_columns(types, values))
        await self._session.write(_INSERT_BUCKET, (record.namespace_id, bucket_of(start_ms)))
        await self._session.write(_INSERT, row)
        await self._session.write(_INSERT_RUN, (record.namespace_id, record.run_id, start_ms))

    async def delete_execution(self, namespace_id: str, run_id: str) -> None:
        start_ms = await self._start_ms(namespace_id, run_id)
        if start_ms is None:
            return
        await self._session.write(
            _DELETE_ROW, (namespace_id, bucket_of(start_ms), start_ms, run_id)
        )
        await self._session.write(_DELETE_RUN, (namespace_id, run_id))

    # ------------------------------------------------------------------ reads
    async def get_execution(self, namespace_id: str, run_id: str) -> VisibilityRecord:
        start_ms = await self._require_start_ms(namespace_id, run_id)
        row = (
            await self._session.read(
                _GET_ROW, (namespace_id, bucket_of(start_ms), start_ms, run_id)
            )
        ).first()
        if row is None or row["status"] is None:
            raise NotFound(f"no visibility record of run {run_id} in {namespace_id}")
        return record_from_row(row)

    async def _parse(self, namespace_id: str, query: str) -> Query:
        return parse_query(query, await self.get_search_attributes(namespace_id))

    async def _buckets(
        self, namespace_id: str, low: int, high: int, *, descending: bool
    ) -> AsyncIterator[int]:
        cql = _BUCKETS if descending else f"{_BUCKETS} ORDER BY bucket ASC"
        state = b""
        while True:
            result = await self._session.read(
                cql, (namespace_id, low, high), page_size=BUCKET_FETCH, paging_state=state
            )
            for row in result.rows:
                yield int(row["bucket"])
            state = result.next_page_token
            if not state:
                return

    async def _conjunct_rows(
        self,
        namespace_id: str,
        bucket: int,
        conjunct: ConjunctPlan,
        cursor: tuple[int, str] | None,
        *,
        descending: bool,
        fetch: int,
    ) -> AsyncIterator[Row]:
        lower: Bound | None = ((conjunct.start_low, ""), False) if conjunct.start_low else None
        upper: Bound | None = None
        if conjunct.start_high != NO_UPPER_BOUND:
            upper = ((conjunct.start_high + 1, ""), True)
        if cursor is not None and descending:
            upper = _tighter_upper(upper, (cursor, True))
        elif cursor is not None:
            lower = _tighter_lower(lower, (cursor, True))
        cql, params = select_statement(conjunct, lower, upper, ascending=not descending)
        reverse = not descending and conjunct.indexed
        held: list[Row] = []
        state = b""
        while True:
            result = await self._session.read(
                cql, (namespace_id, bucket, *params), page_size=fetch, paging_state=state
            )
            if reverse:
                held.extend(result.rows)  # SAI returns newest first; ascending reads it all
            else:
                for row in result.rows:
                    yield row
            state = result.next_page_token
            if not state:
                break
        for row in reversed(held):
            yield row

    async def _merged(
        self, streams: Sequence[AsyncIterator[Row]], *, descending: bool
    ) -> AsyncIterator[Row]:
        """The streams' rows in order, each once (a row several conjuncts match is adjacent
        to itself in the merged order)."""
        heads = list(await asyncio.gather(*(anext(s, None) for s in streams)))
        last: tuple[int, str] | None = None
        while True:
            best: int | None = None
            for index, head in enumerate(heads):
                if head is None:
                    continue
                if best is None:
                    best = index
                    continue
                current = heads[best]
                assert current is not None
                if (_key(head) > _key(current)) == descending and _key(head) != _key(current):
                    best = index
            if best is None:
                return
            row = heads[best]
            assert row is not None
            heads[best] = await anext(streams[best], None)
            if _key(row) != last:
                last = _key(row)
                yield row

    async def _matching(
        self,
        namespace_id: str,
        query: Query,
        plan: QueryPlan,
        cursor: tuple[int, str] | None,
        *,
        descending: bool,
        fetch: int = FETCH_ROWS,
    ) -> AsyncIterator[VisibilityRecord]:
        """Matches in StartTime order after ``cursor``, bucket by bucket."""
        conjuncts = [c for c in plan.conjuncts if not c.empty]
        if not conjuncts:
            return
        low, high = plan.start_low, plan.start_high
        if cursor is not None and descending:
            high = min(high, cursor[0])
        elif cursor is not None:
            low = max(low, cursor[0])
        async for bucket in self._buckets(
            namespace_id, bucket_of(low), bucket_of(min(high, NO_UPPER_BOUND)),
            descending=descending,
        ):  # fmt: skip
            streams = [
                self._conjunct_rows(
                    namespace_id, bucket, c, cursor, descending=descending, fetch=fetch
                )
                for c in conjuncts
                if bucket_of(c.start_low) <= bucket <= bucket_of(c.start_high)
            ]
            rows = streams[0] if len(streams) == 1 else self._merged(streams, descending=descending)
            async for row in rows:
                if row["status"] is None:
                    continue  # what an upsert racing a delete left: no execution
                record = record_from_row(row)
                if matches(query.where, record):
                    yield record

    async def list_executions(
        self, namespace_id: str, query: str, page_size: int, next_page_token: bytes = b""
    ) -> Page[VisibilityRecord]:
        if page_size <= 0:
            raise InvalidRequest(f"page_size must be positive (got {page_size})")
        parsed = await self._parse(namespace_id, query)
        cursor = decode_token(parsed.order, next_page_token)
        plan = plan_query(parsed.where)
        if parsed.order.field is OrderField.CLOSE_TIME:
            page = await self._sorted_page(namespace_id, parsed, plan, cursor, page_size)
        else:
            page = []
            start_cursor = None if cursor is None else (int(cursor[0]), str(cursor[1]))
            fetch = min(max(page_size + 1, 20), FETCH_ROWS)
            async for record in self._matching(
                namespace_id, parsed, plan, start_cursor,
                descending=parsed.order.descending, fetch=fetch,
            ):  # fmt: skip
                page.append(record)
                if len(page) == page_size:
                    break
        token = (
            encode_token(parsed.order, sort_key(parsed.order, page[-1]))
            if len(page) == page_size
            else b""
        )
        return Page(page, token)

    async def _sorted_page(
        self,
        namespace_id: str,
        query: Query,
        plan: QueryPlan,
        cursor: SortKey | None,
        page_size: int,
    ) -> list[VisibilityRecord]:
        """``ORDER BY CloseTime``: every match is read and sorted; the token is still a key."""
        order: OrderBy = query.order
        chosen: list[VisibilityRecord] = []
        async for record in self._matching(
            namespace_id, query, plan, None, descending=True, fetch=COUNT_FETCH_ROWS
        ):
            key = sort_key(order, record)
            if cursor is None or after_cursor(order, key, cursor):
                chosen.append(record)
                if len(chosen) > MAX_SORTED_MATCHES:
                    raise InvalidRequest(
                        f"ORDER BY CloseTime sorts every match and more than "
                        f"{MAX_SORTED_MATCHES} match; narrow the query (e.g. by StartTime)"
                    )
        chosen.sort(key=lambda r: sort_key(order, r), reverse=order.descending)
        return chosen[:page_size]

    async def _server_count(
        self, namespace_id: str, plan: QueryPlan, extra: tuple[str, object] | None = None
    ) -> int:
        """A count the indexes answer whole: one ``COUNT(*)`` per bucket, no rows shipped."""
        conjunct = plan.conjuncts[0]
        if conjunct.empty:
            return 0
        if extra is not None:
            conjunct = ConjunctPlan(
                restrictions=[*conjunct.restrictions, (extra[0], (extra[1],))],
                start_low=conjunct.start_low,
                start_high=conjunct.start_high,
            )
        lower: Bound | None = ((conjunct.start_low, ""), False) if conjunct.start_low else None
        upper: Bound | None = None
        if conjunct.start_high != NO_UPPER_BOUND:
            upper = ((conjunct.start_high + 1, ""), True)
        cql, params = select_statement(
            conjunct, lower, upper, ascending=False, columns="COUNT(*) AS matched"
        )
        total = 0
        async for bucket in self._buckets(
            namespace_id, bucket_of(conjunct.start_low), bucket_of(conjunct.start_high),
            descending=True,
        ):  # fmt: skip
            row = (await self._session.read(cql, (namespace_id, bucket, *params))).first()
            total += int(row["matched"]) if row is not None else 0
        return total

    async def count_executions(self, namespace_id: str, query: str) -> int:
        parsed = await self._parse(namespace_id, query)
        plan = plan_query(parsed.where)
        if plan.exact:
            return await self._server_count(namespace_id, plan)
        total = 0
        async for _ in self._matching(
            namespace_id, parsed, plan, None, descending=True, fetch=COUNT_FETCH_ROWS
        ):
            total += 1
        return total

    async def count_executions_by_status(
        self, namespace_id: str, query: str
    ) -> dict[ExecutionStatus, int]:
        parsed = await self._parse(namespace_id, query)
        plan = plan_query(parsed.where)
        counts: dict[ExecutionStatus, int] = {}
        if plan.exact and not any(
            r.startswith("status ") for r, _ in plan.conjuncts[0].restrictions
        ):
            for status in ExecutionStatus:
                count = await self._server_count(namespace_id, plan, ("status = ?", int(status)))
                if count:
                    counts[status] = count
            return counts
        async for record in self._matching(
            namespace_id, parsed, plan, None, descending=True, fetch=COUNT_FETCH_ROWS
        ):
            counts[record.status] = counts.get(record.status, 0) + 1
        return counts
