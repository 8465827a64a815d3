"""``workload``: the main job. Runs :func:`~persistence_cassandra.workload.run_workload` on the
selected store with a progress bar, prints throughput and latency per operation, then the
integrity check, and fails (exit 1) listing every violation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from persistence_cassandra.cli.context import CliContext, Interrupted, run_async
from persistence_cassandra.cli.output import console_for
from persistence_cassandra.factory import OpenOptions, open_persistence
from persistence_cassandra.workload import (
    WorkloadOptions,
    WorkloadProgress,
    WorkloadReport,
    run_workload,
)
from persistence_cassandra.workload.engine import BOUNDS, check_bound, resolve_settings
from persistence_cassandra.workload.group import run_member
from persistence_cassandra.workload.group_check import GroupReport, check_group, describe_members
from persistence_cassandra.workload.processes import run_member_group
from persistence_cassandra.workload.report import IntegrityReport

R = TypeVar("R", WorkloadReport, GroupReport)

__all__ = ["print_group_report", "print_report", "workload_command"]

MAX_PROCESSES = 64
"""Most member processes of one group (--processes, --members): each is a Python process."""
PLAIN_PROGRESS_INTERVAL = 5.0
"""Seconds between progress lines when stderr is not a terminal."""


class _ProgressView:
    """A rich progress bar on a terminal, a line every few seconds otherwise (both stderr)."""

    def __init__(self, console: Console, total: int, quiet: bool) -> None:
        self._console = console
        self._quiet = quiet
        self._bar: Progress | None = None
        self._task: Any = None
        # The first report is printed at once: a log shows the run has started.
        self._last_line = -PLAIN_PROGRESS_INTERVAL
        if not quiet and console.is_terminal:
            self._bar = Progress(
                TextColumn("workload"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(
                    "workflows  {task.fields[transitions]} transitions  "
                    "{task.fields[calls]} store calls  {task.fields[failed]}"
                ),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._task = self._bar.add_task(
                "workload", total=total, calls=0, transitions=0, failed=""
            )

    def __enter__(self) -> _ProgressView:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, progress: WorkloadProgress) -> None:
        failed = f"{progress.failed} failed" if progress.failed else ""
        if self._bar is not None:
            self._bar.update(
                self._task,
                completed=progress.done,
                calls=progress.store_calls,
                transitions=progress.transitions,
                failed=failed,
            )
            return
        now = time.monotonic()
        final = progress.done == progress.total
        if self._quiet or (now - self._last_line < PLAIN_PROGRESS_INTERVAL and not final):
            return
        self._last_line = now
        self._console.print(
            f"workload: {progress.done}/{progress.total} workflows, "
            f"{progress.transitions} transitions, {progress.store_calls} store calls, "
            f"{progress.elapsed:.1f} s" + (f", {failed}" if failed else ""),
            highlight=False,
        )


def _report_console() -> Console:
    return console_for()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def print_report(report: WorkloadReport, console: Console) -> None:
    """The per-operation table, the totals and the integrity verdict."""
    settings, counters = report.settings, report.counters
    table = Table(title=f"workload on {report.target or report.backend}")
    table.add_column("operation", no_wrap=True)
    for name in ("calls", "errors", "ops/s", "p50", "p99"):
        table.add_column(name, justify="right", no_wrap=True)
    errors_by_type: dict[str, int] = {}
    for op in report.operations:
        for name, count in op.errors.items():
            errors_by_type[name] = errors_by_type.get(name, 0) + count
        table.add_row(
            op.name,
            str(op.calls),
            str(op.error_count),
            f"{report.rate(op.calls):.0f}",
            _ms(op.p50),
            _ms(op.p99),
        )
    lifecycle = report.lifecycle
    table.add_section()
    table.add_row(
        "workflow (whole chain)",
        str(lifecycle.count),
        "",
        f"{report.rate(lifecycle.count):.1f}",
        _ms(lifecycle.p50),
        _ms(lifecycle.p99),
    )
    console.print(table)
    if errors_by_type:
        # Most are expected answers: refused brand-new starts of reused ids, first lookups.
        listed = ", ".join(f"{name} {count}" for name, count in sorted(errors_by_type.items()))
        console.print(f"store errors by type: {listed}", highlight=False)
    console.print(
        f"{counters.workflows_completed}/{settings.workflows} workflows "
        f"({counters.runs} runs, {counters.transitions} transitions, {counters.events} events in "
        f"{counters.history_appends} batches) in {report.seconds:.1f} s: "
        f"{report.rate(report.store_calls):.0f} store calls/s over {settings.shards} shards, "
        f"concurrency {settings.concurrency}, seed {settings.seed}",
        highlight=False,
    )
    console.print(
        f"exercised: {counters.activities} activities, {counters.timers_fired} timers, "
        f"{counters.signals} signals, {counters.continued_as_new} continue-as-new, "
        f"{counters.id_reuses} workflow-id reuses, {counters.resets} resets; "
        f"{counters.transfer_tasks} transfer and {counters.matching_tasks} matching tasks; "
        f"{counters.poison_tasks_parked} poison tasks parked in a DLQ, "
        f"{counters.poison_tasks_replayed} replayed"
        + (
            f"; {counters.stale_timers} stale timers of earlier owners cleared"
            if counters.stale_timers
            else ""
        ),
        highlight=False,
    )
    if report.interrupted is not None:
        console.print(
            f"[bold yellow]INTERRUPTED[/]: {interrupted_summary(report)}; integrity check not run"
        )
        return
    integrity = report.integrity
    summary = (
        f"{integrity.runs_checked} runs, {integrity.events_read} events on "
        f"{integrity.branches_read} branches, {integrity.current_pointers} current pointers, "
        f"{integrity.task_ranges_scanned} task ranges read back in {integrity.seconds:.1f} s"
    )
    print_integrity(integrity, summary, console)


def interrupted_summary(report: WorkloadReport) -> str:
    """What a stopped run leaves behind, in one sentence."""
    done = report.counters.workflows_completed
    return (
        f"stopped after {done}/{report.settings.workflows} workflows; the store is consistent: "
        f"every write is atomic, so the {report.interrupted} workflow(s) in flight stay at "
        "their last stored transition, as after a server crash"
    )


def _finish(report: R, as_json: bool, printer: Callable[[R, Console], None]) -> None:
    """The report as JSON or tables; a failed integrity check exits non-zero, a stopped run
    exits 130 after its partial report."""
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        printer(report, _report_console())
    if isinstance(report, WorkloadReport) and report.interrupted is not None:
        raise Interrupted(f"workload interrupted: {interrupted_summary(report)}")
    if not report.ok:
        count = len(report.integrity.violations)
        raise click.ClickException(f"workload: integrity check failed with {count} violation(s)")


def print_integrity(integrity: IntegrityReport, summary: str, console: Console) -> None:
    """The verdict line, then one line per violation."""
    if integrity.ok:
        console.print(f"[bold green]INTEGRITY CHECK PASSED[/]: {summary}")
        return
    console.print(
        f"[bold red]INTEGRITY CHECK FAILED[/]: {len(integrity.violations)} violation(s) ({summary})"
    )
    for violation in integrity.violations:
        console.print(f"  [red]-[/] {violation}", highlight=False)


async def _open_and_run(
    context: CliContext,
    options: WorkloadOptions,
    create_schema: bool,
    view: _ProgressView,
) -> WorkloadReport:
    config = context.load_config()
    chosen = None if context.config_path is None else config
    open_options = OpenOptions(create_schema=True) if create_schema else None
    persistence = await open_persistence(chosen, store=context.store, options=open_options)
    async with persistence:
        with view, _stop_on_sigint() as stop:
            return await run_workload(
                persistence,
                options,
                default_shards=config.num_history_shards,
                on_progress=view.update,
                stop=stop,
            )


@contextlib.contextmanager
def _stop_on_sigint() -> Iterator[asyncio.Event]:
    """An event set by the first Ctrl-C, so that the run stops with a partial report; a second
    Ctrl-C interrupts as usual (the handler is gone by then)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def first_interrupt() -> None:
        stop.set()
        loop.remove_signal_handler(signal.SIGINT)

    try:
        loop.add_signal_handler(signal.SIGINT, first_interrupt)
    except (NotImplementedError, RuntimeError, ValueError):
        yield stop  # no signal handlers here (not the main thread, or not Unix)
        return
    try:
        yield stop
    finally:
        loop.remove_signal_handler(signal.SIGINT)


@click.command("workload")
@click.option(
    "--workflows",
    type=click.IntRange(*BOUNDS["workflows"]),
    default=200,
    show_default=True,
    help="Workflow ids to run (one in five continues as new, one in ten reuses its id, one "
    "in ten resets).",
)
@click.option(
    "--shards",
    type=click.IntRange(*BOUNDS["shards"]),
    help="Shards the process owns (default: numHistoryShards of the config, 4 by default). "
    f"At most {BOUNDS['shards'][1]:,}.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(*BOUNDS["concurrency"]),
    default=32,
    show_default=True,
    help="Workflows in flight at once.",
)
@click.option(
    "--transitions",
    type=click.IntRange(*BOUNDS["transitions"]),
    default=4,
    show_default=True,
    help="Workflow tasks per first run, each scheduling an activity, a timer or a signal.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Stop starting new workflows after this long (those in flight finish).",
)
@click.option("--seed", type=int, help="Seed of the workflow mix (default: random, printed).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option(
    "--processes",
    type=click.IntRange(1, MAX_PROCESSES),
    help="Run a group of N member processes sharing the shards (membership heartbeats, "
    "takeover with range bumps), then check every workflow of the group.",
)
@click.option("--member", is_flag=True, help="Run one member of --group (one per host).")
@click.option("--group", help="The member group's name (with --member or --check-only).")
@click.option(
    "--members",
    type=click.IntRange(1, MAX_PROCESSES),
    default=1,
    help="Members to wait for before taking shards.",
)
@click.option("--check-only", is_flag=True, help="Check a finished --group and print its report.")
@click.option(
    "--create-schema",
    is_flag=True,
    help="Create or upgrade the schema on open (for Cassandra and PostgreSQL; operators "
    "normally migrate with 'schema'). The embedded SQLite default always does.",
)
@click.pass_obj
def workload_command(
    context: CliContext,
    workflows: int,
    shards: int | None,
    concurrency: int,
    transitions: int,
    duration: float | None,
    seed: int | None,
    as_json: bool,
    create_schema: bool,
    processes: int | None = None,
    member: bool = False,
    group: str | None = None,
    members: int = 1,
    check_only: bool = False,
) -> None:
    """Drive every store like a history and matching service, then check it all.

    Shards and task queues are leased by range id, workflows go through starts, transitions
    with compare-and-set updates, history tasks, matching tasks, timers, continue-as-new,
    workflow-id reuse, resets and completion. At the end: throughput and p50/p99 per
    operation, then an integrity check that reads every workflow back; a violation exits 1.
    """
    if shards is None:
        # The config's numHistoryShards stands in for --shards: the same range, checked now
        # rather than after the store is opened.
        try:
            check_bound("shards", context.load_config().num_history_shards)
        except ValueError as error:
            raise click.UsageError(
                f"{error}; the config's numHistoryShards is the default"
            ) from None
    if processes is not None or member or check_only:
        _group_modes(
            context,
            processes,
            member,
            group,
            members,
            check_only,
            create_schema,
            as_json,
            WorkloadOptions(
                workflows=workflows,
                shards=shards,
                concurrency=concurrency,
                transitions=transitions,
                seed=seed,
            ),
        )
        return
    options = WorkloadOptions(
        workflows=workflows,
        shards=shards,
        concurrency=concurrency,
        transitions=transitions,
        duration=duration,
        seed=seed,
    )
    stderr = console_for(stderr=True)
    view = _ProgressView(stderr, workflows, quiet=False)
    report = run_async(_open_and_run(context, options, create_schema, view))
    _finish(report, as_json, print_report)


def _group_modes(
    context: CliContext,
    processes: int | None,
    member: bool,
    group: str | None,
    members: int,
    check_only: bool,
    create_schema: bool,
    as_json: bool,
    options: WorkloadOptions,
) -> None:
    """--processes N, --member --group NAME, --check-only --group NAME."""
    if sum((processes is not None, member, check_only)) > 1:
        raise click.UsageError("use one of --processes, --member and --check-only")
    if processes is not None and processes < 1:
        raise click.UsageError(f"--processes must be at least 1 (got {processes})")
    if (member or check_only) and not group:
        raise click.UsageError("--member and --check-only need --group NAME")
    if members < 1:
        raise click.UsageError(f"--members must be at least 1 (got {members})")
    config = context.load_config()
    chosen = None if context.config_path is None else config
    stderr = console_for(stderr=True)

    def progress(line: str) -> None:
        stderr.print(line, highlight=False)

    if processes is not None:
        report = run_member_group(
            chosen,
            processes=processes,
            options=options,
            store=context.store,
            group=group,
            create_schema=create_schema,
            default_shards=config.num_history_shards,
            on_progress=progress,
        )
    elif member:
        assert group is not None
        name = f"{socket.gethostname()}-{os.getpid()}"
        run_async(_run_one_member(context, group, name, members, options, create_schema, progress))
        stderr.print(
            f"member {name} of group {group} finished; check the group with "
            f"'workload --check-only --group {group}'",
            highlight=False,
        )
        return
    else:
        assert group is not None
        report = run_async(_check_only(context, group))
    _finish(report, as_json, print_group_report)


async def _run_one_member(
    context: CliContext,
    group: str,
    name: str,
    members: int,
    options: WorkloadOptions,
    create_schema: bool,
    progress: Callable[[str], None],
) -> None:
    config = context.load_config()
    chosen = None if context.config_path is None else config
    open_options = OpenOptions(create_schema=True) if create_schema else None
    async with await open_persistence(chosen, store=context.store, options=open_options) as p:
        settings = resolve_settings(options, config.num_history_shards)
        await run_member(p, group, settings, name, expected_members=members, on_progress=progress)


async def _check_only(context: CliContext, group: str) -> GroupReport:
    config = context.load_config()
    chosen = None if context.config_path is None else config
    async with await open_persistence(chosen, store=context.store) as persistence:
        return await check_group(persistence, group)


def print_group_report(report: GroupReport, console: Console) -> None:
    """The members, takeovers, fencing and the group's integrity verdict."""
    settings, counters = report.settings, report.counters
    console.print(
        f"workload group {report.group} on {report.target or report.backend}: "
        f"{len(report.members)} member results, {settings.workflows} workflows on "
        f"{settings.shards} shards in {report.seconds:.1f} s",
        highlight=False,
    )
    for line in describe_members(report):
        console.print(f"  {line}", highlight=False)
    if report.kill is not None:
        seconds = report.takeover_seconds()
        shown = ", ".join(f"{s:.2f} s" for s in seconds) or "none"
        console.print(
            f"{report.kill.mode} of member {report.kill.member}: its shards taken over after "
            f"{shown} (death to range bump)",
            highlight=False,
        )
    console.print(
        f"{counters.workflows_completed} workflows completed by members that reported "
        f"({counters.recovered} finished after a takeover), {counters.fenced_writes} writes "
        f"fenced, {counters.handed_over} chains handed over, {report.stale_matching_tasks} "
        f"stale matching tasks of dead members dropped",
        highlight=False,
    )
    integrity = report.integrity
    summary = (
        f"{integrity.runs_checked} runs, {integrity.events_read} events, "
        f"{integrity.current_pointers} current pointers, {integrity.task_ranges_scanned} task "
        f"ranges read back in {integrity.seconds:.1f} s"
    )
    print_integrity(integrity, summary, console)
