"""Issue 14: an operator's mistakes each give one clear line, fast, and change nothing."""

from __future__ import annotations

import threading
import time

import pytest
from click.testing import CliRunner

from persistence_cassandra.cli.main import cli
from persistence_cassandra.config import MAX_HISTORY_SHARDS

SQLITE_STORE = (
    "persistence:\n  defaultStore: s\n  datastores:\n    s:\n      sql:\n        "
    "pluginName: sqlite\n        databaseName: {path}\n"
)


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.delenv("PC_CONFIG", raising=False)
    monkeypatch.setenv("PC_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


def error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert lines, result.output
    assert lines[-1].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[-1]


def sqlite_config(tmp_path, database) -> str:
    path = tmp_path / "store.yaml"
    path.write_text(SQLITE_STORE.format(path=database))
    return str(path)


# ------------------------------------------------------------------ item 1: no hang


@pytest.mark.parametrize("kind", ["random bytes", "directory"])
@pytest.mark.parametrize(
    "command",
    [["doctor"], ["workload", "--workflows", "1"], ["demo"]],
    ids=["doctor", "workload", "demo"],
)
def test_a_store_that_is_not_an_sqlite_database_fails_at_once(runner, tmp_path, kind, command):
    database = tmp_path / "not-a.db"
    if kind == "directory":
        database.mkdir()
    else:
        database.write_bytes(bytes(range(256)) * 16)
    before = set(threading.enumerate())
    started = time.monotonic()
    result = runner.invoke(cli, ["--config", sqlite_config(tmp_path, database), *command])
    assert time.monotonic() - started < 1.0
    assert result.exit_code != 0
    line = error_line(result)
    assert str(database) in line
    assert ("directory" if kind == "directory" else "not an SQLite database") in line
    # No reader or writer thread is left behind to block the interpreter's shutdown.
    time.sleep(0.05)
    left = [t for t in set(threading.enumerate()) - before if t.name.startswith("pc-sqlite")]
    assert left == []


def test_copy_from_a_file_that_is_not_a_database(runner, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00\xff" * 4000)
    config = tmp_path / "two.yaml"
    config.write_text(
        "persistence:\n  defaultStore: a\n  datastores:\n"
        f"    a:\n      sql: {{pluginName: sqlite, databaseName: {junk}}}\n"
        f"    b:\n      sql: {{pluginName: sqlite, databaseName: {tmp_path / 'b.db'}}}\n"
    )
    started = time.monotonic()
    result = runner.invoke(cli, ["--config", str(config), "copy", "--from", "a", "--to", "b"])
    assert time.monotonic() - started < 1.0
    assert result.exit_code != 0
    assert str(junk) in error_line(result)


# ------------------------------------------------------------------ item 2: bounds


@pytest.mark.parametrize(
    ("args", "option", "limit"),
    [
        (["workload", "--shards", "99999999999999999999"], "--shards", "1024"),
        (["workload", "--workflows", "100000000"], "--workflows", "100000"),
        (["workload", "--transitions", "1000000"], "--transitions", "1000"),
        (["workload", "--concurrency", "0"], "--concurrency", "1024"),
        (["workload", "--processes", "5000"], "--processes", "64"),
        (["bench", "--concurrency", "1,100000"], "--concurrency", "4,096"),
        (["bench", "--ops", "99999999999"], "--ops", "1000000"),
    ],
)
def test_counts_out_of_range_name_the_option_and_the_range(runner, args, option, limit):
    started = time.monotonic()
    result = runner.invoke(cli, args)
    assert time.monotonic() - started < 1.0
    assert result.exit_code == 2
    line = error_line(result)
    assert option in line
    assert limit in line


def test_num_history_shards_has_a_range(runner, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        "persistence:\n  defaultStore: s\n  numHistoryShards: 99999999999999999999\n"
        "  datastores:\n    s:\n      sql: {pluginName: sqlite, databaseName: ':memory:'}\n"
    )
    result = runner.invoke(cli, ["--config", str(config), "config", "validate"])
    assert result.exit_code == 2
    line = error_line(result)
    assert "numHistoryShards" in line
    assert str(MAX_HISTORY_SHARDS) in line


def test_workload_refuses_a_shard_count_from_the_config_it_cannot_own(runner, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        "persistence:\n  defaultStore: s\n  numHistoryShards: 16384\n"
        f"  datastores:\n    s:\n      sql: {{pluginName: sqlite, databaseName: {tmp_path}/x.db}}\n"
    )
    result = runner.invoke(cli, ["--config", str(config), "workload", "--workflows", "1"])
    assert result.exit_code == 2
    line = error_line(result)
    assert "--shards" in line
    assert "numHistoryShards" in line
    assert not (tmp_path / "x.db").exists()


# ------------------------------------------------------------------ item 4: unset ${VAR}

TWO_STORES = """persistence:
  defaultStore: s
  datastores:
    s:
      sql: {{pluginName: sqlite, databaseName: ':memory:'}}
    p:
      sql:
        pluginName: postgres
        databaseName: app
        connectAddr: 127.0.0.1:5432
        user: app
        password: ${{PC_TEST_UNSET_SECRET}}
"""


@pytest.fixture
def two_stores(tmp_path, monkeypatch):
    monkeypatch.delenv("PC_TEST_UNSET_SECRET", raising=False)
    path = tmp_path / "two.yaml"
    path.write_text(TWO_STORES.format())
    return str(path)


def test_an_unset_variable_of_an_unused_datastore_does_not_stop_the_command(runner, two_stores):
    result = runner.invoke(cli, ["--config", two_stores, "doctor"])
    assert result.exit_code == 0, result.output
    validated = runner.invoke(cli, ["--config", two_stores, "config", "validate"])
    assert validated.exit_code == 0, validated.output
    assert "'p' needs PC_TEST_UNSET_SECRET set" in validated.stdout


def test_config_show_shows_an_unset_variable_as_unset(runner, two_stores):
    result = runner.invoke(cli, ["--config", two_stores, "config", "show"])
    assert result.exit_code == 0, result.output
    assert "password: ${PC_TEST_UNSET_SECRET} (not set)" in result.stdout


def test_using_the_datastore_names_the_unset_variable(runner, two_stores):
    result = runner.invoke(cli, ["--config", two_stores, "--store", "p", "doctor"])
    assert result.exit_code != 0
    line = error_line(result)
    assert "persistence.datastores.p.sql.password" in line
    assert "PC_TEST_UNSET_SECRET is not set" in line


# ------------------------------------------------------------------ item 9: every problem


SEVERAL_PROBLEMS = [
    pytest.param(
        "  numHistoryShards: 0\n  datastores:\n"
        "    s:\n      sql: {pluginName: sqlite, databaseName: x.db, bogus: 1}\n"
        "    c:\n      cassandra: {hosts: h, port: 0}\n",
        ["numHistoryShards", "datastores.s.sql.bogus", "datastores.c.cassandra.port"],
        id="validation",
    ),
    pytest.param(
        "  datastores:\n    s: {backend: nosuch-one}\n    b: {backend: nosuch-two}\n",
        ["datastores.s.backend: unknown backend 'nosuch-one'", "datastores.b.backend"],
        id="unknown-backends",
    ),
]


@pytest.mark.parametrize(("body", "keys"), SEVERAL_PROBLEMS)
def test_a_config_with_several_problems_lists_every_one(runner, tmp_path, body, keys):
    config = tmp_path / "bad.yaml"
    config.write_text(f"persistence:\n  defaultStore: s\n{body}")
    result = runner.invoke(cli, ["--config", str(config), "config", "validate"])
    assert result.exit_code == 2
    line = error_line(result)
    for key in keys:
        assert key in line
    assert "more problem" not in line


# ------------------------------------------------------------------ item 10: doctor changes nothing


def test_doctor_on_a_missing_sqlite_file_creates_nothing(runner, tmp_path):
    database = tmp_path / "not" / "yet" / "there.db"
    result = runner.invoke(cli, ["--config", sqlite_config(tmp_path, database), "doctor"])
    assert result.exit_code == 1
    assert not (tmp_path / "not").exists()
    line = error_line(result)
    assert str(database) in line
    assert "does not exist" in line
    assert "setup-schema" in line
