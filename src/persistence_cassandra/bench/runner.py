"""Running the whole benchmark on one datastore: ours and raw, cell by cell, then history.

For every operation and every concurrency level the two sides run on the same database in the
same process, each after a warm-up (statements prepared, connections open, caches warm). Each
side's share of a cell is cut into short slices run in turn, raw-ours-ours-raw-raw-ours...,
and each side's figure is the median over its slices: a disturbance that lasts a moment (a
JVM collection, a memtable flush, a checkpoint, a neighbour on the shared cores) hits one or
two slices, of either side, and does not move the median; a slower phase lasting seconds
covers slices of both sides alike. Before the first cell both sides run every selected
operation for a while, so that the database's first minutes (JIT compilation, cold caches)
are not charged to the first cells.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from persistence_cassandra.bench.baseline import RawBaseline
from persistence_cassandra.bench.fixtures import NAMESPACE, BenchWorker, prepare_workers
from persistence_cassandra.bench.harness import Tally, measure
from persistence_cassandra.bench.history_cost import measure_append_cost, measure_read_memory
from persistence_cassandra.bench.operations import OPERATIONS, BenchOperation
from persistence_cassandra.bench.report import BackendResult, Cell
from persistence_cassandra.errors import NamespaceAlreadyExists, NamespaceNotFound
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import DataBlob, NamespaceRecord

__all__ = ["MIN_OPS_PER_WORKER", "BenchEvent", "BenchOptions", "run_bench_store"]


MIN_OPS_PER_WORKER = 8
"""Operations each worker runs in a slice at least (unless the slice's time is up)."""


@dataclass(frozen=True, slots=True)
class BenchOptions:
    concurrency: tuple[int, ...] = (1, 8, 64, 256)
    operations: int = 4000
    """Operations per cell and side, over all its slices (each slice runs at least eight per
    worker, so that starting and draining the workers stays a small part of a slice)."""
    max_seconds: float = 16.0
    """Cap per cell and side, over all its slices."""
    slices: int = 8
    """Interleaved runs per cell and side; each side's figures are the median slice's."""
    warmup_seconds: float = 6.0
    """Both sides running the selected operations before the first cell."""
    only: tuple[str, ...] = ()
    """Operation names to run (empty: all)."""
    history: bool = True
    """Also measure append cost by history length and read memory."""
    append_lengths: tuple[int, ...] = (10, 1_000, 10_000)
    append_events: int = 10_000
    read_events: int = 100_000
    seed: int | None = None

    @staticmethod
    def quick(**overrides: object) -> BenchOptions:
        """Small counts: a smoke run in seconds (figures are indicative only)."""
        quick = BenchOptions(
            operations=200,
            max_seconds=1.0,
            slices=2,
            warmup_seconds=0.5,
            append_lengths=(10, 100, 1_000),
            append_events=1_000,
            read_events=10_000,
        )
        return replace(quick, **overrides)  # type: ignore[arg-type]

    def selected(self) -> list[BenchOperation]:
        if not self.only:
            return list(OPERATIONS)
        known = {operation.name: operation for operation in OPERATIONS}
        unknown = [name for name in self.only if name not in known]
        if unknown:
            raise ValueError(f"unknown operation(s) {unknown} (known: {sorted(known)})")
        return [known[name] for name in self.only]


@dataclass(frozen=True, slots=True)
class BenchEvent:
    """Progress: a finished cell, or a phase starting (``cell`` is then ``None``)."""

    store: str
    phase: str
    cell: Cell | None = None


@dataclass(slots=True)
class _Sides:
    ours: list[BenchWorker] = field(default_factory=list)
    raw: list[BenchWorker] = field(default_factory=list)


async def _namespace_id(persistence: Persistence) -> str:
    try:
        return (await persistence.metadata.get_namespace(name=NAMESPACE)).id
    except NamespaceNotFound:
        pass
    with contextlib.suppress(NamespaceAlreadyExists):
        await persistence.metadata.create_namespace(
            NamespaceRecord(f"bench-{random.getrandbits(64):016x}", NAMESPACE, DataBlob(b"{}"))
        )
    return (await persistence.metadata.get_namespace(name=NAMESPACE)).id


def _slice_order(slices: int) -> list[bool]:
    """Which side runs at each step (True: raw): raw-ours, ours-raw, raw-ours, ... so that a
    steady drift favours neither side."""
    order: list[bool] = []
    for number in range(slices):
        order.extend((True, False) if number % 2 == 0 else (False, True))
    return order


async def _warm_up(
    operations: list[BenchOperation],
    concurrency: int,
    persistence: Persistence,
    raw: RawBaseline,
    sides: _Sides,
    seconds: float,
) -> None:
    if seconds <= 0 or not operations:
        return
    share = seconds / (2 * len(operations))
    unbounded = sys.maxsize  # each run ends when its share of the time is up
    ours_workers, raw_workers = sides.ours[:concurrency], sides.raw[:concurrency]
    for operation in operations:
        await measure(functools.partial(operation.raw, raw), raw_workers, unbounded, share)
        await measure(
            functools.partial(operation.ours, persistence), ours_workers, unbounded, share
        )


async def _cell(
    operation: BenchOperation,
    concurrency: int,
    persistence: Persistence,
    raw: RawBaseline,
    sides: _Sides,
    options: BenchOptions,
) -> Cell:
    per_slice = max(-(-options.operations // options.slices), MIN_OPS_PER_WORKER * concurrency)
    slice_seconds = options.max_seconds / options.slices
    warmup = max(concurrency, 20)
    ours_workers, raw_workers = sides.ours[:concurrency], sides.raw[:concurrency]

    async def run_ours(times: int, seconds: float, tally: Tally | None = None) -> None:
        await measure(lambda w: operation.ours(persistence, w), ours_workers, times, seconds, tally)

    async def run_raw(times: int, seconds: float, tally: Tally | None = None) -> None:
        await measure(lambda w: operation.raw(raw, w), raw_workers, times, seconds, tally)

    await run_raw(warmup, options.max_seconds)
    await run_ours(warmup, options.max_seconds)
    ours, raws = Tally(), Tally()
    for raw_turn in _slice_order(options.slices):
        # Each slice starts with no garbage left by the other side: the cyclic collector
        # would otherwise charge one side's leftovers to the other's slice.
        gc.collect()
        if raw_turn:
            await run_raw(per_slice, slice_seconds, raws)
        else:
            await run_ours(per_slice, slice_seconds, ours)
    return Cell(operation.name, concurrency, ours.measurement(), raws.measurement())


async def run_bench_store(
    store: str,
    persistence: Persistence,
    raw: RawBaseline,
    options: BenchOptions,
    on_event: Callable[[BenchEvent], None] | None = None,
) -> BackendResult:
    """Every selected operation at every concurrency, then the history figures."""

    def event(phase: str, cell: Cell | None = None) -> None:
        if on_event is not None:
            on_event(BenchEvent(store, phase, cell))

    started = time.perf_counter()
    result = BackendResult(store, persistence.backend_name, persistence.description, raw.driver)
    operations = options.selected()
    workers = max(options.concurrency)
    rng = random.Random(options.seed)
    first_shard = rng.randrange(10**6, 2**31 - 10**6)
    tag = f"b{rng.getrandbits(32):08x}"
    event(f"preparing {2 * workers} workers")
    namespace_id = await _namespace_id(persistence)
    sides = _Sides(
        await prepare_workers(persistence, f"{tag}o", workers, first_shard, namespace_id),
        await prepare_workers(persistence, f"{tag}r", workers, first_shard + workers, namespace_id),
    )
    result.setup_seconds = time.perf_counter() - started
    # What start-up left in memory (two drivers' cluster metadata, every worker's fixtures)
    # would otherwise be scanned by each full collection during the cells, charging each side
    # in proportion to the containers its operations allocate times the size of that
    # unrelated heap. A long-running server freezes its start-up objects the same way.
    gc.collect()
    gc.freeze()
    try:
        event("warming up")
        await _warm_up(
            operations,
            min(64, workers),
            persistence,
            raw,
            sides,
            options.warmup_seconds,
        )
        for operation in operations:
            for concurrency in options.concurrency:
                event(f"{operation.name} x{concurrency}")
                cell = await _cell(operation, concurrency, persistence, raw, sides, options)
                result.cells.append(cell)
                event("cell", cell)
    finally:
        gc.unfreeze()
    if options.history:
        history_shard = first_shard + 2 * workers
        event("history append cost")
        result.append_costs = await measure_append_cost(
            persistence, history_shard, options.append_lengths, options.append_events
        )
        event("history read memory")
        result.read_memory = await measure_read_memory(
            persistence, history_shard, options.read_events
        )
    result.seconds = time.perf_counter() - started
    return result
