"""Issue 14, item 8: copy refuses one database under two names, and a --state file that is not
a copy state, without advising to delete anything."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from persistence_cassandra.cli.main import cli


def two_stores(tmp_path, first: str, second: str) -> str:
    path = tmp_path / "two.yaml"
    path.write_text(
        f"persistence:\n  defaultStore: a\n  datastores:\n    a:\n{first}    b:\n{second}"
    )
    return str(path)


def sqlite(path) -> str:
    return f"      sql: {{pluginName: sqlite, databaseName: '{path}'}}\n"


def run_copy(config: str, *extra: str):
    result = CliRunner().invoke(
        cli, ["--config", config, "copy", "--from", "a", "--to", "b", "--force", *extra]
    )
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return result, lines[-1]


@pytest.fixture
def sqlite_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PC_DATA_DIR", str(tmp_path / "data"))
    database = tmp_path / "one.db"
    # A real store, so the refusal cannot come from a missing source.
    config = two_stores(tmp_path, sqlite(database), sqlite(tmp_path / "unused.db"))
    assert CliRunner().invoke(cli, ["--config", config, "demo"]).exit_code == 0
    return database


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_two_paths_to_one_sqlite_file_are_refused_even_with_force(tmp_path, sqlite_file, link):
    other = tmp_path / "elsewhere" / "same.db"
    other.parent.mkdir()
    if link == "symlink":
        other.symlink_to(sqlite_file)
    else:
        os.link(sqlite_file, other)
    before = sqlite_file.read_bytes()
    result, line = run_copy(two_stores(tmp_path, sqlite(sqlite_file), sqlite(other)))
    assert result.exit_code == 2
    assert "same database" in line
    assert sqlite_file.read_bytes() == before


@pytest.mark.postgres
def test_localhost_and_127_0_0_1_are_one_postgres_database(tmp_path):
    dsn = os.environ.get("PC_POSTGRES_DSN", "postgresql://postgres:postgres@127.0.0.1:5432/x")
    port = dsn.rsplit("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]

    def postgres(host: str) -> str:
        return (
            "      sql:\n        pluginName: postgres\n        databaseName: postgres\n"
            f"        connectAddr: '{host}:{port}'\n        user: postgres\n"
            "        password: postgres\n"
        )

    result, line = run_copy(two_stores(tmp_path, postgres("127.0.0.1"), postgres("localhost")))
    assert result.exit_code == 2
    assert "same database" in line
    assert "PostgreSQL database postgres" in line


@pytest.mark.cassandra
def test_localhost_and_127_0_0_1_are_one_cassandra_keyspace(tmp_path):
    first = os.environ.get("PC_CASSANDRA_HOSTS", "127.0.0.1:9042").split(",")[0]
    port = first.partition(":")[2] or "9042"

    def cassandra(host: str) -> str:
        return f"      cassandra: {{hosts: '{host}', port: {port}, keyspace: persistence}}\n"

    result, line = run_copy(two_stores(tmp_path, cassandra("127.0.0.1"), cassandra("localhost")))
    assert result.exit_code == 2
    assert "same database" in line
    assert "keyspace persistence" in line


def test_a_state_path_that_is_not_a_copy_state_is_refused_without_advising_deletion(
    tmp_path, sqlite_file
):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes, not a copy state\n")
    config = two_stores(tmp_path, sqlite(sqlite_file), sqlite(tmp_path / "target.db"))
    result, line = run_copy(config, "--state", str(notes))
    assert result.exit_code != 0
    assert str(notes) in line
    assert "not a copy state file" in line
    assert "delete" not in line
    assert notes.read_text() == "my notes, not a copy state\n"
