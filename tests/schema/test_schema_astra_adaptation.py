"""``--astra-compat`` end to end on the local Cassandra 5.0 node (which has SAI): what runs is
adapted, what is recorded stays the files', and status, history and dry runs say so."""

from __future__ import annotations

import hashlib

from schema_tool_support import TEMPORAL_ASTRA, SchemaTarget, run_cli

from persistence_cassandra.schema import read_schema_set, setup_schema, update_schema
from persistence_cassandra.schema.statements import split_statements

FILES = {
    "0.1": ["types.cql", "tables.cql"],
    "0.2": ["tasks.cql"],
    "0.3": ["alter.cql"],
}


async def test_an_adapted_run_records_the_original_files_and_what_it_rewrote(
    cassandra_schema_target: SchemaTarget,
) -> None:
    target = cassandra_schema_target
    admin = await target.admin()
    await setup_schema(admin, version="0.0")
    result = await update_schema(admin, read_schema_set(TEMPORAL_ASTRA), astra_compat=True)
    assert list(result.applied_versions) == ["0.1", "0.2", "0.3"]

    indexes = await target.query(
        "SELECT index_name, kind, options FROM system_schema.indexes "
        f"WHERE keyspace_name = '{target.scope}'"
    )
    assert {row[0] for row in indexes} == {"namespaces_by_name", "executions_by_state"}
    assert all(
        row[1] == "CUSTOM" and "StorageAttachedIndex" in row[2]["class_name"] for row in indexes
    )
    tables = await target.query(
        "SELECT table_name, compaction, gc_grace_seconds FROM system_schema.tables "
        f"WHERE keyspace_name = '{target.scope}'"
    )
    by_name = {row[0]: row for row in tables}
    assert "Leveled" not in by_name["executions"][1]["class"], "the option was dropped"
    assert by_name["namespaces"][2] == 864000 and by_name["tasks"][2] == 864000
    await target.execute("INSERT INTO namespaces (id, name) VALUES (uuid(), 'n1')")
    assert len(await target.query("SELECT id FROM namespaces WHERE name = 'n1'")) == 1

    records = {r.version: r for r in await admin.read_migrations()}
    for version, names in FILES.items():
        for name in names:
            data = (TEMPORAL_ASTRA / f"v{version}" / name).read_bytes()
            assert records[version].file_checksums[name] == hashlib.sha256(data).hexdigest()
    assert len(records["0.1"].adaptation) == 3 and len(records["0.2"].adaptation) == 3
    assert "CREATE INDEX -> CREATE CUSTOM INDEX" in " ".join(records["0.2"].adaptation)
    applied = await admin.read_statement_records("0.3")
    original = split_statements((TEMPORAL_ASTRA / "v0.3" / "alter.cql").read_text(), source="x")
    assert [r.checksum for r in applied] == [s.checksum for s in original]
    assert [r.outcome for r in applied] == ["skipped", "executed", "executed"]

    args = target.cli_args
    status = await run_cli(*args, "status", "-d", str(TEMPORAL_ASTRA))
    assert "adapted:          v0.2: 3 statement(s) rewritten for Astra DB" in status.stdout
    assert "drift:            none" in status.stdout
    history = await run_cli(*args, "history")
    assert "update v0.2 applied" in history.stdout and "adapted for Astra DB" in history.stdout
    assert "adapted statement 2 (v0.2/tasks.cql line 12): CREATE INDEX" in history.stdout
    verify = await run_cli(*args, "verify", "-d", str(TEMPORAL_ASTRA))
    assert verify.exit_code == 0 and "0.1, 0.2, 0.3: ok" in verify.stdout


async def test_a_dry_run_prints_each_adapted_statement_under_its_original(
    cassandra_schema_target: SchemaTarget,
) -> None:
    args = cassandra_schema_target.cli_args
    assert (await run_cli(*args, "setup-schema", "-v", "0.0")).exit_code == 0
    before = await cassandra_schema_target.snapshot()
    dry = await run_cli(
        *args, "update-schema", "-d", str(TEMPORAL_ASTRA), "--dry-run", "--astra-compat"
    )
    assert dry.exit_code == 0, dry.output
    out = dry.stdout
    original = out.index("--   CREATE INDEX executions_by_state ON executions (state)")
    adapted = out.index(
        "CREATE CUSTOM INDEX executions_by_state ON executions (state) USING "
        "'StorageAttachedIndex';"
    )
    assert original < adapted
    assert "-- adapted for Astra DB: dropped compaction, speculative_retry" in out
    assert "nothing left to run" in out
    assert await cassandra_schema_target.snapshot() == before


async def test_without_adaptation_a_plain_cassandra_target_runs_the_files_as_written(
    cassandra_schema_target: SchemaTarget,
) -> None:
    admin = await cassandra_schema_target.admin()
    await setup_schema(admin, version="0.0")
    result = await update_schema(admin, read_schema_set(TEMPORAL_ASTRA), target="0.1")
    assert result.applied_versions == ("0.1",)
    records = {r.version: r for r in await admin.read_migrations()}
    assert records["0.1"].adaptation == ()


async def test_sql_targets_refuse_the_adaptation(sqlite_schema_target: SchemaTarget) -> None:
    args = sqlite_schema_target.cli_args
    assert (await run_cli(*args, "setup-schema", "-v", "0.0")).exit_code == 0
    sql_dir = sqlite_schema_target.fixture_set()
    result = await run_cli(*args, "update-schema", "-d", str(sql_dir), "--astra-compat")
    assert result.exit_code == 1
    assert "--astra-compat applies to Cassandra and Astra DB only" in result.stderr
