"""The Nexus endpoint registry over SQL: ``nexus_endpoints`` plus a one-row
``nexus_endpoints_partition_status`` holding the table version.

Every write is one transaction that locks the table-version row and the endpoint row, compares
both versions and writes both. The very first write inserts the table-version row; two first
writers race on its primary key, and the loser's insert writes nothing (rowcount 0), which is
reported as the table-version conflict it is.
"""

from __future__ import annotations

from persistence_cassandra.backends.sql.paging import check_page_size, decode_token, encode_token
from persistence_cassandra.backends.sql.transaction import TransactionRunner, Tx
from persistence_cassandra.errors import (
    InvalidRequest,
    NexusEndpointNotFound,
    NexusEndpointVersionConflict,
    NexusTableVersionConflict,
)
from persistence_cassandra.records import DataBlob, NexusEndpointPage, NexusEndpointRecord
from persistence_cassandra.stores import NexusEndpointStore

__all__ = ["SqlNexusEndpointStore"]

_STATUS_ID = 0


class SqlNexusEndpointStore:
    def __init__(self, runner: TransactionRunner) -> None:
        self._runner = runner
        dialect = runner.dialect
        self._lock = dialect.lock_exclusive
        self._insert_status = dialect.insert_if_absent(
            "nexus_endpoints_partition_status", ("id", "version")
        )
        self._insert_endpoint = dialect.insert_if_absent(
            "nexus_endpoints", ("id", "data", "data_encoding", "version")
        )

    def _table_version(self, tx: Tx, lock: str = "") -> int:
        row = tx.fetchone(
            f"SELECT version FROM nexus_endpoints_partition_status WHERE id = ?{lock}",
            (_STATUS_ID,),
        )
        return int(row[0]) if row is not None else 0

    def _bump_table_version(self, tx: Tx, last_known: int) -> None:
        """Check and move the table version (locked first, so the check holds to COMMIT)."""
        actual = self._table_version(tx, self._lock)
        if actual != last_known:
            raise NexusTableVersionConflict(expected_version=last_known, actual_version=actual)
        if last_known == 0:
            if not tx.execute(self._insert_status, (_STATUS_ID, 1)):
                # A concurrent first writer committed the row after our read.
                raise NexusTableVersionConflict(
                    expected_version=0, actual_version=self._table_version(tx)
                )
        else:
            tx.defer(
                "UPDATE nexus_endpoints_partition_status SET version = ? WHERE id = ?",
                (last_known + 1, _STATUS_ID),
            )

    async def create_or_update_nexus_endpoint(
        self, endpoint: NexusEndpointRecord, last_known_table_version: int
    ) -> None:
        blob = endpoint.data

        def write(tx: Tx) -> None:
            self._bump_table_version(tx, last_known_table_version)
            row = tx.fetchone(
                f"SELECT version FROM nexus_endpoints WHERE id = ?{self._lock}", (endpoint.id,)
            )
            actual = int(row[0]) if row is not None else 0
            if actual != endpoint.version:
                raise NexusEndpointVersionConflict(
                    endpoint.id, expected_version=endpoint.version, actual_version=actual
                )
            if endpoint.version == 0:
                if not tx.execute(
                    self._insert_endpoint, (endpoint.id, blob.data, blob.encoding, 1)
                ):
                    raise NexusEndpointVersionConflict(
                        endpoint.id, expected_version=0, actual_version=1
                    )
            else:
                tx.defer(
                    "UPDATE nexus_endpoints SET data = ?, data_encoding = ?, version = ? "
                    "WHERE id = ?",
                    (blob.data, blob.encoding, endpoint.version + 1, endpoint.id),
                )

        await self._runner.write(write)

    async def get_nexus_endpoint(self, endpoint_id: str) -> NexusEndpointRecord:
        row = await self._runner.read(
            lambda tx: tx.fetchone(
                "SELECT id, data, data_encoding, version FROM nexus_endpoints WHERE id = ?",
                (endpoint_id,),
            )
        )
        if row is None:
            raise NexusEndpointNotFound(f"nexus endpoint {endpoint_id!r} not found")
        return NexusEndpointRecord(row[0], DataBlob(row[1], row[2]), row[3])

    async def list_nexus_endpoints(
        self,
        page_size: int,
        next_page_token: bytes = b"",
        last_known_table_version: int | None = None,
    ) -> NexusEndpointPage:
        check_page_size(page_size)
        position = decode_token(next_page_token, 2)
        after = "WHERE id > ? " if position else ""
        statement = (
            "SELECT id, data, data_encoding, version FROM nexus_endpoints "
            f"{after}ORDER BY id LIMIT ?"
        )
        params = (*(position[1:] if position else ()), page_size + 1)

        def read(tx: Tx) -> tuple[int, list[NexusEndpointRecord]]:
            version = self._table_version(tx)
            rows = tx.fetchall(statement, params)
            return version, [NexusEndpointRecord(r[0], DataBlob(r[1], r[2]), r[3]) for r in rows]

        table_version, endpoints = await self._runner.read(read)
        if position is not None:
            if not isinstance(position[0], int):
                raise InvalidRequest("invalid next_page_token")
            if position[0] != table_version:
                raise NexusTableVersionConflict(
                    expected_version=position[0], actual_version=table_version
                )
        if last_known_table_version is not None and last_known_table_version != table_version:
            raise NexusTableVersionConflict(
                expected_version=last_known_table_version, actual_version=table_version
            )
        token = b""
        if len(endpoints) > page_size:
            del endpoints[page_size:]
            token = encode_token((table_version, endpoints[-1].id))
        return NexusEndpointPage(endpoints, token, table_version)

    async def delete_nexus_endpoint(self, endpoint_id: str, last_known_table_version: int) -> None:
        def delete(tx: Tx) -> None:
            self._bump_table_version(tx, last_known_table_version)
            if not tx.execute("DELETE FROM nexus_endpoints WHERE id = ?", (endpoint_id,)):
                raise NexusEndpointNotFound(f"nexus endpoint {endpoint_id!r} not found")

        await self._runner.write(delete)


_: type[NexusEndpointStore] = SqlNexusEndpointStore
