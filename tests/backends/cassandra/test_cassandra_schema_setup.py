"""The bundled Cassandra schema: applied by ``create_schema``, idempotent, Astra-clean, one
comment per table; and the version check on open names the command that fixes a mismatch."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from cassandra_test_support import Endpoint, make_config

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.session import CassandraSession
from persistence_cassandra.factory import OpenOptions, open_store_bundle
from persistence_cassandra.schema.bundled import EXPECTED_SCHEMA_VERSION, bundled_schema_set
from persistence_cassandra.schema.lint import lint_statements
from persistence_cassandra.schema.statements import split_statements

TABLES = {
    "executions",
    "history_node",
    "history_tree",
    "tasks",
    "namespaces",
    "namespaces_by_id",
    "cluster_metadata_info",
    "cluster_membership",
    # schema 1.1
    "queue_messages",
    "queues",
    "replication_tasks_dlq",
    "nexus_endpoints",
    # v1.1
    "task_queue_user_data",
    "visibility_search_attributes",
    "visibility_executions",
    "visibility_runs",
    "visibility_buckets",
}


def test_the_bundled_schema_is_the_expected_version_and_astra_clean() -> None:
    schema_set = bundled_schema_set("cassandra")
    assert schema_set.latest.text == EXPECTED_SCHEMA_VERSION
    statements = [
        statement
        for version in schema_set.versions
        for name in version.manifest.files
        for statement in split_statements(version.file_path(name).read_text(), source=name)
    ]
    assert lint_statements(statements) == []
    created = {
        s.normalized.split()[2]
        for s in statements
        if s.verb == "CREATE" and s.normalized.split()[1] == "TABLE"
    }
    assert created == TABLES


@pytest.fixture
async def admin(cassandra_endpoint: Endpoint) -> AsyncIterator[CassandraSession]:
    config = make_config(cassandra_endpoint, "system").cassandra
    assert config is not None
    session = await CassandraSession.connect(config)
    yield session
    await session.close()


@pytest.fixture
async def scratch_keyspace(admin: CassandraSession) -> AsyncIterator[str]:
    name = f"pc_schema_{uuid.uuid4().hex[:12]}"
    yield name
    await admin.execute_schema(f"DROP KEYSPACE IF EXISTS {name}")


async def test_create_schema_builds_every_table_with_its_comment_and_is_idempotent(
    cassandra_endpoint: Endpoint, scratch_keyspace: str, admin: CassandraSession
) -> None:
    config = make_config(cassandra_endpoint, scratch_keyspace)
    for _ in range(2):
        opened = await open_store_bundle(config, options=OpenOptions(create_schema=True))
        assert opened.server_info is not None
        info = await opened.server_info()
        assert info["schema_version"] == EXPECTED_SCHEMA_VERSION
        await opened.close()
    tables = await admin.read(
        "SELECT table_name, comment FROM system_schema.tables WHERE keyspace_name = ?",
        (scratch_keyspace,),
    )
    comments = {row["table_name"]: row["comment"] for row in tables.rows}
    assert set(comments) >= TABLES
    assert all(len(comments[table]) > 80 for table in TABLES), comments
    history = await admin.read(
        f"SELECT old_version, new_version, description FROM {scratch_keyspace}."
        "schema_update_history"
    )
    # The engine bootstraps as Temporal does: setup-schema -v 0.0, then one update per
    # bundled version.
    versions = [v.version.text for v in bundled_schema_set("cassandra").versions]
    assert sorted((r["old_version"], r["new_version"]) for r in history.rows) == sorted(
        [("0", "0.0"), *zip(["0.0", *versions[:-1]], versions, strict=True)]
    )
    columns = await admin.read(
        "SELECT column_name, clustering_order FROM system_schema.columns "
        "WHERE keyspace_name = ? AND table_name = ?",
        (scratch_keyspace, "history_node"),
    )
    order = {row["column_name"]: row["clustering_order"] for row in columns.rows}
    assert order["txn_id"] == "desc" and order["node_id"] == "asc"


async def test_a_missing_keyspace_names_the_command_to_run(
    cassandra_endpoint: Endpoint, scratch_keyspace: str
) -> None:
    with pytest.raises(errors.SchemaVersionMismatch) as caught:
        await open_store_bundle(make_config(cassandra_endpoint, scratch_keyspace))
    assert f"persistence-cassandra schema -k {scratch_keyspace} create-keyspace" in str(
        caught.value
    )


async def test_a_keyspace_without_schema_names_setup_and_update(
    cassandra_endpoint: Endpoint, scratch_keyspace: str, admin: CassandraSession
) -> None:
    await admin.execute_schema(
        f"CREATE KEYSPACE {scratch_keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    with pytest.raises(errors.SchemaVersionMismatch) as caught:
        await open_store_bundle(make_config(cassandra_endpoint, scratch_keyspace))
    assert caught.value.actual is None
    assert "setup-schema -v 0.0" in str(caught.value)
    assert "update-schema --schema-name cassandra/persistence" in str(caught.value)


async def test_an_older_stored_version_is_refused_and_a_newer_one_accepted(
    cassandra_endpoint: Endpoint, scratch_keyspace: str, admin: CassandraSession
) -> None:
    config = make_config(cassandra_endpoint, scratch_keyspace)
    opened = await open_store_bundle(config, options=OpenOptions(create_schema=True))
    await opened.close()
    set_version = (
        f"UPDATE {scratch_keyspace}.schema_version SET curr_version = ? WHERE keyspace_name = ?"
    )
    await admin.write(set_version, ("0.9", scratch_keyspace))
    with pytest.raises(errors.SchemaVersionMismatch) as caught:
        await open_store_bundle(config)
    assert (caught.value.actual, caught.value.expected) == ("0.9", EXPECTED_SCHEMA_VERSION)
    assert (
        f"persistence-cassandra schema -k {scratch_keyspace} update-schema "
        "--schema-name cassandra/persistence" in str(caught.value)
    )
    # Not verifying opens anyway (for tools that inspect an old keyspace).
    unchecked = await open_store_bundle(config, options=OpenOptions(verify_schema=False))
    await unchecked.close()
    await admin.write(set_version, ("1.7", scratch_keyspace))
    newer = await open_store_bundle(config)  # a code rollback after an upgrade is allowed
    await newer.close()
    # create_schema on a newer keyspace leaves it alone instead of planning a downgrade.
    recreated = await open_store_bundle(config, options=OpenOptions(create_schema=True))
    await recreated.close()
    version = await admin.read(
        f"SELECT curr_version FROM {scratch_keyspace}.schema_version WHERE keyspace_name = ?",
        (scratch_keyspace,),
    )
    assert version.first() is not None and version.first()["curr_version"] == "1.7"
