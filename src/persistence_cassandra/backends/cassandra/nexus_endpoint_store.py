"""The Nexus endpoint registry on Cassandra: one partition, one conditional batch per write.

Partition 0 holds the table version row (``type = 0``, ``id = ''``) and every endpoint
(``type = 1``). A create, update or delete is a logged batch of two conditional statements on
that partition, one on the endpoint and one on the table version, so both versions are checked
and moved together. A batch that is not applied returns the current values of the conditioned
rows that exist; they are told apart by ``type`` (not by position: ScyllaDB orders them by
statement, Cassandra by clustering key), and an absent row stands for version 0.
"""

from __future__ import annotations

import struct

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.session import CassandraSession, QueryResult
from persistence_cassandra.records import DataBlob, NexusEndpointPage, NexusEndpointRecord

__all__ = ["CassandraNexusEndpointStore"]

PARTITION = 0
TYPE_TABLE_VERSION = 0
TYPE_ENDPOINT = 1
TABLE_VERSION_ID = ""

INSERT_ENDPOINT = (
    "INSERT INTO nexus_endpoints (partition, type, id, data, data_encoding, version) "
    "VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS"
)
UPDATE_ENDPOINT = (
    "UPDATE nexus_endpoints SET data = ?, data_encoding = ?, version = ? "
    "WHERE partition = ? AND type = ? AND id = ? IF version = ?"
)
DELETE_ENDPOINT = (
    "DELETE FROM nexus_endpoints WHERE partition = ? AND type = ? AND id = ? IF EXISTS"
)
INSERT_TABLE_VERSION = (
    "INSERT INTO nexus_endpoints (partition, type, id, version) VALUES (?, ?, ?, ?) IF NOT EXISTS"
)
UPDATE_TABLE_VERSION = (
    "UPDATE nexus_endpoints SET version = ? WHERE partition = ? AND type = ? AND id = ? "
    "IF version = ?"
)
GET_ROW = (
    "SELECT id, data, data_encoding, version FROM nexus_endpoints "
    "WHERE partition = ? AND type = ? AND id = ?"
)
LIST_ENDPOINTS = (
    "SELECT id, data, data_encoding, version FROM nexus_endpoints WHERE partition = ? AND type = ?"
)

_TOKEN_HEAD = struct.Struct(">q")
"""A page token: the table version of the first page, then the driver's paging state."""


def _table_version_statement(last_known: int) -> tuple[str, tuple[object, ...]]:
    if last_known == 0:
        return INSERT_TABLE_VERSION, (PARTITION, TYPE_TABLE_VERSION, TABLE_VERSION_ID, 1)
    return UPDATE_TABLE_VERSION, (
        last_known + 1,
        PARTITION,
        TYPE_TABLE_VERSION,
        TABLE_VERSION_ID,
        last_known,
    )


def _stored_versions(result: QueryResult) -> dict[int, int]:
    """The version of each conditioned row the failed batch returned, by ``type``."""
    versions: dict[int, int] = {}
    for row in result.rows:
        kind = row.get("type")
        if kind is not None and row.get("version") is not None:
            versions[kind] = row["version"]
    return versions


def _endpoint(row: dict[str, object]) -> NexusEndpointRecord:
    data, encoding, version = row["data"], row["data_encoding"], row["version"]
    assert isinstance(version, int)
    return NexusEndpointRecord(
        str(row["id"]),
        DataBlob(data if isinstance(data, bytes) else b"", str(encoding or "")),
        version,
    )


class CassandraNexusEndpointStore:
    def __init__(self, session: CassandraSession) -> None:
        self._session = session

    async def create_or_update_nexus_endpoint(
        self, endpoint: NexusEndpointRecord, last_known_table_version: int
    ) -> None:
        blob = endpoint.data
        endpoint_statement: tuple[str, tuple[object, ...]]
        if endpoint.version == 0:
            endpoint_statement = (
                INSERT_ENDPOINT,
                (PARTITION, TYPE_ENDPOINT, endpoint.id, blob.data, blob.encoding, 1),
            )
        else:
            endpoint_statement = (
                UPDATE_ENDPOINT,
                (
                    blob.data,
                    blob.encoding,
                    endpoint.version + 1,
                    PARTITION,
                    TYPE_ENDPOINT,
                    endpoint.id,
                    endpoint.version,
                ),
            )
        result = await self._session.write_batch(
            [endpoint_statement, _table_version_statement(last_known_table_version)]
        )
        if result.applied:
            return
        stored = _stored_versions(result)
        table_version = stored.get(TYPE_TABLE_VERSION, 0)
        if table_version != last_known_table_version:
            raise errors.NexusTableVersionConflict(
                expected_version=last_known_table_version, actual_version=table_version
            )
        raise errors.NexusEndpointVersionConflict(
            endpoint.id,
            expected_version=endpoint.version,
            actual_version=stored.get(TYPE_ENDPOINT, 0),
        )

    async def get_nexus_endpoint(self, endpoint_id: str) -> NexusEndpointRecord:
        row = (await self._session.read(GET_ROW, (PARTITION, TYPE_ENDPOINT, endpoint_id))).first()
        if row is None:
            raise errors.NexusEndpointNotFound(f"nexus endpoint {endpoint_id!r} not found")
        return _endpoint(row)

    async def _table_version(self) -> int:
        row = (
            await self._session.read(GET_ROW, (PARTITION, TYPE_TABLE_VERSION, TABLE_VERSION_ID))
        ).first()
        return int(row["version"]) if row is not None else 0

    async def list_nexus_endpoints(
        self,
        page_size: int,
        next_page_token: bytes = b"",
        last_known_table_version: int | None = None,
    ) -> NexusEndpointPage:
        if page_size <= 0:
            raise errors.InvalidRequest(f"page_size must be positive (got {page_size})")
        table_version = await self._table_version()
        paging_state = b""
        if next_page_token:
            if len(next_page_token) <= _TOKEN_HEAD.size:
                raise errors.InvalidRequest("invalid next_page_token")
            (token_version,) = _TOKEN_HEAD.unpack_from(next_page_token)
            paging_state = next_page_token[_TOKEN_HEAD.size :]
            if token_version != table_version:
                raise errors.NexusTableVersionConflict(
                    expected_version=token_version, actual_version=table_version
                )
        if last_known_table_version is not None and last_known_table_version != table_version:
            raise errors.NexusTableVersionConflict(
                expected_version=last_known_table_version, actual_version=table_version
            )
        result = await self._session.read(
            LIST_ENDPOINTS,
            (PARTITION, TYPE_ENDPOINT),
            page_size=page_size,
            paging_state=paging_state,
        )
        token = result.next_page_token
        return NexusEndpointPage(
            [_endpoint(row) for row in result.rows],
            _TOKEN_HEAD.pack(table_version) + token if token else b"",
            table_version,
        )

    async def delete_nexus_endpoint(self, endpoint_id: str, last_known_table_version: int) -> None:
        # The table-version statement goes first, as in Temporal, so that its row is the first
        # CAS row on every implementation.
        result = await self._session.write_batch(
            [
                _table_version_statement(last_known_table_version),
                (DELETE_ENDPOINT, (PARTITION, TYPE_ENDPOINT, endpoint_id)),
            ]
        )
        if result.applied:
            return
        table_version = _stored_versions(result).get(TYPE_TABLE_VERSION, 0)
        if table_version != last_known_table_version:
            raise errors.NexusTableVersionConflict(
                expected_version=last_known_table_version, actual_version=table_version
            )
        raise errors.NexusEndpointNotFound(f"nexus endpoint {endpoint_id!r} not found")
