"""The copy's pure parts: canonical encodings and multiset checksums, batching, the progress
file, the verification comparison, read-ahead paging, and which branches' nodes a page of tree
rows leads to."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from pathlib import Path

import pytest
from copy_support import open_stores
from hypothesis import given
from hypothesis import strategies as st

from persistence_cassandra.copy import (
    Census,
    CopyState,
    CopyStateError,
    RecordKind,
    StoreReader,
    Tally,
    compare_censuses,
)
from persistence_cassandra.copy.digest import canonical_bytes
from persistence_cassandra.copy.reader import branches_to_read, read_ahead
from persistence_cassandra.copy.target import MAX_BATCH_RECORDS, batches
from persistence_cassandra.errors import DataLoss
from persistence_cassandra.managers.history import HistoryBranchManager
from persistence_cassandra.managers.history_batch import HistoryEventBatch
from persistence_cassandra.records import DataBlob, Page


def test_canonical_bytes_tell_types_and_boundaries_apart():
    encodings = {
        canonical_bytes(fields)
        for fields in [
            (1,),
            ("1",),
            (b"1",),
            (True,),
            (None,),
            (DataBlob(b"1", ""),),
            ("ab", "c"),
            ("a", "bc"),
            (("a",), "bc"),
        ]
    }
    assert len(encodings) == 9


records = st.lists(
    st.tuples(st.text(max_size=5), st.integers(), st.binary(max_size=5)), max_size=20
)


@given(records, st.randoms())
def test_a_tally_does_not_depend_on_order(items, shuffle):
    first, second = Tally(), Tally()
    for item in items:
        first.add(item)
    reordered = list(items)
    shuffle.shuffle(reordered)
    for item in reordered:
        second.add(item)
    assert (first.count, first.total) == (second.count, second.total)


@given(records.filter(bool), st.data())
def test_a_changed_missing_or_repeated_record_changes_the_tally(items, data):
    base = Tally()
    for item in items:
        base.add(item)
    victim = data.draw(st.integers(0, len(items) - 1))
    changed, missing, repeated = Tally(), Tally(), Tally()
    for index, item in enumerate(items):
        changed.add((*item[:2], item[2] + b"!") if index == victim else item)
        if index != victim:
            missing.add(item)
        repeated.add(item)
    repeated.add(items[victim])
    assert changed.total != base.total
    assert (missing.count, missing.total) != (base.count, base.total)
    assert (repeated.count, repeated.total) != (base.count, base.total)


def test_batches_bound_records_and_bytes():
    sizes = [10] * 250
    cut = list(batches(sizes, lambda size: size))
    assert [len(b) for b in cut] == [MAX_BATCH_RECORDS, MAX_BATCH_RECORDS, 50]
    cut = list(batches([100, 100, 100, 500, 1], lambda size: size, max_bytes=250))
    assert cut == [[100, 100], [100], [500], [1]]
    assert list(batches([], lambda size: size)) == []


async def test_the_progress_file_round_trips_and_knows_its_copy(tmp_path: Path):
    path = tmp_path / "state.json"
    state = CopyState(path, "a (sqlite /a)", "b (sqlite /b)", target_was_empty=False)
    state.shard_ranges[3] = 7
    state.discovered_shards.add(9)
    unit = state.unit("executions/3")
    unit.token, unit.pages = b"\x00\xffpage", 4
    state.count("executions", 12)
    await state.save()
    loaded = CopyState.load(path, source="a (sqlite /a)", target="b (sqlite /b)")
    assert loaded is not None
    assert loaded.to_json() == state.to_json()
    assert loaded.units["executions/3"].token == b"\x00\xffpage"
    assert CopyState.load(tmp_path / "none.json", source="a", target="b") is None
    with pytest.raises(CopyStateError, match="belongs to a copy from a"):
        CopyState.load(path, source="a (sqlite /a)", target="c")
    path.write_text('{"format": 1}')
    with pytest.raises(CopyStateError, match="unreadable"):
        CopyState.load(path, source="a", target="b")


def test_verification_flags_counts_checksums_fencing_and_versions():
    source, target = Census(), Census()
    for census in (source, target):
        census.tally(RecordKind.NAMESPACES).add(("ns",))
        census.tally(RecordKind.TASKS).add(("t", 1))
    source.tally(RecordKind.TASKS).add(("t", 2))
    target.tally(RecordKind.TASKS).add(("t", 3))
    target.tally(RecordKind.HISTORY_NODES).add(("extra",))
    source.shard_ranges = {1: 5, 2: 5}
    target.shard_ranges = {1: 6, 2: 5}
    source.notification_version, target.notification_version = 3, 4
    rows = {row.label: row for row in compare_censuses(source, target)}
    assert rows["namespaces"].ok
    assert not rows["tasks"].ok and rows["tasks"].source_count == rows["tasks"].target_count
    assert not rows["history nodes"].ok
    assert not rows["shard range ids bumped"].ok
    assert rows["shard range ids bumped"].target_count == 1
    assert not rows["notification version"].ok
    dry = compare_censuses(source, None)
    assert len(dry) == len(RecordKind) and all(row.ok for row in dry)


async def test_read_ahead_yields_every_page_and_refuses_a_stuck_token():
    pages = {b"": Page([1, 2], b"a"), b"a": Page([], b"b"), b"b": Page([3], b"")}
    fetched: list[bytes] = []

    async def fetch(token: bytes) -> Page[int]:
        fetched.append(token)
        return pages[token]

    async with aclosing(read_ahead(fetch)) as reading:
        seen = [(page.items, following) async for page, following in reading]
    assert seen == [([1, 2], b"a"), ([], b"b"), ([3], b"")]

    async def stuck(token: bytes) -> Page[int]:
        return Page([1], b"same")

    with pytest.raises(DataLoss, match="same page token"):
        async with aclosing(read_ahead(stuck)) as reading:
            async for _ in reading:
                pass

    started = asyncio.Event()

    async def slow(token: bytes) -> Page[int]:
        if token:
            started.set()
            await asyncio.sleep(3600)
        return Page([0], b"next")

    async with aclosing(read_ahead(slow)) as reading:
        async for _ in reading:
            await started.wait()
            break  # aclosing cancels the read-ahead at once


async def test_an_orphaned_ancestor_is_read_once_through_the_smallest_fork():
    """Two forks read nodes 1..2 of a base branch whose tree row was deleted: exactly one of
    them (the smallest branch id) leads to the base branch's nodes."""
    store = {"sql": {"pluginName": "sqlite", "databaseName": ":memory:"}}
    async with open_stores(store, create=True) as bundle:
        history = HistoryBranchManager(bundle.history)
        base = history.new_branch_token()
        await history.append_history_nodes(
            1, base, HistoryEventBatch(1, [b"e1", b"e2"]), 1, 0, is_new_branch=True
        )
        await history.append_history_nodes(1, base, HistoryEventBatch(3, [b"e3"]), 2, 1)
        forks = [(await history.fork_history_branch(1, base, 3)).new_branch_token for _ in range(2)]
        await history.delete_history_branch(1, base)
        base_id = history.parse_branch_token(base).branch_id
        fork_ids = sorted(history.parse_branch_token(f).branch_id for f in forks)

        reader = StoreReader(bundle)
        rows = (await reader.tree_rows(10, b"")).items
        assert sorted(row.branch_id for row in rows) == fork_ids
        for page in ([rows[0]], [rows[1]], rows, list(reversed(rows))):
            sources = await branches_to_read(reader, page)
            orphans = [s for s in sources if s.branch_id == base_id]
            claims = fork_ids[0] in {row.branch_id for row in page}
            assert len(orphans) == (1 if claims else 0)
        nodes = await reader.nodes(orphans[0], 10, b"")
        assert [node.node_id for node in nodes.items] == [1]
