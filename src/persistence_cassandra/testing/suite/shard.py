"""ShardStore conformance: creation (and its race), reads, range-id fencing of updates."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from persistence_cassandra.errors import NotFound, ShardOwnershipLost
from persistence_cassandra.records import DataBlob, ShardRecord
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import blob, random_shard_id

__all__ = ["TestShardStore"]


class TestShardStore:
    async def test_get_of_a_missing_shard_without_create_is_not_found(
        self, stores: StoreBundle
    ) -> None:
        with pytest.raises(NotFound):
            await stores.shard.get_or_create_shard(random_shard_id())

    async def test_create_then_get(self, stores: StoreBundle) -> None:
        shard_id = random_shard_id()
        info = blob(f"shard:{shard_id}", "proto3")
        created = await stores.shard.get_or_create_shard(shard_id, lambda: (7, info))
        assert created == ShardRecord(shard_id, 7, info)
        assert await stores.shard.get_or_create_shard(shard_id) == created

    async def test_create_is_not_called_when_the_shard_exists(self, stores: StoreBundle) -> None:
        shard_id = random_shard_id()
        first = await stores.shard.get_or_create_shard(shard_id, lambda: (1, blob("first")))
        calls: list[int] = []

        def second_initializer() -> tuple[int, DataBlob]:
            calls.append(1)
            return 99, blob("second")

        again = await stores.shard.get_or_create_shard(shard_id, second_initializer)
        assert again == first
        assert calls == []

    async def test_concurrent_creators_all_get_the_one_row_that_won(
        self, stores: StoreBundle
    ) -> None:
        shard_id = random_shard_id()
        proposals = [(n, blob(f"creator-{n}")) for n in range(1, 9)]

        def initializer(proposal: tuple[int, DataBlob]) -> Callable[[], tuple[int, DataBlob]]:
            return lambda: proposal

        results = await asyncio.gather(
            *(stores.shard.get_or_create_shard(shard_id, initializer(p)) for p in proposals)
        )
        assert len(set(results)) == 1
        winner = results[0]
        assert (winner.range_id, winner.info) in proposals
        assert await stores.shard.get_or_create_shard(shard_id) == winner

    async def test_update_with_the_stored_range_id(self, stores: StoreBundle) -> None:
        shard_id = random_shard_id()
        await stores.shard.get_or_create_shard(shard_id, lambda: (1, blob("v1")))
        await stores.shard.update_shard(shard_id, 2, blob("v2"), previous_range_id=1)
        await stores.shard.update_shard(shard_id, 3, blob("v3"), previous_range_id=2)
        assert await stores.shard.get_or_create_shard(shard_id) == ShardRecord(
            shard_id, 3, blob("v3")
        )

    async def test_update_with_a_stale_range_id_is_ownership_lost_and_writes_nothing(
        self, stores: StoreBundle
    ) -> None:
        shard_id = random_shard_id()
        await stores.shard.get_or_create_shard(shard_id, lambda: (1, blob("v1")))
        await stores.shard.update_shard(shard_id, 2, blob("v2"), previous_range_id=1)
        with pytest.raises(ShardOwnershipLost) as caught:
            await stores.shard.update_shard(shard_id, 2, blob("stale"), previous_range_id=1)
        assert caught.value.shard_id == shard_id
        assert caught.value.actual_range_id == 2
        assert await stores.shard.get_or_create_shard(shard_id) == ShardRecord(
            shard_id, 2, blob("v2")
        )

    async def test_update_of_a_missing_shard_is_ownership_lost(self, stores: StoreBundle) -> None:
        shard_id = random_shard_id()
        with pytest.raises(ShardOwnershipLost):
            await stores.shard.update_shard(shard_id, 2, blob("v2"), previous_range_id=1)
        with pytest.raises(NotFound):
            await stores.shard.get_or_create_shard(shard_id)

    async def test_shards_are_independent(self, stores: StoreBundle) -> None:
        first, second = random_shard_id(), random_shard_id()
        await stores.shard.get_or_create_shard(first, lambda: (1, blob("a")))
        await stores.shard.get_or_create_shard(second, lambda: (5, blob("b")))
        await stores.shard.update_shard(first, 2, blob("a2"), previous_range_id=1)
        assert (await stores.shard.get_or_create_shard(second)).range_id == 5
