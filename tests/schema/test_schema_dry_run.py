"""Dry runs list everything the real run would do: the bookkeeping DDL, the lock, every
schema statement and every version-record write, in the real run's order; and change nothing."""

from __future__ import annotations

from pathlib import Path

from schema_tool_support import SchemaTarget, run_cli

from persistence_cassandra.schema import read_schema_set, setup_schema, update_schema

ALL_VERSIONS = ["0.1", "0.2", "1.0", "1.1"]


async def test_a_dry_setup_lists_the_bookkeeping_tables_and_the_version_record(
    schema_target: SchemaTarget,
) -> None:
    admin = await schema_target.admin()
    before = await schema_target.snapshot()
    result = await setup_schema(admin, version="0.0", dry_run=True)
    texts = [action.text for action in result.script]
    assert result.dry_run and result.applied_versions == ()
    created = [t for t in texts if "CREATE TABLE IF NOT EXISTS" in t]
    for table in ("schema_version", "schema_update_history", "schema_migration ("):
        assert any(table in t for t in created), (table, texts)
    assert any(t.startswith("take the migration lock") for t in texts)
    assert any(
        t.startswith("write schema_version: curr_version 0.0") and "0 -> 0.0" in t for t in texts
    )
    assert texts[-1] == "release the migration lock"
    assert await schema_target.snapshot() == before


async def test_a_dry_update_lists_every_record_write_in_order(schema_target: SchemaTarget) -> None:
    admin = await schema_target.admin()
    await setup_schema(admin, version="0.0")
    schema_set = read_schema_set(schema_target.fixture_set())
    before = await schema_target.snapshot()
    result = await update_schema(admin, schema_set, dry_run=True)
    assert await schema_target.snapshot() == before
    statements = [a for a in result.script if a.kind == "statement"]
    assert len(statements) == result.plan.statement_count
    kinds = [a.kind for a in result.script]
    texts = [a.text for a in result.script]
    # Each statement is followed by its progress record; each version opens with its
    # `running` record and ends with the one unit that marks it applied.
    for i, kind in enumerate(kinds):
        if kind == "statement":
            assert texts[i + 1].startswith("write schema_migration_statement: ")
    opened = [t for t in texts if t.startswith("write schema_migration: ")]
    finished = [t for t in texts if t.startswith("in one ")]
    assert [t.split()[2] for t in opened] == [f"v{v}" for v in ALL_VERSIONS]
    assert all("running" in t for t in opened)
    assert len(finished) == 4 and "schema_update_history row 1.0 -> 1.1" in finished[-1]
    assert texts[0].startswith("take the migration lock")

    dry = await run_cli(
        *schema_target.cli_args,
        "update-schema",
        "-d",
        str(schema_target.fixture_set()),
        "--dry-run",
    )
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.count("-- bookkeeping: write schema_migration_statement") == len(statements)
    assert "-- bookkeeping: in one " in dry.stdout


async def test_a_dry_setup_from_a_file_on_a_fresh_target_lists_its_statements(
    schema_target: SchemaTarget, tmp_path: Path
) -> None:
    kind = "int" if schema_target.backend == "cassandra" else "INTEGER"
    schema_file = tmp_path / "full.cql"
    schema_file.write_text(f"CREATE TABLE only_in_setup (id {kind} PRIMARY KEY);\n")
    dry = await run_cli(
        *schema_target.cli_args, "setup-schema", "-v", "1.0", "-f", str(schema_file), "--dry-run"
    )
    assert dry.exit_code == 0, dry.output
    out = dry.stdout
    assert out.index("schema_version (") < out.index("CREATE TABLE only_in_setup")
    assert "-- bookkeeping: write schema_migration: v1.0 setup running" in out
    assert "schema_version 1.0 (min compatible 1.0)" in out
    assert "only_in_setup" not in await schema_target.tables()
