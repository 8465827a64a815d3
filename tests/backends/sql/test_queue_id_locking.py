"""Queue ids on PostgreSQL under concurrent enqueuers from several bundles (connection pools,
as separate processes would have): the locked read of the queue row is what keeps ids distinct
and dense, and a planted bug (the lock left out) must make the same check fail."""

from __future__ import annotations

from typing import Any

import pytest
from sql_test_records import open_bundle, postgres_config

from persistence_cassandra.errors import PersistenceError
from persistence_cassandra.records import QueueKey
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import unique_id
from persistence_cassandra.testing.suite.queues import TEST_QUEUE_TYPE, check_dense_enqueues

BUNDLES = 3


async def _bundles(params: dict[str, Any], database: str) -> list[StoreBundle]:
    return [await open_bundle(postgres_config(params, database)) for _ in range(BUNDLES)]


async def _check(bundles: list[StoreBundle]) -> None:
    key = QueueKey(TEST_QUEUE_TYPE, unique_id("contended"))
    await bundles[0].queue.create_queue(key)
    await check_dense_enqueues([bundle.queue for bundle in bundles], key)


async def test_concurrent_pools_get_dense_distinct_ids(
    postgres_params: dict[str, Any], postgres_database: str
) -> None:
    bundles = await _bundles(postgres_params, postgres_database)
    try:
        await _check(bundles)
    finally:
        for bundle in bundles:
            await bundle.close()


async def test_the_check_fails_without_the_row_lock(
    postgres_params: dict[str, Any], postgres_database: str
) -> None:
    bundles = await _bundles(postgres_params, postgres_database)
    try:
        for bundle in bundles:
            select, bump, insert = bundle.queue._enqueue  # type: ignore[attr-defined]
            # Planted bug: two transactions now read the same next id.
            unlocked = select.removesuffix(" FOR UPDATE")
            assert unlocked != select
            bundle.queue._enqueue = (unlocked, bump, insert)  # type: ignore[attr-defined]
        with pytest.raises((AssertionError, PersistenceError)):
            for _ in range(5):  # a race: give it a few chances to show
                await _check(bundles)
    finally:
        for bundle in bundles:
            await bundle.close()
