"""The visibility bench at its CI size, 10k executions, on SQLite, PostgreSQL and Cassandra: every
case runs through the store and as the same statements sent raw, and the answers are the
populate's (the 1M run is documented in docs/benchmarks.md; no timing is asserted here)."""

from __future__ import annotations

from persistence_cassandra.backend import OpenOptions
from persistence_cassandra.bench.baseline import open_raw_baseline
from persistence_cassandra.bench.visibility_bench import run_visibility_bench
from persistence_cassandra.factory import open_persistence

EXECUTIONS = 10_000


async def test_visibility_bench_at_10k_against_the_raw_statements(bench_config) -> None:
    persistence = await open_persistence(bench_config, options=OpenOptions(create_schema=True))
    async with persistence:
        assert persistence.visibility is not None and persistence.raw.visibility is not None
        raw = await open_raw_baseline(bench_config.datastore())
        try:
            rows = await run_visibility_bench(
                persistence.visibility,
                persistence.raw.visibility,
                raw,
                backend=persistence.backend_name,
                executions=EXECUTIONS,
                repeats=1,
            )
        finally:
            await raw.close()
    for row in rows:
        print(
            f"{row.backend} {row.case} {row.shape} {row.call}: "
            f"ours {row.ours_ms:.2f} ms, raw {row.raw_ms:.2f} ms"
        )
    assert {(row.shape, row.call) for row in rows} >= {
        ("index", "first page"), ("index", "deep page"), ("index", "count"),
        ("merged", "first page"), ("merged", "deep page"), ("merged", "count"),
    }  # fmt: skip
    assert all(row.statements >= 1 and row.raw_ms > 0 and row.ours_ms > 0 for row in rows)
    pages = [row for row in rows if row.call != "count"]
    assert all(row.result == 50 for row in pages), [(r.case, r.call, r.result) for r in pages]
    counts = {row.case: row.result for row in rows if row.call == "count"}
    assert counts["type = payment"] == EXECUTIONS // 4
    assert counts["type IN (payment, refund)"] == EXECUTIONS // 2
