"""``persistence-cassandra copy`` as a user meets it: every mistake is one ``error:`` line and a
non-zero exit; ``--dry-run`` writes nothing; a target holding different data is refused
without ``--force`` and overwritten with it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner, Result
from copy_support import file_digest, open_stores, sqlite_store, write_config
from copy_workload import Shape, capture, populate, without_ranges

from persistence_cassandra.cli.main import cli
from persistence_cassandra.copy import StoreReader, holds_any_data
from persistence_cassandra.records import (
    ClusterMetadataRecord,
    DataBlob,
    SetWorkflowExecutionRequest,
    TaskQueueRecord,
    WorkflowSnapshot,
    WorkflowState,
)

SHARD_IDS = range(1, 5)


async def invoke(*args: str) -> Result:
    # In a thread: the command runs its own event loop.
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


def assert_one_line_error(result: Result, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, result.output + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    # Anything else on stderr is progress (a line per stage when stderr is not a terminal).
    assert all(line.startswith("copy: ") for line in lines if line not in errors), result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert "Traceback" not in result.output + result.stderr


async def test_user_mistakes_are_one_line(source, tmp_path, monkeypatch):
    monkeypatch.delenv("PC_CONFIG", raising=False)
    target = sqlite_store(tmp_path / "target.db")
    config = str(write_config(tmp_path, {"src": source.datastore, "dst": target}))
    twin = str(write_config(tmp_path, {"src": source.datastore, "same": source.datastore}))
    missing = str(write_config(tmp_path, {"gone": sqlite_store(tmp_path / "no.db"), "dst": target}))

    assert_one_line_error(await invoke("copy", "--from", "a", "--to", "b"), 2, "--config")
    assert_one_line_error(
        await invoke("copy", "--config", config, "--from", "nope", "--to", "dst"),
        2,
        "unknown datastore 'nope'",
        "known: dst, src",
    )
    assert_one_line_error(
        await invoke("copy", "--config", config, "--from", "src", "--to", "src"), 2, "both name"
    )
    assert_one_line_error(await invoke("copy", "--config", config, "--to", "dst"), 2, "--from")
    assert_one_line_error(
        await invoke("copy", "--config", str(tmp_path / "none.yaml"), "--from", "a", "--to", "b"),
        2,
        "does not exist",
    )
    assert_one_line_error(
        await invoke("copy", "--config", twin, "--from", "src", "--to", "same"),
        2,
        "same database",
    )
    assert_one_line_error(
        await invoke("copy", "--config", missing, "--from", "gone", "--to", "dst"),
        1,
        "does not exist",
    )
    # The global --config works too, and the source was never touched by any of this.
    dry = await invoke("--config", config, "copy", "--from", "src", "--to", "dst", "--dry-run")
    assert dry.exit_code == 0, dry.output + dry.stderr
    assert file_digest(source.path) == source.digest


async def test_dry_run_counts_and_writes_nothing(source, store_factory, tmp_path):
    target = await store_factory.sqlite("target")
    config = write_config(tmp_path, {"src": source.datastore, "dst": target})
    result = await invoke(
        "copy", "--config", str(config), "--from", "src", "--to", "dst", "--dry-run"
    )
    assert result.exit_code == 0, result.output + result.stderr
    runs = len(source.content["runs"])
    assert f"executions │ {runs:>5}" in result.stdout or f"{runs}" in result.stdout
    assert "rows would be copied; the target is empty" in result.stdout
    async with open_stores(target) as stores:
        assert not await holds_any_data(StoreReader(stores), SHARD_IDS)
    assert not list(tmp_path.glob("*.state.json"))


async def test_a_target_with_other_data_is_refused_unless_forced(source, store_factory, tmp_path):
    target = await store_factory.sqlite("target")
    async with open_stores(target) as stores:
        await populate(stores, Shape(workflows=3, shards=4, seed=99, namespaces=1, task_queues=1))
    target_path = Path(target["sql"]["databaseName"])
    before = file_digest(target_path)
    config = str(write_config(tmp_path, {"src": source.datastore, "dst": target}))
    args = ["copy", "--config", config, "--from", "src", "--to", "dst"]

    refused = await invoke(*args)
    assert_one_line_error(refused, 1, "already holds different data", "--force")
    assert file_digest(target_path) == before

    forced = await invoke(*args, "--force")
    # Every source record is now in the target, but so are the target's own: not identical.
    assert_one_line_error(forced, 1, "verification failed")
    assert "MISMATCH" in forced.stdout
    async with open_stores(target) as stores:
        found = await capture(stores, SHARD_IDS)
    for key, run in source.content["runs"].items():
        assert found["runs"][key]["state"] == run["state"]
        assert found["runs"][key]["history"] == run["history"]


async def test_force_replaces_records_that_differ(source, store_factory, tmp_path):
    target = await store_factory.sqlite("target")
    config = str(write_config(tmp_path, {"src": source.datastore, "dst": target}))
    args = ["copy", "--config", config, "--from", "src", "--to", "dst"]
    assert (await invoke(*args)).exit_code == 0

    # Someone changes the target afterwards: a run, a cluster record, a task queue.
    async with open_stores(target) as stores:
        (shard_id, *_), run = next(iter(source.content["runs"].items()))
        state = run["state"]
        shard = await stores.shard.get_or_create_shard(shard_id)
        snapshot = WorkflowSnapshot(
            key=state.key,
            execution_info=state.execution_info,
            execution_state=DataBlob(b"changed", "proto3"),
            next_event_id=state.next_event_id,
            db_record_version=state.db_record_version + 1,
            state=WorkflowState.RUNNING,
            status=1,
            create_request_id="",
        )
        await stores.execution.set_workflow_execution(
            SetWorkflowExecutionRequest(shard_id, shard.range_id, snapshot)
        )
        cluster = source.content["cluster_metadata"][0]
        await stores.cluster_metadata.save_cluster_metadata(
            ClusterMetadataRecord(cluster.cluster_name, DataBlob(b"changed"), cluster.version)
        )
        queue = source.content["task_queues"][0]
        await stores.task.update_task_queue(
            TaskQueueRecord(queue.key, queue.range_id + 5, DataBlob(b"changed")), queue.range_id
        )
    state_files = list(tmp_path.glob("*.state.json"))
    assert len(state_files) == 1
    state_files[0].unlink()

    assert_one_line_error(await invoke(*args), 1, "already holds different data")
    forced = await invoke(*args, "--force")
    assert forced.exit_code == 0, forced.output + forced.stderr
    assert "replaced (--force): 3" in forced.stdout
    async with open_stores(target) as stores:
        assert without_ranges(await capture(stores, SHARD_IDS)) == without_ranges(source.content)


async def test_unusable_state_files_are_one_line(source, tmp_path):
    target = sqlite_store(tmp_path / "target.db")
    config = str(write_config(tmp_path, {"src": source.datastore, "dst": target}))
    state = tmp_path / "progress.json"
    args = ["copy", "--config", config, "--from", "src", "--to", "dst", "--state", str(state)]

    # Not a copy state (perhaps a file of the user's): refused, and nobody is told to delete it.
    state.write_text("{not json")
    result = await invoke(*args)
    assert_one_line_error(result, 1, "is not a copy state file", "--state")
    assert "delete" not in result.stderr

    state.write_text(
        json.dumps(
            {
                "format": 1,
                "source": "elsewhere (sqlite /x)",
                "target": "dst",
                "target_was_empty": True,
                "finished": False,
                "shard_ranges": {},
                "discovered_shards": [],
                "units": {},
                "copied": {},
            }
        )
    )
    assert_one_line_error(await invoke(*args), 1, "belongs to a copy from elsewhere")


def test_state_file_goes_next_to_the_config():
    from persistence_cassandra.cli.copy_command import default_state_path

    path = default_state_path(Path("/etc/pc/persistence.yaml"), "sqlite", "cass")
    assert path == Path("/etc/pc/persistence.yaml.copy-sqlite-to-cass.state.json")
