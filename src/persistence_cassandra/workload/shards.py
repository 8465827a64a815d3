"""Shard ownership as a history service holds it: a range-id lease, task ids drawn from the
lease's block, and one lock that serializes the shard's conditional writes.

Acquiring a shard bumps its range id (``update_shard`` conditional on the range id just read),
which fences out every earlier owner: their execution writes now fail with
``ShardOwnershipLost``. Task ids (and history transaction ids) come from the block
``[range_id << 20, (range_id + 1) << 20)``, so they are unique across owners without any
coordination and grow with every new lease; an exhausted block is renewed by bumping the range
id again.

Execution writes of one shard run one at a time under :attr:`ShardOwner.lock`, as in a history
service. Besides keeping the range id stable during a write, that makes transfer tasks become
visible in task id order, so the transfer queue may read up to the last id allocated under the
lock without missing a task whose write is still in flight.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from persistence_cassandra.errors import ShardOwnershipLost
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import DataBlob
from persistence_cassandra.workload.payloads import json_blob
from persistence_cassandra.workload.report import Counters
from persistence_cassandra.workload.writes import retry_idempotent, take_lease

__all__ = ["RANGE_SIZE_BITS", "ShardOwner", "decode_lease", "id_block"]

RANGE_SIZE_BITS = 20
"""Ids of a lease: ``[range_id << 20, (range_id + 1) << 20)`` (Temporal's default)."""


def id_block(range_id: int) -> tuple[int, int]:
    """The ids a lease with ``range_id`` hands out: ``[begin, end)``."""
    return range_id << RANGE_SIZE_BITS, (range_id + 1) << RANGE_SIZE_BITS


def decode_lease(data: bytes) -> dict[str, Any]:
    """A shard's lease blob as the workload wrote it (empty if it is something else)."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


class ShardOwner:
    """One shard owned by this process."""

    def __init__(
        self,
        persistence: Persistence,
        shard_id: int,
        owner: str,
        counters: Counters,
        *,
        group: str = "",
        on_lost: Callable[[ShardOwner], None] | None = None,
    ) -> None:
        self.shard_id = shard_id
        self.lock = asyncio.Lock()
        """Held for every execution write of the shard (and for a range renewal)."""
        self.range_id = 0
        self.first_range_id = 0
        """The range id this run first acquired: ids below its block belong to other runs."""
        self.transfer_read_level = 0
        """Highest task id whose write has finished: every transfer task at or below it is
        either stored or never will be."""
        self.lost = False
        self.group = group
        """A member group's name: the lease blob then records the group's first range id on
        this shard, so the group's check knows which task ids are the group's."""
        self.group_first_range_id = 0
        self.previous_info: dict[str, Any] = {}
        """The lease blob of the owner this acquisition fenced out."""
        self._on_lost = on_lost
        self._persistence = persistence
        self._owner = owner
        self._counters = counters
        self._next_id = 0
        self._block_end = 0

    def _info(self) -> DataBlob:
        document: dict[str, Any] = {"owner": self._owner, "range_id": self.range_id}
        if self.group:
            document["group"] = self.group
            document["group_first_range_id"] = self.group_first_range_id
        return json_blob(document)

    async def acquire(self) -> None:
        """Take the shard: create it if absent, then bump its range id."""
        # Insert-if-absent then read: sent again after a timeout, it finds what the first
        # attempt (or another owner) wrote.
        shard = await retry_idempotent(
            self._persistence.shard.get_or_create_shard,
            self.shard_id,
            lambda: (0, json_blob({"owner": self._owner, "range_id": 0})),
        )
        self.previous_info = decode_lease(shard.info.data)
        if self.group:
            same_group = self.previous_info.get("group") == self.group
            first = self.previous_info.get("group_first_range_id") if same_group else None
            self.group_first_range_id = first if isinstance(first, int) else shard.range_id + 1
        await self._take_range(shard.range_id)
        self.first_range_id = self.range_id
        self.transfer_read_level = self._next_id - 1

    async def _take_range(self, previous_range_id: int) -> None:
        self.range_id = previous_range_id + 1
        info = self._info()
        store = self._persistence.shard
        try:
            holder = await take_lease(
                lambda: store.update_shard(self.shard_id, self.range_id, info, previous_range_id),
                lambda: store.get_or_create_shard(self.shard_id),
                self.range_id,
                info,
                previous_range_id,
                refused=ShardOwnershipLost,
            )
        except ShardOwnershipLost:
            self.mark_lost()
            raise
        if holder is not None:
            self.mark_lost()
            raise ShardOwnershipLost(
                self.shard_id, "taken by another owner", actual_range_id=holder
            )
        self._next_id, self._block_end = id_block(self.range_id)

    def mark_lost(self) -> None:
        """Another owner holds the shard: no write of this owner may be attempted again."""
        if not self.lost:
            self.lost = True
            if self._on_lost is not None:
                self._on_lost(self)

    async def still_owned(self) -> bool:
        """Read the shard's range id: ``False`` (and the shard marked lost) if it moved."""
        if self.lost:
            return False
        shard = await retry_idempotent(self._persistence.shard.get_or_create_shard, self.shard_id)
        if shard.range_id != self.range_id:
            self.mark_lost()
        return not self.lost

    @property
    def id_bounds(self) -> tuple[int, int]:
        """Every id this run handed out lies in ``[begin, end)``."""
        return id_block(self.first_range_id)[0], id_block(self.range_id)[1]

    def _take(self, count: int) -> list[int]:
        ids = list(range(self._next_id, self._next_id + count))
        self._next_id += count
        return ids

    async def _allocate_locked(self, count: int) -> list[int]:
        if self._next_id + count > self._block_end:
            # Renewal is a fenced write like any other, hence only under the lock.
            await self._take_range(self.range_id)
            self._counters.range_renewals += 1
        return self._take(count)

    async def allocate(self, count: int = 1) -> list[int]:
        """Ids outside an execution write (history transaction ids)."""
        if self._next_id + count <= self._block_end:
            return self._take(count)
        async with self.lock:
            return await self._allocate_locked(count)

    async def commit(
        self, task_count: int, write: Callable[[list[int], int], Awaitable[None]]
    ) -> None:
        """Run one execution write holding the shard lock: ``write(task_ids, range_id)``.

        A ``ShardOwnershipLost`` marks the shard lost: no later write is attempted.
        """
        async with self.lock:
            if self.lost:
                raise ShardOwnershipLost(self.shard_id, "lost earlier in this run")
            ids = await self._allocate_locked(task_count)
            try:
                await write(ids, self.range_id)
            except ShardOwnershipLost:
                self._counters.fenced_writes += 1
                self.mark_lost()
                raise
            finally:
                # Whether or not the write applied, no id below this one can still appear.
                self.transfer_read_level = self._next_id - 1
