"""MetadataStore conformance: namespaces and the global notification version.

Other tests change namespaces in the same database, so version checks are relative: a change
must raise the version, never by an exact amount.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from persistence_cassandra.errors import (
    ConditionFailed,
    NamespaceAlreadyExists,
    NamespaceNotFound,
)
from persistence_cassandra.records import NamespaceRecord
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import blob, collect_pages, namespace_record, unique_id

__all__ = ["TestNamespaces"]


def _same(stored: NamespaceRecord, expected: NamespaceRecord) -> None:
    """Everything but the notification version, which the store stamps."""
    assert (stored.id, stored.name, stored.detail, stored.is_global) == (
        expected.id,
        expected.name,
        expected.detail,
        expected.is_global,
    )


class TestNamespaces:
    async def test_create_then_get_by_id_and_by_name(self, stores: StoreBundle) -> None:
        record = namespace_record(is_global=True)
        await stores.metadata.create_namespace(record)
        _same(await stores.metadata.get_namespace(id=record.id), record)
        _same(await stores.metadata.get_namespace(name=record.name), record)

    async def test_get_of_a_missing_namespace_is_not_found(self, stores: StoreBundle) -> None:
        with pytest.raises(NamespaceNotFound):
            await stores.metadata.get_namespace(id=str(uuid.uuid4()))
        with pytest.raises(NamespaceNotFound):
            await stores.metadata.get_namespace(name=unique_id("ns"))

    async def test_create_with_a_taken_name_already_exists(self, stores: StoreBundle) -> None:
        record = namespace_record()
        await stores.metadata.create_namespace(record)
        with pytest.raises(NamespaceAlreadyExists):
            await stores.metadata.create_namespace(namespace_record(name=record.name))
        _same(await stores.metadata.get_namespace(name=record.name), record)

    async def test_create_with_a_taken_id_already_exists(self, stores: StoreBundle) -> None:
        record = namespace_record()
        await stores.metadata.create_namespace(record)
        duplicate = namespace_record(id=record.id)
        with pytest.raises(NamespaceAlreadyExists):
            await stores.metadata.create_namespace(duplicate)
        with pytest.raises(NamespaceNotFound):
            await stores.metadata.get_namespace(name=duplicate.name)
        _same(await stores.metadata.get_namespace(id=record.id), record)

    async def test_every_change_raises_the_notification_version(self, stores: StoreBundle) -> None:
        before = await stores.metadata.get_metadata()
        record = namespace_record()
        await stores.metadata.create_namespace(record)
        after_create = await stores.metadata.get_metadata()
        assert after_create > before
        version = await stores.metadata.get_metadata()
        await stores.metadata.update_namespace(
            replace(record, detail=blob("updated"), notification_version=version)
        )
        after_update = await stores.metadata.get_metadata()
        assert after_update > after_create
        await stores.metadata.rename_namespace(record.name, unique_id("renamed"))
        assert await stores.metadata.get_metadata() > after_update

    async def test_update_with_the_current_version(self, stores: StoreBundle) -> None:
        record = namespace_record()
        await stores.metadata.create_namespace(record)
        version = await stores.metadata.get_metadata()
        updated = replace(
            record, detail=blob("updated"), is_global=True, notification_version=version
        )
        await stores.metadata.update_namespace(updated)
        _same(await stores.metadata.get_namespace(id=record.id), updated)
        stored = await stores.metadata.get_namespace(name=record.name)
        assert stored.notification_version >= version

    async def test_update_with_a_stale_version_is_a_condition_failure(
        self, stores: StoreBundle
    ) -> None:
        record = namespace_record()
        await stores.metadata.create_namespace(record)
        stale = await stores.metadata.get_metadata()
        await stores.metadata.create_namespace(namespace_record())  # moves the version on
        with pytest.raises(ConditionFailed):
            await stores.metadata.update_namespace(
                replace(record, detail=blob("lost"), notification_version=stale)
            )
        _same(await stores.metadata.get_namespace(id=record.id), record)

    async def test_update_of_a_missing_namespace_is_not_found(self, stores: StoreBundle) -> None:
        version = await stores.metadata.get_metadata()
        with pytest.raises(NamespaceNotFound):
            await stores.metadata.update_namespace(
                replace(namespace_record(), notification_version=version)
            )

    async def test_rename(self, stores: StoreBundle) -> None:
        record = namespace_record()
        await stores.metadata.create_namespace(record)
        new_name = unique_id("renamed")
        await stores.metadata.rename_namespace(record.name, new_name)
        renamed = replace(record, name=new_name)
        _same(await stores.metadata.get_namespace(name=new_name), renamed)
        _same(await stores.metadata.get_namespace(id=record.id), renamed)
        with pytest.raises(NamespaceNotFound):
            await stores.metadata.get_namespace(name=record.name)

    async def test_rename_onto_a_taken_name_already_exists(self, stores: StoreBundle) -> None:
        first, second = namespace_record(), namespace_record()
        await stores.metadata.create_namespace(first)
        await stores.metadata.create_namespace(second)
        with pytest.raises(NamespaceAlreadyExists):
            await stores.metadata.rename_namespace(first.name, second.name)
        _same(await stores.metadata.get_namespace(name=first.name), first)
        _same(await stores.metadata.get_namespace(name=second.name), second)

    async def test_rename_of_a_missing_namespace_is_not_found(self, stores: StoreBundle) -> None:
        with pytest.raises(NamespaceNotFound):
            await stores.metadata.rename_namespace(unique_id("ns"), unique_id("ns"))

    async def test_delete_by_id(self, stores: StoreBundle) -> None:
        record = namespace_record()
        await stores.metadata.create_namespace(record)
        await stores.metadata.delete_namespace(id=record.id)
        with pytest.raises(NamespaceNotFound):
            await stores.metadata.get_namespace(id=record.id)
        with pytest.raises(NamespaceNotFound):
            await stores.metadata.get_namespace(name=record.name)
        # the name is free again
        await stores.metadata.create_namespace(namespace_record(name=record.name))

    async def test_delete_by_name(self, stores: StoreBundle) -> None:
        record = namespace_record()
        await stores.metadata.create_namespace(record)
        await stores.metadata.delete_namespace(name=record.name)
        with pytest.raises(NamespaceNotFound):
            await stores.metadata.get_namespace(id=record.id)
        # the id is free again
        await stores.metadata.create_namespace(namespace_record(id=record.id))

    async def test_delete_of_a_missing_namespace_succeeds(self, stores: StoreBundle) -> None:
        await stores.metadata.delete_namespace(id=str(uuid.uuid4()))
        await stores.metadata.delete_namespace(name=unique_id("ns"))

    async def test_list_pages_through_every_namespace(self, stores: StoreBundle) -> None:
        ours = [namespace_record() for _ in range(5)]
        for record in ours:
            await stores.metadata.create_namespace(record)
        items, _ = await collect_pages(lambda token: stores.metadata.list_namespaces(2, token))
        ids = [r.id for r in items]
        assert len(ids) == len(set(ids)), "a namespace was listed twice"
        found = {r.id: r for r in items}
        for record in ours:
            _same(found[record.id], record)
