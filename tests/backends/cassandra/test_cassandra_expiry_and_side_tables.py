"""What only the Cassandra layout does: TTLs on tasks and members, the metadata-row scan of
``list_task_queues``, the uncounted range completion, and the namespace id table's clean-up."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.session import CassandraSession
from persistence_cassandra.records import (
    CreateTasksRequest,
    GetClusterMembersRequest,
    GetTasksRequest,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import (
    cluster_member,
    collect_pages,
    namespace_record,
    now,
    task,
    task_queue,
)

TASK_TTL = (
    "SELECT task_id, TTL(task) AS ttl FROM tasks WHERE namespace_id = ? AND task_queue_name = ? "
    "AND task_queue_type = ? AND type = 0"
)


async def test_tasks_with_an_expiry_carry_a_ttl_and_vanish(
    bundle: StoreBundle, raw_session: CassandraSession
) -> None:
    queue = task_queue()
    await bundle.task.create_task_queue(queue)
    soon = now() + timedelta(seconds=2)
    await bundle.task.create_tasks(
        CreateTasksRequest(
            queue.key,
            queue.range_id,
            [task(1), task(2, expiry=soon), task(3, expiry=now() - timedelta(seconds=5))],
        )
    )
    key = (queue.key.namespace_id, queue.key.name, queue.key.task_type)
    ttls = {row["task_id"]: row["ttl"] for row in (await raw_session.read(TASK_TTL, key)).rows}
    assert ttls[1] is None  # no expiry, no TTL
    assert 1 <= ttls[2] <= 2
    # Created already expired: TTL 1, so hidden now and gone within a second (already gone
    # if the node was slow to answer).
    assert ttls.get(3, 1) == 1
    visible = await bundle.task.get_tasks(GetTasksRequest(queue.key, 0, 100, 10))
    assert [t.task_id for t in visible.items] == [1, 2]
    assert visible.items[1].expiry == soon
    await asyncio.sleep(2.5)
    remaining = (await raw_session.read(TASK_TTL, key)).rows
    assert [row["task_id"] for row in remaining] == [1]  # removed by the TTL, not a filter


async def test_completion_is_one_range_delete_whose_count_is_unknown(bundle: StoreBundle) -> None:
    assert bundle.capabilities.exact_task_completion_count is False
    queue = task_queue()
    await bundle.task.create_task_queue(queue)
    await bundle.task.create_tasks(
        CreateTasksRequest(queue.key, queue.range_id, [task(i) for i in range(1, 11)])
    )
    assert await bundle.task.complete_tasks_less_than(queue.key, 6) == -1
    left = await bundle.task.get_tasks(GetTasksRequest(queue.key, 0, 100, 100))
    assert [t.task_id for t in left.items] == list(range(6, 11))


async def test_listing_task_queues_reads_metadata_rows_only_in_pages(bundle: StoreBundle) -> None:
    queues = [task_queue(range_id=i + 1) for i in range(7)]
    for queue in queues:
        await bundle.task.create_task_queue(queue)
        await bundle.task.create_tasks(
            CreateTasksRequest(queue.key, queue.range_id, [task(i) for i in range(1, 4)])
        )
    listed, pages = await collect_pages(lambda token: bundle.task.list_task_queues(3, token))
    mine = {q.key: q for q in listed if q.key in {queue.key for queue in queues}}
    assert set(mine) == {queue.key for queue in queues}
    assert all(mine[q.key] == q for q in queues)
    assert len(listed) == len({q.key for q in listed})  # no task row is mistaken for a queue
    assert pages >= 3


async def test_members_carry_a_ttl_and_need_no_pruning(
    bundle: StoreBundle, raw_session: CassandraSession
) -> None:
    assert bundle.capabilities.membership_prune_needed is False
    member = cluster_member(ttl=timedelta(seconds=30))
    await bundle.cluster_metadata.upsert_cluster_membership(member)
    row = (
        await raw_session.read(
            "SELECT TTL(rpc_address) AS ttl FROM cluster_membership WHERE "
            "membership_partition = 0 AND role = ? AND host_id = ?",
            (int(member.role), member.host_id),
        )
    ).first()
    assert row is not None and 25 <= row["ttl"] <= 30
    expired = cluster_member(ttl=timedelta(milliseconds=-1))
    await bundle.cluster_metadata.upsert_cluster_membership(expired)
    found = await bundle.cluster_metadata.get_cluster_members(
        GetClusterMembersRequest(host_id=expired.host_id, role=expired.role)
    )
    assert found.items == []
    assert await bundle.cluster_metadata.prune_cluster_membership() == 0


async def test_a_namespace_create_that_loses_on_the_name_releases_its_id(
    bundle: StoreBundle, raw_session: CassandraSession
) -> None:
    first = namespace_record()
    await bundle.metadata.create_namespace(first)
    clash = namespace_record(name=first.name)
    with pytest.raises(errors.NamespaceAlreadyExists):
        await bundle.metadata.create_namespace(clash)
    claims = await raw_session.read("SELECT name FROM namespaces_by_id WHERE id = ?", (clash.id,))
    assert claims.rows == []  # the orphaned id claim was removed
    same_id = namespace_record(id=first.id)
    with pytest.raises(errors.NamespaceAlreadyExists, match="already used"):
        await bundle.metadata.create_namespace(same_id)
    assert (await bundle.metadata.get_namespace(id=first.id)).name == first.name
