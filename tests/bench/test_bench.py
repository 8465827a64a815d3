"""bench end to end: every operation through our stores and through the raw driver, on each
backend (tiny sizes: this checks that the comparison runs and is valid, not the figures)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from persistence_cassandra.bench import (
    BenchOptions,
    RawBaseline,
    open_raw_baseline,
    operation_names,
    run_bench_store,
)
from persistence_cassandra.bench.runner import MIN_OPS_PER_WORKER, _slice_order
from persistence_cassandra.cli.main import cli
from persistence_cassandra.factory import OpenOptions, open_persistence

TINY = BenchOptions(
    concurrency=(1, 4),
    operations=12,
    max_seconds=5.0,
    slices=2,
    warmup_seconds=0.2,
    append_lengths=(10, 100),
    append_events=100,
    read_events=1_000,
    seed=5,
)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("PC_CONFIG", raising=False)
    monkeypatch.setenv("PC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "data"


async def test_every_operation_against_the_raw_driver(bench_config):
    persistence = await open_persistence(bench_config, options=OpenOptions(create_schema=True))
    async with persistence:
        raw = await open_raw_baseline(bench_config.datastore())
        try:
            assert isinstance(raw, RawBaseline)
            result = await run_bench_store("bench", persistence, raw, TINY)
        finally:
            await raw.close()
    assert [(c.operation, c.concurrency) for c in result.cells] == [
        (name, level) for name in operation_names() for level in (1, 4)
    ]
    for cell in result.cells:
        where = f"{cell.operation} x{cell.concurrency}"
        assert not cell.ours.errors, (where, cell.ours.first_error)
        assert not cell.raw.errors, (where, cell.raw.first_error)
        per_slice = max(-(-TINY.operations // TINY.slices), MIN_OPS_PER_WORKER * cell.concurrency)
        expected = per_slice * TINY.slices
        assert cell.ours.operations == cell.raw.operations == expected, where
        assert cell.ours.slices == cell.raw.slices == TINY.slices, where
        assert len(cell.ours.slice_rates) == TINY.slices and min(cell.ours.slice_rates) > 0, where
        assert cell.ratio > 0 and cell.ours.p99 >= cell.ours.p50 > 0, where
    assert [c.events_per_workflow for c in result.append_costs] == [10, 100]
    assert all(c.events == 100 and c.per_event > 0 for c in result.append_costs)
    assert result.append_growth is not None
    memory = result.read_memory
    assert memory is not None and memory.events == 1_000 and memory.batches == 100
    assert 0 < memory.traced_peak_bytes < 100 * 2**20


def test_command_on_a_temporary_embedded_store(data_dir):
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "--quick",
            "--concurrency",
            "1,2",
            "--ops",
            "8",
            "--seconds",
            "1",
            "--no-history",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in operation_names():
        assert name in result.stdout
    assert "ratio" in result.stdout
    assert "bench embedded:" in result.stderr
    # A benchmark never writes into the user's own embedded store.
    assert not (data_dir / "persistence.db").exists()


def test_json_for_a_configured_store(tmp_path, data_dir):
    config = tmp_path / "c.yaml"
    config.write_text(
        "persistence:\n"
        "  defaultStore: other\n"
        "  datastores:\n"
        "    other: {sql: {pluginName: sqlite, databaseName: /nonexistent/x.db}}\n"
        f"    lite: {{sql: {{pluginName: sqlite, databaseName: {tmp_path / 'lite.db'}}}}}\n"
    )
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(config),
            "bench",
            "--store",
            "lite",
            "--json",
            "--quick",
            "--concurrency",
            "2",
            "--ops",
            "6",
            "--only",
            "task.get_tasks",
            "--only",
            "workflow lifecycle",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["machine"]["cpus"] >= 1
    (backend,) = report["backends"]
    assert backend["store"] == "lite" and backend["backend"] == "sqlite"
    assert [op["operation"] for op in backend["operations"]] == [
        "task.get_tasks",
        "workflow lifecycle",
    ]
    assert all(op["ratio"] > 0 for op in backend["operations"])
    assert backend["read_memory"]["events"] == 10_000
    assert backend["read_memory"]["traced_peak_mib"] < 100


def test_usage_mistakes_are_one_line(data_dir):
    unknown = CliRunner().invoke(cli, ["bench", "--only", "nope"])
    assert unknown.exit_code == 2
    assert "unknown operation(s) nope" in unknown.stderr
    levels = CliRunner().invoke(cli, ["bench", "--concurrency", "1,x"])
    assert levels.exit_code == 2
    assert "comma-separated integers" in levels.stderr


@pytest.mark.parametrize("slices", [1, 2, 3, 4, 7])
def test_slices_alternate_so_that_each_side_runs_as_often_and_as_early(slices):
    order = _slice_order(slices)
    raw = [step for step, is_raw in enumerate(order) if is_raw]
    ours = [step for step, is_raw in enumerate(order) if not is_raw]
    assert len(raw) == len(ours) == slices
    # raw-ours, ours-raw, ...: every pair of slices puts one side first, then the other.
    assert all(order[2 * n] != order[2 * n + 1] for n in range(slices))
    if slices % 2 == 0:
        assert sum(raw) == sum(ours)  # a steady drift favours neither side
