"""The Temporal peer of ``bench --peer temporal-go``, for real: built with Go, run against the
local Cassandra node on a keyspace our schema tool migrated with Temporal's own schema, its
rows read back through Temporal's tables (no mocks; a missing node or Go fails the test).

The first build compiles Temporal's server packages (minutes on a loaded machine); the binary
is cached under ``~/.cache/persistence-cassandra/peer-temporal-go/``, so later runs take
seconds."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Console

from harness.keyspaces import drop_keyspaces
from persistence_cassandra.bench.peer_build import PeerUnavailable, build_peer, temporal_schema_dir
from persistence_cassandra.bench.peer_process import (
    TemporalGoPeer,
    peer_keyspace_name,
    prepare_peer_keyspace,
)
from persistence_cassandra.bench.peer_report import print_peer_result
from persistence_cassandra.bench.peer_runner import run_peer_comparisons, slice_order
from persistence_cassandra.bench.runner import BenchOptions
from persistence_cassandra.config import PersistenceConfig, parse_config

ROW_TYPE_EXECUTION, ROW_TYPE_TRANSFER_TASK = 1, 2  # Temporal's executions.type values
STATE_COMPLETED = 3  # enumsspb.WORKFLOW_EXECUTION_STATE_COMPLETED
PERMANENT_CURRENT_RUN = uuid.UUID("30000000-0000-f000-f000-000000000001")


def _host_port(endpoint: str) -> tuple[str, int]:
    first = endpoint.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    return (host, int(port)) if sep else (first, 9042)


def _query(host: str, port: int, keyspace: str, cql: str, *args: object) -> list[tuple]:
    from cassandra.cluster import Cluster
    from cassandra.query import tuple_factory

    cluster = Cluster([host], port=port)
    try:
        session = cluster.connect(keyspace)
        session.row_factory = tuple_factory
        return list(session.execute(cql, args, timeout=60))
    finally:
        cluster.shutdown()


@pytest.fixture
async def cassandra_config() -> AsyncIterator[PersistenceConfig]:
    """A Cassandra datastore on a fresh keyspace; it and its peer keyspace are dropped after."""
    from harness import servers

    host, port = _host_port(await asyncio.to_thread(servers.cassandra_endpoint))
    keyspace = f"pc_peer_{uuid.uuid4().hex[:12]}"
    config = parse_config(
        {
            "defaultStore": "cass",
            "datastores": {
                "cass": {"cassandra": {"hosts": host, "port": port, "keyspace": keyspace}}
            },
        }
    )
    try:
        yield config
    finally:
        keyspaces = [keyspace, peer_keyspace_name(keyspace)]
        await asyncio.to_thread(drop_keyspaces, host, port, keyspaces)


def test_each_side_runs_equally_often_in_every_position():
    order = slice_order(6)
    assert len(order) == 18
    rounds = [order[i : i + 3] for i in range(0, 18, 3)]
    for position in range(3):
        assert sorted(r[position] for r in rounds) == sorted(["raw", "ours", "peer"] * 2)


@pytest.mark.cassandra
async def test_the_peer_runs_lifecycles_that_write_temporal_rows(cassandra_config):
    build = await build_peer()
    again = await build_peer()
    assert again.cached and again.binary == build.binary and again.seconds < 10
    cassandra = cassandra_config.datastore().cassandra
    assert cassandra is not None
    peer_config = await prepare_peer_keyspace(cassandra, await temporal_schema_dir(build))
    assert peer_config.keyspace == peer_keyspace_name(cassandra.keyspace)

    # One shot: the JSON the program prints on its own.
    shot = await asyncio.to_thread(
        subprocess.run,
        [
            str(build.binary),
            f"-hosts={cassandra.hosts}",
            f"-port={cassandra.port}",
            f"-keyspace={peer_config.keyspace}",
            "-concurrency=1",
            "-count=2",
            "-seconds=60",
            "-warmup=0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shot.returncode == 0, shot.stderr
    report = json.loads(shot.stdout)
    assert report["peer"] == "temporal-go" and report["temporal"] == "v1.31.2"
    (cell,) = report["cells"]
    assert set(cell) == {
        "concurrency",
        "lifecycles",
        "errors",
        "first_error",
        "seconds",
        "lifecycles_per_second",
        "p50_ms",
        "p99_ms",
        "cpu_ms_per_lifecycle",
    }
    assert (cell["concurrency"], cell["lifecycles"], cell["errors"]) == (1, 2, 0), cell
    assert cell["lifecycles_per_second"] > 0 and cell["cpu_ms_per_lifecycle"] > 0
    assert 0 < cell["p50_ms"] <= cell["p99_ms"]

    # Serve mode: what bench drives, slice by slice.
    peer = await TemporalGoPeer.start(
        build, peer_config, workers=2, first_shard=7_000_000, tag=f"t{uuid.uuid4().hex[:6]}"
    )
    try:
        assert peer.ready["ready"] and peer.ready["workers"] == 2
        warm = await peer.run(2, 2, 60, keep=False)
        assert warm.completed == 2 and warm.latencies == ()
        measured = await peer.run(2, 4, 60)
    finally:
        await peer.close()
    assert (measured.completed, measured.errors) == (4, 0), measured.first_error
    assert len(measured.latencies) == 4 and all(0 < s < 60 for s in measured.latencies)
    assert measured.cpu_seconds > 0 and measured.seconds > 0
    sample = measured.sample
    assert sample is not None

    # The last run, read back through Temporal's tables: five history batches chained on
    # the run's branch, the run closed after four transitions, its transfer tasks gone.
    host, port, keyspace = cassandra.host_list[0], cassandra.port, peer_config.keyspace
    run_id = uuid.UUID(sample["run_id"])
    nodes = _query(
        host, port, keyspace, "SELECT node_id FROM history_node WHERE tree_id = %s", run_id
    )
    assert sorted(node for (node,) in nodes) == [1, 3, 4, 6, 9]
    rows = _query(
        host,
        port,
        keyspace,
        "SELECT type, workflow_id, run_id, workflow_state, db_record_version, next_event_id, "
        "current_run_id "
        "FROM executions WHERE shard_id = %s",
        sample["shard_id"],
    )
    runs = [r for r in rows if r[0] == ROW_TYPE_EXECUTION and r[2] == run_id]
    assert [(r[4], r[5]) for r in runs] == [(5, 11)]
    current = [r for r in rows if r[1] == sample["workflow_id"] and r[2] == PERMANENT_CURRENT_RUN]
    assert [(r[6], r[3]) for r in current] == [(run_id, STATE_COMPLETED)]
    assert not [r for r in rows if r[0] == ROW_TYPE_TRANSFER_TASK]


@pytest.mark.cassandra
async def test_ours_raw_and_the_peer_share_each_cell(cassandra_config):
    options = BenchOptions(
        concurrency=(2,), operations=4, max_seconds=2.0, slices=2, warmup_seconds=0, seed=3
    )
    report = await run_peer_comparisons(cassandra_config, ["cass"], options, create_schema=True)
    (result,) = report.results
    (cell,) = result.cells
    assert cell.concurrency == 2 and not cell.errors, [
        m.first_error for m in (cell.ours, cell.raw, cell.peer)
    ]
    for measurement in (cell.ours, cell.raw, cell.peer):
        assert measurement.slices == 2 and measurement.operations > 0
        assert measurement.cpu_per_operation > 0 and measurement.p50 > 0
        # The node is a local process here: what each side cost it is read from /proc.
        server_cpu = measurement.server_cpu_per_operation
        assert server_cpu is not None and server_cpu >= 0
    assert cell.ours_over_peer > 0 and cell.raw_over_peer > 0 and cell.ours_cpu_over_peer > 0
    (entry,) = report.to_json()["peer_comparisons"][0]["lifecycle"]
    assert {"ours", "raw", "peer", "ours_over_peer", "cpu_ours_over_peer"} <= set(entry)
    assert result.peer.startswith("Temporal v1.31.2")
    out = io.StringIO()
    print_peer_result(result, Console(file=out, width=170))
    assert "ours/peer" in out.getvalue() and "peer binary:" in out.getvalue()
    assert "node CPU per lifecycle x2: ours / raw / peer" in out.getvalue()


def test_a_failed_build_says_where_its_log_is(tmp_path):
    sources = tmp_path / "broken"
    sources.mkdir()
    (sources / "go.mod").write_text("module broken\n\ngo 1.24\n")
    (sources / "go.sum").write_text("")
    (sources / "main.go").write_text("package main\n\nfunc main() { undefined() }\n")
    with pytest.raises(PeerUnavailable) as failure:
        asyncio.run(build_peer(sources=sources, cache_root=tmp_path / "cache"))
    message = str(failure.value)
    assert "\n" not in message and "build log: " in message
    log = Path(message.split("build log: ", 1)[1])
    assert "undefined" in log.read_text()


def test_without_go_the_peer_is_refused_in_one_line(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        "persistence:\n  defaultStore: cass\n  datastores:\n"
        "    cass:\n      cassandra:\n        hosts: 127.0.0.1\n        keyspace: nogo\n"
    )
    bin_dir = Path(sys.executable).parent
    path = os.pathsep.join(
        d for d in [str(bin_dir), "/usr/bin", "/bin"] if not (Path(d) / "go").exists()
    )
    result = subprocess.run(
        [
            str(bin_dir / "persistence-cassandra"),
            "--config",
            str(config),
            "bench",
            "--peer",
            "temporal-go",
            "--store",
            "cass",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Go" in lines[0] and "PATH" in lines[0] and "Traceback" not in result.stderr
