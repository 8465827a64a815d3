"""Keyset paging of every SQL list operation: pages of a small size concatenate to the whole
ordered result, the last page carries an empty token, and a token survives rows inserted
before its position."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sql_test_records import (
    create_run,
    ensure_shard,
    fresh_shard_id,
    new_key,
    open_bundle,
    postgres_config,
    sqlite_config,
)

from persistence_cassandra.errors import InvalidRequest
from persistence_cassandra.records import (
    EPOCH,
    AppendHistoryNodesRequest,
    ClusterMember,
    CreateTasksRequest,
    DataBlob,
    GetClusterMembersRequest,
    GetHistoryTasksRequest,
    GetTasksRequest,
    HistoryTask,
    MembershipRole,
    NamespaceRecord,
    Page,
    ReadHistoryBranchRequest,
    TaskCategory,
    TaskKey,
    TaskQueueKey,
    TaskQueueRecord,
    TaskRecord,
)
from persistence_cassandra.stores import StoreBundle

T = TypeVar("T")


@pytest.fixture(params=["sqlite-memory", "postgres"])
async def bundle(request: pytest.FixtureRequest) -> AsyncIterator[StoreBundle]:
    if request.param == "sqlite-memory":
        opened = await open_bundle(sqlite_config(":memory:"))
    else:
        opened = await open_bundle(
            postgres_config(
                request.getfixturevalue("postgres_params"),
                request.getfixturevalue("postgres_database"),
                max_conns=2,
            )
        )
    yield opened
    await opened.close()


async def _drain(read: Callable[[bytes], Awaitable[Page[T]]]) -> list[T]:
    items: list[T] = []
    token = b""
    for _ in range(1000):
        page = await read(token)
        assert len(page.items) <= 3
        items += page.items
        if not page.next_page_token:
            return items
        assert page.items, "a page before the end holds items"
        token = page.next_page_token
    raise AssertionError("paging never ended")


async def test_history_tasks_page_in_key_order(bundle: StoreBundle) -> None:
    shard = fresh_shard_id()
    await ensure_shard(bundle, shard)
    base = datetime(2030, 1, 1, tzinfo=UTC)
    timers = [
        HistoryTask(TaskCategory.TIMER, TaskKey(base + timedelta(seconds=s), i), DataBlob(b"t"))
        for i, s in enumerate([5, 1, 1, 3, 2, 9, 1])
    ]
    transfers = [
        HistoryTask(TaskCategory.TRANSFER, TaskKey.immediate(i), DataBlob(b"x"))
        for i in (7, 3, 11, 5, 1)
    ]
    await bundle.execution.add_history_tasks(shard, 1, "ns", "wf", timers + transfers)

    def reader(category: TaskCategory, high: TaskKey) -> Callable[[bytes], Awaitable[Any]]:
        return lambda token: bundle.execution.get_history_tasks(
            GetHistoryTasksRequest(shard, category, TaskKey(EPOCH, 0), high, 3, token)
        )

    got = await _drain(reader(TaskCategory.TIMER, TaskKey(base + timedelta(days=1), 0)))
    assert [t.key for t in got] == sorted(t.key for t in timers)
    got = await _drain(reader(TaskCategory.TRANSFER, TaskKey.immediate(100)))
    assert [t.key.task_id for t in got] == [1, 3, 5, 7, 11]


async def test_concrete_executions_page(bundle: StoreBundle) -> None:
    shard = fresh_shard_id()
    await ensure_shard(bundle, shard)
    keys = [new_key() for _ in range(7)]
    for key in keys:
        await create_run(bundle, shard, 1, key)
    got = await _drain(lambda token: bundle.execution.list_concrete_executions(shard, 3, token))
    assert sorted(s.key.run_id for s in got) == sorted(k.run_id for k in keys)


async def test_history_branch_pages_forward_and_reverse(bundle: StoreBundle) -> None:
    tree = str(uuid.uuid4())
    for node in range(1, 5):
        for txn in (node * 10, node * 10 + 1):
            await bundle.history.append_history_nodes(
                AppendHistoryNodesRequest(1, tree, "b", node, txn, 0, DataBlob(b"e"))
            )
    forward = await _drain(
        lambda token: bundle.history.read_history_branch(
            ReadHistoryBranchRequest(1, tree, "b", 1, 5, 3, token)
        )
    )
    order = [(n.node_id, n.txn_id) for n in forward]
    assert order == [(n, t) for n in range(1, 5) for t in (n * 10 + 1, n * 10)]
    reverse = await _drain(
        lambda token: bundle.history.read_history_branch(
            ReadHistoryBranchRequest(1, tree, "b", 1, 5, 3, token, reverse=True)
        )
    )
    assert [(n.node_id, n.txn_id) for n in reverse] == order[::-1]


async def test_metadata_lists_page(bundle: StoreBundle) -> None:
    prefix = uuid.uuid4().hex[:8]
    for i in range(5):
        await bundle.metadata.create_namespace(
            NamespaceRecord(f"{prefix}-{i}", f"name-{prefix}-{i}", DataBlob(b"d"))
        )
        await bundle.task.create_task_queue(
            TaskQueueRecord(TaskQueueKey(prefix, f"q{i}", 1), 1, DataBlob(b"q"))
        )
    namespaces = await _drain(lambda token: bundle.metadata.list_namespaces(3, token))
    ours = [n.id for n in namespaces if n.id.startswith(prefix)]
    assert ours == [f"{prefix}-{i}" for i in range(5)]
    queues = await _drain(lambda token: bundle.task.list_task_queues(3, token))
    assert [q.key.name for q in queues if q.key.namespace_id == prefix] == [
        f"q{i}" for i in range(5)
    ]


async def test_tasks_page_and_skip_expired(bundle: StoreBundle) -> None:
    queue = TaskQueueKey("ns", f"q-{uuid.uuid4()}", 1)
    await bundle.task.create_task_queue(TaskQueueRecord(queue, 1, DataBlob(b"q")))
    past = datetime.now(UTC) - timedelta(minutes=1)
    future = datetime.now(UTC) + timedelta(hours=1)
    tasks = [
        TaskRecord(i, DataBlob(b"t"), expiry=past if i % 3 == 0 else future) for i in range(1, 11)
    ]
    await bundle.task.create_tasks(CreateTasksRequest(queue, 1, tasks))
    got = await _drain(
        lambda token: bundle.task.get_tasks(GetTasksRequest(queue, 0, 100, 3, token))
    )
    assert [t.task_id for t in got] == [i for i in range(1, 11) if i % 3]
    assert await bundle.task.complete_tasks_less_than(queue, 100, limit=4) == 4
    assert await bundle.task.complete_tasks_less_than(queue, 100) == 6


async def test_cluster_lists_page_and_filter(bundle: StoreBundle) -> None:
    now = datetime.now(UTC)
    host = uuid.uuid4().hex
    for i in range(5):
        await bundle.cluster_metadata.upsert_cluster_membership(
            ClusterMember(
                f"{host}-{i}",
                "10.0.0.1" if i % 2 else "10.0.0.2",
                7233,
                MembershipRole.MATCHING,
                now,
                now,
                now + (timedelta(minutes=5) if i != 4 else -timedelta(minutes=5)),
            )
        )
    members = await _drain(
        lambda token: bundle.cluster_metadata.get_cluster_members(
            GetClusterMembersRequest(
                role=MembershipRole.MATCHING, page_size=3, next_page_token=token
            )
        )
    )
    assert [m.host_id for m in members if m.host_id.startswith(host)] == [
        f"{host}-{i}" for i in range(4)
    ]
    filtered = await bundle.cluster_metadata.get_cluster_members(
        GetClusterMembersRequest(host_id=f"{host}-1", rpc_address="10.0.0.1")
    )
    assert [m.host_id for m in filtered.items] == [f"{host}-1"]
    assert await bundle.cluster_metadata.prune_cluster_membership() >= 1


async def test_a_malformed_token_is_an_invalid_request(bundle: StoreBundle) -> None:
    with pytest.raises(InvalidRequest):
        await bundle.metadata.list_namespaces(3, b"not json")
    with pytest.raises(InvalidRequest):
        await bundle.task.list_task_queues(3, b"[1]")
    with pytest.raises(InvalidRequest):
        await bundle.metadata.list_namespaces(0)
