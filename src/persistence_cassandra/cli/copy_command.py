"""``copy``: copies every record of one datastore of the config into another, with progress on
stderr and the verification table on stdout; exits 1 when verification finds a mismatch.

A thin adapter over :func:`persistence_cassandra.copy.copy_stores`.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from persistence_cassandra.cli.context import CliContext, Interrupted, run_async
from persistence_cassandra.cli.output import console_for
from persistence_cassandra.config import DatastoreConfig, PersistenceConfig, load_config
from persistence_cassandra.copy import (
    CopyOptions,
    CopyResult,
    CopyStatus,
    Outcome,
    RecordKind,
    copy_stores,
)
from persistence_cassandra.copy.identity import database_identity
from persistence_cassandra.errors import ConfigError
from persistence_cassandra.factory import OpenOptions, open_store_bundle, wrap_bundle
from persistence_cassandra.middleware import MiddlewareOptions
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.task_categories import register_task_category_spec

__all__ = ["copy_command", "default_state_path", "print_result", "result_json"]

PLAIN_PROGRESS_INTERVAL = 5.0
"""Seconds between progress lines when stderr is not a terminal."""


def default_state_path(config_path: Path, source: str, target: str) -> Path:
    """Where progress is recorded unless ``--state`` says otherwise: next to the config."""
    return config_path.with_name(f"{config_path.name}.copy-{source}-to-{target}.state.json")


class _ProgressView:
    """Running totals: a live line on a terminal, a line every few seconds otherwise."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._stage = ""
        self._counts: dict[RecordKind, int] = {}
        self._pages = 0
        self._started = time.monotonic()
        self._stage_started = self._started
        self._last_line = self._started
        self._live: Live | None = None
        if console.is_terminal:
            self._live = Live(self._render(), console=console, transient=True, refresh_per_second=4)

    def __enter__(self) -> _ProgressView:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def _render(self) -> str:
        total = sum(self._counts.values())
        elapsed = time.monotonic() - self._stage_started
        rate = total / elapsed if elapsed > 0 and self._stage == "copying" else 0.0
        busiest = sorted(self._counts.items(), key=lambda item: -item[1])[:4]
        detail = ", ".join(f"{kind.label} {count:,}" for kind, count in busiest)
        line = f"copy: {self._stage or 'starting'}"
        if self._stage == "copying":
            line += f" - {total:,} rows ({rate:,.0f}/s), {self._pages:,} pages"
            if detail:
                line += f" - {detail}"
        return line + f" [{time.monotonic() - self._started:.0f} s]"

    def _show(self, force: bool = False) -> None:
        if self._live is not None:
            self._live.update(self._render())
            return
        now = time.monotonic()
        if force or now - self._last_line >= PLAIN_PROGRESS_INTERVAL:
            self._last_line = now
            self._console.print(self._render(), highlight=False)

    # CopyListener

    def stage(self, name: str) -> None:
        self._stage = name
        self._stage_started = time.monotonic()
        self._show(force=True)

    def records(self, kind: RecordKind, count: int) -> None:
        self._counts[kind] = self._counts.get(kind, 0) + count
        self._show()

    def page_done(self, unit: str) -> None:
        self._pages += 1
        self._show()


def result_json(result: CopyResult) -> dict[str, object]:
    """The result for ``--json``: status, totals and every verification row."""
    return {
        "status": result.status.name.lower(),
        "source": result.source,
        "target": result.target,
        "verified": result.verified,
        "rows_moved": result.rows_moved,
        "seconds": round(result.copy_seconds, 3),
        "moved": {kind.label: count for kind, count in result.moved.items()},
        "outcomes": {outcome.name.lower(): count for outcome, count in result.outcomes.items()},
        "target_was_empty": result.target_was_empty,
        "verification": [
            {
                "record_kind": row.label,
                "source_count": row.source_count,
                "source_checksum": row.source_checksum,
                "target_count": row.target_count,
                "target_checksum": row.target_checksum,
                "ok": row.ok,
            }
            for row in result.verification
        ],
    }


def print_result(result: CopyResult, console: Console) -> None:
    """The verification table (counts and checksums per record kind), then a summary."""
    dry = result.status is CopyStatus.DRY_RUN
    table = Table(title=f"{result.source} -> {result.target}", title_justify="left")
    table.add_column("record kind")
    table.add_column("source", justify="right")
    table.add_column("source checksum")
    if not dry:
        table.add_column("target", justify="right")
        table.add_column("target checksum")
        table.add_column("")
    for row in result.verification:
        cells = [row.label, f"{row.source_count:,}", row.source_checksum]
        if not dry:
            target = "" if row.target_count is None else f"{row.target_count:,}"
            cells += [target, row.target_checksum, "ok" if row.ok else "MISMATCH"]
        table.add_row(*cells)
    if result.verification:
        console.print(table)
    if dry:
        state = "empty" if result.target_was_empty else "not empty (a copy would need --force)"
        total = sum(row.source_count for row in result.verification[: len(RecordKind)])
        console.print(f"dry run: {total:,} rows would be copied; the target is {state}")
        return
    if result.status is CopyStatus.ALREADY_COMPLETE:
        console.print("this copy had already completed: nothing written, target verified")
    elif result.status is CopyStatus.ALREADY_IDENTICAL:
        console.print("the target already holds exactly the source's data: nothing written")
    else:
        outcomes = result.outcomes
        console.print(
            f"copied {result.rows_moved:,} rows in {result.copy_seconds:.1f} s "
            f"({result.rows_per_second:,.0f} rows/s); records already present: "
            f"{outcomes.get(Outcome.PRESENT, 0):,}, replaced (--force): "
            f"{outcomes.get(Outcome.OVERWRITTEN, 0):,}"
        )
    if not result.verification:
        console.print("verification skipped")
    elif result.verified:
        console.print("verification: source and target agree")


def _datastores(
    config: PersistenceConfig, source: str, target: str
) -> tuple[DatastoreConfig, DatastoreConfig]:
    if source == target:
        raise ConfigError(f"--from and --to both name datastore {source!r}; copy needs two")
    return config.datastore(source), config.datastore(target)


def _embedded(datastore: DatastoreConfig) -> bool:
    # The same rule as open_persistence: only the embedded SQLite store creates its schema.
    return datastore.sql is not None and datastore.sql.dialect == "sqlite"


async def _open(datastore: DatastoreConfig, *, create_schema: bool) -> Persistence:
    bundle = await open_store_bundle(datastore, options=OpenOptions(create_schema=create_schema))
    # Retries of transient errors only; copy writes are idempotent, so they are safe to resend.
    return wrap_bundle(
        bundle, MiddlewareOptions(metrics=False), backend_name=datastore.backend_name
    )


async def _run_copy(
    config: PersistenceConfig,
    source_name: str,
    target_name: str,
    options: CopyOptions,
    progress: _ProgressView,
) -> CopyResult:
    source_store, target_store = _datastores(config, source_name, target_name)
    await _refuse_one_database(source_store, target_store, source_name, target_name)
    # The source is opened without schema creation (a missing SQLite file is an error, not a
    # new empty database) and only ever handed to the copy as a read-only view.
    source = await _open(source_store, create_schema=False)
    try:
        target = await _open(target_store, create_schema=_embedded(target_store))
        try:
            if source.description == target.description:
                raise ConfigError(
                    f"--from {source_name} and --to {target_name} are the same database "
                    f"({source.description})"
                )
            return await copy_stores(source, target, options, progress)
        finally:
            await target.close()
    finally:
        await source.close()


async def _refuse_one_database(
    source: DatastoreConfig, target: DatastoreConfig, source_name: str, target_name: str
) -> None:
    """``ConfigError`` when both datastores are one database under two names (refused even
    with ``--force``: a copy onto itself would compare a store with itself and prove nothing).
    Checked before either is opened, so that not even the target's schema is created."""
    first, second = await asyncio.gather(database_identity(source), database_identity(target))
    if first is not None and first == second:
        raise ConfigError(
            f"--from {source_name} and --to {target_name} are the same database under two "
            f"names ({_describe_identity(first)}); copy needs two databases"
        )


def _describe_identity(identity: tuple[str, ...]) -> str:
    kind = identity[0]
    if kind == "sqlite":
        return "one SQLite file"
    if kind == "postgres":
        return f"PostgreSQL database {identity[2]} of one server"
    if kind == "cassandra":
        return f"keyspace {identity[3]} of cluster {identity[1]!r}"
    return identity[-1]


@click.command("copy")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="YAML file whose 'persistence.datastores' name both stores (default: the global "
    "--config).",
)
@click.option("--from", "source_name", required=True, metavar="STORE", help="Datastore to read.")
@click.option("--to", "target_name", required=True, metavar="STORE", help="Datastore to write.")
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Progress file (default: next to the config, named after both stores).",
)
@click.option("--force", is_flag=True, help="Copy into a target that holds different data.")
@click.option("--dry-run", is_flag=True, help="Count what would be copied; write nothing.")
@click.option(
    "--page-size", type=click.IntRange(1, 10_000), default=100, show_default=True, metavar="N"
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=64,
    show_default=True,
    metavar="N",
    help="Target writes in flight at once.",
)
@click.option(
    "--task-category",
    "task_categories",
    multiple=True,
    metavar="ID:NAME:KIND",
    help="A history task category the server registered (KIND immediate or scheduled); "
    "repeat for each. A category found in the source but not given stops the copy.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.pass_obj
def copy_command(
    cli: CliContext,
    config_path: Path | None,
    source_name: str,
    target_name: str,
    state_path: Path | None,
    force: bool,
    dry_run: bool,
    page_size: int,
    concurrency: int,
    as_json: bool = False,
    task_categories: tuple[str, ...] = (),
) -> None:
    """Copy every record of one datastore into another (any two backends), resumably."""
    for spec in task_categories:
        register_task_category_spec(spec)
    path = config_path or cli.config_path
    if path is None:
        raise ConfigError("copy needs --config FILE naming both datastores")
    config = load_config(path)
    _datastores(config, source_name, target_name)  # name mistakes fail before connecting
    options = CopyOptions(
        shard_ids=tuple(range(1, config.num_history_shards + 1)),
        state_path=state_path or default_state_path(path, source_name, target_name),
        source_name=source_name,
        target_name=target_name,
        force=force,
        dry_run=dry_run,
        page_size=page_size,
        max_in_flight=concurrency,
    )
    errors = console_for(stderr=True)
    try:
        with _ProgressView(errors) as progress:
            result = run_async(_run_copy(config, source_name, target_name, options, progress))
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; progress is saved in {options.state_path}: run the same command "
            "again to resume"
        ) from None
    if as_json:
        click.echo(json.dumps(result_json(result), indent=2))
    else:
        print_result(result, console_for())
    if not result.verified:
        failed = ", ".join(row.label for row in result.verification if not row.ok)
        raise click.ClickException(f"verification failed: source and target differ in {failed}")
