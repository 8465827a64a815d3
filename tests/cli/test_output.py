"""Issue 14, items 7 and 9: progress that advances inside long workflows, output that a pipe
receives whole, and --json on every command that prints a table."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from persistence_cassandra.cli.main import cli
from persistence_cassandra.config import parse_config
from persistence_cassandra.factory import open_persistence
from persistence_cassandra.workload import WorkloadOptions, run_workload
from persistence_cassandra.workload import engine as workload_engine

MEMORY = parse_config(
    {
        "defaultStore": "m",
        "datastores": {"m": {"sql": {"pluginName": "sqlite", "databaseName": ":memory:"}}},
    }
)


async def test_progress_advances_during_a_long_workflow(monkeypatch):
    monkeypatch.setattr(workload_engine, "PROGRESS_TICK", 0.01)
    seen = []
    async with await open_persistence(MEMORY) as persistence:
        await run_workload(
            persistence,
            WorkloadOptions(workflows=1, concurrency=1, transitions=30, seed=7),
            on_progress=seen.append,
        )
    before_the_end = [p for p in seen if p.done == 0]
    assert len({p.transitions for p in before_the_end}) > 2  # it moved while the run ran
    assert seen[-1].done == 1


@pytest.fixture
def long_path_store(tmp_path, monkeypatch):
    monkeypatch.delenv("PC_CONFIG", raising=False)
    deep = tmp_path.joinpath(*(["a-rather-long-directory-name"] * 5))
    monkeypatch.setenv("PC_DATA_DIR", str(deep))
    assert CliRunner().invoke(cli, ["demo"]).exit_code == 0
    return deep / "persistence.db"


def test_tables_in_a_pipe_keep_long_paths_whole(long_path_store):
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    assert len(str(long_path_store)) > 150
    assert str(long_path_store) in result.stdout  # on one line, not folded or cut
    assert "…" not in result.stdout


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["doctor", "--json"], "checks"),
        (["workload", "--json", "--workflows", "3", "--concurrency", "2"], "integrity"),
    ],
)
def test_table_commands_offer_json(long_path_store, args, key):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document[key]


def test_copy_offers_json(tmp_path, monkeypatch):
    monkeypatch.setenv("PC_DATA_DIR", str(tmp_path / "data"))
    config = tmp_path / "c.yaml"
    config.write_text(
        "persistence:\n  defaultStore: a\n  datastores:\n"
        f"    a:\n      sql: {{pluginName: sqlite, databaseName: {tmp_path / 'a.db'}}}\n"
        f"    b:\n      sql: {{pluginName: sqlite, databaseName: {tmp_path / 'b.db'}}}\n"
    )
    assert CliRunner().invoke(cli, ["--config", str(config), "demo"]).exit_code == 0
    result = CliRunner().invoke(
        cli, ["--config", str(config), "copy", "--from", "a", "--to", "b", "--json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["verified"] is True
    assert {row["record_kind"] for row in document["verification"]}
