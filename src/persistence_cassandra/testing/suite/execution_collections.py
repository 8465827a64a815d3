"""ExecutionStore conformance: the collections of a run, buffered events, deletes, listing."""

from __future__ import annotations

from typing import Any

import pytest

from persistence_cassandra.records import CreateWorkflowMode, ExecutionKey, WorkflowState
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import (
    ShardLease,
    blob,
    collect_pages,
    execution_key,
    mutation,
    snapshot,
)
from persistence_cassandra.testing.suite.execution_checks import (
    assert_no_current,
    assert_no_run,
    create_run,
    current_of,
    read_run,
    update_run,
)

__all__ = ["TestExecutionCollections", "TestExecutionDeleteAndList"]

# (state attribute, upsert field, delete field, three distinct keys)
_COLLECTIONS: list[tuple[str, str, str, tuple[Any, Any, Any]]] = [
    ("activity_infos", "upsert_activity_infos", "delete_activity_infos", (5, 6, 7)),
    ("timer_infos", "upsert_timer_infos", "delete_timer_infos", ("t-1", "t-2", "t-3")),
    (
        "child_execution_infos",
        "upsert_child_execution_infos",
        "delete_child_execution_infos",
        (10, 11, 12),
    ),
    (
        "request_cancel_infos",
        "upsert_request_cancel_infos",
        "delete_request_cancel_infos",
        (20, 21, 22),
    ),
    ("signal_infos", "upsert_signal_infos", "delete_signal_infos", (30, 31, 32)),
]


class TestExecutionCollections:
    @pytest.mark.parametrize(
        ("attribute", "upsert", "delete", "keys"),
        _COLLECTIONS,
        ids=[c[0] for c in _COLLECTIONS],
    )
    async def test_mutations_upsert_and_delete_entries(
        self,
        stores: StoreBundle,
        shard: ShardLease,
        attribute: str,
        upsert: str,
        delete: str,
        keys: tuple[Any, Any, Any],
    ) -> None:
        a, b, c = keys
        key = execution_key()
        initial: dict[str, Any] = {attribute: {a: blob("a1")}}
        await create_run(stores, shard, snapshot(key, **initial))
        changes: dict[str, Any] = {upsert: {a: blob("a2"), b: blob("b1")}}
        await update_run(stores, shard, mutation(key, db_record_version=2, **changes))
        assert getattr(await read_run(stores, shard, key), attribute) == {
            a: blob("a2"),
            b: blob("b1"),
        }
        changes = {upsert: {c: blob("c1")}, delete: {a}}
        await update_run(stores, shard, mutation(key, db_record_version=3, **changes))
        assert getattr(await read_run(stores, shard, key), attribute) == {
            b: blob("b1"),
            c: blob("c1"),
        }
        # deleting an absent entry is not an error
        changes = {delete: {a, b}}
        await update_run(stores, shard, mutation(key, db_record_version=4, **changes))
        assert getattr(await read_run(stores, shard, key), attribute) == {c: blob("c1")}

    async def test_signal_requested_ids_are_added_and_removed(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(stores, shard, snapshot(key, signal_requested_ids={"r1"}))
        await update_run(
            stores,
            shard,
            mutation(key, db_record_version=2, upsert_signal_requested_ids={"r2", "r3"}),
        )
        assert (await read_run(stores, shard, key)).signal_requested_ids == {"r1", "r2", "r3"}
        await update_run(
            stores,
            shard,
            mutation(key, db_record_version=3, delete_signal_requested_ids={"r1", "missing"}),
        )
        assert (await read_run(stores, shard, key)).signal_requested_ids == {"r2", "r3"}

    async def test_buffered_events_append_in_order_and_clear(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(stores, shard, snapshot(key))
        assert (await read_run(stores, shard, key)).buffered_events == []
        first, second = blob("buffered-1", "proto3"), blob("buffered-2", "proto3")
        await update_run(
            stores, shard, mutation(key, db_record_version=2, new_buffered_events=first)
        )
        await update_run(
            stores, shard, mutation(key, db_record_version=3, new_buffered_events=second)
        )
        assert (await read_run(stores, shard, key)).buffered_events == [first, second]
        await update_run(
            stores, shard, mutation(key, db_record_version=4, clear_buffered_events=True)
        )
        assert (await read_run(stores, shard, key)).buffered_events == []

    async def test_a_mutation_replaces_the_checksum(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(stores, shard, snapshot(key, checksum=blob("sum-1", "proto3")))
        await update_run(
            stores, shard, mutation(key, db_record_version=2, checksum=blob("sum-2", "proto3"))
        )
        assert (await read_run(stores, shard, key)).checksum == blob("sum-2", "proto3")

    async def test_collections_of_runs_are_separate(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        first = snapshot(execution_key(), activity_infos={1: blob("first")})
        second = snapshot(
            execution_key(first.key.namespace_id, first.key.workflow_id),
            state=WorkflowState.ZOMBIE,
            activity_infos={1: blob("second")},
        )
        await create_run(stores, shard, first)
        await create_run(stores, shard, second, CreateWorkflowMode.BYPASS_CURRENT)
        assert (await read_run(stores, shard, first.key)).activity_infos == {1: blob("first")}
        assert (await read_run(stores, shard, second.key)).activity_infos == {1: blob("second")}


class TestExecutionDeleteAndList:
    async def test_get_of_a_missing_run_or_pointer_is_not_found(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await assert_no_run(stores, shard, key)
        await assert_no_current(stores, shard, key)

    async def test_delete_removes_the_run_and_its_collections(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(
            stores,
            shard,
            snapshot(key, activity_infos={1: blob("a")}, signal_requested_ids={"s"}),
        )
        await update_run(
            stores, shard, mutation(key, db_record_version=2, new_buffered_events=blob("b"))
        )
        await stores.execution.delete_workflow_execution(shard.shard_id, key)
        await assert_no_run(stores, shard, key)
        # the pointer is deleted separately
        assert (await current_of(stores, shard, key)).run_id == key.run_id
        # a run created again under the same key starts empty
        await create_run(stores, shard, snapshot(key), CreateWorkflowMode.BYPASS_CURRENT)
        state = await read_run(stores, shard, key)
        assert state.activity_infos == {}
        assert state.signal_requested_ids == set()
        assert state.buffered_events == []

    async def test_delete_of_a_missing_run_succeeds(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        await stores.execution.delete_workflow_execution(shard.shard_id, execution_key())

    async def test_delete_current_only_while_it_points_at_the_run(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(stores, shard, snapshot(key))
        other: ExecutionKey = execution_key(key.namespace_id, key.workflow_id)
        await stores.execution.delete_current_workflow_execution(shard.shard_id, other)
        assert (await current_of(stores, shard, key)).run_id == key.run_id
        await stores.execution.delete_current_workflow_execution(shard.shard_id, key)
        await assert_no_current(stores, shard, key)
        # the run itself stays
        assert (await read_run(stores, shard, key)).key == key

    async def test_list_concrete_executions_pages_through_every_run(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        keys = {execution_key() for _ in range(7)}
        for key in keys:
            await create_run(stores, shard, snapshot(key))
        items, pages = await collect_pages(
            lambda token: stores.execution.list_concrete_executions(shard.shard_id, 3, token)
        )
        listed = [state.key for state in items]
        assert sorted(listed, key=str) == sorted(keys, key=str)
        assert pages >= 3

    async def test_list_concrete_executions_of_an_empty_shard_is_empty(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        page = await stores.execution.list_concrete_executions(shard.shard_id, 10)
        assert page.items == []
        assert page.next_page_token == b""
