"""A copy interrupted halfway (cancelled, failed by the target, killed) and run again ends with
the same target as an uninterrupted one, with nothing duplicated; running a finished copy again
writes nothing; the source is only ever read."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from copy_support import (
    SHARDS,
    WORKLOAD_CATEGORY,
    file_digest,
    open_stores,
    run_cli,
    write_config,
)
from copy_workload import Shape, capture, without_ranges

from persistence_cassandra.copy import (
    CopyOptions,
    CopyStatus,
    NullListener,
    Outcome,
    StoreReader,
    copy_stores,
    take_census,
)
from persistence_cassandra.errors import Unavailable

SHARD_IDS = range(1, SHARDS + 1)


def options(state: Path, **overrides: Any) -> CopyOptions:
    return CopyOptions(
        shard_ids=tuple(SHARD_IDS),
        state_path=state,
        source_name="src",
        target_name="dst",
        **{"page_size": 5, **overrides},
    )


async def assert_target_equals_source(source, target_store) -> None:
    async with open_stores(target_store) as stores:
        found = await capture(stores, SHARD_IDS)
    assert without_ranges(found) == without_ranges(source.content)
    assert found["shard_ranges"] == {s: r + 1 for s, r in source.content["shard_ranges"].items()}


class CancelAfterPages(NullListener):
    """Cancels the copy's task once ``pages`` pages are recorded (an operator's Ctrl-C)."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.seen: list[str] = []
        self.task: asyncio.Task[Any] | None = None

    def page_done(self, unit: str) -> None:
        self.seen.append(unit)
        if len(self.seen) == self.pages and self.task is not None:
            self.task.cancel()


@pytest.mark.parametrize("pages", [3, 30], ids=["early", "late"])
async def test_a_cancelled_copy_resumes_to_the_same_result(source, store_factory, tmp_path, pages):
    target_store = await store_factory.sqlite("target")
    state_path = tmp_path / "copy.state.json"
    listener = CancelAfterPages(pages)
    async with open_stores(source.datastore) as src, open_stores(target_store) as dst:
        listener.task = asyncio.create_task(copy_stores(src, dst, options(state_path), listener))
        with pytest.raises(asyncio.CancelledError):
            await listener.task

        state = json.loads(state_path.read_text())
        assert not state["finished"]
        assert sum(unit["pages"] for unit in state["units"].values()) >= pages
        # Half copied (runs may already be there while their history is not yet).
        async with open_stores(target_store) as half:
            copied = await take_census(StoreReader(half), SHARD_IDS)
        whole = await take_census(StoreReader(src), SHARD_IDS)
        assert 0 < copied.total_count < whole.total_count

        result = await copy_stores(src, dst, options(state_path))
    assert result.status is CopyStatus.COPIED
    assert result.verified, [row for row in result.verification if not row.ok]
    assert json.loads(state_path.read_text())["finished"]
    await assert_target_equals_source(source, target_store)


async def cancel_then_resume(src, dst, state_path: Path, pages: int):
    listener = CancelAfterPages(pages)
    listener.task = asyncio.create_task(copy_stores(src, dst, options(state_path), listener))
    with pytest.raises(asyncio.CancelledError):
        await listener.task
    units = _units(state_path)
    assert any(unit["token"] and not unit["done"] for unit in units.values())
    return await copy_stores(src, dst, options(state_path))


async def test_copies_into_and_out_of_cassandra_resume_after_cancellation(
    source, store_factory, tmp_path
):
    """SQLite -> Cassandra cancelled halfway and resumed; then Cassandra -> SQLite likewise,
    which resumes from Cassandra's page tokens (the driver's paging state) in a new session."""
    cassandra = await store_factory.cassandra()
    target_store = await store_factory.sqlite("target")
    async with open_stores(source.datastore) as src, open_stores(cassandra) as middle:
        result = await cancel_then_resume(src, middle, tmp_path / "in.json", 30)
    assert result.status is CopyStatus.COPIED and result.verified
    await assert_target_equals_source(source, cassandra)

    async with open_stores(cassandra) as middle, open_stores(target_store) as dst:
        result = await cancel_then_resume(middle, dst, tmp_path / "out.json", 25)
    assert result.status is CopyStatus.COPIED and result.verified, [
        row for row in result.verification if not row.ok
    ]
    async with open_stores(target_store) as stores:
        found = await capture(stores, SHARD_IDS)
    assert without_ranges(found) == without_ranges(source.content)
    assert found["shard_ranges"] == {s: r + 2 for s, r in source.content["shard_ranges"].items()}


@dataclass
class FailingAfter:
    """Lets ``calls`` calls of ``method`` through to the real store, then fails the rest as
    unavailable (a target that went away mid-copy)."""

    inner: Any
    method: str
    calls: int

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name != self.method:
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.calls <= 0:
                raise Unavailable("injected: the target went away")
            self.calls -= 1
            return await attribute(*args, **kwargs)

        return call


@dataclass
class Stores:
    shard: Any
    execution: Any
    history: Any
    task: Any
    metadata: Any
    cluster_metadata: Any
    queue: Any
    nexus_endpoint: Any
    description: str
    visibility: Any = None


def failing(bundle: Any, store: str, method: str, calls: int) -> Stores:
    parts = {
        name: getattr(bundle, name)
        for name in (
            "shard",
            "execution",
            "history",
            "task",
            "metadata",
            "cluster_metadata",
            "queue",
            "nexus_endpoint",
        )
    }
    parts[store] = FailingAfter(parts[store], method, calls)
    return Stores(**parts, description=bundle.description, visibility=bundle.visibility)


@pytest.mark.parametrize(
    ("store", "method", "calls"),
    [
        ("execution", "create_workflow_execution", 40),
        ("history", "append_history_nodes", 40),
        # Amid a queue's messages, between a filler's enqueue and its delete, and between the
        # version steps of an endpoint.
        ("queue", "enqueue_message", 8),
        ("queue", "delete_message", 4),
        ("nexus_endpoint", "create_or_update_nexus_endpoint", 3),
    ],
)
async def test_a_copy_failed_by_the_target_resumes(
    source, store_factory, tmp_path, store, method, calls
):
    target_store = await store_factory.sqlite("target")
    state_path = tmp_path / "copy.state.json"
    async with open_stores(source.datastore) as src, open_stores(target_store) as dst:
        with pytest.raises(Unavailable, match="injected"):
            await copy_stores(src, failing(dst, store, method, calls), options(state_path))
        result = await copy_stores(src, dst, options(state_path))
    assert result.status is CopyStatus.COPIED and result.verified
    # The page that failed is written again: records its first attempt wrote are found.
    if store == "execution":
        assert result.outcomes.get(Outcome.PRESENT, 0) > 0
    await assert_target_equals_source(source, target_store)


async def test_running_a_finished_copy_again_writes_nothing(source, store_factory, tmp_path):
    target_store = await store_factory.sqlite("target")
    target_path = Path(target_store["sql"]["databaseName"])
    state_path = tmp_path / "copy.state.json"
    async with open_stores(source.datastore) as src:
        async with open_stores(target_store) as dst:
            first = await copy_stores(src, dst, options(state_path))
        assert first.status is CopyStatus.COPIED and first.verified
        copied = file_digest(target_path)

        async with open_stores(target_store) as dst:
            again = await copy_stores(src, dst, options(state_path))
        assert again.status is CopyStatus.ALREADY_COMPLETE and again.verified
        assert again.rows_moved == 0 and not again.outcomes
        assert file_digest(target_path) == copied

        # Without the progress file the target is recognised as already holding the source.
        state_path.unlink()
        async with open_stores(target_store) as dst:
            fresh = await copy_stores(src, dst, options(state_path))
        assert fresh.status is CopyStatus.ALREADY_IDENTICAL and fresh.verified
        assert file_digest(target_path) == copied
    assert file_digest(source.path) == source.digest


READ_METHODS = {
    "get_search_attributes",
    "list_executions",
    "get_execution",
    "get_or_create_shard",  # called without an initializer: a read
    "list_namespaces",
    "get_namespace",
    "get_metadata",
    "list_cluster_metadata",
    "get_cluster_metadata",
    "list_concrete_executions",
    "get_workflow_execution",
    "get_current_execution",
    "get_history_tasks",
    "get_all_history_tree_branches",
    "get_history_tree_containing_branch",
    "read_history_branch",
    "list_task_queues",
    "get_task_queue",
    "get_tasks",
    "list_queues",
    "get_queue",
    "read_messages",
    "list_nexus_endpoints",
    "get_nexus_endpoint",
    "get_replication_tasks_from_dlq",
    "list_history_task_category_ids",
    "scan_task_queue_user_data",
    "scan_build_id_mappings",
}


@dataclass
class Recording:
    inner: Any
    calls: list[tuple[str, tuple[Any, ...]]]

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args))
            return attribute(*args, **kwargs)

        return call


async def test_the_source_is_only_read(source, store_factory, tmp_path):
    target_store = await store_factory.sqlite("target")
    calls: list[tuple[str, tuple[Any, ...]]] = []
    async with open_stores(source.datastore) as src, open_stores(target_store) as dst:
        recorded = Stores(
            **{
                name: Recording(getattr(src, name), calls)
                for name in (
                    "shard",
                    "execution",
                    "history",
                    "task",
                    "metadata",
                    "cluster_metadata",
                    "queue",
                    "nexus_endpoint",
                    "visibility",
                )
            },
            description=src.description,
        )
        result = await copy_stores(recorded, dst, options(tmp_path / "state.json"))
    assert result.verified
    assert {name for name, _ in calls} <= READ_METHODS
    assert all(len(args) == 1 for name, args in calls if name == "get_or_create_shard")
    assert file_digest(source.path) == source.digest


async def test_a_killed_copy_resumes(store_factory, tmp_path):
    """The CLI killed (SIGKILL) in the middle of the runs, then run again."""
    from copy_workload import make_source

    big = await make_source(tmp_path / "big", Shape(workflows=300, shards=SHARDS, seed=11))
    target_store = await store_factory.sqlite("target")
    config = write_config(tmp_path, {"src": big.datastore, "dst": target_store})
    state_path = tmp_path / "kill.state.json"
    args = ["copy", "--config", str(config), "--from", "src", "--to", "dst"]
    args += ["--task-category", WORKLOAD_CATEGORY]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "persistence_cassandra",
        *args,
        "--state",
        str(state_path),
        "--page-size",
        "3",
        "--concurrency",
        "2",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ},
    )
    try:
        async with asyncio.timeout(120):
            while True:
                await asyncio.sleep(0.01)
                assert process.returncode is None, "the copy ended before it could be killed"
                units = _units(state_path)
                if sum(u["pages"] for n, u in units.items() if n.startswith("executions/")) >= 3:
                    break
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await process.wait()
    assert not json.loads(state_path.read_text())["finished"]

    rerun = await run_cli(*args, "--state", str(state_path))
    assert rerun.exit_code == 0, rerun.stdout + rerun.stderr
    assert "verification: source and target agree" in rerun.stdout
    async with open_stores(target_store) as stores:
        found = await capture(stores, SHARD_IDS)
    assert without_ranges(found) == without_ranges(big.content)
    assert file_digest(big.path) == big.digest


def _units(path: Path) -> dict[str, Any]:
    """The units of a progress file another process is replacing (atomically) right now."""
    try:
        return json.loads(path.read_text())["units"]
    except FileNotFoundError:
        return {}
