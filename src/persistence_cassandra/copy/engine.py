"""Copying every record of one datastore into another: :func:`copy_stores`.

The steps:

1. **State.** The progress file (:mod:`persistence_cassandra.copy.state`) of this source and
   target decides where to start: nothing yet, half done (resume), or finished (only verify).
2. **Target check** (fresh copies only). An empty target is copied into. A target that holds
   data is compared with the source first: identical means the copy is already done; different
   is refused unless ``force`` is set (then source records replace their counterparts).
3. **Copy**, in resumable units (:mod:`.units`): first the shards ``1..numHistoryShards``
   (range id + 1, so that the source's shard owners are fenced out of the target); then side
   by side namespaces, cluster metadata, history, task queues (with their tasks) and, for
   every shard, its runs with their current pointers and its history tasks of each category
   (several shard units at a time); last, shards that only history tree rows name, with
   their runs and tasks.
4. **Verification**: a census of each side (:mod:`.census`), compared kind by kind (count and
   checksum), plus the two values a copy sets rather than copies: every target shard's range
   id above the source's, and the namespace notification version.

The source is given to the copy only as a :class:`~.reader.StoreReader`, which has no write
method. This module does no printing: progress goes to a :class:`~.units.CopyListener`.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from persistence_cassandra.copy.census import holds_any_data, take_census
from persistence_cassandra.copy.digest import Census
from persistence_cassandra.copy.kinds import RecordKind
from persistence_cassandra.copy.queue_units import (
    copy_nexus_endpoints,
    copy_queues,
    copy_replication_dlq,
)
from persistence_cassandra.copy.reader import StoreReader, StoreSet
from persistence_cassandra.copy.state import CopyState
from persistence_cassandra.copy.target import Outcome, TargetConflict, TargetWriter
from persistence_cassandra.copy.units import (
    CopyContext,
    CopyListener,
    NullListener,
    copy_all_history_tasks,
    copy_cluster_metadata,
    copy_executions,
    copy_history,
    copy_namespaces,
    copy_shards,
    copy_task_queue_user_data,
    copy_task_queues,
    copy_visibility,
    gather_all,
)

__all__ = [
    "CopyOptions",
    "CopyResult",
    "CopyStatus",
    "VerificationRow",
    "compare_censuses",
    "copy_stores",
]

FENCING_LABEL = "shard range ids bumped"
NOTIFICATION_LABEL = "notification version"


@dataclass(frozen=True, slots=True)
class CopyOptions:
    shard_ids: tuple[int, ...]
    """Shards to copy (``1..numHistoryShards``); shards named by history rows are added."""
    state_path: Path
    source_name: str = "source"
    target_name: str = "target"
    force: bool = False
    """Copy into a target that holds different data, replacing records that differ."""
    dry_run: bool = False
    """Only count what would be copied; write nothing (not even the state file)."""
    verify: bool = True
    page_size: int = 100
    max_in_flight: int = 64
    """Target writes in flight at once, over the whole copy."""
    parallel_units: int = 8
    """Per-shard units (runs, history tasks) copied at once."""
    streams: int = 16
    """Paged reads nested in a page streamed at once (a branch's nodes, a queue's tasks)."""


class CopyStatus(enum.Enum):
    COPIED = "copied"
    ALREADY_COMPLETE = "already complete"
    """The state file says this copy finished earlier: only verified again."""
    ALREADY_IDENTICAL = "already identical"
    """The target already held exactly the source's data: nothing written."""
    DRY_RUN = "dry run"


@dataclass(frozen=True, slots=True)
class VerificationRow:
    label: str
    source_count: int
    target_count: int | None
    """``None`` in a dry run (the target is not examined)."""
    source_checksum: str = ""
    target_checksum: str = ""
    ok: bool = True


@dataclass(slots=True)
class CopyResult:
    status: CopyStatus
    source: str
    target: str
    moved: dict[RecordKind, int] = field(default_factory=dict)
    """Records now in the target (written, or found already there) during this run."""
    outcomes: dict[Outcome, int] = field(default_factory=dict)
    copy_seconds: float = 0.0
    verification: list[VerificationRow] = field(default_factory=list)
    target_was_empty: bool | None = None

    @property
    def rows_moved(self) -> int:
        return sum(self.moved.values())

    @property
    def rows_per_second(self) -> float:
        return self.rows_moved / self.copy_seconds if self.copy_seconds > 0 else 0.0

    @property
    def verified(self) -> bool:
        """Every verification row agrees (vacuously true when verification did not run)."""
        return all(row.ok for row in self.verification)


class _CountingListener:
    """Keeps this run's per-kind counts and passes everything on."""

    def __init__(self, inner: CopyListener) -> None:
        self.inner = inner
        self.moved: dict[RecordKind, int] = {}

    def stage(self, name: str) -> None:
        self.inner.stage(name)

    def records(self, kind: RecordKind, count: int) -> None:
        self.moved[kind] = self.moved.get(kind, 0) + count
        self.inner.records(kind, count)

    def page_done(self, unit: str) -> None:
        self.inner.page_done(unit)


def compare_censuses(source: Census, target: Census | None) -> list[VerificationRow]:
    """One row per record kind, then the fencing and notification-version checks; with no
    target census (dry run) only the source side is filled in."""
    rows: list[VerificationRow] = []
    for kind in RecordKind:
        ours = source.tally(kind)
        theirs = None if target is None else target.tally(kind)
        rows.append(
            VerificationRow(
                kind.label,
                ours.count,
                None if theirs is None else theirs.count,
                ours.checksum,
                "" if theirs is None else theirs.checksum,
                theirs is None or (ours.count, ours.total) == (theirs.count, theirs.total),
            )
        )
    if target is None:
        return rows
    bumped = sum(
        1
        for shard_id, range_id in source.shard_ranges.items()
        if target.shard_ranges.get(shard_id, range_id) > range_id
    )
    rows.append(
        VerificationRow(
            FENCING_LABEL,
            len(source.shard_ranges),
            bumped,
            ok=bumped == len(source.shard_ranges),
        )
    )
    rows.append(
        VerificationRow(
            NOTIFICATION_LABEL,
            source.notification_version,
            target.notification_version,
            ok=source.notification_version == target.notification_version,
        )
    )
    return rows


def _differences(rows: list[VerificationRow], limit: int = 3) -> str:
    shown = [
        f"{row.label} {row.source_count} in source, {row.target_count} in target"
        if row.source_count != row.target_count
        else f"{row.label} differ"
        for row in rows
        if not row.ok
    ]
    more = len(shown) - limit
    return "; ".join(shown[:limit]) + (f"; and {more} more" if more > 0 else "")


async def _verify(
    source: StoreReader, target: StoreReader, shard_ids: tuple[int, ...]
) -> list[VerificationRow]:
    source_census, target_census = await gather_all(
        [take_census(source, shard_ids), take_census(target, shard_ids)]
    )
    return compare_censuses(source_census, target_census)


async def copy_stores(
    source: StoreSet,
    target: StoreSet,
    options: CopyOptions,
    listener: CopyListener | None = None,
) -> CopyResult:
    """Copy every record of ``source`` into ``target`` (see the module docstring).

    Raises :class:`~.target.TargetConflict` when the target holds different data and
    ``force`` is not set, :class:`~.state.CopyStateError` for a progress file of another copy,
    and store errors as they come; progress made before an error or a cancellation is kept in
    the state file, and running the copy again resumes there.
    """
    counting = _CountingListener(listener or NullListener())
    reader = StoreReader(source)
    writer = TargetWriter(target, force=options.force, max_in_flight=options.max_in_flight)
    source_id = f"{options.source_name} ({source.description})"
    target_id = f"{options.target_name} ({target.description})"
    result = CopyResult(CopyStatus.COPIED, source_id, target_id)

    if options.dry_run:
        counting.stage("counting")
        census = await take_census(reader, options.shard_ids)
        target_holds = await holds_any_data(writer.reader, options.shard_ids)
        result.status = CopyStatus.DRY_RUN
        result.target_was_empty = not target_holds
        result.verification = compare_censuses(census, None)
        return result

    state = CopyState.load(options.state_path, source=source_id, target=target_id)
    if state is not None and state.finished:
        result.status = CopyStatus.ALREADY_COMPLETE
        result.target_was_empty = state.target_was_empty
        if options.verify:
            counting.stage("verifying")
            result.verification = await _verify(reader, writer.reader, options.shard_ids)
        return result

    if state is None:
        counting.stage("checking target")
        target_holds = await holds_any_data(writer.reader, options.shard_ids)
        if target_holds and not options.force:
            rows = await _verify(reader, writer.reader, options.shard_ids)
            if all(row.ok for row in rows):
                state = CopyState(options.state_path, source_id, target_id, finished=True)
                await state.save()
                result.status = CopyStatus.ALREADY_IDENTICAL
                result.target_was_empty = False
                result.verification = rows
                return result
            raise TargetConflict(
                f"target {target_id} already holds different data ({_differences(rows)}); "
                "pass --force to copy into it anyway"
            )
        state = CopyState(
            options.state_path, source_id, target_id, target_was_empty=not target_holds
        )
        await state.save()
    result.target_was_empty = state.target_was_empty

    counting.stage("copying")
    context = CopyContext(
        source=reader,
        target=writer,
        state=state,
        listener=counting,
        page_size=options.page_size,
        streams=asyncio.Semaphore(options.streams),
    )
    started = time.monotonic()
    await _copy_units(context, options)
    state.finished = True
    await state.save()
    result.copy_seconds = time.monotonic() - started
    result.moved = dict(counting.moved)
    result.outcomes = dict(context.outcomes)
    if options.verify:
        counting.stage("verifying")
        result.verification = await _verify(reader, writer.reader, options.shard_ids)
    return result


async def _copy_units(ctx: CopyContext, options: CopyOptions) -> None:
    configured = set(options.shard_ids)
    slots = asyncio.Semaphore(options.parallel_units)

    async def limited(unit: Callable[[], Awaitable[None]]) -> None:
        # The unit's coroutine is made only once it has a slot: one never started (because
        # another unit failed first) is then never created, rather than left un-awaited.
        async with slots:
            await unit()

    def per_shard(shard_ids: set[int]) -> list[Awaitable[None]]:
        units: list[Awaitable[None]] = []
        for shard_id in sorted(shard_ids & set(ctx.state.shard_ranges)):
            units.append(limited(partial(copy_executions, ctx, shard_id)))
            units.append(limited(partial(copy_all_history_tasks, ctx, shard_id)))
            units.append(limited(partial(copy_replication_dlq, ctx, shard_id)))
        return units

    # The configured shards go first: their runs and tasks need only the shard rows, so they
    # are copied alongside everything else. Shards that only history rows name are known once
    # the history is copied.
    await copy_shards(ctx, configured, "shards")
    await gather_all(
        [
            copy_namespaces(ctx),
            copy_cluster_metadata(ctx),
            copy_history(ctx, configured),
            copy_task_queues(ctx),
            copy_queues(ctx),
            copy_nexus_endpoints(ctx),
            copy_task_queue_user_data(ctx),
            copy_visibility(ctx),
            *per_shard(configured),
        ]
    )
    discovered = ctx.state.discovered_shards - configured
    await copy_shards(ctx, discovered, "shards/discovered")
    await gather_all(per_shard(discovered))
