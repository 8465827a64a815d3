"""The CLI's single failure path: one `error:` line, exit 2 for usage, 1 for runtime."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from persistence_cassandra import factory
from persistence_cassandra.cli.failures import describe_failure
from persistence_cassandra.cli.main import cli
from persistence_cassandra.errors import (
    ConfigError,
    SchemaToolError,
    SchemaVersionMismatch,
    ShardOwnershipLost,
    Timeout,
    Unavailable,
)


class FailingBackend:
    """A backend whose open fails the way a real one does when the store is not usable."""

    name = "failing"

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def open(self, config, options):
        raise self.error


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.delenv("PC_CONFIG", raising=False)
    monkeypatch.setenv("PC_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


@pytest.fixture
def failing_config(tmp_path, monkeypatch):
    def install(error: Exception) -> str:
        monkeypatch.setitem(factory._registered, "failing", lambda: FailingBackend(error))
        path = tmp_path / "failing.yaml"
        path.write_text(
            "persistence:\n  defaultStore: f\n  datastores:\n    f:\n      backend: failing\n"
        )
        return str(path)

    return install


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


def test_help_lists_the_commands(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("config", "doctor", "demo", "schema", "--config", "--store", "--verbose"):
        assert name in result.output
    assert "PC_CONFIG" in result.output


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert "persistence-cassandra" in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--bogus"], "No such option"),
        (["frobnicate"], "No such command"),
        (["config", "explode"], "No such command"),
        (["doctor", "--nope"], "No such option"),
        (["--store"], "requires an argument"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(runner, args, needle):
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    line = one_line(result)
    assert needle in line
    assert "--help" in line


def test_config_path_that_is_a_directory(runner, tmp_path):
    result = runner.invoke(cli, ["--config", str(tmp_path), "doctor"])
    assert result.exit_code == 2
    assert "--config" in one_line(result)


def test_no_command_shows_help(runner):
    result = runner.invoke(cli, [])
    assert "Commands:" in result.output


@pytest.mark.parametrize(
    ("error", "needle"),
    [
        (Unavailable("no host reachable at 10.9.9.9:9042"), "store unavailable: no host"),
        (
            SchemaVersionMismatch(
                "schema 0.9 is older than 1.0: run 'persistence-cassandra schema update-schema'",
                actual="0.9",
                expected="1.0",
            ),
            "schema update-schema",
        ),
        (Timeout("connect timed out", may_have_committed=False), "store timed out"),
    ],
)
def test_store_failures_are_one_line_with_exit_1(runner, failing_config, error, needle):
    result = runner.invoke(cli, ["--config", failing_config(error), "demo"])
    assert result.exit_code == 1
    assert needle in one_line(result)


def test_doctor_reports_a_failed_connection_and_exits_1(runner, failing_config):
    path = failing_config(Unavailable("no host reachable"))
    result = runner.invoke(cli, ["--config", path, "doctor"])
    assert result.exit_code == 1
    assert "connect" in result.stdout
    assert "SKIP" in result.stdout
    assert "no host reachable" in one_line(result)


def test_unexpected_errors_are_one_line_unless_verbose(runner, failing_config):
    path = failing_config(RuntimeError("a bug"))
    quiet = runner.invoke(cli, ["--config", path, "demo"])
    assert quiet.exit_code == 1
    assert "--verbose" in one_line(quiet)
    loud = runner.invoke(cli, ["--config", path, "--verbose", "demo"])
    assert loud.exit_code == 1
    assert "Traceback" in loud.stderr
    assert "RuntimeError: a bug" in loud.stderr


@pytest.mark.parametrize(
    ("error", "exit_code"),
    [
        (ConfigError("k: bad"), 2),
        (SchemaToolError("locked"), 1),
        (ShardOwnershipLost(3), 1),
        (PermissionError(13, "Permission denied", "/data"), 1),
    ],
)
def test_describe_failure(error, exit_code):
    message, code = describe_failure(error)
    assert code == exit_code
    assert message
    assert "\n" not in message
