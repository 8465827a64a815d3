"""Namespaces on Cassandra, with the global notification version.

All namespace rows and the metadata sentinel row (``type`` 0, holding the notification
version) share one partition of ``namespaces``, so that "write a namespace and bump the
version" is one conditional batch. ``namespaces_by_id`` maps ids to names; lightweight
transactions cannot span tables, so creating a namespace is two steps (claim the id, then the
batch) with best-effort clean-up of a claimed id whose batch failed (Temporal's approach,
reference section 5.1).
"""

from __future__ import annotations

import contextlib

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.session import CassandraSession, Row, StatementSpec
from persistence_cassandra.records import DataBlob, NamespaceRecord, Page

__all__ = [
    "GET_NAMESPACE",
    "PARTITION",
    "ROW_NAMESPACE",
    "CassandraMetadataStore",
]

PARTITION = 0
ROW_METADATA = 0
ROW_NAMESPACE = 1
METADATA_NAME = ""

VERSION_RACE_ATTEMPTS = 5
"""Bumping the version races with other namespace writers; re-read and retry this often."""

_ROW = "namespaces_partition = ? AND type = ? AND name = ?"
_COLUMNS = "name, id, detail, detail_encoding, is_global, notification_version"

GET_NAMESPACE = f"SELECT {_COLUMNS} FROM namespaces WHERE {_ROW}"
LIST_NAMESPACES = f"SELECT {_COLUMNS} FROM namespaces WHERE namespaces_partition = ? AND type = ?"
GET_VERSION = f"SELECT notification_version FROM namespaces WHERE {_ROW}"
INSERT_NAMESPACE = (
    f"INSERT INTO namespaces (namespaces_partition, type, {_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
)
UPDATE_NAMESPACE = (
    "UPDATE namespaces SET detail = ?, detail_encoding = ?, is_global = ?, "
    f"notification_version = ? WHERE {_ROW} IF id = ?"
)
DELETE_NAMESPACE_IF_ID = f"DELETE FROM namespaces WHERE {_ROW} IF id = ?"
DELETE_NAMESPACE = f"DELETE FROM namespaces WHERE {_ROW}"
# A missing sentinel row means version 0; "IF notification_version = null" holds for it.
BUMP_VERSION = (
    f"UPDATE namespaces SET notification_version = ? WHERE {_ROW} IF notification_version = ?"
)
CLAIM_ID = "INSERT INTO namespaces_by_id (id, name) VALUES (?, ?) IF NOT EXISTS"
GET_ID = "SELECT name FROM namespaces_by_id WHERE id = ?"
SET_ID_NAME = "UPDATE namespaces_by_id SET name = ? WHERE id = ?"
RELEASE_ID = "DELETE FROM namespaces_by_id WHERE id = ? IF name = ?"
DELETE_ID = "DELETE FROM namespaces_by_id WHERE id = ?"


def _row_key(name: str) -> tuple[int, int, str]:
    return (PARTITION, ROW_NAMESPACE, name)


def _metadata_key() -> tuple[int, int, str]:
    return (PARTITION, ROW_METADATA, METADATA_NAME)


def _bump(version: int) -> StatementSpec:
    return (BUMP_VERSION, (version + 1, *_metadata_key(), version or None))


def _insert(record: NamespaceRecord, name: str, version: int) -> StatementSpec:
    """Insert-if-absent of ``record`` under ``name``, stamped with the version it changed at."""
    return (
        INSERT_NAMESPACE,
        (
            *_row_key(name),
            record.id,
            record.detail.data,
            record.detail.encoding,
            record.is_global,
            version,
        ),
    )


def _record(row: Row) -> NamespaceRecord:
    return NamespaceRecord(
        id=row["id"],
        name=row["name"],
        detail=DataBlob(row["detail"] or b"", row["detail_encoding"] or ""),
        is_global=bool(row["is_global"]),
        notification_version=row["notification_version"] or 0,
    )


def _returned(rows: list[Row], kind: int, name: str) -> Row | None:
    for row in rows:
        if row.get("type") == kind and row.get("name") == name:
            return row
    return None


class CassandraMetadataStore:
    def __init__(self, session: CassandraSession) -> None:
        self._session = session

    async def _by_name(self, name: str) -> NamespaceRecord | None:
        row = (await self._session.read(GET_NAMESPACE, _row_key(name))).first()
        return _record(row) if row is not None and row["id"] is not None else None

    async def get_metadata(self) -> int:
        row = (await self._session.read(GET_VERSION, _metadata_key())).first()
        return (row["notification_version"] or 0) if row is not None else 0

    async def create_namespace(self, record: NamespaceRecord) -> None:
        claim = await self._session.write(CLAIM_ID, (record.id, record.name))
        if not claim.applied:
            owner = (claim.first() or {}).get("name")
            if owner != record.name:
                raise errors.NamespaceAlreadyExists(
                    f"namespace id {record.id} is already used by namespace {owner!r}"
                )
            # Same id and name: a retry of a partial create, or a duplicate (the batch decides).
        for _ in range(VERSION_RACE_ATTEMPTS):
            version = await self.get_metadata()
            result = await self._session.write_batch(
                [
                    _insert(record, record.name, version),
                    _bump(version),
                ]
            )
            if result.applied:
                return
            existing = _returned(result.rows, ROW_NAMESPACE, record.name)
            if existing is not None:
                if existing.get("id") != record.id:
                    await self._release_id(record)
                raise errors.NamespaceAlreadyExists(f"namespace {record.name!r} already exists")
        await self._release_id(record)
        raise errors.Unavailable(
            f"namespace {record.name!r}: notification version kept changing; try again"
        )

    async def _release_id(self, record: NamespaceRecord) -> None:
        """Best-effort removal of an id claim whose namespace row was never written."""
        # An orphan id row only blocks reusing that id; never mask the error being raised.
        with contextlib.suppress(errors.PersistenceError):
            await self._session.write(RELEASE_ID, (record.id, record.name))

    async def get_namespace(
        self, *, id: str | None = None, name: str | None = None
    ) -> NamespaceRecord:
        if (id is None) == (name is None):
            raise errors.InvalidRequest("get_namespace takes exactly one of id and name")
        if name is not None:
            found = await self._by_name(name)
            if found is None:
                raise errors.NamespaceNotFound(f"namespace {name!r} not found")
            return found
        claim = (await self._session.read(GET_ID, (id,))).first()
        found = await self._by_name(claim["name"]) if claim and claim["name"] else None
        # An id whose name row is missing or belongs to another id is an unfinished create.
        if found is None or found.id != id:
            raise errors.NamespaceNotFound(f"namespace id {id} not found")
        return found

    async def update_namespace(self, record: NamespaceRecord) -> None:
        version = record.notification_version
        result = await self._session.write_batch(
            [
                (
                    UPDATE_NAMESPACE,
                    (
                        record.detail.data,
                        record.detail.encoding,
                        record.is_global,
                        version,
                        *_row_key(record.name),
                        record.id,
                    ),
                ),
                _bump(version),
            ]
        )
        if result.applied:
            return
        row = _returned(result.rows, ROW_NAMESPACE, record.name)
        if row is None or row.get("id") != record.id:
            raise errors.NamespaceNotFound(f"namespace {record.name!r} (id {record.id}) not found")
        sentinel = _returned(result.rows, ROW_METADATA, METADATA_NAME)
        actual = (sentinel or {}).get("notification_version") or 0
        raise errors.ConditionFailed(
            f"namespace {record.name!r}: notification version is {actual}, expected {version}"
        )

    async def rename_namespace(self, previous_name: str, new_name: str) -> None:
        for _ in range(VERSION_RACE_ATTEMPTS):
            old = await self._by_name(previous_name)
            if old is None:
                raise errors.NamespaceNotFound(f"namespace {previous_name!r} not found")
            version = await self.get_metadata()
            result = await self._session.write_batch(
                [
                    _insert(old, new_name, version),
                    (DELETE_NAMESPACE_IF_ID, (*_row_key(previous_name), old.id)),
                    _bump(version),
                ]
            )
            if result.applied:
                # Not atomic with the batch (another table): until this lands, a lookup by id
                # still finds the old name and reports the namespace missing.
                await self._session.write(SET_ID_NAME, (new_name, old.id))
                return
            if _returned(result.rows, ROW_NAMESPACE, new_name) is not None:
                raise errors.NamespaceAlreadyExists(f"namespace {new_name!r} already exists")
            # Otherwise the old row changed or the version raced: re-read and try again.
        raise errors.Unavailable(f"namespace {previous_name!r}: rename kept racing; try again")

    async def delete_namespace(self, *, id: str | None = None, name: str | None = None) -> None:
        if (id is None) == (name is None):
            raise errors.InvalidRequest("delete_namespace takes exactly one of id and name")
        statements: list[StatementSpec] = []
        if name is not None:
            found = await self._by_name(name)
            if found is None:
                return
            statements = [(DELETE_NAMESPACE, _row_key(name)), (DELETE_ID, (found.id,))]
        else:
            claim = (await self._session.read(GET_ID, (id,))).first()
            if claim is None:
                return
            statements = [(DELETE_ID, (id,))]
            found = await self._by_name(claim["name"]) if claim["name"] else None
            if found is not None and found.id == id:
                statements.append((DELETE_NAMESPACE, _row_key(found.name)))
        await self._session.write_batch(statements)

    async def list_namespaces(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[NamespaceRecord]:
        result = await self._session.read(
            LIST_NAMESPACES,
            (PARTITION, ROW_NAMESPACE),
            page_size=page_size,
            paging_state=next_page_token,
        )
        return Page(
            [_record(row) for row in result.rows if row["id"] is not None], result.next_page_token
        )
