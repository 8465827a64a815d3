"""The workload records visibility as a server does and its integrity check compares list and
count answers with its model: it passes on every backend, and catches a store that loses
closes or returns a query's executions in the wrong order."""

from __future__ import annotations

import pytest

from persistence_cassandra.backends.cassandra import visibility_store as cassandra_visibility
from persistence_cassandra.backends.sql import visibility_query as sql_visibility
from persistence_cassandra.factory import wrap_bundle
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.workload import WorkloadOptions, run_workload

OPTIONS = WorkloadOptions(workflows=12, transitions=3, concurrency=4, seed=5)


async def test_the_workload_records_and_checks_visibility(stores: StoreBundle) -> None:
    report = await run_workload(wrap_bundle(stores), OPTIONS, default_shards=2)
    assert report.ok, [str(v) for v in report.integrity.violations]
    called = {(op.store, op.method) for op in report.operations if op.calls}
    assert {("visibility", "record_started"), ("visibility", "record_closed")} <= called
    assert ("visibility", "upsert_search_attributes") in called


async def test_a_store_answering_wrongly_is_caught(
    stores: StoreBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQL lists in the wrong direction; Cassandra drops the residual filter.
    monkeypatch.setitem(sql_visibility._OPERATORS, ">=", "<")
    monkeypatch.setattr(cassandra_visibility, "matches", lambda _expr, _record: True)
    report = await run_workload(wrap_bundle(stores), OPTIONS, default_shards=2)
    assert not report.ok
    assert any(v.where.startswith("visibility") for v in report.integrity.violations)
