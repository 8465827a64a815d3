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
from collections.abc import Awaitable, Callable

from persistence_cassandra.errors import ShardOwnershipLost
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import DataBlob
from persistence_cassandra.workload.payloads import json_blob
from persistence_cassandra.workload.report import Counters

__all__ = ["RANGE_SIZE_BITS", "ShardOwner", "id_block"]

RANGE_SIZE_BITS = 20
"""Ids of a lease: ``[range_id << 20, (range_id + 1) << 20)`` (Temporal's default)."""


def id_block(range_id: int) -> tuple[int, int]:
    """The ids a lease with ``range_id`` hands out: ``[begin, end)``."""
    return range_id << RANGE_SIZE_BITS, (range_id + 1) << RANGE_SIZE_BITS


class ShardOwner:
    """One shard owned by this process."""

    def __init__(
        self, persistence: Persistence, shard_id: int, owner: str, counters: Counters
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
        self._persistence = persistence
        self._owner = owner
        self._counters = counters
        self._next_id = 0
        self._block_end = 0

    def _info(self) -> DataBlob:
        return json_blob({"owner": self._owner, "range_id": self.range_id})

    async def acquire(self) -> None:
        """Take the shard: create it if absent, then bump its range id."""
        shard = await self._persistence.shard.get_or_create_shard(
            self.shard_id, lambda: (0, json_blob({"owner": self._owner, "range_id": 0}))
        )
        await self._take_range(shard.range_id)
        self.first_range_id = self.range_id
        self.transfer_read_level = self._next_id - 1

    async def _take_range(self, previous_range_id: int) -> None:
        self.range_id = previous_range_id + 1
        try:
            await self._persistence.shard.update_shard(
                self.shard_id, self.range_id, self._info(), previous_range_id
            )
        except ShardOwnershipLost:
            self.lost = True
            raise
        self._next_id, self._block_end = id_block(self.range_id)

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
                self.lost = True
                raise
            finally:
                # Whether or not the write applied, no id below this one can still appear.
                self.transfer_read_level = self._next_id - 1
