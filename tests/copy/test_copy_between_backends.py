"""``persistence-cassandra copy`` between real backends: SQLite -> Cassandra -> SQLite and
SQLite -> PostgreSQL. After each copy every run's mutable state and full history (through the
history manager), every pointer, task, tree row, namespace and cluster record read from the
target equal the source's; shard range ids are one above the source's; the source is unchanged
(byte for byte for SQLite)."""

from __future__ import annotations

from copy_support import SHARDS, file_digest, open_stores, run_cli, sqlite_store, write_config
from copy_workload import capture, without_ranges

from persistence_cassandra.copy import StoreReader, take_census

SHARD_IDS = range(1, SHARDS + 1)


def assert_copied(run, what: str) -> None:
    assert run.exit_code == 0, f"{what}: {run.stdout}\n{run.stderr}"
    assert "verification: source and target agree" in run.stdout, run.stdout
    assert "MISMATCH" not in run.stdout
    assert "Traceback" not in run.stderr


def assert_same_content(expected: dict, found: dict, range_bump: int) -> None:
    assert without_ranges(found).keys() == without_ranges(expected).keys()
    for key, value in without_ranges(expected).items():
        assert found[key] == value, key
    assert found["shard_ranges"] == {
        shard_id: range_id + range_bump for shard_id, range_id in expected["shard_ranges"].items()
    }


async def test_sqlite_to_cassandra_to_sqlite_and_sqlite_to_postgres(
    source, store_factory, tmp_path
):
    cassandra = await store_factory.cassandra()
    postgres = await store_factory.postgres()
    back = sqlite_store(tmp_path / "back.db")
    config = write_config(
        tmp_path, {"src": source.datastore, "cass": cassandra, "pg": postgres, "back": back}
    )
    runs = source.content["runs"]
    assert len(runs) > 60, "the workload has continue-as-new and zombie runs"
    assert any(r["state"].buffered_events for r in runs.values())
    assert any(len(r["history"]) > 1 for r in runs.values()), "some runs were reset (forked)"

    # The source holds tasks of a category registered at run time: unnamed, the copy stops
    # naming it (the copy below resumes from where it stopped).
    unnamed = await run_cli(
        "copy", "--config", str(config), "--from", "src", "--to", "cass", task_categories=False
    )
    assert unnamed.exit_code != 0 and "Traceback" not in unnamed.stderr
    assert "unknown history task category id 951" in unnamed.stderr, unnamed.stderr
    to_cassandra = await run_cli("copy", "--config", str(config), "--from", "src", "--to", "cass")
    assert_copied(to_cassandra, "sqlite -> cassandra")
    async with open_stores(cassandra) as stores:
        assert_same_content(source.content, await capture(stores, SHARD_IDS), range_bump=1)
        cassandra_census = await take_census_of(stores)

    to_postgres = await run_cli("copy", "--config", str(config), "--from", "src", "--to", "pg")
    assert_copied(to_postgres, "sqlite -> postgres")
    async with open_stores(postgres) as stores:
        assert_same_content(source.content, await capture(stores, SHARD_IDS), range_bump=1)

    # Back from Cassandra into a new SQLite file (created by the copy: the embedded store
    # creates its own schema).
    to_sqlite = await run_cli("copy", "--config", str(config), "--from", "cass", "--to", "back")
    assert_copied(to_sqlite, "cassandra -> sqlite")
    async with open_stores(back) as stores:
        assert_same_content(source.content, await capture(stores, SHARD_IDS), range_bump=2)

    # Sources are only read.
    assert file_digest(source.path) == source.digest
    async with open_stores(cassandra) as stores:
        assert await take_census_of(stores) == cassandra_census

    # The table names every record kind and the per-pair throughput is reported.
    for label in (
        "history nodes",
        "buffered events",
        "current executions",
        "shard range ids",
        "queue messages",
        "nexus endpoints",
        "replication DLQ tasks",
    ):
        assert label in to_sqlite.stdout
    assert "rows/s" in to_sqlite.stdout


async def take_census_of(stores):
    census = await take_census(StoreReader(stores), SHARD_IDS)
    return (
        {kind: (t.count, t.total) for kind, t in census.tallies.items()},
        census.shard_ranges,
        census.notification_version,
    )
