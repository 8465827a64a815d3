"""History at scale: what an append costs as a workflow's history grows, and how much memory
reading a long history through the pager takes.

**Append cost.** For each history length (10, 1,000, 10,000 events per workflow) the same
number of events is appended through the history manager, in batches of
:data:`EVENTS_PER_BATCH`, one batch at a time per workflow (a history service serializes a
workflow's writes): 1,000 workflows of 10 events, 10 of 1,000, 1 of 10,000. The cost per event
should not grow with the length: nothing on the append path reads earlier history.

**Read memory.** One history of 100,000 events is written, then read start to end with
:meth:`~persistence_cassandra.managers.history.HistoryBranchManager.iter_history`. Reported: the
peak of Python allocations during the read (``tracemalloc``) and the peak resident set size
above the level before the read (Linux: the kernel's high-water mark, reset before the read).
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from persistence_cassandra.managers.history_batch import HistoryEventBatch
from persistence_cassandra.persistence import Persistence

__all__ = [
    "EVENTS_PER_BATCH",
    "AppendCost",
    "ReadMemory",
    "measure_append_cost",
    "measure_read_memory",
]

EVENTS_PER_BATCH = 10
EVENT_BYTES = 200
READ_PAGE_SIZE = 100
"""Batches per page of the pager (1,000 events)."""
WRITE_PARALLELISM = 32

_EVENT = (b"event-payload:" * (EVENT_BYTES // 14 + 1))[:EVENT_BYTES]


@dataclass(frozen=True, slots=True)
class AppendCost:
    events_per_workflow: int
    workflows: int
    events: int
    seconds: float

    @property
    def per_event(self) -> float:
        """Seconds per appended event."""
        return self.seconds / self.events if self.events else 0.0


@dataclass(frozen=True, slots=True)
class ReadMemory:
    events: int
    batches: int
    write_seconds: float
    read_seconds: float
    traced_peak_bytes: int
    """Peak of Python allocations during the read (tracemalloc)."""
    rss_peak_delta_bytes: int | None
    """Peak resident set size during the read minus the size before it (None off Linux)."""


def _batch(first_event_id: int, count: int) -> HistoryEventBatch:
    return HistoryEventBatch(first_event_id, [_EVENT] * count, "proto3")


async def _append_history(
    persistence: Persistence, shard_id: int, events: int, txn_base: int
) -> int:
    """One workflow's history, batch after batch; returns the next free transaction id."""
    manager = persistence.history_manager
    token = manager.new_branch_token()
    previous, txn = 0, txn_base
    for first in range(1, events + 1, EVENTS_PER_BATCH):
        count = min(EVENTS_PER_BATCH, events - first + 1)
        await manager.append_history_nodes(
            shard_id, token, _batch(first, count), txn, previous, is_new_branch=first == 1
        )
        previous, txn = txn, txn + 1
    return txn


async def measure_append_cost(
    persistence: Persistence,
    shard_id: int,
    lengths: tuple[int, ...] = (10, 1_000, 10_000),
    total_events: int = 10_000,
) -> list[AppendCost]:
    results: list[AppendCost] = []
    txn = 1
    for length in lengths:
        workflows = max(1, total_events // length)
        started = time.perf_counter()
        for _ in range(workflows):
            txn = await _append_history(persistence, shard_id, length, txn)
        seconds = time.perf_counter() - started
        results.append(AppendCost(length, workflows, workflows * length, seconds))
    return results


def _rss_bytes(field_name: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_rss_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def _read_all(persistence: Persistence, shard_id: int, token: bytes) -> int:
    count = 0
    async for batch in persistence.history_manager.iter_history(
        shard_id, token, page_size=READ_PAGE_SIZE
    ):
        count += len(batch.events)
    return count


async def measure_read_memory(
    persistence: Persistence, shard_id: int, events: int = 100_000
) -> ReadMemory:
    manager = persistence.history_manager
    token = manager.new_branch_token()
    batches = -(-events // EVENTS_PER_BATCH)
    limit = asyncio.Semaphore(WRITE_PARALLELISM)

    async def write(index: int) -> None:
        first = 1 + index * EVENTS_PER_BATCH
        count = min(EVENTS_PER_BATCH, events - first + 1)
        # Transaction ids 1, 2, ... in batch order: batch i chains to batch i - 1.
        async with limit:
            await manager.append_history_nodes(
                shard_id, token, _batch(first, count), index + 1, index, is_new_branch=index == 0
            )

    started = time.perf_counter()
    await write(0)  # the tree row first, as a history service writes a new branch
    await asyncio.gather(*(write(index) for index in range(1, batches)))
    write_seconds = time.perf_counter() - started

    gc.collect()
    before = _rss_bytes("VmRSS")
    peak_known = _reset_rss_peak()
    started = time.perf_counter()
    read = await _read_all(persistence, shard_id, token)
    read_seconds = time.perf_counter() - started
    peak = _rss_bytes("VmHWM") if peak_known else None
    rss_delta = None if peak is None or before is None else max(0, peak - before)

    gc.collect()
    tracemalloc.start()
    try:
        await _read_all(persistence, shard_id, token)
        traced_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if read != events:
        raise AssertionError(f"read {read} events back, wrote {events}")
    return ReadMemory(events, batches, write_seconds, read_seconds, traced_peak, rss_delta)
