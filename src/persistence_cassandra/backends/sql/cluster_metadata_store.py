"""Cluster metadata (version compare-and-set) and cluster membership (heartbeat rows that
expire; SQL has no TTL, so expired rows are filtered on read and pruned explicitly)."""

from __future__ import annotations

import time

from persistence_cassandra.backends.sql.paging import check_page_size, decode_token, split_page
from persistence_cassandra.backends.sql.transaction import Row, TransactionRunner, Tx
from persistence_cassandra.errors import ConditionFailed, NotFound
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
from persistence_cassandra.stores import ClusterMetadataStore

__all__ = ["SqlClusterMetadataStore"]

_PARTITION = 0
_MEMBER_COLUMNS = (
    "role, host_id, rpc_address, rpc_port, session_start, last_heartbeat, record_expiry"
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _member(row: Row) -> ClusterMember:
    return ClusterMember(
        role=MembershipRole(row[0]),
        host_id=row[1],
        rpc_address=row[2],
        rpc_port=row[3],
        session_start=from_epoch_ms(row[4]),
        last_heartbeat=from_epoch_ms(row[5]),
        record_expiry=from_epoch_ms(row[6]),
    )


class SqlClusterMetadataStore:
    def __init__(self, runner: TransactionRunner) -> None:
        self._runner = runner
        dialect = runner.dialect
        self._insert_metadata = dialect.insert_if_absent(
            "cluster_metadata_info",
            ("metadata_partition", "cluster_name", "data", "data_encoding", "version"),
        )
        self._upsert_member = dialect.upsert(
            "cluster_membership",
            ("membership_partition", "role", "host_id"),
            ("rpc_address", "rpc_port", "session_start", "last_heartbeat", "record_expiry"),
        )

    # ------------------------------------------------------------------ metadata

    async def save_cluster_metadata(self, record: ClusterMetadataRecord) -> None:
        blob = record.metadata

        def save(tx: Tx) -> None:
            if record.version == 0:
                written = tx.execute(
                    self._insert_metadata,
                    (_PARTITION, record.cluster_name, blob.data, blob.encoding, 1),
                )
            else:
                written = tx.execute(
                    "UPDATE cluster_metadata_info SET data = ?, data_encoding = ?, version = ? "
                    "WHERE metadata_partition = ? AND cluster_name = ? AND version = ?",
                    (
                        blob.data,
                        blob.encoding,
                        record.version + 1,
                        _PARTITION,
                        record.cluster_name,
                        record.version,
                    ),
                )
            if not written:
                row = tx.fetchone(
                    "SELECT version FROM cluster_metadata_info "
                    "WHERE metadata_partition = ? AND cluster_name = ?",
                    (_PARTITION, record.cluster_name),
                )
                found = "absent" if row is None else f"version {row[0]}"
                raise ConditionFailed(
                    f"cluster metadata {record.cluster_name!r}: expected version "
                    f"{record.version}, found {found}"
                )

        await self._runner.write(save)

    async def get_cluster_metadata(self, cluster_name: str) -> ClusterMetadataRecord:
        row = await self._runner.read(
            lambda tx: tx.fetchone(
                "SELECT data, data_encoding, version FROM cluster_metadata_info "
                "WHERE metadata_partition = ? AND cluster_name = ?",
                (_PARTITION, cluster_name),
            )
        )
        if row is None:
            raise NotFound(f"cluster metadata {cluster_name!r} does not exist")
        return ClusterMetadataRecord(cluster_name, DataBlob(row[0], row[1]), row[2])

    async def list_cluster_metadata(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[ClusterMetadataRecord]:
        check_page_size(page_size)
        position = decode_token(next_page_token, 1)
        after = "AND cluster_name > ? " if position else ""
        statement = (
            "SELECT cluster_name, data, data_encoding, version FROM cluster_metadata_info "
            f"WHERE metadata_partition = ? {after}ORDER BY cluster_name LIMIT ?"
        )
        params = (_PARTITION, *(position or ()), page_size + 1)
        rows = await self._runner.read(lambda tx: tx.fetchall(statement, params))
        page, token = split_page(rows, page_size, lambda row: (row[0],))
        return Page(
            [ClusterMetadataRecord(row[0], DataBlob(row[1], row[2]), row[3]) for row in page],
            token,
        )

    async def delete_cluster_metadata(self, cluster_name: str) -> None:
        await self._runner.write(
            lambda tx: tx.defer(
                "DELETE FROM cluster_metadata_info "
                "WHERE metadata_partition = ? AND cluster_name = ?",
                (_PARTITION, cluster_name),
            )
        )

    # ------------------------------------------------------------------ membership

    async def upsert_cluster_membership(self, member: ClusterMember) -> None:
        params = (
            _PARTITION,
            int(member.role),
            member.host_id,
            member.rpc_address,
            member.rpc_port,
            to_epoch_ms(member.session_start),
            to_epoch_ms(member.last_heartbeat),
            to_epoch_ms(member.record_expiry),
        )
        await self._runner.write(lambda tx: tx.defer(self._upsert_member, params))

    async def get_cluster_members(self, request: GetClusterMembersRequest) -> Page[ClusterMember]:
        check_page_size(request.page_size)
        now = _now_ms()
        conditions = ["membership_partition = ?", "record_expiry > ?"]
        params: list[object] = [_PARTITION, now]
        if request.role is not None:
            conditions.append("role = ?")
            params.append(int(request.role))
        if request.host_id is not None:
            conditions.append("host_id = ?")
            params.append(request.host_id)
        if request.rpc_address is not None:
            conditions.append("rpc_address = ?")
            params.append(request.rpc_address)
        if request.session_started_after is not None:
            conditions.append("session_start > ?")
            params.append(to_epoch_ms(request.session_started_after))
        if request.last_heartbeat_within is not None:
            conditions.append("last_heartbeat > ?")
            params.append(now - int(request.last_heartbeat_within.total_seconds() * 1000))
        position = decode_token(request.next_page_token, 2)
        if position:
            conditions.append("(role, host_id) > (?, ?)")
            params += position
        params.append(request.page_size + 1)
        statement = (
            f"SELECT {_MEMBER_COLUMNS} FROM cluster_membership WHERE {' AND '.join(conditions)} "
            "ORDER BY role, host_id LIMIT ?"
        )
        rows = await self._runner.read(lambda tx: tx.fetchall(statement, params))
        page, token = split_page(rows, request.page_size, lambda row: (row[0], row[1]))
        return Page([_member(row) for row in page], token)

    async def prune_cluster_membership(self, max_records: int = 1000) -> int:
        statement = (
            "DELETE FROM cluster_membership WHERE membership_partition = ? "
            "AND (role, host_id) IN (SELECT role, host_id FROM cluster_membership "
            "WHERE membership_partition = ? AND record_expiry <= ? LIMIT ?)"
        )
        params = (_PARTITION, _PARTITION, _now_ms(), max_records)
        return await self._runner.write(lambda tx: tx.execute(statement, params))


_: type[ClusterMetadataStore] = SqlClusterMetadataStore
