"""ClusterMetadataStore conformance: versioned cluster metadata and cluster membership.

Membership rows of every test share one table, so each test filters by host ids or an RPC
address of its own.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from persistence_cassandra.errors import ConditionFailed, NotFound
from persistence_cassandra.records import (
    ClusterMember,
    ClusterMetadataRecord,
    GetClusterMembersRequest,
    MembershipRole,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import (
    blob,
    cluster_member,
    collect_pages,
    now,
    unique_id,
)

__all__ = ["TestClusterMembership", "TestClusterMetadata"]


class TestClusterMetadata:
    async def test_version_zero_inserts_version_one(self, stores: StoreBundle) -> None:
        name = unique_id("cluster")
        await stores.cluster_metadata.save_cluster_metadata(
            ClusterMetadataRecord(name, blob("v1"), 0)
        )
        stored = await stores.cluster_metadata.get_cluster_metadata(name)
        assert stored == ClusterMetadataRecord(name, blob("v1"), 1)

    async def test_insert_of_an_existing_cluster_is_a_condition_failure(
        self, stores: StoreBundle
    ) -> None:
        name = unique_id("cluster")
        await stores.cluster_metadata.save_cluster_metadata(
            ClusterMetadataRecord(name, blob("v1"), 0)
        )
        with pytest.raises(ConditionFailed):
            await stores.cluster_metadata.save_cluster_metadata(
                ClusterMetadataRecord(name, blob("again"), 0)
            )
        assert (await stores.cluster_metadata.get_cluster_metadata(name)).metadata == blob("v1")

    async def test_save_with_the_stored_version_increments_it(self, stores: StoreBundle) -> None:
        name = unique_id("cluster")
        save = stores.cluster_metadata.save_cluster_metadata
        await save(ClusterMetadataRecord(name, blob("v1"), 0))
        await save(ClusterMetadataRecord(name, blob("v2"), 1))
        await save(ClusterMetadataRecord(name, blob("v3"), 2))
        stored = await stores.cluster_metadata.get_cluster_metadata(name)
        assert stored == ClusterMetadataRecord(name, blob("v3"), 3)

    async def test_save_with_a_stale_version_is_a_condition_failure(
        self, stores: StoreBundle
    ) -> None:
        name = unique_id("cluster")
        save = stores.cluster_metadata.save_cluster_metadata
        await save(ClusterMetadataRecord(name, blob("v1"), 0))
        await save(ClusterMetadataRecord(name, blob("v2"), 1))
        with pytest.raises(ConditionFailed):
            await save(ClusterMetadataRecord(name, blob("lost"), 1))
        with pytest.raises(ConditionFailed):
            await save(ClusterMetadataRecord(name, blob("ahead"), 7))
        stored = await stores.cluster_metadata.get_cluster_metadata(name)
        assert stored == ClusterMetadataRecord(name, blob("v2"), 2)

    async def test_save_of_a_missing_cluster_with_a_version_is_a_condition_failure(
        self, stores: StoreBundle
    ) -> None:
        name = unique_id("cluster")
        with pytest.raises(ConditionFailed):
            await stores.cluster_metadata.save_cluster_metadata(
                ClusterMetadataRecord(name, blob("v"), 1)
            )
        with pytest.raises(NotFound):
            await stores.cluster_metadata.get_cluster_metadata(name)

    async def test_get_of_a_missing_cluster_is_not_found(self, stores: StoreBundle) -> None:
        with pytest.raises(NotFound):
            await stores.cluster_metadata.get_cluster_metadata(unique_id("cluster"))

    async def test_list_pages_through_every_cluster(self, stores: StoreBundle) -> None:
        names = {unique_id("cluster") for _ in range(5)}
        for name in names:
            await stores.cluster_metadata.save_cluster_metadata(
                ClusterMetadataRecord(name, blob(name), 0)
            )
        items, _ = await collect_pages(
            lambda token: stores.cluster_metadata.list_cluster_metadata(2, token)
        )
        found = {r.cluster_name: r for r in items if r.cluster_name in names}
        assert set(found) == names
        assert all(r.metadata == blob(r.cluster_name) and r.version == 1 for r in found.values())

    async def test_delete(self, stores: StoreBundle) -> None:
        name = unique_id("cluster")
        await stores.cluster_metadata.save_cluster_metadata(
            ClusterMetadataRecord(name, blob("v1"), 0)
        )
        await stores.cluster_metadata.delete_cluster_metadata(name)
        with pytest.raises(NotFound):
            await stores.cluster_metadata.get_cluster_metadata(name)
        # insert-if-absent works again, and deleting a missing cluster is not an error
        await stores.cluster_metadata.save_cluster_metadata(
            ClusterMetadataRecord(name, blob("again"), 0)
        )
        await stores.cluster_metadata.delete_cluster_metadata(unique_id("cluster"))


async def _members(stores: StoreBundle, request: GetClusterMembersRequest) -> list[ClusterMember]:
    items, _ = await collect_pages(
        lambda token: stores.cluster_metadata.get_cluster_members(
            GetClusterMembersRequest(
                role=request.role,
                host_id=request.host_id,
                rpc_address=request.rpc_address,
                session_started_after=request.session_started_after,
                last_heartbeat_within=request.last_heartbeat_within,
                page_size=request.page_size,
                next_page_token=token,
            )
        )
    )
    return items


def _address() -> str:
    """An RPC address no other test uses (a random IPv6 address in the documentation range)."""
    suffix = uuid.uuid4().hex
    return "2001:db8:" + ":".join(suffix[i : i + 4] for i in range(0, 24, 4))


class TestClusterMembership:
    async def test_upsert_then_get_by_host_id(self, stores: StoreBundle) -> None:
        member = cluster_member()
        await stores.cluster_metadata.upsert_cluster_membership(member)
        got = await _members(stores, GetClusterMembersRequest(host_id=member.host_id))
        assert len(got) == 1
        assert got[0].host_id == member.host_id
        assert (got[0].rpc_address, got[0].rpc_port, got[0].role) == (
            member.rpc_address,
            member.rpc_port,
            member.role,
        )
        assert got[0].session_start == member.session_start
        assert got[0].last_heartbeat == member.last_heartbeat
        # a TTL-based store may round the expiry to whole seconds
        assert abs(got[0].record_expiry - member.record_expiry) <= timedelta(seconds=1)

    async def test_upsert_of_the_same_host_refreshes_it(self, stores: StoreBundle) -> None:
        member = cluster_member(last_heartbeat=now() - timedelta(seconds=30))
        await stores.cluster_metadata.upsert_cluster_membership(member)
        refreshed = cluster_member(
            host_id=member.host_id,
            rpc_address=member.rpc_address,
            role=member.role,
            session_start=member.session_start,
        )
        await stores.cluster_metadata.upsert_cluster_membership(refreshed)
        got = await _members(stores, GetClusterMembersRequest(host_id=member.host_id))
        assert [m.last_heartbeat for m in got] == [refreshed.last_heartbeat]

    async def test_filters_by_role_and_address(self, stores: StoreBundle) -> None:
        address = _address()
        members = [
            cluster_member(rpc_address=address, role=MembershipRole.HISTORY),
            cluster_member(rpc_address=address, role=MembershipRole.MATCHING),
            cluster_member(rpc_address=address, role=MembershipRole.MATCHING),
            cluster_member(role=MembershipRole.MATCHING),
        ]
        for member in members:
            await stores.cluster_metadata.upsert_cluster_membership(member)
        matching = await _members(
            stores, GetClusterMembersRequest(role=MembershipRole.MATCHING, rpc_address=address)
        )
        assert {m.host_id for m in matching} == {members[1].host_id, members[2].host_id}
        everyone = await _members(stores, GetClusterMembersRequest(rpc_address=address))
        assert {m.host_id for m in everyone} == {m.host_id for m in members[:3]}

    async def test_filters_by_session_start(self, stores: StoreBundle) -> None:
        address = _address()
        start = now()
        old = cluster_member(rpc_address=address, session_start=start - timedelta(minutes=10))
        new = cluster_member(rpc_address=address, session_start=start)
        for member in (old, new):
            await stores.cluster_metadata.upsert_cluster_membership(member)
        got = await _members(
            stores,
            GetClusterMembersRequest(
                rpc_address=address, session_started_after=start - timedelta(minutes=1)
            ),
        )
        assert [m.host_id for m in got] == [new.host_id]

    async def test_filters_by_heartbeat_window(self, stores: StoreBundle) -> None:
        address = _address()
        start = now()
        stale = cluster_member(rpc_address=address, last_heartbeat=start - timedelta(minutes=3))
        fresh = cluster_member(rpc_address=address, last_heartbeat=start)
        for member in (stale, fresh):
            await stores.cluster_metadata.upsert_cluster_membership(member)
        got = await _members(
            stores,
            GetClusterMembersRequest(
                rpc_address=address, last_heartbeat_within=timedelta(minutes=1)
            ),
        )
        assert [m.host_id for m in got] == [fresh.host_id]

    async def test_paging_returns_every_member_once(self, stores: StoreBundle) -> None:
        address = _address()
        members = [cluster_member(rpc_address=address) for _ in range(7)]
        for member in members:
            await stores.cluster_metadata.upsert_cluster_membership(member)
        got = await _members(stores, GetClusterMembersRequest(rpc_address=address, page_size=2))
        assert sorted(m.host_id for m in got) == sorted(m.host_id for m in members)

    async def test_expired_members_are_not_returned_and_prune_removes_them(
        self, stores: StoreBundle
    ) -> None:
        address = _address()
        expired = cluster_member(
            rpc_address=address,
            last_heartbeat=now() - timedelta(minutes=10),
            ttl=timedelta(minutes=5),
        )
        alive = cluster_member(rpc_address=address)
        for member in (expired, alive):
            await stores.cluster_metadata.upsert_cluster_membership(member)
        got = await _members(stores, GetClusterMembersRequest(rpc_address=address))
        assert [m.host_id for m in got] == [alive.host_id]
        pruned = await stores.cluster_metadata.prune_cluster_membership()
        if stores.capabilities.membership_prune_needed:
            assert pruned >= 1
        else:
            assert pruned >= 0
        got = await _members(stores, GetClusterMembersRequest(rpc_address=address))
        assert [m.host_id for m in got] == [alive.host_id]
