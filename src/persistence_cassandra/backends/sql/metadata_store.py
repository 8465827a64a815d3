"""Namespaces, with the global notification version bumped in the same transaction as every
change.

Every namespace change first locks the single ``namespace_metadata`` row, so changes are
serialized: the version read under that lock is the one the change is stamped with, and the
uniqueness checks done under it cannot be raced by another change.
"""

from __future__ import annotations

from persistence_cassandra.backends.sql.paging import check_page_size, decode_token, split_page
from persistence_cassandra.backends.sql.statements import NAMESPACE_COLUMNS, sql_statements
from persistence_cassandra.backends.sql.transaction import Row, TransactionRunner, Tx
from persistence_cassandra.errors import (
    ConditionFailed,
    InvalidRequest,
    NamespaceAlreadyExists,
    NamespaceNotFound,
)
from persistence_cassandra.records import DataBlob, NamespaceRecord, Page
from persistence_cassandra.stores import MetadataStore

__all__ = ["SqlMetadataStore"]

_PARTITION = 54321


def _record(row: Row) -> NamespaceRecord:
    return NamespaceRecord(
        id=row[0],
        name=row[1],
        detail=DataBlob(row[2], row[3]),
        is_global=bool(row[4]),
        notification_version=row[5],
    )


def _one_of(id: str | None, name: str | None) -> tuple[str, str]:
    if id is not None and name is None:
        return "id", id
    if name is not None and id is None:
        return "name", name
    raise InvalidRequest("give exactly one of id and name")


class SqlMetadataStore:
    def __init__(self, runner: TransactionRunner) -> None:
        self._runner = runner
        dialect = runner.dialect
        self._statements = sql_statements(dialect)
        self._lock_version = (
            "SELECT notification_version FROM namespace_metadata WHERE partition_id = ?"
            + dialect.lock_exclusive
        )
        self._insert = dialect.insert_if_absent(
            "namespaces",
            ("id", "name", "data", "data_encoding", "is_global", "notification_version"),
        )

    def _lock(self, tx: Tx) -> int:
        row = tx.fetchone(self._lock_version, (_PARTITION,))
        assert row is not None, "namespace_metadata is seeded by the schema"
        version: int = row[0]
        return version

    @staticmethod
    def _bump(tx: Tx, version: int) -> None:
        tx.defer(
            "UPDATE namespace_metadata SET notification_version = ? WHERE partition_id = ?",
            (version + 1, _PARTITION),
        )

    async def create_namespace(self, record: NamespaceRecord) -> None:
        def create(tx: Tx) -> None:
            version = self._lock(tx)
            inserted = tx.execute(
                self._insert,
                (
                    record.id,
                    record.name,
                    record.detail.data,
                    record.detail.encoding,
                    record.is_global,
                    version,
                ),
            )
            if not inserted:
                raise NamespaceAlreadyExists(
                    f"namespace {record.name!r} (id {record.id}) already exists"
                )
            self._bump(tx, version)

        await self._runner.write(create)

    async def get_namespace(
        self, *, id: str | None = None, name: str | None = None
    ) -> NamespaceRecord:
        column, value = _one_of(id, name)
        statement = (
            self._statements.get_namespace_by_id
            if column == "id"
            else self._statements.get_namespace_by_name
        )
        row = await self._runner.read(lambda tx: tx.fetchone(statement, (value,)))
        if row is None:
            raise NamespaceNotFound(f"namespace {column} {value!r} does not exist")
        return _record(row)

    async def update_namespace(self, record: NamespaceRecord) -> None:
        def update(tx: Tx) -> None:
            version = self._lock(tx)
            row = tx.fetchone("SELECT name FROM namespaces WHERE id = ?", (record.id,))
            if row is None:
                raise NamespaceNotFound(f"namespace id {record.id!r} does not exist")
            if version != record.notification_version:
                raise ConditionFailed(
                    f"notification version is {version}, expected {record.notification_version}"
                )
            if row[0] != record.name:
                self._check_name_free(tx, record.name)
            tx.defer(
                "UPDATE namespaces SET name = ?, data = ?, data_encoding = ?, is_global = ?, "
                "notification_version = ? WHERE id = ?",
                (
                    record.name,
                    record.detail.data,
                    record.detail.encoding,
                    record.is_global,
                    version,
                    record.id,
                ),
            )
            self._bump(tx, version)

        await self._runner.write(update)

    async def rename_namespace(self, previous_name: str, new_name: str) -> None:
        def rename(tx: Tx) -> None:
            version = self._lock(tx)
            row = tx.fetchone("SELECT id FROM namespaces WHERE name = ?", (previous_name,))
            if row is None:
                raise NamespaceNotFound(f"namespace {previous_name!r} does not exist")
            if new_name != previous_name:
                self._check_name_free(tx, new_name)
            tx.defer(
                "UPDATE namespaces SET name = ?, notification_version = ? WHERE id = ?",
                (new_name, version, row[0]),
            )
            self._bump(tx, version)

        await self._runner.write(rename)

    @staticmethod
    def _check_name_free(tx: Tx, name: str) -> None:
        if tx.fetchone("SELECT 1 FROM namespaces WHERE name = ?", (name,)) is not None:
            raise NamespaceAlreadyExists(f"namespace {name!r} already exists")

    async def delete_namespace(self, *, id: str | None = None, name: str | None = None) -> None:
        column, value = _one_of(id, name)
        await self._runner.write(
            lambda tx: tx.defer(f"DELETE FROM namespaces WHERE {column} = ?", (value,))
        )

    async def list_namespaces(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[NamespaceRecord]:
        check_page_size(page_size)
        position = decode_token(next_page_token, 1)
        after = "WHERE id > ? " if position else ""
        statement = f"SELECT {NAMESPACE_COLUMNS} FROM namespaces {after}ORDER BY id LIMIT ?"
        params = (*(position or ()), page_size + 1)
        rows = await self._runner.read(lambda tx: tx.fetchall(statement, params))
        page, token = split_page(rows, page_size, lambda row: (row[0],))
        return Page([_record(row) for row in page], token)

    async def get_metadata(self) -> int:
        row = await self._runner.read(
            lambda tx: tx.fetchone(
                "SELECT notification_version FROM namespace_metadata WHERE partition_id = ?",
                (_PARTITION,),
            )
        )
        return 0 if row is None else int(row[0])


_: type[MetadataStore] = SqlMetadataStore
