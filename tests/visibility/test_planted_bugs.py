"""The visibility checks can fail: planted bugs in a backend are caught by them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from persistence_cassandra.backends.cassandra import visibility_store as cassandra_visibility
from persistence_cassandra.backends.sql import visibility_query as sql_visibility
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.suite.visibility import check_close_survived
from persistence_cassandra.testing.visibility_data import (
    VisibilityPair,
    collect_listing,
    history_start,
    new_namespace,
)
from persistence_cassandra.visibility.records import ExecutionStatus, VisibilityStart
from persistence_cassandra.visibility.reference_store import ReferenceVisibilityStore

PLANTED_QUERIES = ["Amount < 30", "Amount < 30 OR Note STARTS_WITH 'hel'", "Note = 'help'"]


async def test_a_wrong_answer_is_caught(
    stores: StoreBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQL: '<' compiled as '<='. Cassandra: residual predicates no longer evaluated.
    monkeypatch.setitem(sql_visibility._OPERATORS, "<", "<=")
    monkeypatch.setattr(cassandra_visibility, "matches", lambda _expr, _record: True)
    assert stores.visibility is not None
    pair = VisibilityPair(stores.visibility, ReferenceVisibilityStore(), new_namespace())
    await pair.register()
    await pair.populate(30)
    mismatches = [
        query
        for query in PLANTED_QUERIES
        if await collect_listing(pair.store, pair.namespace_id, query, 5)
        != await collect_listing(pair.model, pair.namespace_id, query, 5)
    ]
    assert mismatches, "the planted bug went unnoticed"


async def test_an_upsert_that_undoes_a_close_is_caught(stores: StoreBundle) -> None:
    store = stores.visibility
    assert store is not None
    namespace_id = new_namespace()
    start_time = history_start()
    await store.record_started(
        VisibilityStart(namespace_id, "wf", "run", "t", "q", start_time, start_time)
    )
    stale = await store.get_execution(namespace_id, "run")
    await store.record_closed(
        namespace_id, "run", close_time=start_time + timedelta(seconds=1),
        status=ExecutionStatus.COMPLETED, history_length=1, history_size_bytes=1,
    )  # fmt: skip
    await store.save_record(stale)  # an "upsert" that rewrites the whole, stale row
    with pytest.raises(AssertionError, match="close undone"):
        check_close_survived(await store.get_execution(namespace_id, "run"), {})
