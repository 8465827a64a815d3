"""The migration engine against real databases: the same tests on SQLite, PostgreSQL and
Cassandra, over a Temporal-style versioned directory this project did not otherwise use."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from schema_tool_support import SchemaTarget

from persistence_cassandra.errors import SchemaToolError, SchemaVersionMismatch
from persistence_cassandra.schema import (
    MigrationListener,
    UpdatePlan,
    check_schema_version,
    read_schema_set,
    schema_history,
    schema_status,
    setup_schema,
    update_schema,
    verify_schema,
)

ALL_VERSIONS = ["0.1", "0.2", "1.0", "1.1"]
BROKEN = "INSERT INTO no_such_table (x) VALUES (1);\n\n"


class Recorder(MigrationListener):
    def __init__(self) -> None:
        self.plans: list[tuple[UpdatePlan, bool]] = []
        self.waits = 0
        self.applied: list[tuple[str, int, str]] = []

    def plan_ready(self, plan: UpdatePlan, *, dry_run: bool) -> None:
        self.plans.append((plan, dry_run))

    def waiting_for_lock(self, holder: object, waited: float) -> None:
        self.waits += 1

    def statement_applied(self, step, planned, outcome) -> None:
        self.applied.append((step.version.text, planned.index, outcome))


def _fixed_statement(target: SchemaTarget) -> str:
    kind = "int" if target.backend == "cassandra" else "INTEGER"
    return f"CREATE TABLE fixed_table (id {kind} PRIMARY KEY);\n\n"


def _v10_file(versioned: Path) -> Path:
    return next(p for p in (versioned / "v1.0").iterdir() if p.name != "manifest.json")


def _break_v10(versioned: Path) -> Path:
    """Put a failing statement third in v1.0 (after two good ones); returns the file."""
    path = _v10_file(versioned)
    text = path.read_text()
    marker = next(m for m in ("CREATE CUSTOM INDEX", "CREATE UNIQUE INDEX") if m in text)
    path.write_text(text.replace(marker, BROKEN + marker, 1))
    return path


async def test_setup_then_update_applies_every_version_once(schema_target: SchemaTarget) -> None:
    admin = await schema_target.admin()
    schema_set = read_schema_set(schema_target.fixture_set())
    setup = await setup_schema(admin, version="0.0")
    assert setup.final_version == "0.0"
    status = await schema_status(admin, schema_set)
    assert status.stored is not None and status.stored.curr_version == "0.0"
    assert list(status.pending) == ALL_VERSIONS

    result = await update_schema(admin, schema_set)
    total = sum(len(step.statements) for step in result.plan.steps)
    assert list(result.applied_versions) == ALL_VERSIONS
    assert (result.start_version, result.final_version) == ("0.0", "1.1")
    assert result.executed == total and result.already_present == 0
    assert await schema_target.audit() == ALL_VERSIONS
    assert {
        "executions",
        "tasks",
        "namespaces",
        "cluster_membership",
    } <= await schema_target.tables()

    before = await schema_target.snapshot()
    again = await update_schema(admin, schema_set)
    assert again.applied_versions == () and again.executed == 0
    assert again.final_version == "1.1"
    assert await schema_target.snapshot() == before

    status = await schema_status(admin, schema_set)
    assert status.stored is not None and status.stored.curr_version == "1.1"
    assert status.stored.min_compatible_version == "1.0"
    assert status.pending == () and status.incomplete == ()
    assert status.verify is not None and status.verify.ok
    assert list(status.verify.checked) == ALL_VERSIONS

    history = await schema_history(admin)
    assert [(h.old_version, h.new_version) for h in history] == [
        ("0", "0.0"),
        ("0.0", "0.1"),
        ("0.1", "0.2"),
        ("0.2", "1.0"),
        ("1.0", "1.1"),
    ]
    manifest = (schema_target.fixture_set() / "v1.1" / "manifest.json").read_bytes()
    assert history[-1].manifest_md5 == hashlib.md5(manifest).hexdigest()

    # Temporal's bootstrap scripts repeat setup-schema -v 0.0: it must not reset the version.
    repeat = await setup_schema(admin, version="0.0")
    assert repeat.applied_versions == ()
    assert (await admin.read_version()).curr_version == "1.1"  # type: ignore[union-attr]

    await check_schema_version(admin, "1.0")
    await check_schema_version(admin, "1.1")
    with pytest.raises(SchemaVersionMismatch, match="update-schema") as raised:
        await check_schema_version(admin, "1.2")
    assert raised.value.actual == "1.1" and raised.value.expected == "1.2"


async def test_update_to_a_target_stops_there(sqlite_schema_target: SchemaTarget) -> None:
    # Version planning is backend-independent: one real database is enough here.
    schema_target = sqlite_schema_target
    admin = await schema_target.admin()
    schema_set = read_schema_set(schema_target.fixture_set())
    await setup_schema(admin, version="0.0")
    first = await update_schema(admin, schema_set, target="0.2")
    assert list(first.applied_versions) == ["0.1", "0.2"]
    assert await schema_target.audit() == ["0.1", "0.2"]
    rest = await update_schema(admin, schema_set)
    assert list(rest.applied_versions) == ["1.0", "1.1"]
    with pytest.raises(SchemaToolError, match="downgrades are not supported"):
        await update_schema(admin, schema_set, target="0.2")
    with pytest.raises(SchemaToolError, match="not in"):
        await update_schema(admin, schema_set, target="7.0")


async def test_update_without_setup_names_the_command(schema_target: SchemaTarget) -> None:
    admin = await schema_target.admin()
    with pytest.raises(SchemaToolError, match=r"setup-schema -v 0\.0"):
        await update_schema(admin, read_schema_set(schema_target.fixture_set()))
    with pytest.raises(SchemaVersionMismatch, match="has no schema"):
        await check_schema_version(admin, "1.0")


async def test_verify_detects_edited_files(schema_target: SchemaTarget, tmp_path: Path) -> None:
    versioned = schema_target.fixture_set(tmp_path)
    admin = await schema_target.admin()
    await setup_schema(admin, version="0.0")
    await update_schema(admin, read_schema_set(versioned))
    assert (await verify_schema(admin, read_schema_set(versioned))).ok

    comment_only = next(p for p in (versioned / "v0.2").iterdir() if p.suffix != ".json")
    comment_only.write_text("-- a reviewer's note\n" + comment_only.read_text())
    statement_edit = _v10_file(versioned)
    statement_edit.write_text(statement_edit.read_text().replace("name", "display_name", 1))

    report = await verify_schema(admin, read_schema_set(versioned))
    assert not report.ok
    found = {(d.version, d.file_name): d for d in report.drift}
    assert set(found) == {("0.2", comment_only.name), ("1.0", statement_edit.name)}
    assert "comments or layout only" in found[("0.2", comment_only.name)].detail
    assert "statements changed: #1" in found[("1.0", statement_edit.name)].detail
    status = await schema_status(admin, read_schema_set(versioned))
    assert status.verify is not None and len(status.verify.drift) == 2


async def test_dry_run_changes_nothing(schema_target: SchemaTarget, tmp_path: Path) -> None:
    admin = await schema_target.admin()
    schema_set = read_schema_set(schema_target.fixture_set())
    pristine = await schema_target.snapshot()
    schema_file = tmp_path / "full.cql"
    schema_file.write_text("CREATE TABLE only_in_setup (id int PRIMARY KEY);\n")
    listener = Recorder()
    dry_setup = await setup_schema(
        admin, version="1.0", schema_file=schema_file, dry_run=True, listener=listener
    )
    assert dry_setup.dry_run and listener.plans[-1][1] is True
    assert await schema_target.snapshot() == pristine

    await setup_schema(admin, version="0.0")
    before = await schema_target.snapshot()
    result = await update_schema(admin, schema_set, dry_run=True, listener=listener)
    plan, dry = listener.plans[-1]
    assert dry and result.dry_run and result.applied_versions == ()
    assert [step.version.text for step in plan.steps] == ALL_VERSIONS
    assert plan.statement_count == sum(len(s.statements) for s in plan.steps) > 10
    assert await schema_target.snapshot() == before


async def test_failed_statement_resumes_without_rerunning(
    schema_target: SchemaTarget, tmp_path: Path
) -> None:
    versioned = schema_target.fixture_set(tmp_path)
    broken_file = _break_v10(versioned)
    admin = await schema_target.admin()
    await setup_schema(admin, version="0.0")
    with pytest.raises(SchemaToolError) as failure:
        await update_schema(admin, read_schema_set(versioned))
    message = str(failure.value)
    assert "version 1.0 failed at statement 3 of 5" in message
    assert f"v1.0/{broken_file.name}" in message and "no_such_table" in message
    assert "2 earlier statement(s)" in message

    assert (await admin.read_version()).curr_version == "0.2"  # type: ignore[union-attr]
    applied = await admin.read_statement_records("1.0")
    assert [r.index for r in applied] == [0, 1]
    status = await schema_status(admin, read_schema_set(versioned))
    assert [(i.version, i.applied_statements, i.statement_count) for i in status.incomplete] == [
        ("1.0", 2, 5)
    ]

    broken_file.write_text(broken_file.read_text().replace(BROKEN, _fixed_statement(schema_target)))
    listener = Recorder()
    resumed = await update_schema(admin, read_schema_set(versioned), listener=listener)
    assert resumed.resumed_versions == ("1.0",)
    assert list(resumed.applied_versions) == ["1.0", "1.1"]
    # Statements 1-2 of v1.0 were not run again: only 3-5 of v1.0, then all of v1.1.
    assert [(v, i) for v, i, _ in listener.applied][:3] == [("1.0", 2), ("1.0", 3), ("1.0", 4)]
    assert resumed.executed == 3 + 3
    after = await admin.read_statement_records("1.0")
    assert [r.index for r in after] == [0, 1, 2, 3, 4]
    assert [(r.index, r.applied_at) for r in after[:2]] == [
        (r.index, r.applied_at) for r in applied
    ]
    assert await schema_target.audit() == ALL_VERSIONS
    assert "fixed_table" in await schema_target.tables()
    assert (await verify_schema(admin, read_schema_set(versioned))).ok


async def test_resume_finds_a_statement_applied_before_the_crash(
    schema_target: SchemaTarget, tmp_path: Path
) -> None:
    """A run that died after the database applied a statement but before recording it:
    the catalog says the statement's table exists, so it is recorded, not re-run."""
    versioned = schema_target.fixture_set(tmp_path)
    broken_file = _break_v10(versioned)
    admin = await schema_target.admin()
    await setup_schema(admin, version="0.0")
    with pytest.raises(SchemaToolError):
        await update_schema(admin, read_schema_set(versioned))
    fixed = _fixed_statement(schema_target)
    broken_file.write_text(broken_file.read_text().replace(BROKEN, fixed))
    await schema_target.execute(fixed.strip().rstrip(";"))

    listener = Recorder()
    result = await update_schema(admin, read_schema_set(versioned), listener=listener)
    assert result.already_present == 1
    assert ("1.0", 2, "already-present") in listener.applied
    outcomes = {r.index: r.outcome for r in await admin.read_statement_records("1.0")}
    assert outcomes[2] == "already-present" and outcomes[3] == "executed"
    assert await schema_target.audit() == ALL_VERSIONS


async def test_an_applied_statement_that_changed_stops_the_resume(
    schema_target: SchemaTarget, tmp_path: Path
) -> None:
    versioned = schema_target.fixture_set(tmp_path)
    broken_file = _break_v10(versioned)
    admin = await schema_target.admin()
    await setup_schema(admin, version="0.0")
    with pytest.raises(SchemaToolError):
        await update_schema(admin, read_schema_set(versioned))
    text = broken_file.read_text().replace(BROKEN, _fixed_statement(schema_target))
    broken_file.write_text(text.replace("CREATE TABLE namespaces", "CREATE TABLE namespaces_v2"))
    before = await schema_target.snapshot()
    with pytest.raises(SchemaToolError, match=r"statement 1 .* was applied with different text"):
        await update_schema(admin, read_schema_set(versioned))
    assert await schema_target.snapshot() == before


async def test_a_disallowed_statement_fails_before_anything_runs(
    schema_target: SchemaTarget, tmp_path: Path
) -> None:
    versioned = schema_target.fixture_set(tmp_path)
    last = next(p for p in (versioned / "v1.1").iterdir() if p.name.startswith("cleanup"))
    last.write_text(last.read_text() + "\nUPDATE schema_audit SET note = 'x' WHERE id = 1;\n")
    admin = await schema_target.admin()
    await setup_schema(admin, version="0.0")
    before = await schema_target.snapshot()
    with pytest.raises(SchemaToolError, match=r"v1\.1/cleanup\.\w+ line \d+: statement 'UPDATE"):
        await update_schema(admin, read_schema_set(versioned))
    assert await schema_target.snapshot() == before


async def test_setup_from_a_schema_file_overwrite_and_unversioned(
    schema_target: SchemaTarget, tmp_path: Path
) -> None:
    kind = "int" if schema_target.backend == "cassandra" else "INTEGER"
    schema_file = tmp_path / "schema.cql"
    schema_file.write_text(
        f"-- full schema\nCREATE TABLE alpha (id {kind} PRIMARY KEY);\n"
        f"CREATE TABLE beta (id {kind} PRIMARY KEY, n {kind});\n"
    )
    admin = await schema_target.admin()
    result = await setup_schema(admin, version="1.0", schema_file=schema_file)
    assert result.final_version == "1.0" and result.executed == 2
    assert {"alpha", "beta"} <= await schema_target.tables()
    records = await admin.read_migrations()
    assert [(r.version, r.kind, r.state) for r in records] == [("1.0", "setup", "applied")]
    with pytest.raises(SchemaToolError, match=r"already has schema version 1\.0"):
        await setup_schema(admin, version="2.0")

    await setup_schema(admin, version="0.0", overwrite=True)
    tables = await schema_target.tables()
    assert not {"alpha", "beta"} & tables
    assert (await admin.read_version()).curr_version == "0.0"  # type: ignore[union-attr]
    assert [(h.old_version, h.new_version) for h in await schema_history(admin)] == [("0", "0.0")]

    unversioned = tmp_path / "extra.cql"
    unversioned.write_text(f"CREATE TABLE gamma (id {kind} PRIMARY KEY);\n")
    ran = await setup_schema(admin, version=None, schema_file=unversioned, disable_versioning=True)
    assert ran.executed == 1 and "gamma" in await schema_target.tables()
    assert (await admin.read_version()).curr_version == "0.0"  # type: ignore[union-attr]


@pytest.mark.cassandra
async def test_server_warnings_are_surfaced(
    cassandra_schema_target: SchemaTarget, tmp_path: Path
) -> None:
    """Astra DB accepts options it ignores with a client warning; the run must show it. A
    plain node warns about a replication factor above its node count the same way."""
    other = f"{cassandra_schema_target.scope}_rf3"
    version = tmp_path / "versioned" / "v0.1"
    version.mkdir(parents=True)
    (version / "manifest.json").write_text(
        '{"CurrVersion": "0.1", "MinCompatibleVersion": "0.1", "Description": "warns",'
        ' "SchemaUpdateCqlFiles": ["warn.cql"]}'
    )
    (version / "warn.cql").write_text(
        f"CREATE KEYSPACE {other} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 3};\n"
        f"DROP KEYSPACE {other};\n"
    )
    notes: list[str] = []

    class Notes(MigrationListener):
        def note(self, message: str) -> None:
            notes.append(message)

    admin = await cassandra_schema_target.admin()
    await setup_schema(admin, version="0.0")
    await update_schema(admin, read_schema_set(tmp_path / "versioned"), listener=Notes())
    assert any(
        "server warning for v0.1 statement 1 (v0.1/warn.cql line 1)" in note
        and "replication factor 3" in note
        for note in notes
    ), notes


async def test_a_backend_checks_the_version_on_its_own_connection(
    schema_target: SchemaTarget,
) -> None:
    """What ``open_persistence`` does: check the stored version over the backend's own
    session or connection, which the check must leave open."""
    admin = await schema_target.admin()
    await setup_schema(admin, version="0.0")
    await update_schema(admin, read_schema_set(schema_target.fixture_set()), target="1.0")
    if schema_target.backend == "cassandra":
        from persistence_cassandra.schema.admin_cassandra import CassandraSchemaAdmin

        borrowed: object = CassandraSchemaAdmin(schema_target.raw, schema_target.scope)
    elif schema_target.backend == "sqlite":
        from persistence_cassandra.schema.admin_sqlite import SqliteSchemaAdmin

        borrowed = SqliteSchemaAdmin(schema_target.raw, path=schema_target.scope)
    else:
        from persistence_cassandra.schema.admin_postgres import PostgresSchemaAdmin

        borrowed = PostgresSchemaAdmin(
            schema_target.raw, db_name=schema_target.scope, where=schema_target.scope
        )
    stored = await check_schema_version(borrowed, "1.0")  # type: ignore[arg-type]
    assert stored.curr_version == "1.0"
    with pytest.raises(SchemaVersionMismatch) as raised:
        await check_schema_version(borrowed, "1.1")  # type: ignore[arg-type]
    message = str(raised.value)
    assert "schema version 1.0, older than the 1.1 this code needs" in message
    name = {"cassandra": "cassandra", "sqlite": "sqlite", "postgres": "postgresql"}
    assert f"update-schema --schema-name {name[schema_target.backend]}/persistence" in message
    await borrowed.close()  # type: ignore[attr-defined]
    assert await schema_target.audit() == ["0.1", "0.2", "1.0"], "the borrowed link still works"


TEMPORAL_VERSION_TABLES = {
    # As temporal-cassandra-tool / temporal-sql-tool create them.
    "cassandra": [
        "CREATE TABLE schema_version(keyspace_name text PRIMARY KEY, creation_time timestamp, "
        "curr_version text, min_compatible_version text)",
        "CREATE TABLE schema_update_history(year int, month int, update_time timestamp, "
        "description text, manifest_md5 text, new_version text, old_version text, "
        "PRIMARY KEY ((year, month), update_time))",
    ],
    "sql": [
        "CREATE TABLE schema_version(version_partition INT not null, db_name VARCHAR(255) not "
        "null, creation_time TIMESTAMP, curr_version VARCHAR(64), min_compatible_version "
        "VARCHAR(64), PRIMARY KEY (version_partition, db_name))",
        "CREATE TABLE schema_update_history(version_partition INT not null, year int not null, "
        "month int not null, update_time TIMESTAMP not null, description VARCHAR(255), "
        "manifest_md5 VARCHAR(64), new_version VARCHAR(64), old_version VARCHAR(64), "
        "PRIMARY KEY (version_partition, year, month, update_time))",
    ],
}


async def test_a_keyspace_set_up_by_temporals_tool_is_taken_over(
    schema_target: SchemaTarget,
) -> None:
    """Temporal's tool applied v0.1 and v0.2 (its tables only, no records of ours); this tool
    takes over from the stored version and reports what it cannot verify."""
    from persistence_cassandra.schema.plan import load_version_step

    schema_set = read_schema_set(schema_target.fixture_set())
    kind = "cassandra" if schema_target.backend == "cassandra" else "sql"
    for statement in TEMPORAL_VERSION_TABLES[kind]:
        await schema_target.execute(statement)
    for entry in schema_set.versions[:2]:
        for planned in load_version_step(entry).statements:
            await schema_target.execute(planned.statement.text)
    if kind == "cassandra":
        await schema_target.execute(
            "INSERT INTO schema_version (keyspace_name, creation_time, curr_version, "
            f"min_compatible_version) VALUES ('{schema_target.scope}', toTimestamp(now()), "
            "'0.2', '0.1')"
        )
    else:
        db_name = "main" if schema_target.backend == "sqlite" else schema_target.scope
        await schema_target.execute(
            "INSERT INTO schema_version (version_partition, db_name, creation_time, "
            f"curr_version, min_compatible_version) VALUES (0, '{db_name}', "
            "CURRENT_TIMESTAMP, '0.2', '0.1')"
        )
    admin = await schema_target.admin()
    result = await update_schema(admin, schema_set)
    assert (result.start_version, list(result.applied_versions)) == ("0.2", ["1.0", "1.1"])
    assert await schema_target.audit() == ALL_VERSIONS
    report = await verify_schema(admin, schema_set)
    assert report.ok and report.unrecorded == ("0.1", "0.2") and report.checked == ("1.0", "1.1")
