"""Concurrency conformance: many contenders for one conditional write, exactly one winner and
no lost update. Runs on every backend; one that serializes writers must still give these
answers.

A contender whose write timed out with an unknown outcome (``Timeout(may_have_committed=True)``,
possible when conditional writes contend) may or may not have won; the checks then accept
either, but never two winners.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import replace

from persistence_cassandra.errors import (
    ConditionFailed,
    CurrentWorkflowConditionFailed,
    NamespaceAlreadyExists,
    ShardOwnershipLost,
    Timeout,
    WorkflowConditionFailed,
)
from persistence_cassandra.records import ClusterMetadataRecord
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import (
    ShardLease,
    blob,
    execution_key,
    mutation,
    namespace_record,
    random_shard_id,
    snapshot,
    task_queue,
    unique_id,
)
from persistence_cassandra.testing.suite.execution_checks import (
    create_run,
    current_of,
    read_run,
    update_run,
)

__all__ = ["TestConcurrency"]

CONTENDERS = 6


async def _race(
    attempts: Sequence[Awaitable[None]], loser: type[Exception]
) -> tuple[list[int], list[int]]:
    """Run the attempts together; returns (indexes that won, indexes with unknown outcome).
    Any failure other than ``loser`` or an unknown-outcome timeout fails the test."""
    results = await asyncio.gather(*attempts, return_exceptions=True)
    won, unknown = [], []
    for index, result in enumerate(results):
        if result is None:
            won.append(index)
        elif isinstance(result, Timeout) and result.may_have_committed:
            unknown.append(index)
        elif not isinstance(result, loser):
            raise AssertionError(f"contender {index} failed unexpectedly: {result!r}")
    assert len(won) <= 1, f"several contenders won: {won}"
    assert won or unknown, "no contender won"
    return won, unknown


class TestConcurrency:
    async def test_one_of_many_updates_with_the_same_expected_version_wins(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(stores, shard, snapshot(key))
        changes = [
            mutation(key, db_record_version=2, tag=f"contender-{n}") for n in range(CONTENDERS)
        ]
        won, unknown = await _race(
            [update_run(stores, shard, change) for change in changes], WorkflowConditionFailed
        )
        state = await read_run(stores, shard, key)
        assert state.db_record_version == 2
        winners = [n for n in won + unknown if changes[n].execution_info == state.execution_info]
        assert len(winners) == 1
        if won:
            assert winners == won

    async def test_one_of_many_range_bumps_wins(self, stores: StoreBundle) -> None:
        shard_id = random_shard_id()
        await stores.shard.get_or_create_shard(shard_id, lambda: (1, blob("start")))
        infos = [blob(f"owner-{n}") for n in range(CONTENDERS)]
        won, unknown = await _race(
            [stores.shard.update_shard(shard_id, 2, info, 1) for info in infos],
            ShardOwnershipLost,
        )
        stored = await stores.shard.get_or_create_shard(shard_id)
        assert stored.range_id == 2
        assert stored.info in [infos[n] for n in won + unknown]
        if won:
            assert stored.info == infos[won[0]]

    async def test_one_of_many_brand_new_starts_of_a_workflow_wins(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        first = execution_key()
        runs = [
            snapshot(execution_key(first.namespace_id, first.workflow_id))
            for _ in range(CONTENDERS)
        ]
        won, unknown = await _race(
            [create_run(stores, shard, run) for run in runs], CurrentWorkflowConditionFailed
        )
        current = await current_of(stores, shard, first)
        assert current.run_id in [runs[n].key.run_id for n in won + unknown]
        if won:
            assert current.run_id == runs[won[0]].key.run_id

    async def test_one_of_many_task_queue_range_bumps_wins(self, stores: StoreBundle) -> None:
        record = task_queue()
        await stores.task.create_task_queue(record)
        bumps = [replace(record, range_id=2, info=blob(f"owner-{n}")) for n in range(CONTENDERS)]
        won, unknown = await _race(
            [stores.task.update_task_queue(bump, previous_range_id=1) for bump in bumps],
            ConditionFailed,
        )
        stored = await stores.task.get_task_queue(record.key)
        assert stored.range_id == 2
        assert stored.info in [bumps[n].info for n in won + unknown]

    async def test_one_of_many_namespace_creates_with_one_name_wins(
        self, stores: StoreBundle
    ) -> None:
        name = unique_id("ns")
        records = [namespace_record(name=name) for _ in range(CONTENDERS)]
        won, unknown = await _race(
            [stores.metadata.create_namespace(r) for r in records], NamespaceAlreadyExists
        )
        stored = await stores.metadata.get_namespace(name=name)
        assert stored.id in [records[n].id for n in won + unknown]

    async def test_one_of_many_cluster_metadata_inserts_wins(self, stores: StoreBundle) -> None:
        name = unique_id("cluster")
        records = [ClusterMetadataRecord(name, blob(f"writer-{n}"), 0) for n in range(CONTENDERS)]
        won, unknown = await _race(
            [stores.cluster_metadata.save_cluster_metadata(r) for r in records], ConditionFailed
        )
        stored = await stores.cluster_metadata.get_cluster_metadata(name)
        assert stored.version == 1
        assert stored.metadata in [records[n].metadata for n in won + unknown]

    async def test_no_update_is_lost_when_writers_retry_on_conflict(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        """Each writer re-reads and retries until its increment lands: every writer's mark is
        in the final state, and the version counts each acknowledged write once.

        Each write also adds its writer's mark to a collection that later writes leave alone,
        so a writer whose write had an unknown outcome can tell from a re-read whether it
        landed. Such a write may still land after the re-read (Paxos completes an accepted
        proposal in a later round), so it may count once more than acknowledged."""
        key = execution_key()
        await create_run(stores, shard, snapshot(key))
        unknown_outcomes = 0

        async def increment(writer: int) -> None:
            nonlocal unknown_outcomes
            mark = f"w{writer}"
            for _ in range(200):
                stored = await read_run(stores, shard, key)
                if mark in stored.signal_requested_ids:
                    return  # an earlier attempt with an unknown outcome did land
                change = mutation(
                    key,
                    db_record_version=stored.db_record_version + 1,
                    tag=mark,
                    upsert_signal_requested_ids={mark},
                )
                try:
                    await update_run(stores, shard, change)
                    return
                except WorkflowConditionFailed:
                    await asyncio.sleep(0)
                except Timeout as exc:
                    assert exc.may_have_committed, exc
                    unknown_outcomes += 1
            raise AssertionError(f"writer {writer} never got its update in")

        await asyncio.gather(*(increment(n) for n in range(CONTENDERS)))
        final = await read_run(stores, shard, key)
        assert final.signal_requested_ids == {f"w{n}" for n in range(CONTENDERS)}
        assert 1 + CONTENDERS <= final.db_record_version <= 1 + CONTENDERS + unknown_outcomes
