"""Quick measurement: workflow updates per second through the store and through the raw driver.

Not a test (pytest does not collect it)::

    .venv/bin/python tools/measure_update_rate.py [host:port] [seconds per trial]

Both paths send the same conditional batch per update (current-pointer condition, run-row
version condition, range-id fence) to distinct runs spread over 16 shards, with 1 and 16
updates in flight. The raw path prepares the same CQL once and drives the driver's callbacks
from its own thread, with no asyncio and no record building.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import FallthroughRetryPolicy
from cassandra.query import BatchStatement, BatchType, tuple_factory

from persistence_cassandra.backends.cassandra.execution_batch import (
    FENCE,
    MOVE_CURRENT,
    MUTATE_RUN,
)
from persistence_cassandra.backends.cassandra.execution_rows import (
    current_row_key,
    run_row_key,
    shard_row_key,
)
from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.factory import OpenOptions, open_store_bundle
from persistence_cassandra.records import (
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    ExecutionKey,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowState,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import mutation, snapshot

SHARDS = 16
RUNS_PER_SHARD = 8
PAYLOAD = b"x" * 512
TRIALS = 5


@dataclass
class Run:
    shard_id: int
    key: ExecutionKey
    version: int = 1


async def _prepare_runs(bundle: StoreBundle) -> list[Run]:
    runs: list[Run] = []
    for shard_id in range(1, SHARDS + 1):
        await bundle.shard.get_or_create_shard(shard_id, lambda: (1, DataBlob(b"shard")))
        for _ in range(RUNS_PER_SHARD):
            key = ExecutionKey("bench-ns", f"wf-{uuid.uuid4()}", str(uuid.uuid4()))
            await bundle.execution.create_workflow_execution(
                CreateWorkflowExecutionRequest(
                    shard_id, 1, CreateWorkflowMode.BRAND_NEW, snapshot(key)
                )
            )
            runs.append(Run(shard_id, key))
    # Interleave shards so that consecutive updates hit different partitions.
    return sorted(runs, key=lambda run: (runs.index(run) % RUNS_PER_SHARD, run.shard_id))


async def _through_store(
    bundle: StoreBundle, runs: list[Run], inflight: int, seconds: float
) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(mine: list[Run]) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < deadline:
            run = mine[i % len(mine)]
            i += 1
            update = mutation(run.key, db_record_version=run.version + 1)
            update.execution_info = DataBlob(PAYLOAD)
            await bundle.execution.update_workflow_execution(
                UpdateWorkflowExecutionRequest(
                    run.shard_id, 1, UpdateWorkflowMode.UPDATE_CURRENT, update
                )
            )
            run.version += 1
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(runs[w::inflight]) for w in range(inflight)))
    return done / (time.perf_counter() - start)


def _through_driver(
    host: str, port: int, keyspace: str, runs: list[Run], inflight: int, seconds: float
) -> float:
    profile = ExecutionProfile(retry_policy=FallthroughRetryPolicy(), row_factory=tuple_factory)
    cluster = Cluster(
        [host], port=port, protocol_version=5, execution_profiles={EXEC_PROFILE_DEFAULT: profile}
    )
    session = cluster.connect()
    move, mutate, fence = (
        session.prepare(cql, keyspace=keyspace) for cql in (MOVE_CURRENT, MUTATE_RUN, FENCE)
    )
    echo = ("\x00never", -1, -1, -(2**63), -(2**63))
    lock = threading.Lock()
    finished = threading.Event()
    deadline = time.perf_counter() + seconds
    done = 0
    active = inflight

    def send(mine: list[Run], i: int) -> None:
        run = mine[i % len(mine)]
        v = run.version + 1
        rk = run_row_key(run.shard_id, run.key)
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        batch.add(
            move,
            (
                run.key.run_id,
                f"request-{run.key.run_id}",
                int(WorkflowState.RUNNING),
                1,
                0,
                None,
                *current_row_key(run.shard_id, run.key.namespace_id, run.key.workflow_id),
                run.key.run_id,
                *echo,
            ),
        )
        batch.add(
            mutate,
            (
                PAYLOAD,
                "json",
                b"state",
                "proto3",
                5,
                v,
                None,
                None,
                {},
                {},
                {},
                {},
                {},
                set(),
                [],
                *rk,
                v - 1,
            ),
        )
        batch.add(fence, (1, *shard_row_key(run.shard_id), 1))
        future = session.execute_async(batch)

        def ok(rows: list[tuple[object, ...]]) -> None:
            nonlocal done, active
            assert rows[0][0] is True, rows
            run.version = v
            with lock:
                done += 1
            if time.perf_counter() < deadline:
                send(mine, i + 1)
            else:
                with lock:
                    active -= 1
                    if active == 0:
                        finished.set()

        def failed(exc: BaseException) -> None:
            print("raw driver error:", exc)
            finished.set()

        future.add_callbacks(ok, failed)

    start = time.perf_counter()
    for w in range(inflight):
        send(runs[w::inflight], 0)
    finished.wait(seconds + 30)
    rate = done / (time.perf_counter() - start)
    cluster.shutdown()
    return rate


def _spread(rates: list[float]) -> str:
    return f"{min(rates):.0f}..{max(rates):.0f}"


async def main() -> None:
    endpoint = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9042"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    host, _, port = endpoint.rpartition(":")
    keyspace = f"pc_rate_{uuid.uuid4().hex[:10]}"
    config = DatastoreConfig.model_validate(
        {"cassandra": {"hosts": host, "port": int(port), "keyspace": keyspace}}
    )
    bundle = await open_store_bundle(config, options=OpenOptions(create_schema=True))
    try:
        runs = await _prepare_runs(bundle)
        print(
            f"{len(runs)} runs over {SHARDS} shards; {TRIALS} alternating trials of "
            f"{seconds:.0f}s per path, medians reported"
        )
        for inflight in (1, 16):
            store: list[float] = []
            raw: list[float] = []
            # Alternate the two paths so that load from other processes on the machine
            # (the node is shared) hits both alike.
            for _ in range(TRIALS):
                store.append(await _through_store(bundle, runs, inflight, seconds))
                raw.append(
                    await asyncio.to_thread(
                        _through_driver, host, int(port), keyspace, runs, inflight, seconds
                    )
                )
            s_med, r_med = statistics.median(store), statistics.median(raw)
            print(
                f"in flight {inflight:>2}: store {s_med:7.0f}/s   raw driver {r_med:7.0f}/s   "
                f"store/raw {s_med / r_med:.2f}   (store {_spread(store)}, raw {_spread(raw)})"
            )
    finally:
        await bundle.close()
        cluster = Cluster([host], port=int(port), protocol_version=5)
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
        cluster.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
