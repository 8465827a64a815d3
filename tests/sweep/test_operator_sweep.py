"""Issue 14, item 11: every command, fed malformed configs, option values and schema
directories, exits non-zero with one ``error:`` line naming the bad input, no traceback, in
bounded time, and changes no store.

The cases are tables (a config, the commands it must fail, a fragment the line must hold),
crossed with the commands; the integer options are also swept by hypothesis. A real SQLite
store with data sits next to every case, and its bytes and the files around it are compared
before and after each run.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persistence_cassandra.cli.main import cli

TIME_LIMIT = 5.0
"""Seconds a mistake may take to be reported (none needs a server)."""

STORE_COMMANDS: dict[str, list[str]] = {
    "doctor": ["doctor"],
    "demo": ["demo"],
    "workload": ["workload", "--workflows", "1"],
    "bench": ["bench", "--quick", "--no-history", "--concurrency", "1", "--ops", "1"],
    "copy": ["copy", "--from", "s", "--to", "t", "--dry-run"],
    "schema status": ["schema", "status"],
    "visibility list": ["visibility", "list", "-n", "ns", "-q", "WorkflowType = 'a'"],
    "visibility count": ["visibility", "count", "-n", "ns", "--by-status"],
}
"""Commands that open a store (the config's mistakes must stop them before they do)."""
CONFIG_COMMANDS: dict[str, list[str]] = {
    "config show": ["config", "show"],
    "config validate": ["config", "validate"],
}
EVERY_COMMAND = {**CONFIG_COMMANDS, **STORE_COMMANDS}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A directory holding a real SQLite store with data (what must never change)."""
    root = tmp_path_factory.mktemp("sweep")
    good = root / "good.yaml"
    good.write_text(_config(f"sql: {{pluginName: sqlite, databaseName: '{root / 'live.db'}'}}"))
    result = CliRunner().invoke(cli, ["--config", str(good), "demo"])
    assert result.exit_code == 0, result.output
    return root


def _config(store: str, *, extra: str = "", default: str = "s") -> str:
    return (
        f"persistence:\n  defaultStore: {default}\n{extra}  datastores:\n"
        f"    s:\n      {store}\n"
        "    t:\n      sql: {pluginName: sqlite, databaseName: ':memory:'}\n"
    )


def _state(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a digest of its bytes (the store's WAL included)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.startswith("case-")
    }


def run(workspace: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> tuple[Result, str]:
    """Run the CLI and check what every mistake must give; returns the error line."""
    monkeypatch.delenv("PC_CONFIG", raising=False)
    monkeypatch.delenv("PC_SWEEP_UNSET", raising=False)
    monkeypatch.setenv("PC_DATA_DIR", str(workspace / "data"))
    before = _state(workspace)
    started = time.monotonic()
    result = CliRunner().invoke(cli, args)
    elapsed = time.monotonic() - started
    assert result.exit_code not in (0, None), result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert elapsed < TIME_LIMIT, (elapsed, args)
    assert _state(workspace) == before, args
    return result, errors[0]


# ------------------------------------------------------------------ malformed configs


@dataclass(frozen=True)
class BadConfig:
    name: str
    text: str
    needle: str
    commands: tuple[str, ...] = tuple(EVERY_COMMAND)
    """The commands it must stop (a store-level mistake does not stop ``config show``)."""


BAD_CONFIGS = [
    BadConfig("not yaml", "persistence: [unclosed\n", "is not valid YAML"),
    BadConfig("not a mapping", "- just\n- a list\n", "expected a mapping"),
    BadConfig("no datastores", "persistence:\n  defaultStore: s\n", "datastores"),
    BadConfig(
        "unknown key",
        _config("sql: {pluginName: sqlite, databaseName: ':memory:', colour: blue}"),
        "persistence.datastores.s.sql.colour: is not a known key",
    ),
    BadConfig(
        "unknown plugin",
        _config("sql: {pluginName: oracle, databaseName: x}"),
        "persistence.datastores.s.sql.pluginName",
    ),
    BadConfig(
        "shards out of range",
        _config(
            "sql: {pluginName: sqlite, databaseName: ':memory:'}", extra="  numHistoryShards: 0\n"
        ),
        "numHistoryShards",
    ),
    BadConfig(
        "huge shard count",
        _config(
            "sql: {pluginName: sqlite, databaseName: ':memory:'}",
            extra="  numHistoryShards: 99999999999999999999\n",
        ),
        "numHistoryShards",
    ),
    BadConfig(
        "default store missing",
        _config("sql: {pluginName: sqlite, databaseName: ':memory:'}", default="nope"),
        "defaultStore 'nope' is not a datastore",
    ),
    BadConfig(
        "two backends in one store",
        _config("{cassandra: {hosts: h}, sql: {pluginName: sqlite, databaseName: x}}"),
        "exactly one of",
    ),
    BadConfig("empty host list", _config("cassandra: {hosts: ' , '}"), "hosts is empty"),
    BadConfig("port out of range", _config("cassandra: {hosts: h, port: 70000}"), "port"),
    BadConfig("bad keyspace name", _config("cassandra: {hosts: h, keyspace: 1-bad}"), "keyspace"),
    BadConfig(
        "weak consistency",
        _config("cassandra: {hosts: h, consistency: {default: {consistency: ONE}}}"),
        "consistency",
    ),
    BadConfig(
        "unset secret of the store in use",
        _config(
            "sql: {pluginName: postgres, databaseName: d, connectAddr: 'h:5432', "
            "password: '${PC_SWEEP_UNSET}'}"
        ),
        "PC_SWEEP_UNSET is not set",
        tuple(STORE_COMMANDS),
    ),
    BadConfig(
        "sqlite path is a directory",
        _config("sql: {pluginName: sqlite, databaseName: '{root}'}"),
        "is a directory",
        tuple(name for name in STORE_COMMANDS if name != "schema status"),
    ),
    BadConfig(
        "sqlite file is not a database",
        _config("sql: {pluginName: sqlite, databaseName: '{root}/good.yaml'}"),
        "is not an SQLite database",
        tuple(name for name in STORE_COMMANDS if name != "schema status"),
    ),
]


CONFIG_CASES = [
    pytest.param(case, command, id=f"{case.name}-{command}")
    for case in BAD_CONFIGS
    for command in case.commands
]


@pytest.mark.parametrize(("case", "command"), CONFIG_CASES)
def test_malformed_config(workspace, monkeypatch, case, command):
    path = workspace / f"case-{abs(hash((case.name, command)))}.yaml"
    path.write_text(case.text.replace("{root}", str(workspace)))
    try:
        _, line = run(workspace, monkeypatch, ["--config", str(path), *EVERY_COMMAND[command]])
    finally:
        path.unlink()
    assert case.needle in line, line


def test_missing_config_file(workspace, monkeypatch):
    missing = workspace / "no-such.yaml"
    for command in EVERY_COMMAND.values():
        _, line = run(workspace, monkeypatch, ["--config", str(missing), *command])
        assert str(missing) in line, line


# ------------------------------------------------------------------ malformed option values

BAD_OPTIONS = [
    (["workload", "--workflows", "many"], "--workflows"),
    (["workload", "--shards", "0"], "--shards"),
    (["workload", "--transitions", "-3"], "--transitions"),
    (["workload", "--concurrency", "1e9"], "--concurrency"),
    (["workload", "--duration", "0"], "--duration"),
    (["workload", "--seed", "abc"], "--seed"),
    (["workload", "--processes", "0"], "--processes"),
    (["workload", "--member"], "--group"),
    (["bench", "--concurrency", "a,b"], "--concurrency"),
    (["bench", "--concurrency", ""], "--concurrency"),
    (["bench", "--concurrency", ",".join(["1"] * 17)], "--concurrency"),
    (["bench", "--ops", "0"], "--ops"),
    (["bench", "--only", "no.such_operation"], "--only"),
    (["bench", "--slices", "1000"], "--slices"),
    (["copy", "--from", "s"], "--to"),
    (["copy", "--from", "s", "--to", "s"], "'s'"),
    (["copy", "--from", "s", "--to", "nope"], "nope"),
    (["copy", "--from", "s", "--to", "t", "--page-size", "0"], "--page-size"),
    (["copy", "--from", "s", "--to", "t", "--concurrency", "99999"], "--concurrency"),
    (["doctor", "--bogus"], "--bogus"),
    (["config", "validate", "extra"], "extra"),
    (["--store", "nope", "doctor"], "nope"),
    (["--store", "nope", "config", "show"], "nope"),
    (["schema", "update-schema", "-s", "sqlite/persistence", "--version", "garbage"], "garbage"),
    (["schema", "status", "--schema-name", "nope/none"], "nope/none"),
    (["schema", "--timeout", "0", "status"], "--timeout"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_malformed_option(workspace, monkeypatch, args, needle):
    good = workspace / "good.yaml"
    _, line = run(workspace, monkeypatch, ["--config", str(good), *args])
    assert needle in line, line


COUNT_OPTIONS = [
    ("workload", "--workflows", 1, 100_000),
    ("workload", "--shards", 1, 1_024),
    ("workload", "--transitions", 1, 1_000),
    ("workload", "--concurrency", 1, 1_024),
    ("bench", "--ops", 1, 1_000_000),
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    option=st.sampled_from(COUNT_OPTIONS),
    value=st.one_of(st.integers(max_value=0), st.integers(min_value=1_000_001)),
)
def test_any_count_outside_its_range_names_the_option_and_range(
    workspace, monkeypatch, option, value
):
    command, name, low, high = option
    if low <= value <= high:
        return
    _, line = run(
        workspace,
        monkeypatch,
        ["--config", str(workspace / "good.yaml"), command, name, str(value)],
    )
    assert name in line
    assert str(high) in line.replace(",", "")


# ------------------------------------------------------------------ malformed schema directories


def _schema_dir(root: Path, kind: str) -> Path:
    directory = root / f"case-schema-{kind}"
    if kind == "missing":
        return directory
    if kind == "a file":
        directory.write_text("not a directory")
        return directory
    directory.mkdir(exist_ok=True)
    if kind == "bad version name":
        (directory / "versioned" / "v1.x").mkdir(parents=True, exist_ok=True)
    elif kind == "no versioned dir":
        (directory / "schema.cql").write_text("CREATE TABLE t (id int PRIMARY KEY);\n")
    elif kind == "broken manifest":
        version = directory / "versioned" / "v0.1"
        version.mkdir(parents=True, exist_ok=True)
        (version / "manifest.json").write_text("{ not json")
    return directory


SCHEMA_DIRS = {
    # kind -> what the line must name: the directory, or the file inside it that is wrong
    "missing": "case-schema-missing",
    "a file": "case-schema-a file",
    "bad version name": "case-schema-bad version name",
    "no versioned dir": "case-schema-no versioned dir",
    "broken manifest": "v0.1/manifest.json",
}


@pytest.mark.parametrize("kind", list(SCHEMA_DIRS))
@pytest.mark.parametrize("command", ["lint", "status", "verify"])
def test_malformed_schema_dir(workspace, monkeypatch, kind, command):
    directory = _schema_dir(workspace, kind)
    good = workspace / "good.yaml"
    try:
        _, line = run(
            workspace,
            monkeypatch,
            ["--config", str(good), "schema", command, "--schema-dir", str(directory)],
        )
    finally:
        if directory.is_file():
            directory.unlink()
    assert SCHEMA_DIRS[kind] in line, line
