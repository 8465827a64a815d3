"""``persistence-cassandra schema ...`` end to end, on every backend, through click."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from schema_tool_support import TEMPORAL_STYLE, SchemaTarget, cassandra_settings, run_cli

COMMANDS = [
    "create-keyspace",
    "drop-keyspace",
    "setup-schema",
    "update-schema",
    "validate-health",
    "status",
    "history",
    "verify",
    "lint",
]
run = run_cli


def one_error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[-1]


async def test_help_of_the_group_and_every_command() -> None:
    result = await run("--help")
    assert result.exit_code == 0
    for flag in (
        "--ep",
        "CASSANDRA_HOST",
        "-p, --port",
        "-k, --keyspace",
        "--dc",
        "--tls-ca-file",
        "--secure-connect-bundle",
        "ASTRA_TOKEN",
        "--plugin",
        "--db",
        "--config",
    ):
        assert flag in result.stdout, flag
    for command in COMMANDS:
        assert command in result.stdout
        help_text = await run(command, "--help")
        assert help_text.exit_code == 0, command
    setup = (await run("setup-schema", "--help")).stdout
    for flag in (
        "-v, --version",
        "--schema-file",
        "--disable-versioning",
        "--overwrite",
        "--dry-run",
    ):
        assert flag in setup
    update = (await run("update-schema", "--help")).stdout
    for flag in ("--schema-dir", "--schema-name", "--dry-run", "--lock-timeout"):
        assert flag in update
    assert "--rf" in (await run("create-keyspace", "--help")).stdout
    assert "--force" in (await run("drop-keyspace", "--help")).stdout


async def test_full_flow(schema_target: SchemaTarget) -> None:
    target = schema_target.cli_args
    versions = str(schema_target.fixture_set())
    assert (await run(*target, "validate-health")).stdout.startswith("ok: ")
    setup = await run(*target, "setup-schema", "-v", "0.0")
    assert setup.exit_code == 0, setup.output
    assert "schema version 0.0" in setup.stdout

    before = await schema_target.snapshot()
    dry = await run(*target, "update-schema", "-d", versions, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "version 0.0 -> 1.1; 4 version(s)" in dry.stdout and "nothing is executed" in dry.stdout
    assert dry.stdout.count("-- [") >= 14 and "INSERT INTO schema_audit" in dry.stdout
    assert await schema_target.snapshot() == before

    # Connection flags may also follow the command name.
    update = await run("update-schema", "-d", versions, *target)
    assert update.exit_code == 0, update.output
    assert "0.0 -> 1.1; applied 0.1, 0.2, 1.0, 1.1" in update.stdout
    again = await run(*target, "update", "-d", versions)
    assert "already at version 1.1" in again.stdout

    status = await run(*target, "status", "-d", versions)
    assert "current version:  1.1 (min compatible 1.0)" in status.stdout
    assert "pending:          none" in status.stdout and "drift:            none" in status.stdout
    history = await run(*target, "history")
    assert history.stdout.count("->") == 5 and "initial version" in history.stdout
    verify = await run(*target, "verify", "-d", versions)
    assert verify.exit_code == 0 and "0.1, 0.2, 1.0, 1.1: ok" in verify.stdout
    assert await schema_target.audit() == ["0.1", "0.2", "1.0", "1.1"]


async def test_verify_exits_1_on_drift(schema_target: SchemaTarget, tmp_path: Path) -> None:
    target = schema_target.cli_args
    versions = schema_target.fixture_set(tmp_path)
    await run(*target, "setup-schema", "-v", "0.0")
    assert (await run(*target, "update-schema", "-d", str(versions))).exit_code == 0
    edited = next(p for p in (versions / "v1.1").iterdir() if p.name.startswith("cleanup"))
    edited.write_text(edited.read_text().replace("'done'", "'finished'"))
    verify = await run(*target, "verify", "-d", str(versions))
    assert verify.exit_code == 1
    assert f"DRIFT v1.1/{edited.name}: changed (statements changed: #2" in verify.stdout
    assert one_error_line(verify) == (
        "error: 1 file(s) of applied versions changed since they were applied"
    )
    status = await run(*target, "status", "-d", str(versions))
    assert "1 file(s) differ" in status.stdout


async def test_failure_then_resume(schema_target: SchemaTarget, tmp_path: Path) -> None:
    target = schema_target.cli_args
    versions = schema_target.fixture_set(tmp_path)
    broken = next(p for p in (versions / "v0.2").iterdir() if p.suffix != ".json")
    original = broken.read_text()
    broken.write_text(original.replace("INSERT INTO schema_audit", "INSERT INTO no_such_table", 1))
    await run(*target, "setup-schema", "-v", "0.0")
    failed = await run(*target, "update-schema", "-d", str(versions))
    assert failed.exit_code == 1
    line = one_error_line(failed)
    assert "update of version 0.2 failed at statement" in line and "re-run to resume" in line
    status = await run(*target, "status", "-d", str(versions))
    assert "incomplete:       v0.2:" in status.stdout
    broken.write_text(original)
    resumed = await run(*target, "update-schema", "-d", str(versions))
    assert resumed.exit_code == 0 and "(resumed 0.2)" in resumed.stdout
    assert "resuming v0.2 at statement" in resumed.stderr
    assert await schema_target.audit() == ["0.1", "0.2", "1.0", "1.1"]


async def test_create_and_drop_keyspace(schema_target: SchemaTarget, tmp_path: Path) -> None:
    name = f"schema_cli_{uuid.uuid4().hex[:8]}"
    args = list(schema_target.cli_args)
    flag = "-k" if schema_target.backend == "cassandra" else "--db"
    if schema_target.backend == "sqlite":
        name = str(tmp_path / f"{name}.db")
    args[args.index(flag) + 1] = name
    created = await run(*args, "create-keyspace", "--rf", "1")
    assert created.exit_code == 0 and "created" in created.stdout, created.output
    assert "already exists" in (await run(*args, "create-keyspace")).stdout
    kept = await run(*args, "drop-keyspace", stdin="n\n")
    assert kept.exit_code == 0 and "not dropped" in kept.stdout
    dropped = await run(*args, "drop-keyspace", "--force")
    assert dropped.exit_code == 0 and f"dropped {name}" in dropped.stdout
    assert "does not exist" in (await run(*args, "drop", "-f")).stdout


@pytest.mark.cassandra
async def test_cassandra_flags_from_environment(cassandra_schema_target: SchemaTarget) -> None:
    target = cassandra_schema_target
    host, port = target.datastore.cassandra.hosts, str(target.datastore.cassandra.port)  # type: ignore[union-attr]
    env = {"CASSANDRA_HOST": host, "CASSANDRA_PORT": port, "CASSANDRA_KEYSPACE": target.scope}
    setup = await run("setup-schema", "-v", "0.0", env=env)
    assert setup.exit_code == 0, setup.output
    status = await run("status", env=env)
    assert (
        f"keyspace '{target.scope}'" in status.stdout and "current version:  0.0" in status.stdout
    )
    # A flag typed on the command line beats the environment.
    other = await run("-k", "no_such_keyspace_here", "status", env=env)
    assert "keyspace 'no_such_keyspace_here' does not exist" in one_error_line(other)


async def test_config_file_and_store(tmp_path: Path) -> None:
    database = tmp_path / "from-config.db"
    config = tmp_path / "persistence.yaml"
    config.write_text(
        "persistence:\n"
        "  defaultStore: main\n"
        "  datastores:\n"
        "    main:\n"
        "      cassandra: {hosts: 127.0.0.1, keyspace: unused}\n"
        "    embedded:\n"
        f"      sql: {{pluginName: sqlite, databaseName: '{database}'}}\n"
    )
    setup = await run("--config", str(config), "--store", "embedded", "setup-schema", "-v", "0.0")
    assert setup.exit_code == 0, setup.output
    assert f"SQLite database {database}: schema version 0.0" in setup.stdout
    unknown = await run("--config", str(config), "--store", "nope", "status")
    assert "unknown datastore 'nope'" in one_error_line(unknown)


async def test_errors_are_one_line(tmp_path: Path) -> None:
    sqlite = ["--pl", "sqlite", "--db", str(tmp_path / "missing.db")]
    cases = {
        ("update-schema", *sqlite): "give exactly one of --schema-dir (-d) and --schema-name",
        ("update-schema", "-s", "nosuch/thing", *sqlite): "no bundled schema named 'nosuch/thing'",
        ("status", *sqlite): "does not exist (setup-schema or create-keyspace creates it)",
        (
            "setup-schema",
            "--pl",
            "sqlite",
            "--db",
            str(tmp_path / "new.db"),
        ): "--version is required",
        ("--pl", "postgres", "status"): "--db is required with --plugin postgres",
        ("--secure-connect-bundle", "b.zip", "--astra-token", "AstraCS:x", "create-keyspace"): (
            "Astra DB does not allow keyspace DDL: create or drop the keyspace in the Astra portal"
        ),
        ("--secure-connect-bundle", "b.zip", "--astra-token", "t", "drop-keyspace", "-f"): (
            "Astra DB does not allow keyspace DDL"
        ),
        (
            "--secure-connect-bundle",
            "b.zip",
            "status",
        ): "--astra-token (or ASTRA_TOKEN) is required",
        (
            "-p",
            "1",
            "-t",
            "1",
            "validate-health",
        ): "cannot connect to Cassandra: 127.0.0.1:1: connection refused",
    }
    for args, expected in cases.items():
        result = await run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert expected in one_error_line(result), (args, result.stderr)
    quiet = await run("-q", "status", *sqlite)
    assert quiet.exit_code == 0 and "does not exist" in one_error_line(quiet)


async def test_lint(tmp_path: Path) -> None:
    clean = await run("lint", "-d", str(TEMPORAL_STYLE / "cassandra"))
    assert clean.exit_code == 0 and "0 error(s), 0 warning(s)" in clean.stdout
    bad = tmp_path / "astra.cql"
    bad.write_text(
        "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', "
        "'replication_factor': 1};\n"
        "CREATE TABLE t (p int, c int, d int, v text, PRIMARY KEY (p, c, d))\n"
        "  WITH CLUSTERING ORDER BY (c DESC) AND gc_grace_seconds = 10;\n"
        "CREATE INDEX t_v ON t (v);\n"
        "CREATE MATERIALIZED VIEW mv AS SELECT * FROM t WHERE v IS NOT NULL PRIMARY KEY (v, p);\n"
        "TRUNCATE t;\n"
    )
    result = await run("lint", str(bad))
    assert result.exit_code == 1
    for rule in (
        "keyspace-ddl",
        "partial-clustering-order",
        "ignored-table-option",
        "non-sai-index",
        "materialized-view",
        "disallowed-verb",
    ):
        assert f"[{rule}]" in result.stdout, rule
    assert "5 error(s), 1 warning(s)" in result.stdout
    warnings_only = tmp_path / "warn.cql"
    warnings_only.write_text("CREATE TABLE w (id int PRIMARY KEY) WITH caching = {'keys': 'ALL'};")
    assert (await run("lint", str(warnings_only))).exit_code == 0
    assert (await run("lint", "--strict", str(warnings_only))).exit_code == 1


async def test_the_root_command_registers_the_group() -> None:
    from persistence_cassandra.cli.main import cli

    result = await asyncio.to_thread(CliRunner().invoke, cli, ["schema", "--help"])
    assert result.exit_code == 0 and "update-schema" in result.stdout


def test_the_engine_imports_no_cli_library() -> None:
    code = (
        "import sys, persistence_cassandra.schema as s, persistence_cassandra.schema.runner, "
        "persistence_cassandra.schema.admin_sqlite; "
        "bad = [m for m in ('click', 'rich') if m in sys.modules]; "
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_console_script_runs_the_group(tmp_path: Path) -> None:
    script = shutil.which("persistence-cassandra", path=str(Path(sys.executable).parent))
    assert script is not None
    database = tmp_path / "script.db"
    done = subprocess.run(
        [script, "schema", "--pl", "sqlite", "--db", str(database), "setup-schema", "-v", "0.0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    missing = subprocess.run(
        [script, "schema", "--pl", "sqlite", "--db", str(tmp_path / "nope.db"), "status"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and missing.stderr.startswith("error: ")


@pytest.mark.cassandra
async def test_cassandra_connection_flags() -> None:
    host, port = cassandra_settings()
    node = ["--ep", host, "-p", str(port), "-t", "5"]
    only_given = await run(*node, "--disable-initial-host-lookup", "validate-health")
    assert only_given.exit_code == 0 and "Cassandra 5." in only_given.stdout
    wrong_dc = await run(*node, "--dc", "nosuchdc", "validate-health")
    wrong_dc_line = one_error_line(wrong_dc)
    assert "no host in data center 'nosuchdc'" in wrong_dc_line
    assert "the cluster's data centers: datacenter1" in wrong_dc_line
    no_tls = await run(*node, "--tls", "validate-health")
    assert "cannot connect to Cassandra" in one_error_line(no_tls)
    bad_ca = await run(*node, "--tls", "--tls-ca-file", "/nonexistent/ca.pem", "validate-health")
    assert "cassandra.tls: cannot load certificates" in one_error_line(bad_ca)
