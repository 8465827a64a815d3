"""Issue 14, item 6: the commands an error tells the user to run work as printed, with the
connection settings the user gave (a secret stays a ${VAR} reference)."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import uuid

import pytest
from click.testing import CliRunner

from persistence_cassandra.cli.failures import FailureReporting
from persistence_cassandra.cli.main import cli
from persistence_cassandra.errors import SchemaToolError
from persistence_cassandra.hints import SchemaCommand

SECRET = "pc-fix-command-secret"


def printed_commands(line: str) -> list[list[str]]:
    """The backticked ``persistence-cassandra ...`` commands of an error line, as argv."""
    return [
        shlex.split(found)[1:] for found in re.findall(r"`(persistence-cassandra [^`]+)`", line)
    ]


def error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), result.output
    return lines[-1]


def _error() -> SchemaToolError:
    return SchemaToolError(
        ["run `", SchemaCommand("sqlite", "/x y.db", "setup-schema -v 0.0"), "` first"]
    )


def test_an_error_names_its_command_with_the_target_by_default():
    assert str(_error()) == (
        "run `persistence-cassandra schema --plugin sqlite --db '/x y.db' setup-schema -v 0.0` "
        "first"
    )


def test_the_config_file_and_store_replace_the_partial_target():
    reporting = FailureReporting(config_path="/etc/pc/my config.yaml", store="main")  # type: ignore[arg-type]
    assert reporting.reword(_error().parts) == (
        "run `persistence-cassandra --config '/etc/pc/my config.yaml' --store main schema "
        "setup-schema -v 0.0` first"
    )


def test_typed_connection_flags_go_before_the_target():
    reporting = FailureReporting(connection_flags='--ep db1 --pw "${SQL_PASSWORD}"')
    assert reporting.reword(_error().parts) == (
        'run `persistence-cassandra schema --ep db1 --pw "${SQL_PASSWORD}" --plugin sqlite '
        "--db '/x y.db' setup-schema -v 0.0` first"
    )


@pytest.fixture
def postgres_database(monkeypatch):
    from persistence_cassandra.testing.targets import postgres_admin, postgres_connect_params

    params = postgres_connect_params()
    name = f"pc_fix_{uuid.uuid4().hex[:10]}"
    asyncio.run(postgres_admin(params, "CREATE DATABASE {}", name))
    monkeypatch.setenv("PC_FIX_PASSWORD", str(params.get("password") or ""))
    yield params, name
    asyncio.run(postgres_admin(params, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name))


@pytest.mark.postgres
def test_postgres_schema_commands_run_as_printed(tmp_path, postgres_database):
    params, name = postgres_database
    config = tmp_path / "pg.yaml"
    config.write_text(
        "persistence:\n  defaultStore: other\n  datastores:\n"
        "    other:\n      sql: {pluginName: sqlite, databaseName: ':memory:'}\n"
        "    pg:\n      sql:\n        pluginName: postgres\n"
        f"        databaseName: {name}\n"
        f"        connectAddr: '{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}'\n"
        f"        user: {params.get('user') or 'postgres'}\n"
        "        password: ${PC_FIX_PASSWORD}\n"
    )
    runner = CliRunner()
    line = error_line(runner.invoke(cli, ["--config", str(config), "--store", "pg", "doctor"]))
    commands = printed_commands(line)
    assert len(commands) == 2, line
    # The secret travels in the file as ${PC_FIX_PASSWORD}, never on the command line.
    assert not any(flag in argv for argv in commands for flag in ("--password", "--pw"))
    for argv in commands:
        assert argv[:4] == ["--config", str(config), "--store", "pg"]
        ran = runner.invoke(cli, argv)
        assert ran.exit_code == 0, ran.output + ran.stderr
    fixed = runner.invoke(cli, ["--config", str(config), "--store", "pg", "doctor"])
    assert fixed.exit_code == 0, fixed.output + fixed.stderr


@pytest.mark.cassandra
def test_cassandra_create_keyspace_runs_as_printed(tmp_path):
    from persistence_cassandra.testing.targets import cassandra_hosts, drop_keyspace

    hosts, port = cassandra_hosts()
    keyspace = f"pc_fix_{uuid.uuid4().hex[:10]}"
    config = tmp_path / "c.yaml"
    # localhost rather than the default 127.0.0.1: a command without the host would miss it
    # only if the node listened elsewhere, so the port is what proves the settings travel.
    config.write_text(
        "persistence:\n  defaultStore: c\n  datastores:\n    c:\n"
        f"      cassandra: {{hosts: '{','.join(hosts)}', port: {port}, keyspace: {keyspace}}}\n"
    )
    runner = CliRunner()
    try:
        line = error_line(runner.invoke(cli, ["--config", str(config), "doctor"]))
        commands = printed_commands(line)
        assert commands and commands[0][:2] == ["--config", str(config)], line
        ran = runner.invoke(cli, commands[0])
        assert ran.exit_code == 0, ran.output + ran.stderr
        assert f"created keyspace '{keyspace}'" in ran.stdout
    finally:
        drop_keyspace(hosts, port, keyspace)


@pytest.mark.cassandra
def test_schema_flags_typed_by_the_user_travel_into_the_fix_command(monkeypatch):
    from persistence_cassandra.testing.targets import cassandra_hosts, drop_keyspace

    hosts, port = cassandra_hosts()
    keyspace = f"pc_fix_{uuid.uuid4().hex[:10]}"
    flags = ["schema", "--ep", ",".join(hosts), "-p", str(port), "--pw", SECRET]
    runner = CliRunner()
    try:
        line = error_line(runner.invoke(cli, [*flags, "-k", keyspace, "status"]))
        assert SECRET not in line
        assert '--password "${CASSANDRA_PASSWORD}"' in line
        command = printed_commands(line)[0]
        assert command[:5] == ["schema", "--endpoint", ",".join(hosts), "--port", str(port)]
        # Run as a shell would run it: the reference expands to the secret in the environment.
        # (The shared node has no authentication; what this proves is that the flags work.)
        monkeypatch.setenv("CASSANDRA_PASSWORD", SECRET)
        ran = runner.invoke(cli, [os.path.expandvars(arg) for arg in command])
        assert ran.exit_code == 0, ran.output + ran.stderr
    finally:
        drop_keyspace(hosts, port, keyspace)
