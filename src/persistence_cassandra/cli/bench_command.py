"""``bench``: our store layer against the raw drivers, per operation and concurrency, in one
run. A thin adapter over :mod:`persistence_cassandra.bench`: it opens each selected store and
its raw baseline, runs them, and prints a table per backend (or JSON)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from persistence_cassandra.bench import (
    BackendResult,
    BenchEvent,
    BenchOptions,
    BenchReport,
    machine_description,
    open_raw_baseline,
    operation_names,
    run_bench_store,
)
from persistence_cassandra.bench.peer_report import print_peer_result
from persistence_cassandra.bench.peer_runner import PEERS, run_peer_comparisons
from persistence_cassandra.cli.context import CliContext, run_async
from persistence_cassandra.cli.output import console_for
from persistence_cassandra.config import PersistenceConfig, parse_config
from persistence_cassandra.factory import OpenOptions, open_persistence
from persistence_cassandra.persistence import Persistence

__all__ = ["bench_command", "print_backend"]

TARGET_RATIO = 0.85
BENCH_BOUNDS: dict[str, tuple[int, int]] = {
    # Each level starts that many workers on both sides: tasks, and connections' queues.
    "concurrency": (1, 4_096),
    # Every operation's latency is kept to compute percentiles: memory grows with --ops.
    "ops": (1, 1_000_000),
    "slices": (1, 100),
}
"""Inclusive ranges of bench's counts, checked before anything is opened."""
MAX_LEVELS = 16


def _concurrency(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter("expected comma-separated integers, e.g. 1,8,64") from None
    low, high = BENCH_BOUNDS["concurrency"]
    if not levels or min(levels) < low or max(levels) > high:
        raise click.BadParameter(f"expected at least one level, each between {low} and {high:,}")
    if len(levels) > MAX_LEVELS:
        raise click.BadParameter(f"expected at most {MAX_LEVELS} levels (got {len(levels)})")
    return levels


@asynccontextmanager
async def _temporary_sqlite() -> AsyncIterator[tuple[PersistenceConfig, str]]:
    """The embedded default's settings on a throwaway file, so a benchmark never fills the
    user's own store."""
    with tempfile.TemporaryDirectory(prefix="pc-bench-") as directory:
        path = Path(directory) / "bench.db"
        config = parse_config(
            {
                "defaultStore": "embedded",
                "datastores": {
                    "embedded": {"sql": {"pluginName": "sqlite", "databaseName": str(path)}}
                },
            }
        )
        yield config, "embedded"


async def _bench_one(
    config: PersistenceConfig,
    store: str,
    options: BenchOptions,
    create_schema: bool,
    console: Console,
) -> BackendResult:
    datastore = config.datastore(store)
    sqlite = datastore.sql is not None and datastore.sql.dialect == "sqlite"
    open_options = OpenOptions(create_schema=True) if create_schema or sqlite else None
    persistence: Persistence = await open_persistence(config, store=store, options=open_options)
    async with persistence:
        raw = await open_raw_baseline(datastore)
        try:
            console.print(
                f"bench {store}: {persistence.description} vs {raw.driver}", highlight=False
            )
            return await run_bench_store(
                store, persistence, raw, options, lambda event: _progress(event, console)
            )
        finally:
            await raw.close()


def _progress(event: BenchEvent, console: Console) -> None:
    cell = event.cell
    if cell is None:
        if event.phase.startswith(("preparing", "warming", "history")):
            console.print(f"bench {event.store}: {event.phase}", highlight=False)
        return
    console.print(
        f"bench {event.store}: {cell.operation} x{cell.concurrency}: "
        f"ours {cell.ours.per_second:.0f}/s, raw {cell.raw.per_second:.0f}/s, "
        f"ratio {cell.ratio:.2f}",
        highlight=False,
    )


async def _run(
    context: CliContext,
    stores: tuple[str, ...],
    options: BenchOptions,
    create_schema: bool,
    console: Console,
) -> BenchReport:
    report = BenchReport(
        machine_description(),
        {
            "concurrency": list(options.concurrency),
            "operations_per_cell": options.operations,
            "max_seconds_per_cell": options.max_seconds,
            "slices": options.slices,
            "warmup_seconds": options.warmup_seconds,
            "history": options.history,
            "append_lengths": list(options.append_lengths),
            "read_events": options.read_events,
        },
    )
    if context.config_path is None:
        async with _temporary_sqlite() as (config, store):
            report.backends.append(await _bench_one(config, store, options, True, console))
        return report
    config = context.load_config()
    names = stores or (context.store or config.default_store,)
    for name in names:
        config.datastore(name)  # an unknown name fails before anything is measured
    for name in names:
        report.backends.append(await _bench_one(config, name, options, create_schema, console))
    return report


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def print_backend(result: BackendResult, console: Console) -> None:
    """One table: every operation and concurrency, ours against raw; then the history
    figures."""
    table = Table(title=f"bench {result.store}: {result.target}  (raw: {result.driver})")
    table.add_column("operation", no_wrap=True)
    for name in ("conc.", "ours ops/s", "raw ops/s", "ratio", "ours p50", "raw p50"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("ours p99", justify="right", no_wrap=True)
    table.add_column("raw p99", justify="right", no_wrap=True)
    table.add_column("CPU/op ours", justify="right", no_wrap=True)
    table.add_column("raw", justify="right", no_wrap=True)
    previous = ""
    for cell in result.cells:
        if previous and cell.operation != previous:
            table.add_section()
        previous = cell.operation
        color = "green" if cell.ratio >= TARGET_RATIO else "red"
        errors = cell.ours.errors + cell.raw.errors
        table.add_row(
            cell.operation,
            str(cell.concurrency),
            _rate(cell.ours.per_second),
            _rate(cell.raw.per_second),
            f"[{color}]{cell.ratio:.2f}[/]" + (f" [red]({errors} errors)[/]" if errors else ""),
            f"{cell.ours.p50 * 1000:.2f} ms",
            f"{cell.raw.p50 * 1000:.2f} ms",
            f"{cell.ours.p99 * 1000:.2f} ms",
            f"{cell.raw.p99 * 1000:.2f} ms",
            f"{cell.ours.cpu_per_operation * 1e6:.0f} us",
            f"{cell.raw.cpu_per_operation * 1e6:.0f} us",
        )
    console.print(table)
    if result.append_costs:
        costs = ", ".join(
            f"{cost.per_event * 1e6:.1f} us at {cost.events_per_workflow:,}"
            for cost in result.append_costs
        )
        growth = result.append_growth
        console.print(
            f"history append cost per event by events per workflow: {costs}"
            + (f" (longest/shortest {growth:.2f})" if growth is not None else ""),
            highlight=False,
        )
    memory = result.read_memory
    if memory is not None:
        rss = (
            "n/a"
            if memory.rss_peak_delta_bytes is None
            else f"{memory.rss_peak_delta_bytes / 2**20:.1f} MiB"
        )
        console.print(
            f"reading {memory.events:,} events ({memory.batches:,} batches) through the pager: "
            f"{memory.events / memory.read_seconds:,.0f} events/s, peak Python allocations "
            f"{memory.traced_peak_bytes / 2**20:.1f} MiB, peak RSS growth {rss}",
            highlight=False,
        )
    failures = {
        f"{cell.operation} x{cell.concurrency} ({side})": measurement.first_error
        for cell in result.cells
        for side, measurement in (("ours", cell.ours), ("raw", cell.raw))
        if measurement.errors
    }
    for where, error in failures.items():
        console.print(f"[red]failed[/]: {where}: {error}", highlight=False)


def _bench_peer(
    context: CliContext,
    stores: tuple[str, ...],
    options: BenchOptions,
    peer: str,
    create_schema: bool,
    as_json: bool,
    progress: Console,
) -> None:
    """``--peer``: the lifecycle through ours, raw and the peer (``bench.peer_runner``)."""
    if context.config_path is None:
        raise click.UsageError("--peer needs --config and --store naming a Cassandra datastore")
    config = context.load_config()
    names = stores or (context.store or config.default_store,)
    report = run_async(
        run_peer_comparisons(
            config,
            names,
            options,
            peer=peer,
            create_schema=create_schema,
            progress=lambda line: progress.print(line, highlight=False),
        )
    )
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        console = console_for()
        for result in report.results:
            print_peer_result(result, console)
    if report.errors:
        raise click.ClickException(f"bench: {report.errors} lifecycle(s) failed (see above)")


@click.command("bench")
@click.option(
    "--store",
    "stores",
    multiple=True,
    metavar="NAME",
    help="Datastore of --config to measure; repeat for several (default: the global --store, "
    "else defaultStore). Without --config: the embedded SQLite settings on a temporary file.",
)
@click.option(
    "--concurrency",
    default="1,8,64,256",
    show_default=True,
    callback=_concurrency,
    help="Operations in flight, comma-separated levels (each 1 to 4,096; at most 16 levels).",
)
@click.option("--quick", is_flag=True, help="Small counts: a smoke run (indicative figures).")
@click.option(
    "--ops",
    type=click.IntRange(*BENCH_BOUNDS["ops"]),
    help="Operations per cell and side (default 2000; 200 with --quick).",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0, min_open=True),
    help="Time cap per cell and side, over its slices (default 16; 1 with --quick).",
)
@click.option(
    "--slices",
    type=click.IntRange(*BENCH_BOUNDS["slices"]),
    help="Interleaved runs per cell and side (raw, ours, ours, raw, ...); each side's "
    "figures are its median slice's (default 8; 2 with --quick).",
)
@click.option(
    "--warmup",
    type=click.FloatRange(min=0),
    help="Seconds both sides run the selected operations before the first cell "
    "(default 6; 0.5 with --quick).",
)
@click.option(
    "--only",
    multiple=True,
    metavar="OPERATION",
    help=f"Measure only these operations (repeatable): {', '.join(operation_names())}.",
)
@click.option(
    "--no-history", is_flag=True, help="Skip the history append-cost and read-memory figures."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option(
    "--create-schema",
    is_flag=True,
    help="Create or upgrade the schema of the stores first (non-SQLite stores).",
)
@click.option(
    "--peer",
    type=click.Choice(PEERS),
    help="Measure the workflow lifecycle only, through ours, raw and a peer on the same node: "
    "temporal-go is Temporal's own Go persistence on a keyspace of its own (needs Go on PATH; "
    "built on first use, cached under ~/.cache/persistence-cassandra) and a Cassandra --store.",
)
@click.pass_obj
def bench_command(
    context: CliContext,
    stores: tuple[str, ...],
    concurrency: tuple[int, ...],
    quick: bool,
    ops: int | None,
    seconds: float | None,
    slices: int | None,
    warmup: float | None,
    only: tuple[str, ...],
    no_history: bool,
    as_json: bool,
    create_schema: bool,
    peer: str | None,
) -> None:
    """Measure every store operation and a workflow lifecycle against the raw driver.

    For each store: ops/s, p50 and p99 of each operation at each concurrency, through our
    store layer and through the backend's driver sending the same statements in the same run,
    and their ratio. Also the history append cost per event as histories grow, and the peak
    memory of reading a 100,000-event history through the pager.
    """
    base = BenchOptions.quick() if quick else BenchOptions()
    unknown = sorted(set(only) - set(operation_names()))
    if unknown:
        raise click.BadParameter(
            f"unknown operation(s) {', '.join(unknown)}", param_hint="'--only'"
        )
    options = BenchOptions(
        concurrency=concurrency,
        operations=ops or base.operations,
        max_seconds=seconds or base.max_seconds,
        slices=slices or base.slices,
        warmup_seconds=base.warmup_seconds if warmup is None else warmup,
        only=only,
        history=not no_history,
        append_lengths=base.append_lengths,
        append_events=base.append_events,
        read_events=base.read_events,
    )
    progress = console_for(stderr=True)
    if peer is not None:
        _bench_peer(context, stores, options, peer, create_schema, as_json, progress)
        return
    report = run_async(_run(context, stores, options, create_schema, progress))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        console = console_for()
        for result in report.backends:
            print_backend(result, console)
    if report.errors:
        raise click.ClickException(f"bench: {report.errors} operation(s) failed (see above)")
