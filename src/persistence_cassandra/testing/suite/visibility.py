"""VisibilityStore conformance: the same queries give the reference evaluator's answers,
page by page, on every backend; writes are idempotent and a close is never undone."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from persistence_cassandra.errors import InvalidRequest, NotFound
from persistence_cassandra.records import DataBlob
from persistence_cassandra.stores import StoreBundle, VisibilityStore
from persistence_cassandra.testing.visibility_data import (
    CUSTOM_ATTRIBUTES,
    QUERIES,
    VisibilityPair,
    collect_listing,
    history_start,
    new_namespace,
)
from persistence_cassandra.visibility.parser import QueryError
from persistence_cassandra.visibility.records import (
    ExecutionStatus,
    SearchAttributeType,
    VisibilityRecord,
    VisibilityStart,
)
from persistence_cassandra.visibility.reference_store import ReferenceVisibilityStore

__all__ = ["TestVisibilityQueries", "TestVisibilityWrites", "check_close_survived"]


def _visibility(stores: StoreBundle) -> VisibilityStore:
    assert stores.visibility is not None, "the backend has no visibility store"
    return stores.visibility


def _start(namespace_id: str, index: int = 0, **attributes: object) -> VisibilityStart:
    start_time = history_start() + timedelta(minutes=index)
    return VisibilityStart(
        namespace_id, f"wf-{index}", f"run-{index}", "payment", "q1", start_time, start_time,
        DataBlob(b"m", "json"), attributes,
    )  # fmt: skip


async def _registered(stores: StoreBundle) -> tuple[VisibilityStore, str]:
    store = _visibility(stores)
    namespace_id = new_namespace()
    await store.register_search_attributes(namespace_id, CUSTOM_ATTRIBUTES)
    return store, namespace_id


def check_close_survived(record: VisibilityRecord, attributes: dict[str, object]) -> None:
    """After an upsert raced a close, both must show: the close and the attributes."""
    assert record.status is ExecutionStatus.COMPLETED, f"close undone: {record}"
    assert record.close_time is not None
    for name, value in attributes.items():
        assert record.search_attributes.get(name) == value, f"upsert lost: {record}"


class TestVisibilityWrites:
    async def test_registration(self, stores: StoreBundle) -> None:
        store, namespace_id = await _registered(stores)
        assert await store.get_search_attributes(namespace_id) == CUSTOM_ATTRIBUTES
        await store.register_search_attributes(namespace_id, {"Amount": SearchAttributeType.INT})
        with pytest.raises(InvalidRequest, match="already registered"):
            await store.register_search_attributes(
                namespace_id, {"Amount": SearchAttributeType.KEYWORD}
            )
        with pytest.raises(InvalidRequest, match="system search attribute"):
            await store.register_search_attributes(
                namespace_id, {"WorkflowType": SearchAttributeType.KEYWORD}
            )
        assert await store.get_search_attributes(new_namespace()) == {}

    async def test_start_get_upsert_close_delete(self, stores: StoreBundle) -> None:
        store, ns = await _registered(stores)
        start = _start(ns, CustomerId="c1", Tags=["a", "b"], Amount=3)
        await store.record_started(start)
        record = await store.get_execution(ns, "run-0")
        assert record.status is ExecutionStatus.RUNNING and record.close_time is None
        assert record.workflow_type == "payment" and record.memo == DataBlob(b"m", "json")
        assert record.search_attributes == {"CustomerId": "c1", "Tags": ("a", "b"), "Amount": 3}

        due = history_start() + timedelta(days=9)
        await store.upsert_search_attributes(
            ns,
            "run-0",
            {"Tags": ["z"], "Amount": None, "DueAt": due, "Score": 1},
            DataBlob(b"n", "x"),
        )
        record = await store.get_execution(ns, "run-0")
        assert record.search_attributes == {
            "CustomerId": "c1", "Tags": ("z",), "DueAt": due, "Score": 1.0,
        }  # fmt: skip
        assert record.memo == DataBlob(b"n", "x")
        assert await store.count_executions(ns, "Tags = 'a'") == 0
        assert await store.count_executions(ns, "Tags = 'z'") == 1

        close_time = start.start_time + timedelta(minutes=5)
        await store.record_closed(
            ns, "run-0", close_time=close_time, status=ExecutionStatus.FAILED,
            history_length=11, history_size_bytes=2048,
        )  # fmt: skip
        record = await store.get_execution(ns, "run-0")
        assert (record.status, record.close_time) == (ExecutionStatus.FAILED, close_time)
        assert (record.history_length, record.history_size_bytes) == (11, 2048)

        await store.delete_execution(ns, "run-0")
        with pytest.raises(NotFound):
            await store.get_execution(ns, "run-0")
        await store.delete_execution(ns, "run-0")  # harmless
        assert await store.count_executions(ns, "") == 0

    async def test_repeated_start_changes_nothing(self, stores: StoreBundle) -> None:
        store, ns = await _registered(stores)
        start = _start(ns, Amount=1)
        await store.record_started(start)
        await store.upsert_search_attributes(ns, "run-0", {"Amount": 2})
        await store.record_closed(
            ns, "run-0", close_time=start.start_time + timedelta(seconds=1),
            status=ExecutionStatus.COMPLETED, history_length=3, history_size_bytes=9,
        )  # fmt: skip
        await store.record_started(start)  # a retried start, after the close
        check_close_survived(await store.get_execution(ns, "run-0"), {"Amount": 2})

    async def test_write_mistakes(self, stores: StoreBundle) -> None:
        store, ns = await _registered(stores)
        with pytest.raises(InvalidRequest, match="not registered"):
            await store.record_started(_start(ns, Unknown="x"))
        await store.record_started(_start(ns))
        with pytest.raises(InvalidRequest, match="is Int"):
            await store.upsert_search_attributes(ns, "run-0", {"Amount": "many"})
        with pytest.raises(NotFound):
            await store.upsert_search_attributes(ns, "no-such-run", {"Amount": 1})
        with pytest.raises(NotFound):
            await store.record_closed(
                ns, "no-such-run", close_time=history_start(),
                status=ExecutionStatus.FAILED, history_length=1, history_size_bytes=1,
            )  # fmt: skip
        with pytest.raises(InvalidRequest, match="Running"):
            await store.record_closed(
                ns, "run-0", close_time=history_start(),
                status=ExecutionStatus.RUNNING, history_length=1, history_size_bytes=1,
            )  # fmt: skip

    async def test_upserts_racing_a_close(self, stores: StoreBundle) -> None:
        store, ns = await _registered(stores)
        for index in range(12):
            start = _start(ns, index)
            await store.record_started(start)
            upserts = [
                store.upsert_search_attributes(ns, start.run_id, {"Amount": n, "Tags": ["x"]})
                for n in range(4)
            ]
            close = store.record_closed(
                ns, start.run_id, close_time=start.start_time + timedelta(seconds=2),
                status=ExecutionStatus.COMPLETED, history_length=4, history_size_bytes=40,
            )  # fmt: skip
            await asyncio.gather(*upserts[:2], close, *upserts[2:])
            record = await store.get_execution(ns, start.run_id)
            check_close_survived(record, {"Tags": ("x",)})
            assert record.search_attributes["Amount"] in range(4)

    async def test_save_record_replaces(self, stores: StoreBundle) -> None:
        store, ns = await _registered(stores)
        await store.record_started(_start(ns, CustomerId="c1"))
        record = await store.get_execution(ns, "run-0")
        moved = replace(
            record,
            start_time=record.start_time + timedelta(hours=3),
            search_attributes={"Amount": 7},
            status=ExecutionStatus.TERMINATED,
            close_time=record.start_time + timedelta(hours=4),
        )
        await store.save_record(moved)
        assert await store.get_execution(ns, "run-0") == moved
        assert await store.count_executions(ns, "") == 1


class TestVisibilityQueries:
    async def test_queries_match_the_reference(self, stores: StoreBundle) -> None:
        pair = VisibilityPair(_visibility(stores), ReferenceVisibilityStore(), new_namespace())
        await pair.register()
        names = await pair.populate(30)
        for template in QUERIES:
            query = template.format(**names)
            expected = await collect_listing(pair.model, pair.namespace_id, query, 4)
            assert await collect_listing(pair.store, pair.namespace_id, query, 4) == expected, query
            assert await pair.store.count_executions(
                pair.namespace_id, query
            ) == await pair.model.count_executions(pair.namespace_id, query), query
            assert await pair.store.count_executions_by_status(
                pair.namespace_id, query
            ) == await pair.model.count_executions_by_status(pair.namespace_id, query), query
        listed = await pair.store.list_executions(pair.namespace_id, "", 100)
        model = await pair.model.list_executions(pair.namespace_id, "", 100)
        assert listed.items == model.items  # whole records, attributes included

    async def test_pages_are_stable_while_executions_arrive(self, stores: StoreBundle) -> None:
        store, ns = await _registered(stores)
        for index in range(0, 40, 2):
            await store.record_started(_start(ns, index))
        seen: list[str] = []
        token = b""
        arrivals = iter(range(1, 40, 2))
        while True:
            page = await store.list_executions(ns, "WorkflowType = 'payment'", 3, token)
            seen.extend(record.run_id for record in page.items)
            for _ in range(2):  # new executions, older and newer than the cursor
                arrival = next(arrivals, None)
                if arrival is not None:
                    await store.record_started(_start(ns, arrival))
            await store.record_started(_start(ns, 100 + len(seen)))
            token = page.next_page_token
            if not token:
                break
        assert len(seen) == len(set(seen)), "an execution was listed twice"
        assert {f"run-{i}" for i in range(0, 40, 2)} <= set(seen), "an execution was skipped"

    async def test_query_errors_name_position_and_attribute(self, stores: StoreBundle) -> None:
        store, ns = await _registered(stores)
        with pytest.raises(QueryError) as unknown:
            await store.list_executions(ns, "WorkflowType = 'a' AND Colour = 'red'", 10)
        assert (unknown.value.position, unknown.value.attribute) == (24, "Colour")
        with pytest.raises(QueryError) as typed:
            await store.count_executions(ns, "Amount > 'lots'")
        assert (typed.value.position, typed.value.attribute) == (10, "Amount")
        with pytest.raises(QueryError, match="position 20: expected a search attribute name"):
            await store.count_executions(ns, "WorkflowId = 'a' OR")
        with pytest.raises(QueryError, match="not supported on a KeywordList"):
            await store.count_executions(ns, "Tags > 'a'")

    async def test_token_mistakes(self, stores: StoreBundle) -> None:
        store, ns = await _registered(stores)
        for index in range(3):
            await store.record_started(_start(ns, index))
        page = await store.list_executions(ns, "", 2)
        assert page.next_page_token
        with pytest.raises(InvalidRequest, match="another order"):
            await store.list_executions(ns, "ORDER BY CloseTime", 2, page.next_page_token)
        with pytest.raises(InvalidRequest, match="malformed"):
            await store.list_executions(ns, "", 2, b"not a token")
        with pytest.raises(InvalidRequest, match="page_size"):
            await store.list_executions(ns, "", 0)
