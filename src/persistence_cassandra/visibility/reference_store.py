"""An in-memory :class:`~persistence_cassandra.stores.VisibilityStore` built on the reference
evaluator: the model property tests and the workload's integrity check compare backends with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from persistence_cassandra.errors import InvalidRequest, NotFound
from persistence_cassandra.records import DataBlob, Page, truncate_to_ms
from persistence_cassandra.visibility.evaluator import reference_count, reference_page
from persistence_cassandra.visibility.paging import decode_token, encode_token
from persistence_cassandra.visibility.parser import parse_query
from persistence_cassandra.visibility.records import (
    ExecutionStatus,
    SearchAttributeType,
    VisibilityRecord,
    VisibilityStart,
    require_closed_status,
)
from persistence_cassandra.visibility.validation import check_registration, normalize_attributes

__all__ = ["ReferenceVisibilityStore"]


class ReferenceVisibilityStore:
    def __init__(self) -> None:
        self._types: dict[str, dict[str, SearchAttributeType]] = {}
        self._records: dict[tuple[str, str], VisibilityRecord] = {}

    def records(self, namespace_id: str) -> list[VisibilityRecord]:
        return [r for (ns, _), r in self._records.items() if ns == namespace_id]

    async def register_search_attributes(
        self, namespace_id: str, attributes: Mapping[str, SearchAttributeType]
    ) -> None:
        check_registration(attributes)
        known = self._types.setdefault(namespace_id, {})
        for name, type_ in attributes.items():
            if known.get(name, type_) is not type_:
                raise InvalidRequest(
                    f"search attribute {name!r} is already registered in namespace "
                    f"{namespace_id} as {known[name].value}, not {type_.value}"
                )
            known[name] = type_

    async def get_search_attributes(self, namespace_id: str) -> dict[str, SearchAttributeType]:
        return dict(self._types.get(namespace_id, {}))

    def _get(self, namespace_id: str, run_id: str) -> VisibilityRecord:
        record = self._records.get((namespace_id, run_id))
        if record is None:
            raise NotFound(f"no visibility record of run {run_id} in {namespace_id}")
        return record

    async def record_started(self, start: VisibilityStart) -> None:
        types = self._types.get(start.namespace_id, {})
        values = normalize_attributes(start.namespace_id, types, start.search_attributes)
        key = (start.namespace_id, start.run_id)
        if key in self._records:
            return
        self._records[key] = VisibilityRecord(
            start.namespace_id, start.workflow_id, start.run_id, start.workflow_type,
            start.task_queue, truncate_to_ms(start.start_time),
            truncate_to_ms(start.execution_time), ExecutionStatus.RUNNING, memo=start.memo,
            search_attributes={k: v for k, v in values.items() if v is not None},
        )  # fmt: skip

    async def upsert_search_attributes(
        self,
        namespace_id: str,
        run_id: str,
        attributes: Mapping[str, object],
        memo: DataBlob | None = None,
    ) -> None:
        values = normalize_attributes(namespace_id, self._types.get(namespace_id, {}), attributes)
        record = self._get(namespace_id, run_id)
        merged = dict(record.search_attributes)
        for name, value in values.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        self._records[(namespace_id, run_id)] = replace(
            record, search_attributes=merged, memo=record.memo if memo is None else memo
        )

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
        record = self._get(namespace_id, run_id)
        self._records[(namespace_id, run_id)] = replace(
            record,
            status=status,
            close_time=truncate_to_ms(close_time),
            history_length=history_length,
            history_size_bytes=history_size_bytes,
        )

    async def save_record(self, record: VisibilityRecord) -> None:
        types = self._types.get(record.namespace_id, {})
        values = normalize_attributes(record.namespace_id, types, record.search_attributes)
        self._records[(record.namespace_id, record.run_id)] = replace(
            record, search_attributes={k: v for k, v in values.items() if v is not None}
        )

    async def delete_execution(self, namespace_id: str, run_id: str) -> None:
        self._records.pop((namespace_id, run_id), None)

    async def get_execution(self, namespace_id: str, run_id: str) -> VisibilityRecord:
        return self._get(namespace_id, run_id)

    async def list_executions(
        self, namespace_id: str, query: str, page_size: int, next_page_token: bytes = b""
    ) -> Page[VisibilityRecord]:
        if page_size <= 0:
            raise InvalidRequest(f"page_size must be positive (got {page_size})")
        parsed = parse_query(query, self._types.get(namespace_id, {}))
        cursor = decode_token(parsed.order, next_page_token)
        page, next_cursor = reference_page(self.records(namespace_id), parsed, page_size, cursor)
        return Page(page, encode_token(parsed.order, next_cursor))

    async def count_executions(self, namespace_id: str, query: str) -> int:
        parsed = parse_query(query, self._types.get(namespace_id, {}))
        return reference_count(self.records(namespace_id), parsed)

    async def count_executions_by_status(
        self, namespace_id: str, query: str
    ) -> dict[ExecutionStatus, int]:
        parsed = parse_query(query, self._types.get(namespace_id, {}))
        counts: dict[ExecutionStatus, int] = {}
        for record in self.records(namespace_id):
            if reference_count([record], parsed):
                counts[record.status] = counts.get(record.status, 0) + 1
        return counts
