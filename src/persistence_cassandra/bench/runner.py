"""Running the whole benchmark on one datastore: ours and raw, cell by cell, then history.

For every operation and every concurrency level the two sides run one after the other on the
same database in the same process, each after a warm-up (statements prepared, connections
open, caches warm). With several rounds the sides alternate which goes first and each keeps
its best round, so slow drift (compaction, autovacuum, a checkpoint) does not always land on
the same side.
"""

from __future__ import annotations

import contextlib
import gc
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from persistence_cassandra.bench.baseline import RawBaseline
from persistence_cassandra.bench.fixtures import NAMESPACE, BenchWorker, prepare_workers
from persistence_cassandra.bench.harness import Measurement, measure
from persistence_cassandra.bench.history_cost import measure_append_cost, measure_read_memory
from persistence_cassandra.bench.operations import OPERATIONS, BenchOperation
from persistence_cassandra.bench.report import BackendResult, Cell
from persistence_cassandra.errors import NamespaceAlreadyExists, NamespaceNotFound
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import DataBlob, NamespaceRecord

__all__ = ["BenchEvent", "BenchOptions", "run_bench_store"]


@dataclass(frozen=True, slots=True)
class BenchOptions:
    concurrency: tuple[int, ...] = (1, 8, 64, 256)
    operations: int = 2000
    """Operations per cell and side (at least four per worker are run)."""
    max_seconds: float = 4.0
    """Cap per cell and side."""
    rounds: int = 1
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


def _best(measurements: list[Measurement]) -> Measurement:
    return max(measurements, key=lambda m: (m.errors == 0, m.per_second))


async def _cell(
    operation: BenchOperation,
    concurrency: int,
    persistence: Persistence,
    raw: RawBaseline,
    sides: _Sides,
    options: BenchOptions,
) -> Cell:
    count = max(options.operations, 4 * concurrency)
    warmup = max(concurrency, 20)
    ours_workers, raw_workers = sides.ours[:concurrency], sides.raw[:concurrency]

    async def run_ours(times: int, seconds: float) -> Measurement:
        return await measure(lambda w: operation.ours(persistence, w), ours_workers, times, seconds)

    async def run_raw(times: int, seconds: float) -> Measurement:
        return await measure(lambda w: operation.raw(raw, w), raw_workers, times, seconds)

    await run_raw(warmup, options.max_seconds)
    await run_ours(warmup, options.max_seconds)
    ours: list[Measurement] = []
    raws: list[Measurement] = []
    for round_number in range(options.rounds):
        if round_number % 2 == 0:
            raws.append(await run_raw(count, options.max_seconds))
            ours.append(await run_ours(count, options.max_seconds))
        else:
            ours.append(await run_ours(count, options.max_seconds))
            raws.append(await run_raw(count, options.max_seconds))
    return Cell(operation.name, concurrency, _best(ours), _best(raws))


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
