"""Cluster metadata (version compare-and-set) and cluster membership (TTL) on Cassandra.

Both tables are single small partitions. Membership rows are written with a TTL equal to the
time left until their ``record_expiry``, so expired members vanish without pruning; reads also
drop rows whose stored expiry has passed, because a TTL has one-second granularity. Filters
are applied in the client: the partition is as small as the cluster, and Astra DB allows no
secondary indexes besides SAI.
"""

from __future__ import annotations

import math
import time

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.session import CassandraSession, Row
from persistence_cassandra.records import (
    ClusterMember,
    ClusterMetadataRecord,
    DataBlob,
    GetClusterMembersRequest,
    MembershipRole,
    Page,
    from_epoch_ms,
    to_epoch_ms,
)

__all__ = ["CassandraClusterMetadataStore"]

PARTITION = 0

_METADATA_COLUMNS = "cluster_name, data, data_encoding, version"
INSERT_METADATA = (
    "INSERT INTO cluster_metadata_info (metadata_partition, cluster_name, data, data_encoding, "
    "version) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS"
)
UPDATE_METADATA = (
    "UPDATE cluster_metadata_info SET data = ?, data_encoding = ?, version = ? "
    "WHERE metadata_partition = ? AND cluster_name = ? IF version = ?"
)
GET_METADATA = (
    f"SELECT {_METADATA_COLUMNS} FROM cluster_metadata_info "
    "WHERE metadata_partition = ? AND cluster_name = ?"
)
LIST_METADATA = (
    f"SELECT {_METADATA_COLUMNS} FROM cluster_metadata_info WHERE metadata_partition = ?"
)
DELETE_METADATA = (
    "DELETE FROM cluster_metadata_info WHERE metadata_partition = ? AND cluster_name = ?"
)

_MEMBER_COLUMNS = (
    "role, host_id, rpc_address, rpc_port, session_start_ms, last_heartbeat_ms, record_expiry_ms"
)
UPSERT_MEMBER = (
    f"INSERT INTO cluster_membership (membership_partition, {_MEMBER_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
)
LIST_MEMBERS = f"SELECT {_MEMBER_COLUMNS} FROM cluster_membership WHERE membership_partition = ?"
LIST_MEMBERS_OF_ROLE = LIST_MEMBERS + " AND role = ?"
GET_MEMBER = LIST_MEMBERS_OF_ROLE + " AND host_id = ?"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _metadata(row: Row) -> ClusterMetadataRecord:
    return ClusterMetadataRecord(
        cluster_name=row["cluster_name"],
        metadata=DataBlob(row["data"] or b"", row["data_encoding"] or ""),
        version=row["version"],
    )


def _member(row: Row) -> ClusterMember:
    return ClusterMember(
        host_id=row["host_id"],
        rpc_address=row["rpc_address"],
        rpc_port=row["rpc_port"],
        role=MembershipRole(row["role"]),
        session_start=from_epoch_ms(row["session_start_ms"]),
        last_heartbeat=from_epoch_ms(row["last_heartbeat_ms"]),
        record_expiry=from_epoch_ms(row["record_expiry_ms"]),
    )


def _matches(member: ClusterMember, request: GetClusterMembersRequest, now_ms: int) -> bool:
    if to_epoch_ms(member.record_expiry) <= now_ms:
        return False
    if request.rpc_address is not None and member.rpc_address != request.rpc_address:
        return False
    if request.session_started_after is not None and not (
        member.session_start > request.session_started_after
    ):
        return False
    if request.last_heartbeat_within is not None:
        oldest = now_ms - int(request.last_heartbeat_within.total_seconds() * 1000)
        if to_epoch_ms(member.last_heartbeat) < oldest:
            return False
    return True


class CassandraClusterMetadataStore:
    def __init__(self, session: CassandraSession) -> None:
        self._session = session

    async def save_cluster_metadata(self, record: ClusterMetadataRecord) -> None:
        blob = record.metadata
        if record.version == 0:
            result = await self._session.write(
                INSERT_METADATA, (PARTITION, record.cluster_name, blob.data, blob.encoding, 1)
            )
        else:
            result = await self._session.write(
                UPDATE_METADATA,
                (
                    blob.data,
                    blob.encoding,
                    record.version + 1,
                    PARTITION,
                    record.cluster_name,
                    record.version,
                ),
            )
        if not result.applied:
            actual = (result.first() or {}).get("version")
            raise errors.ConditionFailed(
                f"cluster metadata {record.cluster_name!r}: stored version is {actual}, "
                f"expected {record.version}"
            )

    async def get_cluster_metadata(self, cluster_name: str) -> ClusterMetadataRecord:
        row = (await self._session.read(GET_METADATA, (PARTITION, cluster_name))).first()
        if row is None or row["version"] is None:
            raise errors.NotFound(f"cluster metadata {cluster_name!r} not found")
        return _metadata(row)

    async def list_cluster_metadata(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[ClusterMetadataRecord]:
        result = await self._session.read(
            LIST_METADATA, (PARTITION,), page_size=page_size, paging_state=next_page_token
        )
        return Page(
            [_metadata(row) for row in result.rows if row["version"] is not None],
            result.next_page_token,
        )

    async def delete_cluster_metadata(self, cluster_name: str) -> None:
        await self._session.write(DELETE_METADATA, (PARTITION, cluster_name))

    async def upsert_cluster_membership(self, member: ClusterMember) -> None:
        expiry_ms = to_epoch_ms(member.record_expiry)
        ttl = max(1, math.ceil((expiry_ms - _now_ms()) / 1000))
        await self._session.write(
            UPSERT_MEMBER,
            (
                PARTITION,
                int(member.role),
                member.host_id,
                member.rpc_address,
                member.rpc_port,
                to_epoch_ms(member.session_start),
                to_epoch_ms(member.last_heartbeat),
                expiry_ms,
                ttl,
            ),
        )

    async def get_cluster_members(self, request: GetClusterMembersRequest) -> Page[ClusterMember]:
        params: tuple[object, ...]
        if request.role is not None and request.host_id is not None:
            cql, params = GET_MEMBER, (PARTITION, int(request.role), request.host_id)
        elif request.role is not None:
            cql, params = LIST_MEMBERS_OF_ROLE, (PARTITION, int(request.role))
        else:
            cql, params = LIST_MEMBERS, (PARTITION,)
        result = await self._session.read(
            cql, params, page_size=request.page_size, paging_state=request.next_page_token
        )
        now_ms = _now_ms()
        members = [
            member
            for member in map(_member, result.rows)
            if (request.host_id is None or member.host_id == request.host_id)
            and _matches(member, request, now_ms)
        ]
        return Page(members, result.next_page_token)

    async def prune_cluster_membership(self, max_records: int = 1000) -> int:
        return 0  # rows carry a TTL: Cassandra removes expired members itself
