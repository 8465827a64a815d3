"""NexusEndpointStore conformance: endpoint and table versions checked in one write, typed
conflicts with the stored values, paging that notices a table change, one winner under
contention.

Every test shares the one registry of its target, so each reads the current table version
first and only looks at endpoints of its own."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from persistence_cassandra.errors import (
    InvalidRequest,
    NexusEndpointNotFound,
    NexusEndpointVersionConflict,
    NexusTableVersionConflict,
    Timeout,
)
from persistence_cassandra.records import NexusEndpointRecord
from persistence_cassandra.stores import NexusEndpointStore, StoreBundle
from persistence_cassandra.testing.builders import blob, unique_id

__all__ = ["TestNexusEndpoints"]

CONTENDERS = 6


async def table_version(store: NexusEndpointStore) -> int:
    return (await store.list_nexus_endpoints(1)).table_version


async def create(store: NexusEndpointStore, endpoint_id: str, text: str = "spec") -> int:
    """Create an endpoint at the current table version; returns the new table version."""
    version = await table_version(store)
    await store.create_or_update_nexus_endpoint(
        NexusEndpointRecord(endpoint_id, blob(text)), version
    )
    return version + 1


class TestNexusEndpoints:
    async def test_create_get_update_and_versions(self, stores: StoreBundle) -> None:
        store, endpoint_id = stores.nexus_endpoint, unique_id("endpoint")
        version = await create(store, endpoint_id, "v1")
        assert await store.get_nexus_endpoint(endpoint_id) == NexusEndpointRecord(
            endpoint_id, blob("v1"), 1
        )
        await store.create_or_update_nexus_endpoint(
            NexusEndpointRecord(endpoint_id, blob("v2"), 1), version
        )
        assert await store.get_nexus_endpoint(endpoint_id) == NexusEndpointRecord(
            endpoint_id, blob("v2"), 2
        )
        assert await table_version(store) == version + 1

    async def test_a_stale_table_version_is_a_table_conflict_with_the_stored_version(
        self, stores: StoreBundle
    ) -> None:
        store = stores.nexus_endpoint
        version = await create(store, unique_id("endpoint"))
        with pytest.raises(NexusTableVersionConflict) as conflict:
            await store.create_or_update_nexus_endpoint(
                NexusEndpointRecord(unique_id("endpoint"), blob("x")), version - 1
            )
        assert (conflict.value.expected_version, conflict.value.actual_version) == (
            version - 1,
            version,
        )
        assert await table_version(store) == version

    async def test_endpoint_version_conflicts_carry_the_stored_version(
        self, stores: StoreBundle
    ) -> None:
        store, endpoint_id = stores.nexus_endpoint, unique_id("endpoint")
        version = await create(store, endpoint_id)
        with pytest.raises(NexusEndpointVersionConflict) as again:
            await store.create_or_update_nexus_endpoint(
                NexusEndpointRecord(endpoint_id, blob("dup")), version
            )
        assert (again.value.expected_version, again.value.actual_version) == (0, 1)
        with pytest.raises(NexusEndpointVersionConflict) as stale:
            await store.create_or_update_nexus_endpoint(
                NexusEndpointRecord(endpoint_id, blob("ahead"), 5), version
            )
        assert stale.value.actual_version == 1
        with pytest.raises(NexusEndpointVersionConflict) as missing:
            await store.create_or_update_nexus_endpoint(
                NexusEndpointRecord(unique_id("endpoint"), blob("x"), 1), version
            )
        assert missing.value.actual_version == 0
        assert await table_version(store) == version  # nothing moved
        assert (await store.get_nexus_endpoint(endpoint_id)).data == blob("spec")

    async def test_delete(self, stores: StoreBundle) -> None:
        store, endpoint_id = stores.nexus_endpoint, unique_id("endpoint")
        version = await create(store, endpoint_id)
        with pytest.raises(NexusTableVersionConflict):
            await store.delete_nexus_endpoint(endpoint_id, version - 1)
        await store.delete_nexus_endpoint(endpoint_id, version)
        with pytest.raises(NexusEndpointNotFound):
            await store.get_nexus_endpoint(endpoint_id)
        with pytest.raises(NexusEndpointNotFound):
            await store.delete_nexus_endpoint(endpoint_id, version + 1)
        assert await table_version(store) == version + 1

    async def test_list_pages_in_id_order_and_notices_a_table_change(
        self, stores: StoreBundle
    ) -> None:
        store = stores.nexus_endpoint
        prefix = unique_id("listed")
        for n in range(3):
            await create(store, f"{prefix}-{n}")
        version = await table_version(store)
        seen: list[NexusEndpointRecord] = []
        token = b""
        while True:
            page = await store.list_nexus_endpoints(2, token, last_known_table_version=version)
            assert page.table_version == version
            seen += page.endpoints
            if not page.next_page_token:
                break
            token = page.next_page_token
        ids = [e.id for e in seen]
        assert ids == sorted(ids)
        assert [i for i in ids if i.startswith(prefix)] == [f"{prefix}-{n}" for n in range(3)]
        first = await store.list_nexus_endpoints(1)
        assert first.next_page_token
        await create(store, unique_id("endpoint"))
        with pytest.raises(NexusTableVersionConflict):
            await store.list_nexus_endpoints(1, first.next_page_token)
        with pytest.raises(NexusTableVersionConflict):
            await store.list_nexus_endpoints(1, last_known_table_version=version)
        with pytest.raises(InvalidRequest):
            await store.list_nexus_endpoints(0)

    async def test_one_of_many_writers_at_one_table_version_wins(self, stores: StoreBundle) -> None:
        store = stores.nexus_endpoint
        version = await table_version(store)
        ids = [unique_id("contender") for _ in range(CONTENDERS)]
        results = await asyncio.gather(
            *(
                store.create_or_update_nexus_endpoint(NexusEndpointRecord(i, blob(i)), version)
                for i in ids
            ),
            return_exceptions=True,
        )
        won = [i for i, r in zip(ids, results, strict=True) if r is None]
        unknown = [
            i
            for i, r in zip(ids, results, strict=True)
            if isinstance(r, Timeout) and r.may_have_committed
        ]
        for result in results:
            assert result is None or isinstance(result, NexusTableVersionConflict | Timeout)
        assert len(won) <= 1 and (won or unknown)
        stored = []
        for endpoint_id in ids:
            with contextlib.suppress(NexusEndpointNotFound):
                stored.append((await store.get_nexus_endpoint(endpoint_id)).id)
        assert len(stored) == 1 and stored[0] in won + unknown
        assert await table_version(store) == version + 1
