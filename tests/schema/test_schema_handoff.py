"""A keyspace set up from a full schema file, then migrated over the versioned directory (a
hand-off), and ``verify`` of a ``setup-schema --schema-file`` run."""

from __future__ import annotations

from pathlib import Path

import pytest
from schema_tool_support import SchemaTarget, run_cli

from persistence_cassandra.errors import SchemaToolError
from persistence_cassandra.schema import SchemaAdmin, read_schema_set, setup_schema, update_schema

ALL_VERSIONS = ["0.1", "0.2", "1.0", "1.1"]

# The temporal_style fixture's objects as of its last version, as one file: what an
# operator's full schema.cql holds.
FULL_CQL = """
CREATE TYPE serialized_event_batch (encoding_type text, version int, data blob, checksum text);
CREATE TABLE schema_audit (id timeuuid PRIMARY KEY, version text, note text);
CREATE TABLE executions (
  shard_id int, type int, run_id uuid, next_event frozen<serialized_event_batch>,
  db_record_version bigint, tags map<text, text>,
  PRIMARY KEY (shard_id, type, run_id)
) WITH CLUSTERING ORDER BY (type ASC, run_id ASC);
CREATE TABLE tasks (
  namespace_id uuid, task_queue text, task_id bigint, data blob, expiry timestamp,
  PRIMARY KEY ((namespace_id, task_queue), task_id)
);
CREATE TABLE namespaces (id uuid PRIMARY KEY, name text, data blob);
CREATE CUSTOM INDEX namespaces_by_name ON namespaces (name) USING 'StorageAttachedIndex';
CREATE TABLE cluster_membership (
  membership_partition int, host_id uuid, rpc_address inet, session_start timestamp,
  PRIMARY KEY (membership_partition, host_id)
);
"""


async def _set_up_from(target: SchemaTarget, tmp_path: Path, schema: str) -> SchemaAdmin:
    """A keyspace set up at version 0.0 from a full schema file."""
    full = tmp_path / "schema.cql"
    full.write_text(schema)
    admin = await target.admin()
    await setup_schema(admin, version="0.0", schema_file=full)
    return admin


async def _refusal(target: SchemaTarget, admin: SchemaAdmin) -> str:
    with pytest.raises(SchemaToolError) as raised:
        await update_schema(admin, read_schema_set(target.fixture_set()))
    return str(raised.value)


async def test_a_full_schema_setup_hands_off_to_the_versioned_directory(
    cassandra_schema_target: SchemaTarget, tmp_path: Path
) -> None:
    target = cassandra_schema_target
    admin = await _set_up_from(target, tmp_path, FULL_CQL)
    result = await update_schema(admin, read_schema_set(target.fixture_set()))
    assert list(result.applied_versions) == ALL_VERSIONS
    # Every CREATE and ADD found in place with its definition; only the INSERTs ran.
    assert result.executed == 4 and result.already_present == 10
    assert await target.audit() == ALL_VERSIONS
    outcomes = [r.outcome for r in await admin.read_statement_records("0.1")]
    assert outcomes == ["already-present", "already-present", "already-present", "executed"]


async def test_an_object_defined_otherwise_stops_the_run_naming_both_definitions(
    cassandra_schema_target: SchemaTarget, tmp_path: Path
) -> None:
    target = cassandra_schema_target
    schema = "CREATE TYPE serialized_event_batch (encoding_type text, version bigint);\n"
    message = await _refusal(target, await _set_up_from(target, tmp_path, schema))
    assert "type serialized_event_batch, which already exists with another definition" in message
    assert "(encoding_type text, version bigint) in the catalog" in message
    assert "declares (encoding_type text, version int, data blob)" in message
    assert "v0.1/types.cql line 3" in message
    assert "schema_audit" not in await target.tables(), "nothing after it ran"


async def test_a_table_key_that_differs_is_a_different_definition(
    cassandra_schema_target: SchemaTarget, tmp_path: Path
) -> None:
    target = cassandra_schema_target
    schema = (
        "CREATE TYPE serialized_event_batch (encoding_type text, version int, data blob);\n"
        "CREATE TABLE schema_audit (id timeuuid PRIMARY KEY, version text, note text);\n"
        "CREATE TABLE executions (shard_id int, type int, run_id uuid, "
        "next_event frozen<serialized_event_batch>, PRIMARY KEY (shard_id, run_id, type));\n"
    )
    message = await _refusal(target, await _set_up_from(target, tmp_path, schema))
    assert "table executions, which already exists with another definition" in message
    assert "clustering (run_id asc, type asc) in the catalog" in message
    assert "clustering (type asc, run_id asc)." in message


def _sql_versions(root: Path) -> Path:
    versioned = root / "versioned"
    for version, text in (
        ("0.1", "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);\n"),
        ("0.2", "ALTER TABLE t ADD COLUMN note VARCHAR(64);\n"),
    ):
        directory = versioned / f"v{version}"
        directory.mkdir(parents=True)
        (directory / "manifest.json").write_text(
            f'{{"CurrVersion": "{version}", "MinCompatibleVersion": "0.1", '
            f'"Description": "d", "SchemaUpdateCqlFiles": ["a.sql"]}}'
        )
        (directory / "a.sql").write_text(text)
    return versioned


SQL_BACKENDS = pytest.mark.parametrize("schema_target", ["sqlite", "postgres"], indirect=True)


@SQL_BACKENDS
async def test_sql_tables_and_columns_hand_off_too(
    schema_target: SchemaTarget, tmp_path: Path
) -> None:
    versioned = _sql_versions(tmp_path)
    # Spelled differently from the versioned files: the database's catalog decides.
    schema = "CREATE TABLE t (id integer PRIMARY KEY, name text, note varchar(64));\n"
    admin = await _set_up_from(schema_target, tmp_path, schema)
    result = await update_schema(admin, read_schema_set(versioned))
    assert result.applied_versions == ("0.1", "0.2") and result.already_present == 2


@SQL_BACKENDS
async def test_a_sql_column_of_another_type_is_a_different_definition(
    schema_target: SchemaTarget, tmp_path: Path
) -> None:
    versioned = _sql_versions(tmp_path)
    schema = "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, note VARCHAR(32));\n"
    admin = await _set_up_from(schema_target, tmp_path, schema)
    with pytest.raises(SchemaToolError) as raised:
        await update_schema(admin, read_schema_set(versioned))
    message = str(raised.value)
    assert "creates column t.note, which already exists with another definition" in message
    assert "(32)" in message and "(64)" in message
    records = {r.version: r.state for r in await admin.read_migrations()}
    assert records["0.1"] == "applied" and records["0.2"] == "running"


async def test_verify_checks_the_file_of_a_full_schema_setup(
    schema_target: SchemaTarget, tmp_path: Path
) -> None:
    kind = "int" if schema_target.backend == "cassandra" else "INTEGER"
    full = tmp_path / "schema.cql"
    full.write_text(f"CREATE TABLE from_full (id {kind} PRIMARY KEY);\n")
    args = schema_target.cli_args
    setup = await run_cli(*args, "setup-schema", "-v", "1.1", "-f", str(full))
    assert setup.exit_code == 0, setup.output
    versions = str(schema_target.fixture_set())

    verify = await run_cli(*args, "verify", "-d", versions, "--schema-file", str(full))
    assert verify.exit_code == 0, verify.output
    assert "checked the schema file of setup-schema 1.1 (schema.cql)" in verify.stdout
    assert "applied by another tool" not in verify.stdout

    without = await run_cli(*args, "verify", "-d", versions)
    assert "give --schema-file FILE to check it" in without.stdout
    assert "applied by another tool" not in without.stdout

    full.write_text(f"CREATE TABLE from_full (id {kind} PRIMARY KEY, extra {kind});\n")
    drift = await run_cli(*args, "verify", "--schema-file", str(full))
    assert drift.exit_code == 1
    assert "DRIFT v1.1/schema.cql: changed (differs from when setup-schema ran it)" in drift.stdout
