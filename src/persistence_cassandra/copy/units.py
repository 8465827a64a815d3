"""The units a copy is made of, each a resumable loop over one paged source read.

=============================  ==========================================================
unit                           reads (source) -> writes (target)
=============================  ==========================================================
``namespaces``                 every namespace, in notification-version order -> create
``cluster_metadata``           every cluster metadata record -> save, version stepped up
``history``                    tree rows, then every node row of each branch (shadowed
                               transactions and orphaned ancestor ranges included)
                               -> tree row (``fork_history_branch``), nodes (upserts)
``shards``                     shards ``1..numHistoryShards`` -> create, range id + 1
``shards/discovered``          shards only history tree rows name (copied last)
``executions/<shard>``         runs and their current pointers -> fenced creates
``history_tasks/<shard>/<c>``  history tasks of category ``c`` -> fenced upserts
``task_queues``                queues, then each queue's tasks -> create, leased upserts
``visibility/<namespace>``     a registered namespace's search attributes, then its
                               visibility records, oldest first -> register, save
=============================  ==========================================================

A unit records the source page token after each page is wholly written (see
:mod:`persistence_cassandra.copy.state`), so a restarted copy skips finished units and
resumes the others at their first unfinished page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, TypeVar

from persistence_cassandra.copy.kinds import RecordKind
from persistence_cassandra.copy.reader import NodeSource, StoreReader, branches_to_read, read_ahead
from persistence_cassandra.copy.state import CopyState
from persistence_cassandra.copy.target import Outcome, TargetWriter
from persistence_cassandra.records import (
    ClusterMetadataRecord,
    CurrentExecution,
    HistoryTask,
    HistoryTreeBranch,
    NamespaceRecord,
    Page,
    TaskCategory,
    TaskQueueRecord,
    TaskQueueUserData,
    WorkflowMutableState,
)
from persistence_cassandra.task_categories import task_category
from persistence_cassandra.visibility.records import VisibilityRecord

__all__ = [
    "CopyContext",
    "CopyListener",
    "NullListener",
    "copy_all_history_tasks",
    "copy_cluster_metadata",
    "copy_executions",
    "copy_history",
    "copy_history_tasks",
    "copy_namespaces",
    "copy_shards",
    "copy_task_queue_user_data",
    "copy_task_queues",
    "copy_visibility",
    "gather_all",
]

T = TypeVar("T")

POINTER_READS = 32
"""Current-pointer reads in flight for one page of runs."""


class CopyListener(Protocol):
    """What a copy reports as it goes (the CLI draws progress from it)."""

    def stage(self, name: str) -> None:
        """A new stage begins: ``checking target``, ``copying``, ``verifying``."""

    def records(self, kind: RecordKind, count: int) -> None:
        """``count`` more records of ``kind`` are in the target (written or already there)."""

    def page_done(self, unit: str) -> None:
        """A page of ``unit`` is wholly written and recorded in the state file."""


class NullListener:
    def stage(self, name: str) -> None:
        pass

    def records(self, kind: RecordKind, count: int) -> None:
        pass

    def page_done(self, unit: str) -> None:
        pass


@dataclass(slots=True)
class CopyContext:
    source: StoreReader
    target: TargetWriter
    state: CopyState
    listener: CopyListener
    page_size: int
    streams: asyncio.Semaphore
    """Bounds the paged reads nested in a page that run at once (a branch's nodes, a queue's
    tasks)."""
    outcomes: dict[Outcome, int] = field(default_factory=dict)

    def moved(self, kind: RecordKind, count: int = 1) -> None:
        if count:
            self.state.count(kind.label, count)
            self.listener.records(kind, count)

    def note(self, outcome: Outcome) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


async def gather_all(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Await every call concurrently; the first failure cancels the rest (how many run at
    once is bounded where they do I/O: the target's write gate, the nested streams)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(call)) for call in calls]
    except BaseExceptionGroup as failures:
        # Callers (and the CLI's one-line error report) expect the error itself, not a group.
        raise _first_failure(failures) from None
    return [task.result() for task in tasks]


def _first_failure(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    first = failures.exceptions[0]
    return _first_failure(first) if isinstance(first, BaseExceptionGroup) else first


async def _awaited(call: Awaitable[T]) -> T:
    return await call


async def _paged_unit(
    ctx: CopyContext,
    name: str,
    fetch: Callable[[bytes], Awaitable[Page[T]]],
    handle: Callable[[list[T]], Awaitable[None]],
) -> None:
    """Copy one paged read page by page, recording progress after each page."""
    progress = ctx.state.unit(name)
    if progress.done:
        return
    async with aclosing(read_ahead(fetch, progress.token)) as pages:
        async for page, following in pages:
            await handle(page.items)
            progress.token = following
            progress.pages += 1
            progress.done = not following
            await ctx.state.save()
            ctx.listener.page_done(name)


# --------------------------------------------------------------------------- metadata


async def copy_namespaces(ctx: CopyContext) -> None:
    """Namespaces one by one in notification-version order, so that each is stamped with the
    version it has in the source (namespaces are few: they are held in memory to sort)."""
    name = "namespaces"
    progress = ctx.state.unit(name)
    if progress.done:
        return
    await ctx.target.remove_pad_namespaces()
    records: list[NamespaceRecord] = []
    token = b""
    while True:
        page = await ctx.source.namespaces(ctx.page_size, token)
        records.extend(page.items)
        token = page.next_page_token
        if not token:
            break
    records.sort(key=lambda r: (r.notification_version, r.id))
    for record in records:
        ctx.note(await ctx.target.put_namespace(record))
        ctx.moved(RecordKind.NAMESPACES)
    await ctx.target.advance_notification_version(await ctx.source.notification_version())
    progress.done = True
    progress.pages += 1
    await ctx.state.save()
    ctx.listener.page_done(name)


async def copy_cluster_metadata(ctx: CopyContext) -> None:
    async def handle(records: list[ClusterMetadataRecord]) -> None:
        for record in records:
            ctx.note(await ctx.target.put_cluster_metadata(record))
            ctx.moved(RecordKind.CLUSTER_METADATA)

    await _paged_unit(
        ctx, "cluster_metadata", partial(ctx.source.cluster_metadata_page, ctx.page_size), handle
    )


# --------------------------------------------------------------------------- history


async def copy_history(ctx: CopyContext, configured_shards: set[int]) -> None:
    """Tree rows and every node row they lead to; records shard ids beyond the configured
    ones, so that the shards unit copies them too."""

    async def copy_branch_nodes(source: NodeSource) -> None:
        async with ctx.streams:
            fetch = partial(ctx.source.nodes, source, ctx.page_size)
            async with aclosing(read_ahead(fetch)) as pages:
                async for page, _ in pages:
                    await gather_all(ctx.target.put_node(source, node) for node in page.items)
                    ctx.moved(RecordKind.HISTORY_NODES, len(page.items))

    async def handle(rows: list[HistoryTreeBranch]) -> None:
        branches = await branches_to_read(ctx.source, rows)
        ctx.state.discovered_shards.update(
            row.shard_id for row in rows if row.shard_id not in configured_shards
        )
        await gather_all(ctx.target.put_tree_row(row) for row in rows)
        ctx.moved(RecordKind.HISTORY_TREES, len(rows))
        await gather_all(copy_branch_nodes(source) for source in branches)

    await _paged_unit(ctx, "history", partial(ctx.source.tree_rows, ctx.page_size), handle)


# --------------------------------------------------------------------------- shards


async def copy_shards(ctx: CopyContext, shard_ids: Iterable[int], name: str) -> None:
    """Every source shard of ``shard_ids``, with its range id bumped in the target
    (remembered in the state, which execution writes are then fenced with)."""
    progress = ctx.state.unit(name)
    if progress.done:
        return

    async def copy_one(shard_id: int) -> None:
        record = await ctx.source.shard(shard_id)
        if record is None:
            return
        recorded = ctx.state.shard_ranges.get(shard_id)
        range_id, outcome = await ctx.target.put_shard(record, recorded)
        ctx.state.shard_ranges[shard_id] = range_id
        ctx.note(outcome)
        ctx.moved(RecordKind.SHARDS)

    await gather_all(copy_one(shard_id) for shard_id in sorted(set(shard_ids)))
    progress.done = True
    progress.pages += 1
    await ctx.state.save()
    ctx.listener.page_done(name)


# --------------------------------------------------------------------------- executions


def count_collections(ctx: CopyContext, state: WorkflowMutableState) -> None:
    ctx.moved(RecordKind.ACTIVITY_INFOS, len(state.activity_infos))
    ctx.moved(RecordKind.TIMER_INFOS, len(state.timer_infos))
    ctx.moved(RecordKind.CHILD_EXECUTION_INFOS, len(state.child_execution_infos))
    ctx.moved(RecordKind.REQUEST_CANCEL_INFOS, len(state.request_cancel_infos))
    ctx.moved(RecordKind.SIGNAL_INFOS, len(state.signal_infos))
    ctx.moved(RecordKind.SIGNALS_REQUESTED, len(state.signal_requested_ids))
    ctx.moved(RecordKind.BUFFERED_EVENTS, len(state.buffered_events))


async def current_pointers(
    reader: StoreReader, shard_id: int, runs: list[WorkflowMutableState]
) -> dict[tuple[str, str], CurrentExecution | None]:
    """The current pointer of every workflow with a run in ``runs`` (one read each)."""
    workflows = sorted({(run.key.namespace_id, run.key.workflow_id) for run in runs})
    gate = asyncio.Semaphore(POINTER_READS)

    async def read(namespace_id: str, workflow_id: str) -> CurrentExecution | None:
        async with gate:
            return await reader.current(shard_id, namespace_id, workflow_id)

    found = await gather_all(read(ns, wf) for ns, wf in workflows)
    return dict(zip(workflows, found, strict=True))


async def copy_executions(ctx: CopyContext, shard_id: int) -> None:
    range_id = ctx.state.shard_ranges[shard_id]

    async def handle(runs: list[WorkflowMutableState]) -> None:
        pointers = await current_pointers(ctx.source, shard_id, runs)

        async def copy_run(state: WorkflowMutableState) -> None:
            pointer = pointers[(state.key.namespace_id, state.key.workflow_id)]
            current = (
                pointer if pointer is not None and pointer.run_id == state.key.run_id else None
            )
            ctx.note(await ctx.target.put_run(shard_id, range_id, state, current))
            ctx.moved(RecordKind.EXECUTIONS)
            if current is not None:
                ctx.moved(RecordKind.CURRENT_EXECUTIONS)
            count_collections(ctx, state)

        await gather_all(copy_run(state) for state in runs)

    fetch = partial(ctx.source.runs, shard_id, ctx.page_size)
    await _paged_unit(ctx, f"executions/{shard_id}", fetch, handle)


async def copy_history_tasks(ctx: CopyContext, shard_id: int, category: TaskCategory) -> None:
    range_id = ctx.state.shard_ranges[shard_id]

    async def handle(tasks: list[HistoryTask]) -> None:
        await ctx.target.put_history_tasks(shard_id, range_id, tasks)
        ctx.moved(RecordKind.HISTORY_TASKS, len(tasks))

    fetch = partial(ctx.source.history_tasks, shard_id, category, ctx.page_size)
    await _paged_unit(ctx, f"history_tasks/{shard_id}/{category.name.lower()}", fetch, handle)


async def copy_all_history_tasks(ctx: CopyContext, shard_id: int) -> None:
    """Every category the shard holds tasks of, as stored (not only the registered ones): a
    category this process does not know stops the copy with ``UnknownTaskCategory`` rather
    than leaving its tasks behind."""
    ids = await ctx.source.history_task_category_ids(shard_id)
    categories = [task_category(category_id) for category_id in ids]
    await gather_all(copy_history_tasks(ctx, shard_id, category) for category in categories)


# --------------------------------------------------------------------------- matching


async def copy_task_queues(ctx: CopyContext) -> None:
    """Queues (their range id unchanged: it is the matching owner's lease, which a new owner
    bumps on acquiring it), then each queue's unexpired tasks under that lease."""

    async def copy_queue(record: TaskQueueRecord) -> None:
        ctx.note(await ctx.target.put_task_queue(record))
        ctx.moved(RecordKind.TASK_QUEUES)
        fetch = partial(ctx.source.tasks, record.key, ctx.page_size)
        async with ctx.streams, aclosing(read_ahead(fetch)) as pages:
            async for page, _ in pages:
                # A sticky queue's expiry goes along: its tasks expire with it (TTL).
                await ctx.target.put_tasks(record.key, record.range_id, page.items, record.expiry)
                ctx.moved(RecordKind.TASKS, len(page.items))

    async def handle(queues: list[TaskQueueRecord]) -> None:
        await gather_all(copy_queue(record) for record in queues)

    await _paged_unit(ctx, "task_queues", partial(ctx.source.task_queues, ctx.page_size), handle)


async def copy_task_queue_user_data(ctx: CopyContext) -> None:
    """Every queue's user data at its version, each with its build-id rows in the same write.

    The build-id rows are read whole first (a queue's rows must go with its user data, and
    the scans order them differently); a resumed copy reads them again."""
    build_ids: dict[tuple[str, str], set[str]] = {}
    token = b""
    while True:
        page = await ctx.source.build_id_mappings(ctx.page_size, token)
        for mapping in page.items:
            build_ids.setdefault((mapping.namespace_id, mapping.task_queue), set()).add(
                mapping.build_id
            )
        token = page.next_page_token
        if not token:
            break

    async def copy_one(entry: TaskQueueUserData) -> None:
        ids = frozenset(build_ids.get((entry.namespace_id, entry.task_queue), ()))
        ctx.note(await ctx.target.put_task_queue_user_data(entry, ids))
        ctx.moved(RecordKind.TASK_QUEUE_USER_DATA)
        ctx.moved(RecordKind.BUILD_ID_MAPPINGS, len(ids))

    async def handle(entries: list[TaskQueueUserData]) -> None:
        await gather_all(copy_one(entry) for entry in entries)

    await _paged_unit(
        ctx, "task_queue_user_data", partial(ctx.source.user_data, ctx.page_size), handle
    )


# --------------------------------------------------------------------------- visibility (issue 17)


async def _source_namespace_ids(ctx: CopyContext) -> list[str]:
    ids: list[str] = []
    token = b""
    while True:
        page = await ctx.source.namespaces(ctx.page_size, token)
        ids.extend(record.id for record in page.items)
        token = page.next_page_token
        if not token:
            return sorted(ids)


async def copy_visibility(ctx: CopyContext) -> None:
    """Each registered namespace's search attributes, then its visibility records (pages are
    keyset pages, so a resumed unit continues after the last record it wrote)."""
    for namespace_id in await _source_namespace_ids(ctx):
        attributes = await ctx.source.search_attributes(namespace_id)
        if attributes and not ctx.state.unit(f"visibility/{namespace_id}").done:
            await ctx.target.put_search_attributes(namespace_id, attributes)
            ctx.moved(RecordKind.SEARCH_ATTRIBUTES, len(attributes))

        async def handle(records: list[VisibilityRecord]) -> None:
            for record in records:
                ctx.note(await ctx.target.put_visibility(record))
                ctx.moved(RecordKind.VISIBILITY)

        await _paged_unit(
            ctx,
            f"visibility/{namespace_id}",
            partial(ctx.source.visibility_page, namespace_id, ctx.page_size),
            handle,
        )
