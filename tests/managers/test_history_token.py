"""Branch tokens, tree-info blobs and paging tokens round-trip, and bad input is rejected."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persistence_cassandra.errors import DataLoss, InvalidRequest
from persistence_cassandra.managers.history_token import (
    BranchRange,
    ForwardPagingToken,
    HistoryBranch,
    HistoryTreeInfo,
    ReversePagingToken,
    decode_tree_info,
    encode_branch_token,
    encode_tree_info,
    parse_branch_token,
)
from persistence_cassandra.records import DataBlob, truncate_to_ms

ids = st.text(min_size=1, max_size=40)


@st.composite
def branches(draw: st.DrawFn) -> HistoryBranch:
    ends = sorted(draw(st.sets(st.integers(min_value=2, max_value=10**12), max_size=6)))
    ancestors = []
    begin = 1
    for end in ends:
        ancestors.append(BranchRange(draw(ids), begin, end))
        begin = end
    return HistoryBranch(draw(ids), draw(ids), tuple(ancestors))


@given(branches())
def test_branch_token_round_trips(branch: HistoryBranch) -> None:
    token = encode_branch_token(branch)
    assert parse_branch_token(token) == branch
    assert branch.token == token


@given(branches())
def test_begin_node_is_where_the_last_ancestor_ends(branch: HistoryBranch) -> None:
    expected = branch.ancestors[-1].end_node_id if branch.ancestors else 1
    assert branch.begin_node_id == expected


@given(st.binary(max_size=200))
def test_garbage_tokens_raise_invalid_request_only(data: bytes) -> None:
    with contextlib.suppress(InvalidRequest):
        parse_branch_token(data)


@pytest.mark.parametrize(
    "document",
    [
        {"v": 2, "tree_id": "t", "branch_id": "b", "ancestors": []},
        {"v": 1, "tree_id": "", "branch_id": "b", "ancestors": []},
        {"v": 1, "tree_id": "t", "branch_id": 3, "ancestors": []},
        # not starting at node 1
        {"v": 1, "tree_id": "t", "branch_id": "b", "ancestors": [
            {"branch_id": "a", "begin_node_id": 2, "end_node_id": 5}]},
        # a gap between ranges
        {"v": 1, "tree_id": "t", "branch_id": "b", "ancestors": [
            {"branch_id": "a", "begin_node_id": 1, "end_node_id": 5},
            {"branch_id": "c", "begin_node_id": 6, "end_node_id": 9}]},
        # an empty range
        {"v": 1, "tree_id": "t", "branch_id": "b", "ancestors": [
            {"branch_id": "a", "begin_node_id": 1, "end_node_id": 1}]},
        {"v": 1, "tree_id": "t", "branch_id": "b", "ancestors": [
            {"branch_id": "a", "begin_node_id": 1, "end_node_id": "5"}]},
        ["not", "an", "object"],
    ],
)  # fmt: skip
def test_malformed_tokens_are_invalid_requests(document: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_branch_token(json.dumps(document).encode())


@given(
    branches(),
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(UTC),
    ),
    st.text(max_size=50),
)
def test_tree_info_round_trips(branch: HistoryBranch, when: datetime, info: str) -> None:
    tree_info = HistoryTreeInfo(branch, truncate_to_ms(when), info)
    assert decode_tree_info(encode_tree_info(tree_info)) == tree_info


def test_tree_info_with_a_foreign_encoding_is_data_loss() -> None:
    with pytest.raises(DataLoss):
        decode_tree_info(DataBlob(b"{}", "proto3"))
    with pytest.raises(DataLoss):
        decode_tree_info(DataBlob(b"{", "pc-tree-info/v1+json"))


counters = st.integers(min_value=0, max_value=2**63 - 1)


@given(st.integers(min_value=0, max_value=50), st.binary(max_size=64), counters, counters, counters)
def test_forward_paging_token_round_trips(
    index: int, store: bytes, node: int, txn: int, event: int
) -> None:
    token = ForwardPagingToken(index, store, node, txn, event)
    assert ForwardPagingToken.decode(token.encode()) == token


@given(st.integers(min_value=-1, max_value=50), st.binary(max_size=64), counters, counters)
def test_reverse_paging_token_round_trips(index: int, store: bytes, txn: int, event: int) -> None:
    token = ReversePagingToken(index, store, txn, event)
    assert ReversePagingToken.decode(token.encode()) == token


def test_paging_tokens_of_one_direction_are_rejected_by_the_other() -> None:
    forward = ForwardPagingToken(0, b"", 0, 0, 0).encode()
    with pytest.raises(InvalidRequest):
        ReversePagingToken.decode(forward)
    with pytest.raises(InvalidRequest):
        ForwardPagingToken.decode(b"not json")
