"""doctor and demo on the real embedded SQLite backend (default file store and in-memory)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from persistence_cassandra.cli.demo import run_demo
from persistence_cassandra.cli.main import cli
from persistence_cassandra.config import parse_config
from persistence_cassandra.doctor import run_doctor
from persistence_cassandra.factory import open_persistence
from persistence_cassandra.middleware import (
    FaultInjection,
    FaultRule,
    MiddlewareOptions,
    RetryPolicy,
)

MEMORY = parse_config(
    {
        "persistence": {
            "defaultStore": "mem",
            "datastores": {"mem": {"sql": {"pluginName": "sqlite", "databaseName": ":memory:"}}},
        }
    }
)
DOCTOR_CHECKS = [
    "connect",
    "server version",
    "schema",
    "read",
    "write/read round trip",
    "conditional write",
]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("PC_CONFIG", raising=False)
    path = tmp_path / "nested" / "data"
    monkeypatch.setenv("PC_DATA_DIR", str(path))
    monkeypatch.setenv("COLUMNS", "160")
    return path


def test_doctor_creates_nothing_and_says_how_to_create_the_store(data_dir):
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    assert not data_dir.exists()  # neither the file nor its directories
    line = result.stderr.strip().splitlines()[-1]
    assert "does not exist yet" in line
    assert str(data_dir / "persistence.db") in line
    assert "persistence-cassandra demo" in line


def test_doctor_on_the_embedded_default(data_dir):
    assert CliRunner().invoke(cli, ["demo"]).exit_code == 0
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output + result.stderr
    for check in DOCTOR_CHECKS:
        assert check in result.stdout
    assert "FAIL" not in result.stdout
    assert "SQLite 3." in result.stdout
    assert "stale CAS refused" in result.stdout
    assert result.stderr == ""


def test_demo_on_the_embedded_default_twice(data_dir):
    first = CliRunner().invoke(cli, ["demo"])
    assert first.exit_code == 0, first.output + first.stderr
    assert "16/16 steps passed" in first.stdout
    assert "created 'demo'" in first.stdout
    assert "continue-as-new" in first.stdout
    # A second run reuses the namespace, takes the shard from the first owner, and passes.
    second = CliRunner().invoke(cli, ["demo"])
    assert second.exit_code == 0, second.output + second.stderr
    assert "reused 'demo'" in second.stdout
    assert "range_id 1 -> 2" in second.stdout
    assert "16/16 steps passed" in second.stdout


async def test_run_doctor_in_memory():
    report = await run_doctor(MEMORY)
    assert report.ok, report.checks
    assert [check.name for check in report.checks] == DOCTOR_CHECKS
    assert report.backend == "sqlite"
    operations = {name for name, *_ in report.operations}
    assert "cluster_metadata.save_cluster_metadata" in operations


async def test_run_demo_in_memory_records_the_refused_writes():
    async with await open_persistence(MEMORY) as persistence:
        report = await run_demo(persistence)
    assert report.ok, [step for step in report.steps if not step.ok]
    assert len(report.steps) == 16
    errors = {summary.name: summary.errors for summary in report.operations}
    assert errors["execution.update_workflow_execution"] == {
        "WorkflowConditionFailed": 1,
        "ShardOwnershipLost": 1,
    }
    assert errors["execution.create_workflow_execution"] == {"CurrentWorkflowConditionFailed": 1}
    assert errors["task.create_tasks"] == {"ConditionFailed": 1}
    stores = {summary.store for summary in report.operations}
    assert stores == {"shard", "execution", "history", "task", "metadata", "cluster_metadata"}


async def test_demo_survives_transient_faults_through_retry():
    middleware = MiddlewareOptions(
        retry=RetryPolicy(max_attempts=12, initial_interval=0.0, max_interval=0.0),
        faults=FaultInjection([FaultRule("Unavailable", 0.25)], seed=20240601),
    )
    async with await open_persistence(MEMORY, middleware=middleware) as persistence:
        report = await run_demo(persistence)
    assert report.ok, [step for step in report.steps if not step.ok]
    injected = sum(summary.errors.get("Unavailable", 0) for summary in report.operations)
    assert injected > 5


async def test_demo_stops_at_the_first_failed_step():
    middleware = MiddlewareOptions(
        faults=FaultInjection(
            [FaultRule("InvalidRequest", 1, "execution", "get_current_execution")]
        )
    )
    async with await open_persistence(MEMORY, middleware=middleware) as persistence:
        steps = []
        report = await run_demo(persistence, on_step=steps.append)
    assert not report.ok
    assert report.steps == steps
    assert report.steps[-1].name == "read back and verify"
    assert "InvalidRequest" in report.steps[-1].detail
    assert all(step.ok for step in report.steps[:-1])
