"""Work on the 3-node cluster while nodes are killed, paused and partitioned at random moments.

* The operation-history checker (``persistence_cassandra.testing.history``): shard takeovers
  with fenced writes and one run's ``db_record_version`` compare-and-set, checked for
  fencing, CAS, stale reads and lost acknowledged writes, without faults and under them. Its
  ``escaped`` outcome makes every operation in flight during a fault prove that it ended
  inside the error tree.
* The workload, run after run while the faults go on: each run's integrity check passes, so
  no acknowledged write is missing.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from harness.fault_schedule import FaultSchedule
from harness.local_cluster import LocalCluster
from harness.targets import (
    CLUSTER_CLIENT_TIMEOUT,
    cluster_keyspace_name,
    cluster_persistence_config,
)
from persistence_cassandra.factory import open_persistence
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.history import Outcome, ViolationKind, run_history_check
from persistence_cassandra.testing.history.planted import unfenced_update_shard
from persistence_cassandra.workload import WorkloadOptions, run_workload


async def test_history_without_faults(cluster: LocalCluster, cluster_stores: StoreBundle) -> None:
    report = await run_history_check(cluster_stores, clients=6, operations=1500, seed=1)
    print("\n" + report.summary())
    assert report.ok, "\n".join(map(str, report.violations))


async def test_history_under_kills_pauses_and_partitions(
    cluster: LocalCluster, cluster_stores: StoreBundle
) -> None:
    faults = FaultSchedule(cluster, rounds=3, seed=7)
    report = await run_history_check(
        cluster_stores, clients=6, operations=2000, seed=2, during=faults.run
    )
    print("\n" + report.summary())
    assert report.ok, "\n".join(map(str, report.violations))
    assert faults.counts() == {"kill": 1, "pause": 1, "partition": 1}
    # Operations in flight during the faults ended inside the error tree (the checker's
    # `escaped` violation), as an unknown outcome or an unavailable cluster.
    unknown = Counter(
        op.detail.split("(", 1)[0] for op in report.operations if op.outcome is Outcome.UNKNOWN
    )
    print(f"unknown outcomes by error: {dict(unknown)}")
    assert set(unknown) <= {"Timeout", "Unavailable"}, unknown


async def test_a_planted_fence_bug_fails_the_check_under_faults(
    cluster: LocalCluster, cluster_stores: StoreBundle
) -> None:
    """The same run, faults included, over a shard store whose range-id fence is removed:
    the checker must fail it, so a passing run above means something."""
    faults = FaultSchedule(cluster, rounds=1, kinds=("partition",), seed=3)
    report = await run_history_check(
        unfenced_update_shard(cluster_stores), operations=600, seed=4, during=faults.run
    )
    print("\n" + report.summary())
    assert ViolationKind.RANGE_GRANTED_TWICE in {v.kind for v in report.violations}


async def test_workload_passes_its_integrity_check_under_faults(cluster: LocalCluster) -> None:
    async with cluster_keyspace_name(cluster) as keyspace:
        config = cluster_persistence_config(cluster, keyspace, timeout=CLUSTER_CLIENT_TIMEOUT)
        faults = FaultSchedule(cluster, rounds=3, seed=11)
        fault_task = asyncio.create_task(faults.run())
        runs = 0
        try:
            async with await open_persistence(config) as persistence:
                # Run after run until the faults are over, then one more: each takes the
                # shards and task queues over from the one before (lease bumps whose unknown
                # outcomes the workload settles by reading the lease) and checks all it wrote.
                while not fault_task.done() or runs == 0:
                    options = WorkloadOptions(workflows=30, concurrency=8, seed=runs)
                    report = await run_workload(persistence, options)
                    runs += 1
                    assert report.ok, report.integrity.violations
                await fault_task
                report = await run_workload(persistence, WorkloadOptions(workflows=30, seed=99))
                runs += 1
                assert report.ok, report.integrity.violations
        finally:
            await fault_task
        assert runs >= 2
        print(f"\n{runs} workload runs passed their integrity check; {faults.describe()}")
