"""``copy`` moves visibility: each registered namespace's search attributes and visibility
records, SQLite -> Cassandra -> PostgreSQL, verified by the census and equal record by
record."""

from __future__ import annotations

from copy_support import open_stores, run_cli, sqlite_store, write_config

from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import namespace_record
from persistence_cassandra.testing.visibility_data import CUSTOM_ATTRIBUTES, VisibilityPair
from persistence_cassandra.visibility.records import VisibilityRecord
from persistence_cassandra.visibility.reference_store import ReferenceVisibilityStore


async def _everything(stores: StoreBundle, namespace_id: str) -> list[VisibilityRecord]:
    assert stores.visibility is not None
    page = await stores.visibility.list_executions(namespace_id, "", 1000)
    return page.items


def _assert_copied(run, what: str) -> None:
    assert run.exit_code == 0, f"{what}: {run.stdout}\n{run.stderr}"
    assert "verification: source and target agree" in run.stdout, run.stdout
    assert "visibility records" in run.stdout


async def test_copy_moves_visibility_between_backends(store_factory, tmp_path) -> None:
    source = sqlite_store(tmp_path / "source.db")
    namespace = namespace_record()
    async with open_stores(source, create=True) as stores:
        await stores.metadata.create_namespace(namespace)
        assert stores.visibility is not None
        pair = VisibilityPair(stores.visibility, ReferenceVisibilityStore(), namespace.id)
        await pair.register()
        await pair.populate(25)
        expected = await _everything(stores, namespace.id)
    assert len(expected) == 25

    cassandra = await store_factory.cassandra()
    postgres = await store_factory.postgres()
    config = write_config(tmp_path, {"src": source, "cass": cassandra, "pg": postgres})
    to_cassandra = await run_cli("copy", "--config", str(config), "--from", "src", "--to", "cass")
    _assert_copied(to_cassandra, "sqlite -> cassandra")
    to_postgres = await run_cli("copy", "--config", str(config), "--from", "cass", "--to", "pg")
    _assert_copied(to_postgres, "cassandra -> postgres")
    for target in (cassandra, postgres):
        async with open_stores(target) as stores:
            assert stores.visibility is not None
            assert await stores.visibility.get_search_attributes(namespace.id) == CUSTOM_ATTRIBUTES
            assert await _everything(stores, namespace.id) == expected
            assert await stores.visibility.count_executions(namespace.id, "Tags = 'red'") == sum(
                "red" in r.search_attributes.get("Tags", ()) for r in expected
            )
