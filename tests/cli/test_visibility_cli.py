"""``visibility list|count|register|attributes`` on the embedded store: tables, JSON, paging,
and one-line errors for query mistakes."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from persistence_cassandra.cli.main import cli
from persistence_cassandra.factory import open_persistence
from persistence_cassandra.testing.visibility_data import history_start
from persistence_cassandra.visibility.records import ExecutionStatus, VisibilityStart


async def _populate() -> None:
    async with await open_persistence() as persistence:
        store = persistence.visibility
        assert store is not None
        base = history_start()
        for index in range(5):
            start = base + timedelta(minutes=index)
            await store.record_started(
                VisibilityStart(
                    "ns", f"order-{index}", f"run-{index}", "payment" if index % 2 else "refund",
                    "q1", start, start, search_attributes={"CustomerId": f"c{index % 2}"},
                )
            )  # fmt: skip
        await store.record_closed(
            "ns", "run-1", close_time=base + timedelta(hours=1), status=ExecutionStatus.FAILED,
            history_length=3, history_size_bytes=10,
        )  # fmt: skip


@pytest.fixture
def store_with_executions(tmp_path, monkeypatch):
    monkeypatch.delenv("PC_CONFIG", raising=False)
    monkeypatch.setenv("PC_DATA_DIR", str(tmp_path))
    registered = CliRunner().invoke(
        cli, ["visibility", "register", "-n", "ns", "CustomerId", "keyword"]
    )
    assert registered.exit_code == 0, registered.output
    asyncio.run(_populate())


def _run(*args: str):
    return CliRunner().invoke(cli, ["visibility", *args])


def test_list_prints_a_table_and_pages_on(store_with_executions) -> None:
    result = _run("list", "-n", "ns", "-q", "WorkflowType = 'payment'")
    assert result.exit_code == 0, result.output
    assert "order-3" in result.stdout and "order-1" in result.stdout
    assert "order-2" not in result.stdout and "Failed" in result.stdout
    first = _run("list", "-n", "ns", "--limit", "2")
    assert "more: --page-token" in first.stdout
    token = first.stdout.split("--page-token ")[1].split()[0]
    rest = _run("list", "-n", "ns", "--limit", "10", "--page-token", token, "--json")
    document = json.loads(rest.stdout)
    assert [e["run_id"] for e in document["executions"]] == ["run-2", "run-1", "run-0"]
    assert document["executions"][1]["status"] == "Failed"
    assert document["executions"][1]["search_attributes"] == {"CustomerId": "c1"}


def test_count_plain_json_and_by_status(store_with_executions) -> None:
    assert _run("count", "-n", "ns", "-q", "CustomerId = 'c0'").stdout.strip() == "3"
    assert json.loads(_run("count", "-n", "ns", "--json").stdout) == {"count": 5}
    by_status = json.loads(_run("count", "-n", "ns", "--by-status", "--json").stdout)
    assert by_status == {"count": 5, "by_status": {"Running": 4, "Failed": 1}}
    table = _run("count", "-n", "ns", "--by-status")
    assert "Running" in table.stdout and "4" in table.stdout
    attributes = json.loads(_run("attributes", "-n", "ns", "--json").stdout)
    assert attributes == {"CustomerId": "Keyword"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "-n", "ns", "-q", "Colour = 'red'"], "position 1 (attribute 'Colour')"),
        (["count", "-n", "ns", "-q", "CustomerId > 3"], "position 14 (attribute 'CustomerId')"),
        (["list", "-n", "ns", "--page-token", "garbage"], "malformed visibility page token"),
        (["register", "-n", "ns", "CustomerId", "Int"], "already registered"),
        (["register", "-n", "ns", "X", "Float"], "unknown search attribute type 'Float'"),
    ],
)
def test_mistakes_are_one_line(store_with_executions, args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bench_times_every_case_against_the_raw_statements(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("PC_CONFIG", raising=False)
    monkeypatch.setenv("PC_DATA_DIR", str(tmp_path))
    result = _run("bench", "--executions", "400", "--repeats", "1", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert {(row["shape"], row["call"]) for row in rows} >= {
        ("index", "first page"), ("index", "deep page"), ("index", "count"),
        ("merged", "first page"), ("merged", "deep page"), ("merged", "count"),
    }  # fmt: skip
    assert all(row["statements"] >= 1 and row["raw_ms"] > 0 for row in rows)
    counts = {row["case"]: row["result"] for row in rows if row["call"] == "count"}
    assert counts["type = payment"] == 100
    assert counts["type IN (payment, refund)"] == 200
