"""``visibility``: list, count and register search attributes of a namespace's executions.

``list`` and ``count`` take ``--query`` in the visibility query language
(docs/visibility.md); a query mistake is one line naming its position and attribute.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click
from rich.table import Table

from persistence_cassandra.cli.context import CliContext, run_async
from persistence_cassandra.cli.output import console_for
from persistence_cassandra.errors import ConfigError
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.stores import VisibilityStore
from persistence_cassandra.visibility.records import (
    ExecutionStatus,
    SearchAttributeType,
    VisibilityRecord,
)

if TYPE_CHECKING:
    from persistence_cassandra.bench.visibility_bench import VisibilityBenchRow

__all__ = ["record_json", "visibility_group"]

T = TypeVar("T")
MAX_LIST_LIMIT = 10_000


def record_json(record: VisibilityRecord) -> dict[str, object]:
    def value(item: object) -> object:
        if isinstance(item, tuple):
            return list(item)
        return item.isoformat() if hasattr(item, "isoformat") else item

    return {
        "namespace_id": record.namespace_id,
        "workflow_id": record.workflow_id,
        "run_id": record.run_id,
        "workflow_type": record.workflow_type,
        "task_queue": record.task_queue,
        "status": record.status.query_name,
        "start_time": record.start_time.isoformat(),
        "execution_time": record.execution_time.isoformat(),
        "close_time": None if record.close_time is None else record.close_time.isoformat(),
        "history_length": record.history_length,
        "history_size_bytes": record.history_size_bytes,
        "search_attributes": {k: value(v) for k, v in record.search_attributes.items()},
    }


def _with_store(context: CliContext, work: Callable[[VisibilityStore], Awaitable[T]]) -> T:
    async def run() -> T:
        persistence: Persistence = await context.open()
        async with persistence:
            if persistence.visibility is None:
                raise ConfigError(f"the {persistence.backend_name} backend has no visibility store")
            return await work(persistence.visibility)

    return run_async(run())


_NAMESPACE = click.option(
    "-n", "--namespace-id", required=True, metavar="ID", help="The namespace's id."
)
_QUERY = click.option(
    "-q", "--query", default="", metavar="QUERY", help="Filter and order, e.g. "
    "\"WorkflowType = 'payment' AND ExecutionStatus = 'Running'\" (default: everything)."
)  # fmt: skip
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")


@click.group("visibility")
def visibility_group() -> None:
    """List and count executions with a query; register custom search attributes."""


@visibility_group.command("list")
@_NAMESPACE
@_QUERY
@click.option(
    "--limit", type=click.IntRange(1, MAX_LIST_LIMIT), default=20, show_default=True,
    help="Show at most this many executions.",
)  # fmt: skip
@click.option(
    "--page-token", default="", metavar="TOKEN",
    help="Continue from the token a previous list printed.",
)  # fmt: skip
@_JSON
@click.pass_obj
def list_command(
    context: CliContext, namespace_id: str, query: str, limit: int, page_token: str, as_json: bool
) -> None:
    """List executions in the query's order (default StartTime DESC), page by page."""

    async def work(store: VisibilityStore) -> tuple[list[VisibilityRecord], bytes]:
        records: list[VisibilityRecord] = []
        token = page_token.encode()
        while len(records) < limit:
            page = await store.list_executions(
                namespace_id, query, min(limit - len(records), 1000), token
            )
            records.extend(page.items)
            token = page.next_page_token
            if not token:
                break
        return records, token

    records, token = _with_store(context, work)
    if as_json:
        document = {"executions": [record_json(r) for r in records], "next_page_token": ""}
        document["next_page_token"] = token.decode()
        click.echo(json.dumps(document, indent=2))
        return
    table = Table("WorkflowId", "RunId", "Type", "Status", "StartTime", "CloseTime", "TaskQueue")
    for record in records:
        table.add_row(
            record.workflow_id, record.run_id, record.workflow_type, record.status.query_name,
            record.start_time.isoformat(timespec="seconds"),
            "" if record.close_time is None else record.close_time.isoformat(timespec="seconds"),
            record.task_queue,
        )  # fmt: skip
    console = console_for()
    console.print(table)
    console.print(f"{len(records)} execution(s)")
    if token:
        console.print(f"more: --page-token {token.decode()}", soft_wrap=True)


@visibility_group.command("count")
@_NAMESPACE
@_QUERY
@click.option("--by-status", is_flag=True, help="Count per execution status.")
@_JSON
@click.pass_obj
def count_command(
    context: CliContext, namespace_id: str, query: str, by_status: bool, as_json: bool
) -> None:
    """Count the executions matching the query."""
    if by_status:
        counts = _with_store(
            context, lambda store: store.count_executions_by_status(namespace_id, query)
        )
        named = {s.query_name: counts[s] for s in ExecutionStatus if s in counts}
        if as_json:
            click.echo(json.dumps({"count": sum(named.values()), "by_status": named}, indent=2))
            return
        table = Table("ExecutionStatus", "Count")
        for name, count in named.items():
            table.add_row(name, str(count))
        console_for().print(table)
        return
    total = _with_store(context, lambda store: store.count_executions(namespace_id, query))
    click.echo(json.dumps({"count": total}) if as_json else str(total))


@visibility_group.command("register")
@_NAMESPACE
@click.argument("name")
@click.argument("type_name", metavar="TYPE")
@click.pass_obj
def register_command(context: CliContext, namespace_id: str, name: str, type_name: str) -> None:
    """Register the custom search attribute NAME of TYPE (Keyword, KeywordList, Text, Int,
    Double, Bool, Datetime) in the namespace."""
    try:
        type_ = SearchAttributeType.parse(type_name)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="TYPE") from None
    _with_store(
        context, lambda store: store.register_search_attributes(namespace_id, {name: type_})
    )
    click.echo(f"registered {name} ({type_.value}) in namespace {namespace_id}")


@visibility_group.command("attributes")
@_NAMESPACE
@_JSON
@click.pass_obj
def attributes_command(context: CliContext, namespace_id: str, as_json: bool) -> None:
    """Show the namespace's custom search attributes and their types."""
    found = _with_store(context, lambda store: store.get_search_attributes(namespace_id))
    if as_json:
        click.echo(json.dumps({name: t.value for name, t in sorted(found.items())}, indent=2))
        return
    table = Table("Name", "Type")
    for name, type_ in sorted(found.items()):
        table.add_row(name, type_.value)
    console_for().print(table)


@visibility_group.command("bench")
@click.option(
    "--executions", type=click.IntRange(100, 10_000_000), default=10_000, show_default=True,
    help="How many executions to record in a fresh namespace first.",
)  # fmt: skip
@click.option(
    "--repeats", type=click.IntRange(1, 1000), default=5, show_default=True,
    help="Timed calls per case (the median is shown).",
)  # fmt: skip
@_JSON
@click.pass_obj
def bench_command(context: CliContext, executions: int, repeats: int, as_json: bool) -> None:
    """Time list (first and deep page) and count, index-served and merged, through the store
    and as the same statements sent raw. The executions stay in the namespace it prints: run
    it on a scratch store."""
    from persistence_cassandra.bench.baseline import open_raw_baseline
    from persistence_cassandra.bench.visibility_bench import run_visibility_bench

    namespace_id = f"bench-{uuid.uuid4().hex[:10]}"

    async def run() -> list[VisibilityBenchRow]:
        persistence = await context.open()
        async with persistence:
            if persistence.visibility is None or persistence.raw.visibility is None:
                raise ConfigError(f"the {persistence.backend_name} backend has no visibility store")
            raw = await open_raw_baseline(context.datastore())
            try:
                return await run_visibility_bench(
                    persistence.visibility, persistence.raw.visibility, raw,
                    backend=persistence.backend_name, executions=executions, repeats=repeats,
                    namespace_id=namespace_id,
                )  # fmt: skip
            finally:
                await raw.close()

    rows = run_async(run())
    if as_json:
        document = {
            "namespace_id": namespace_id,
            "rows": [{**dataclasses.asdict(row), "ratio": round(row.ratio, 2)} for row in rows],
        }
        click.echo(json.dumps(document, indent=2))
        return
    table = Table(
        "Backend", "Executions", "Query", "Shape", "Call", "Ours ms", "Raw ms", "Ratio",
        "Statements", "Rows read", "Result",
    )  # fmt: skip
    for row in rows:
        table.add_row(
            row.backend, f"{row.executions:,}", row.case, row.shape, row.call,
            f"{row.ours_ms:.2f}", f"{row.raw_ms:.2f}", f"{row.ratio:.2f}", str(row.statements),
            f"{row.rows_read:,}", f"{row.result:,}",
        )  # fmt: skip
    console = console_for()
    console.print(table)
    console.print(f"executions recorded in namespace {namespace_id}")
