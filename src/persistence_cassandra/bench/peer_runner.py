"""``bench --peer temporal-go``: the workflow lifecycle through our store, the raw driver and
Temporal's own Go persistence, interleaved in the same cells on the same node.

For each concurrency level the three sides run the same 17-call lifecycle
(:mod:`~persistence_cassandra.bench.operations`; the peer's is ``peer_temporal_go/lifecycle.go``)
in slices taken in turn, each side first, middle and last equally often (raw-ours-peer,
ours-peer-raw, peer-raw-ours, then the same reversed), so that a slow phase of the shared
machine lands on every side alike; each side's figures are its median slice's, as in
:mod:`~persistence_cassandra.bench.runner`. Ours and raw run in this process; the peer runs
in its own (:class:`~persistence_cassandra.bench.peer_process.TemporalGoPeer`), idle while the
others run, so each side's client CPU per lifecycle is its own process's alone. Where the node
is a local process, its CPU per lifecycle during each side's slices is read too
(:mod:`~persistence_cassandra.bench.local_node`): what a side costs the node, and what a
previous slice's flushes and compactions charge to the next.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import random
import sys
import time
from collections.abc import Callable, Sequence

from persistence_cassandra.bench.baseline import RawBaseline, open_raw_baseline
from persistence_cassandra.bench.fixtures import BenchWorker, prepare_workers
from persistence_cassandra.bench.harness import Tally, measure
from persistence_cassandra.bench.local_node import LocalProcess
from persistence_cassandra.bench.operations import LIFECYCLE, OPERATIONS, BenchOperation
from persistence_cassandra.bench.peer_build import (
    PeerBuild,
    PeerUnavailable,
    build_peer,
    find_go,
    temporal_schema_dir,
)
from persistence_cassandra.bench.peer_process import TemporalGoPeer, prepare_peer_keyspace
from persistence_cassandra.bench.peer_report import PeerCell, PeerReport, PeerResult
from persistence_cassandra.bench.report import machine_description
from persistence_cassandra.bench.runner import MIN_OPS_PER_WORKER, BenchOptions, _namespace_id
from persistence_cassandra.config import CassandraConfig, PersistenceConfig
from persistence_cassandra.factory import OpenOptions, open_persistence
from persistence_cassandra.persistence import Persistence

__all__ = ["PEERS", "run_peer_comparisons", "slice_order"]

PEERS = ("temporal-go",)
"""The peers ``bench --peer`` knows."""
SIDES = ("raw", "ours", "peer")

Progress = Callable[[str], None]


def slice_order(slices: int) -> list[str]:
    """Which side runs at each step: round ``n`` rotates the three sides by ``n``, and every
    other group of three rounds is reversed, so that no side always follows another."""
    order: list[str] = []
    for number in range(slices):
        shift = number % len(SIDES)
        turn = list(SIDES[shift:] + SIDES[:shift])
        order.extend(reversed(turn) if (number // len(SIDES)) % 2 else turn)
    return order


def _cassandra(config: PersistenceConfig, store: str) -> CassandraConfig:
    datastore = config.datastore(store)
    if datastore.cassandra is None:
        raise PeerUnavailable(
            f"--peer temporal-go runs against Temporal's Cassandra persistence: datastore "
            f"{store!r} is {datastore.backend_name}; name a Cassandra datastore with --store"
        )
    return datastore.cassandra


def _first_host(cassandra: CassandraConfig) -> str:
    return cassandra.hosts.split(",")[0].strip()


class _Sides:
    """The three sides of a cell, each run as one slice into its tally."""

    def __init__(
        self,
        lifecycle: BenchOperation,
        persistence: Persistence,
        raw: RawBaseline,
        peer: TemporalGoPeer,
        ours_workers: Sequence[BenchWorker],
        raw_workers: Sequence[BenchWorker],
        node: LocalProcess | None,
    ) -> None:
        self._node = node
        self._ours = functools.partial(lifecycle.ours, persistence)
        self._raw = functools.partial(lifecycle.raw, raw)
        self._peer = peer
        self._workers = {"ours": ours_workers, "raw": raw_workers}

    async def run(
        self, side: str, concurrency: int, count: int, seconds: float, tally: Tally | None
    ) -> None:
        node_before = self._node.cpu_seconds() if self._node and tally is not None else None
        completed_before = len(tally.latencies) if tally is not None else 0
        if side == "peer":
            peer_slice = await self._peer.run(concurrency, count, seconds, keep=tally is not None)
            if tally is not None:
                peer_slice.add_to(tally)
        else:
            operation = self._ours if side == "ours" else self._raw
            await measure(operation, self._workers[side][:concurrency], count, seconds, tally)
        if tally is None or node_before is None or self._node is None:
            return
        node_after = self._node.cpu_seconds()
        completed = len(tally.latencies) - completed_before
        if node_after is not None and completed:
            tally.slice_server_cpu.append((node_after - node_before) / completed)


async def _cell(sides: _Sides, concurrency: int, options: BenchOptions) -> PeerCell:
    per_slice = max(-(-options.operations // options.slices), MIN_OPS_PER_WORKER * concurrency)
    slice_seconds = options.max_seconds / options.slices
    warmup = max(concurrency, 20)
    for side in SIDES:
        await sides.run(side, concurrency, warmup, options.max_seconds, None)
    tallies = {side: Tally() for side in SIDES}
    for side in slice_order(options.slices):
        # As in runner._cell: no side's leftover garbage is collected in another's slice.
        gc.collect()
        await sides.run(side, concurrency, per_slice, slice_seconds, tallies[side])
    return PeerCell(
        concurrency,
        tallies["ours"].measurement(),
        tallies["raw"].measurement(),
        tallies["peer"].measurement(),
    )


async def _compare(
    config: PersistenceConfig,
    store: str,
    build: PeerBuild,
    peer_config: CassandraConfig,
    options: BenchOptions,
    create_schema: bool,
    progress: Progress,
) -> PeerResult:
    started = time.perf_counter()
    lifecycle = next(operation for operation in OPERATIONS if operation.name == LIFECYCLE)
    workers = max(options.concurrency)
    rng = random.Random(options.seed)
    first_shard = rng.randrange(10**6, 2**31 - 10**6)
    tag = f"b{rng.getrandbits(32):08x}"
    open_options = OpenOptions(create_schema=True) if create_schema else None
    persistence = await open_persistence(config, store=store, options=open_options)
    async with persistence, contextlib.AsyncExitStack() as stack:
        raw = await open_raw_baseline(config.datastore(store))
        stack.push_async_callback(raw.close)
        progress(f"bench {store} --peer: preparing {3 * workers} workers")
        namespace_id = await _namespace_id(persistence)
        ours_workers = await prepare_workers(
            persistence, f"{tag}o", workers, first_shard, namespace_id
        )
        raw_workers = await prepare_workers(
            persistence, f"{tag}r", workers, first_shard + workers, namespace_id
        )
        # The peer's shards live in its own keyspace; distinct ids keep logs unambiguous.
        peer = await TemporalGoPeer.start(
            build,
            peer_config,
            workers=workers,
            first_shard=first_shard + 2 * workers,
            tag=f"{tag}p",
        )
        stack.push_async_callback(peer.close)
        result = PeerResult(
            store, persistence.description, raw.driver, peer.description, peer_config.keyspace
        )
        result.build_seconds, result.build_cached = build.seconds, build.cached
        result.setup_seconds = time.perf_counter() - started
        node = LocalProcess.serving(_first_host(peer_config), peer_config.port)
        sides = _Sides(lifecycle, persistence, raw, peer, ours_workers, raw_workers, node)
        gc.collect()
        gc.freeze()  # as runner.run_bench_store: start-up objects are not scanned per slice
        try:
            if options.warmup_seconds > 0:
                progress(f"bench {store} --peer: warming up")
                share = options.warmup_seconds / len(SIDES)
                for side in SIDES:
                    await sides.run(side, min(64, workers), sys.maxsize >> 1, share, None)
            for concurrency in options.concurrency:
                cell = await _cell(sides, concurrency, options)
                result.cells.append(cell)
                progress(
                    f"bench {store} --peer: lifecycle x{concurrency}: ours "
                    f"{cell.ours.per_second:.0f}/s, raw {cell.raw.per_second:.0f}/s, peer "
                    f"{cell.peer.per_second:.0f}/s; ours/peer {cell.ours_over_peer:.2f}, "
                    f"CPU ours/peer {cell.ours_cpu_over_peer:.2f}"
                )
        finally:
            gc.unfreeze()
    result.seconds = time.perf_counter() - started
    return result


async def run_peer_comparisons(
    config: PersistenceConfig,
    stores: Sequence[str],
    options: BenchOptions,
    *,
    peer: str = "temporal-go",
    create_schema: bool = False,
    progress: Progress | None = None,
) -> PeerReport:
    """Build the peer if needed, migrate its keyspace beside each store's, and compare the
    three sides on every store (each a Cassandra datastore of ``config``)."""
    say = progress or (lambda _line: None)
    if peer not in PEERS:
        raise PeerUnavailable(f"unknown peer {peer!r} (known: {', '.join(PEERS)})")
    go = find_go()  # before anything is opened: no Go, one line, nothing touched
    clusters = {store: _cassandra(config, store) for store in stores}
    say("bench --peer: the Temporal peer binary (the first use builds it, for minutes)")
    build = await build_peer(go=go)
    say(
        f"bench --peer: {build.binary} "
        + ("(cached)" if build.cached else f"(built in {build.seconds:.0f} s)")
    )
    schema_dir = await temporal_schema_dir(build)
    report = PeerReport(
        machine_description(),
        {
            "peer": peer,
            "concurrency": list(options.concurrency),
            "operations_per_cell": options.operations,
            "max_seconds_per_cell": options.max_seconds,
            "slices": options.slices,
            "warmup_seconds": options.warmup_seconds,
            "go": build.go_version,
            "temporal_schema": str(schema_dir),
        },
    )
    for store, cassandra in clusters.items():
        say(f"bench {store} --peer: migrating {cassandra.keyspace}'s peer keyspace ({schema_dir})")
        peer_config = await prepare_peer_keyspace(cassandra, schema_dir)
        report.results.append(
            await _compare(config, store, build, peer_config, options, create_schema, say)
        )
    return report
