"""The transaction-id filters pick exactly the valid chain out of noisy rows."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persistence_cassandra.errors import DataLoss
from persistence_cassandra.managers.history_filter import (
    ForwardFilterState,
    NodeRef,
    filter_forward,
    filter_reverse,
    rows_off_chain,
)
from persistence_cassandra.records import HistoryNode


@dataclass
class History:
    chain: list[HistoryNode]
    """The valid batches, oldest first, each pointing at the previous one's txn."""
    noise: list[HistoryNode]


def _node(node_id: int, txn_id: int, prev_txn_id: int = 0) -> HistoryNode:
    return HistoryNode(node_id, txn_id, prev_txn_id, None)


@st.composite
def chains(draw: st.DrawFn) -> list[HistoryNode]:
    sizes = draw(st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=12))
    gaps = draw(st.lists(st.integers(min_value=1, max_value=5), min_size=len(sizes)))
    chain: list[HistoryNode] = []
    node_id, txn, prev = 1, 0, 0
    for size, gap in zip(sizes, gaps, strict=False):
        txn += gap * 10
        chain.append(_node(node_id, txn, prev))
        node_id, prev = node_id + size, txn
    return chain


@st.composite
def forward_histories(draw: st.DrawFn) -> History:
    """Noise the forward rule must drop: rows written before the valid row covering them."""
    chain = draw(chains())
    noise: list[HistoryNode] = []
    used = {(c.node_id, c.txn_id) for c in chain}
    for _ in range(draw(st.integers(min_value=0, max_value=15))):
        covering = draw(st.sampled_from(chain))
        index = chain.index(covering)
        upper = chain[index + 1].node_id if index + 1 < len(chain) else covering.node_id + 1
        node_id = draw(st.integers(min_value=covering.node_id, max_value=upper - 1))
        txn = draw(st.integers(min_value=0, max_value=covering.txn_id - 1))
        if (node_id, txn) not in used:
            used.add((node_id, txn))
            noise.append(_node(node_id, txn, draw(st.integers(min_value=0, max_value=txn))))
    return History(chain, noise)


def _forward_order(rows: list[HistoryNode]) -> list[HistoryNode]:
    return sorted(rows, key=lambda r: (r.node_id, -r.txn_id))


def _split(rows: list[HistoryNode], cuts: list[int]) -> list[list[HistoryNode]]:
    points = sorted({c % (len(rows) + 1) for c in cuts})
    pages, start = [], 0
    for point in [*points, len(rows)]:
        pages.append(rows[start:point])
        start = point
    return pages


@given(forward_histories(), st.lists(st.integers(min_value=0), max_size=6))
def test_forward_filter_returns_the_chain_whatever_the_pages(
    history: History, cuts: list[int]
) -> None:
    rows = _forward_order(history.chain + history.noise)
    state = ForwardFilterState()
    accepted: list[HistoryNode] = []
    for page in _split(rows, cuts):
        got, state = filter_forward(state, page)
        accepted += got
    assert accepted == history.chain
    assert state == ForwardFilterState(history.chain[-1].node_id, history.chain[-1].txn_id)


def test_forward_filter_higher_txn_shadows_lower_for_one_node() -> None:
    rows = [_node(1, 1), _node(3, 5, 1), _node(3, 2, 1), _node(5, 6, 5)]
    accepted, _ = filter_forward(ForwardFilterState(), rows)
    assert [(r.node_id, r.txn_id) for r in accepted] == [(1, 1), (3, 5), (5, 6)]


def test_forward_filter_skips_a_later_node_written_before_the_accepted_one() -> None:
    rows = [_node(1, 1), _node(3, 5, 1), _node(5, 4, 3), _node(7, 6, 5)]
    accepted, _ = filter_forward(ForwardFilterState(), rows)
    assert [(r.node_id, r.txn_id) for r in accepted] == [(1, 1), (3, 5), (7, 6)]


def test_forward_filter_rejects_rows_out_of_order() -> None:
    with pytest.raises(DataLoss):
        filter_forward(ForwardFilterState(), [_node(3, 5), _node(1, 6)])
    with pytest.raises(DataLoss):
        filter_forward(ForwardFilterState(), [_node(3, 5), _node(3, 6)])


@st.composite
def reverse_histories(draw: st.DrawFn) -> History:
    """Any noise: rows of failed writes, higher or lower txn ids, on or off chain node ids."""
    chain = draw(chains())
    chain_txns = {c.txn_id for c in chain}
    last = chain[-1].node_id
    noise: list[HistoryNode] = []
    used = {(c.node_id, c.txn_id) for c in chain}
    for _ in range(draw(st.integers(min_value=0, max_value=15))):
        node_id = draw(st.integers(min_value=1, max_value=last + 3))
        txn = draw(st.integers(min_value=1, max_value=500).filter(lambda t: t not in chain_txns))
        if (node_id, txn) not in used:
            used.add((node_id, txn))
            noise.append(_node(node_id, txn, draw(st.integers(min_value=0, max_value=txn - 1))))
    return History(chain, noise)


@given(reverse_histories(), st.lists(st.integers(min_value=0), max_size=6))
def test_reverse_filter_follows_the_chain_back(history: History, cuts: list[int]) -> None:
    rows = sorted(history.chain + history.noise, key=lambda r: (-r.node_id, r.txn_id))
    expected = history.chain[-1].txn_id
    accepted: list[HistoryNode] = []
    for page in _split(rows, cuts):
        got, expected = filter_reverse(expected, page)
        accepted += got
    assert accepted == list(reversed(history.chain))
    assert expected == 0


def _refs(rows: list[HistoryNode], branch_id: str = "b") -> list[NodeRef]:
    return [NodeRef(branch_id, r.node_id, r.txn_id, r.prev_txn_id) for r in rows]


@given(reverse_histories())
def test_rows_off_chain_are_exactly_the_noise_up_to_the_tail(history: History) -> None:
    tail = history.chain[-1]
    off = rows_off_chain(_refs(history.chain + history.noise), tail.node_id, tail.txn_id)
    assert off is not None
    expected = {r for r in _refs(history.noise) if r.node_id <= tail.node_id}
    assert set(off) == expected


@given(reverse_histories(), st.data())
def test_a_broken_chain_trims_nothing(history: History, data: st.DataObject) -> None:
    if len(history.chain) < 2:
        return
    missing = data.draw(st.integers(min_value=0, max_value=len(history.chain) - 2))
    rows = [r for i, r in enumerate(history.chain) if i != missing] + history.noise
    tail = history.chain[-1]
    assert rows_off_chain(_refs(rows), tail.node_id, tail.txn_id) is None


def test_an_unknown_tail_trims_nothing() -> None:
    rows = _refs([_node(1, 1), _node(3, 2, 1)])
    assert rows_off_chain(rows, 3, 99) is None
    assert rows_off_chain(rows, 5, 2) is None
