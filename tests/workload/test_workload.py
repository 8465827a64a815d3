"""The workload on the real embedded SQLite backend: the command, the scenario's coverage,
unknown-outcome writes it must survive, and corruption its integrity check must catch."""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from click.testing import CliRunner

from persistence_cassandra.cli import workload_command as workload_module
from persistence_cassandra.cli.main import cli
from persistence_cassandra.config import parse_config
from persistence_cassandra.factory import open_persistence
from persistence_cassandra.middleware import (
    FaultInjection,
    FaultRule,
    MiddlewareOptions,
    wrap_store,
)
from persistence_cassandra.stores import HistoryStore, QueueStore, TaskStore
from persistence_cassandra.workload import WorkloadOptions, plan_chain, run_workload

MEMORY = parse_config(
    {
        "persistence": {
            "defaultStore": "mem",
            "datastores": {"mem": {"sql": {"pluginName": "sqlite", "databaseName": ":memory:"}}},
        }
    }
)
SMALL = WorkloadOptions(workflows=20, transitions=3, concurrency=8, seed=11)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("PC_CONFIG", raising=False)
    monkeypatch.setenv("PC_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_plan_mixes_every_feature_in_ten_workflows():
    plans = [plan_chain(index, 4, random.Random(index)) for index in range(10)]
    assert sum(plan.continue_as_new for plan in plans) == 2
    assert sum(plan.reuse for plan in plans) == 1
    resets = [plan.reset_at for plan in plans if plan.reset_at is not None]
    assert len(resets) == 1 and 1 <= resets[0] < 4
    # A reset needs an earlier batch to fork from: never with a single transition.
    assert all(plan_chain(i, 1, random.Random(i)).reset_at is None for i in range(20))


def test_command_on_the_embedded_default_twice(data_dir):
    first = CliRunner().invoke(cli, ["workload", "--workflows", "12", "--seed", "7"])
    assert first.exit_code == 0, first.output
    assert (data_dir / "persistence.db").is_file()
    assert "INTEGRITY CHECK PASSED" in first.stdout
    assert "execution.update_workflow_execution" in first.stdout
    assert "workflow (whole chain)" in first.stdout
    assert "12/12 workflows" in first.stdout
    # A second run takes the shards and queues over from the first (range ids bump) and
    # passes again on the same file.
    second = CliRunner().invoke(cli, ["workload", "--workflows", "12", "--seed", "7"])
    assert second.exit_code == 0, second.output
    assert "INTEGRITY CHECK PASSED" in second.stdout


def test_json_report(data_dir):
    result = CliRunner().invoke(
        cli, ["workload", "--workflows", "10", "--shards", "2", "--concurrency", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["settings"]["shards"] == 2
    assert report["counters"]["workflows_completed"] == 10
    assert report["integrity"]["runs_checked"] == report["counters"]["runs"]
    names = {op["operation"] for op in report["operations"]}
    assert {"task.create_tasks", "task.get_tasks", "shard.update_shard"} <= names


async def test_every_feature_is_exercised_and_checked():
    async with await open_persistence(MEMORY) as persistence:
        report = await run_workload(persistence, SMALL)
    assert report.ok, report.integrity.violations
    counters = report.counters
    assert counters.workflows_completed == 20
    assert counters.continued_as_new == 4
    assert counters.id_reuses == 2
    assert counters.resets == 2
    assert counters.runs == 20 + 4 + 2
    for name in ("activities", "timers_fired", "signals", "matching_tasks", "transfer_tasks"):
        assert getattr(counters, name) > 0, name
    # Poison transfer tasks went to the history-task DLQ and were replayed from it.
    assert counters.poison_tasks_parked > 0
    assert counters.poison_tasks_replayed == counters.poison_tasks_parked
    integrity = report.integrity
    assert integrity.runs_checked == counters.runs
    assert integrity.current_pointers == 20
    # Reset runs have their abandoned branch read too.
    assert integrity.branches_read == counters.runs + counters.resets
    assert integrity.events_read >= counters.events
    calls = {op.name: op.calls for op in report.operations}
    for name in (
        "execution.conflict_resolve_workflow_execution",
        "history.fork_history_branch",
        "task.complete_tasks_less_than",
        "execution.range_complete_history_tasks",
        "cluster_metadata.upsert_cluster_membership",
        "queue.enqueue_message",
        "queue.read_messages",
        "queue.range_delete_messages",
        "task.update_task_queue_user_data",
        "task_scavenger.scavenge_expired_tasks",
    ):
        assert calls.get(name, 0) > 0, name


async def test_duration_stops_starting_workflows():
    async with await open_persistence(MEMORY) as persistence:
        report = await run_workload(
            persistence, replace(SMALL, workflows=10_000, duration=0.3, concurrency=4)
        )
    assert report.ok, report.integrity.violations
    assert 0 < report.counters.workflows_started < 10_000
    assert report.counters.workflows_completed == report.counters.workflows_started


async def test_writes_with_unknown_outcome_are_reconciled():
    """Timeouts raised after the write committed: the workload re-reads the run (conditional
    writes) or rewrites (idempotent ones), as a history service must, and still passes."""
    faults = FaultInjection(
        rules=(
            FaultRule("Timeout", 0.05, "execution", "update_workflow_execution", after_call=True),
            FaultRule("Timeout", 0.05, "execution", "create_workflow_execution", after_call=True),
            FaultRule("Timeout", 0.05, "history", "append_history_nodes", after_call=True),
            FaultRule("Timeout", 0.05, "task", "create_tasks", after_call=True),
        ),
        seed=3,
    )
    async with await open_persistence(
        MEMORY, middleware=MiddlewareOptions(faults=faults)
    ) as persistence:
        report = await run_workload(persistence, SMALL)
        assert report.ok, report.integrity.violations
        errors = {op.name: op.error_count for op in report.operations}
    assert errors["execution.update_workflow_execution"] > 0


async def test_tasks_never_completed_are_reported():
    faults = FaultInjection(
        rules=(FaultRule("InvalidRequest", 1.0, "task", "complete_tasks_less_than"),)
    )
    async with await open_persistence(
        MEMORY, middleware=MiddlewareOptions(faults=faults)
    ) as persistence:
        report = await run_workload(persistence, replace(SMALL, workflows=5))
    assert not report.ok
    problems = [str(v) for v in report.integrity.violations]
    assert any("matching tasks left over" in p for p in problems), problems


def _dropping_every(nth: int) -> Callable[..., Awaitable[Any]]:
    """An interceptor that acknowledges every ``nth`` history append without writing it: a
    lost write the store reported as done."""
    seen = 0

    async def interceptor(store: str, method: str, call: Callable[[], Awaitable[Any]]) -> Any:
        nonlocal seen
        if method == "append_history_nodes":
            seen += 1
            if seen % nth == 0:
                return None
        return await call()

    return interceptor


async def test_a_lost_history_write_is_caught():
    async with await open_persistence(MEMORY) as persistence:
        lossy = replace(
            persistence,
            history=wrap_store(persistence.history, HistoryStore, _dropping_every(25)),
        )
        report = await run_workload(lossy, replace(SMALL, workflows=8))
    assert not report.ok
    problems = " ".join(str(v) for v in report.integrity.violations)
    assert "history" in problems


async def test_a_dead_letter_acknowledgement_that_deletes_nothing_is_caught():
    """The DLQ's range delete reports success but deletes nothing: replayed tasks stay parked,
    and the integrity check must say so."""

    async def ignore_deletes(store: str, method: str, call: Callable[[], Awaitable[Any]]) -> Any:
        if method == "range_delete_messages":
            return 0
        return await call()

    async with await open_persistence(MEMORY) as persistence:
        lossy = replace(
            persistence, queue=wrap_store(persistence.queue, QueueStore, ignore_deletes)
        )
        report = await run_workload(lossy, SMALL)
    assert report.counters.poison_tasks_parked > 0
    problems = [str(v) for v in report.integrity.violations]
    assert any("tasks still parked" in p for p in problems), problems


def _losing_every(nth: int, method_name: str) -> Callable[..., Awaitable[Any]]:
    """Acknowledges every ``nth`` call of ``method_name`` without making it."""
    seen = 0

    async def interceptor(store: str, method: str, call: Callable[[], Awaitable[Any]]) -> Any:
        nonlocal seen
        if method == method_name:
            seen += 1
            if seen % nth == 0:
                return None
        return await call()

    return interceptor


async def test_a_lost_user_data_update_is_caught():
    async with await open_persistence(MEMORY) as persistence:
        lossy = replace(
            persistence,
            task=wrap_store(
                persistence.task, TaskStore, _losing_every(7, "update_task_queue_user_data")
            ),
        )
        report = await run_workload(lossy, replace(SMALL, workflows=5))
    assert not report.ok
    problems = " ".join(str(v) for v in report.integrity.violations)
    assert "lost or applied twice" in problems, problems


async def test_a_sticky_queue_that_never_expires_is_caught():
    async def forever(store: str, method: str, call: Callable[[], Awaitable[Any]]) -> Any:
        return await call()

    async with await open_persistence(MEMORY) as persistence:
        inner = persistence.task

        class Immortal:
            """Creates sticky queues as normal ones: nothing ever expires them."""

            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

            async def create_task_queue(self, record: Any) -> None:
                await inner.create_task_queue(replace(record, kind=1, expiry=None))

        immortal = replace(persistence, task=wrap_store(Immortal(), TaskStore, forever))
        report = await run_workload(immortal, replace(SMALL, workflows=5))
    assert not report.ok
    problems = " ".join(str(v) for v in report.integrity.violations)
    assert "still there after its expiry" in problems, problems


async def test_user_data_writes_with_unknown_outcome_are_reconciled():
    faults = FaultInjection(
        rules=(
            FaultRule("Timeout", 0.2, "task", "update_task_queue_user_data", after_call=True),
            FaultRule("Timeout", 0.2, "task", "update_task_queue_user_data"),
        ),
        seed=5,
    )
    async with await open_persistence(
        MEMORY, middleware=MiddlewareOptions(faults=faults)
    ) as persistence:
        report = await run_workload(persistence, replace(SMALL, workflows=5))
        assert report.ok, report.integrity.violations
        errors = {op.name: op.error_count for op in report.operations}
    assert errors["task.update_task_queue_user_data"] > 0


def test_a_failed_check_exits_1_and_lists_violations(data_dir, monkeypatch):
    faults = FaultInjection(
        rules=(FaultRule("InvalidRequest", 1.0, "execution", "range_complete_history_tasks"),)
    )

    async def faulty_open(*args: Any, **kwargs: Any) -> Any:
        return await open_persistence(*args, **kwargs, middleware=MiddlewareOptions(faults=faults))

    monkeypatch.setattr(workload_module, "open_persistence", faulty_open)
    result = CliRunner().invoke(cli, ["workload", "--workflows", "4"])
    assert result.exit_code == 1, result.output
    assert "INTEGRITY CHECK FAILED" in result.stdout
    assert "transfer tasks left over" in result.stdout
    assert "error: workload: integrity check failed" in result.stderr
