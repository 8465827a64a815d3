"""Range arithmetic of history branches, checked against a model of a forked tree.

The model: every branch writes its own nodes ``[begin, end)``; a branch reads node ``n`` from
the branch whose range holds it. Forks, reads and deletions must agree with that model.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from persistence_cassandra.errors import InvalidRequest
from persistence_cassandra.managers.history_ranges import (
    UNBOUNDED_NODE_ID,
    delete_ranges,
    fork_ancestors,
    read_ranges,
)
from persistence_cassandra.managers.history_token import BranchRange, HistoryBranch


@dataclass
class Tree:
    branches: dict[str, HistoryBranch]
    written_end: dict[str, int]
    """Exclusive end of each branch's own written nodes."""

    def owner(self, branch: HistoryBranch, node_id: int) -> str:
        for ancestor in branch.ancestors:
            if ancestor.begin_node_id <= node_id < ancestor.end_node_id:
                return ancestor.branch_id
        assert node_id >= branch.begin_node_id
        return branch.branch_id

    def needed(self, branch_id: str) -> set[tuple[str, int]]:
        branch = self.branches[branch_id]
        return {(self.owner(branch, n), n) for n in range(1, self.written_end[branch_id])}

    def rows(self) -> set[tuple[str, int]]:
        return {
            (branch_id, n)
            for branch_id, branch in self.branches.items()
            for n in range(branch.begin_node_id, self.written_end[branch_id])
        }


@st.composite
def trees(draw: st.DrawFn) -> Tree:
    root = HistoryBranch("tree", "b0")
    tree = Tree({"b0": root}, {"b0": draw(st.integers(min_value=2, max_value=30))})
    for index in range(1, draw(st.integers(min_value=0, max_value=6)) + 1):
        parent = tree.branches[draw(st.sampled_from(sorted(tree.branches)))]
        readable_end = tree.written_end[parent.branch_id]
        if readable_end < 2:
            continue
        fork = draw(st.integers(min_value=2, max_value=readable_end))
        child = HistoryBranch("tree", f"b{index}", fork_ancestors(parent, fork))
        tree.branches[child.branch_id] = child
        tree.written_end[child.branch_id] = fork + draw(st.integers(min_value=0, max_value=10))
    return tree


def _contiguous_from_one(ranges: tuple[BranchRange, ...]) -> bool:
    begin = 1
    for r in ranges:
        if r.begin_node_id != begin or r.end_node_id <= r.begin_node_id:
            return False
        begin = r.end_node_id
    return True


@given(trees())
def test_fork_shares_the_parent_view_below_the_fork_point(tree: Tree) -> None:
    for branch in tree.branches.values():
        assert _contiguous_from_one(branch.ancestors)
    for branch_id, branch in tree.branches.items():
        for n in range(1, branch.begin_node_id):
            # every node below the fork point is read from a branch that wrote it
            assert (tree.owner(branch, n), n) in tree.rows(), (branch_id, n)


@given(trees(), st.data())
def test_fork_ancestors_end_at_the_fork_point(tree: Tree, data: st.DataObject) -> None:
    parent = tree.branches[data.draw(st.sampled_from(sorted(tree.branches)))]
    fork = data.draw(st.integers(min_value=2, max_value=max(2, tree.written_end[parent.branch_id])))
    ancestors = fork_ancestors(parent, fork)
    assert ancestors[-1].end_node_id == fork
    assert _contiguous_from_one(ancestors)
    child = HistoryBranch("tree", "child", ancestors)
    for n in range(1, fork):
        assert tree.owner(child, n) == tree.owner(parent, n)


@pytest.mark.parametrize("fork_node_id", [1, 0, -5])
def test_fork_at_or_below_the_first_node_is_invalid(fork_node_id: int) -> None:
    with pytest.raises(InvalidRequest):
        fork_ancestors(HistoryBranch("t", "b"), fork_node_id)


@given(trees(), st.data())
def test_read_ranges_cover_the_read_exactly(tree: Tree, data: st.DataObject) -> None:
    branch = tree.branches[data.draw(st.sampled_from(sorted(tree.branches)))]
    low = data.draw(st.integers(min_value=1, max_value=40))
    high = data.draw(st.integers(min_value=low + 1, max_value=60))
    ranges = read_ranges(branch, low, high)
    covered = [(r.branch_id, n) for r in ranges for n in range(r.begin_node_id, r.end_node_id)]
    assert covered == [(tree.owner(branch, n), n) for n in range(low, high)]


def test_read_ranges_of_a_fresh_branch_are_its_own_open_range() -> None:
    branch = HistoryBranch("t", "b")
    assert read_ranges(branch, 1, UNBOUNDED_NODE_ID) == [BranchRange("b", 1, UNBOUNDED_NODE_ID)]


def _apply_delete(tree: Tree, rows: set[tuple[str, int]], branch_id: str) -> set[tuple[str, int]]:
    branch = tree.branches.pop(branch_id)
    ranges = delete_ranges(branch, [branch, *tree.branches.values()])
    return {
        (owner, n)
        for owner, n in rows
        if not any(r.branch_id == owner and n >= r.begin_node_id for r in ranges)
    }


@settings(max_examples=300)
@given(trees(), st.randoms(use_true_random=False))
def test_deleting_branches_keeps_exactly_what_the_rest_reads(tree: Tree, rng: object) -> None:
    import random

    assert isinstance(rng, random.Random)
    rows = tree.rows()
    order = sorted(tree.branches)
    rng.shuffle(order)
    for branch_id in order:
        rows = _apply_delete(tree, rows, branch_id)
        still_needed: set[tuple[str, int]] = set()
        for other in tree.branches:
            still_needed |= tree.needed(other)
        assert rows == still_needed
    assert rows == set()


def test_delete_of_a_fork_keeps_the_base_branch() -> None:
    base = HistoryBranch("t", "base")
    fork = HistoryBranch("t", "fork", fork_ancestors(base, 5))
    ranges = delete_ranges(fork, [base, fork])
    assert [(r.branch_id, r.begin_node_id) for r in ranges] == [("fork", 5)]


def test_delete_of_a_base_keeps_what_the_fork_reads() -> None:
    base = HistoryBranch("t", "base")
    fork = HistoryBranch("t", "fork", fork_ancestors(base, 5))
    ranges = delete_ranges(base, [base, fork])
    assert [(r.branch_id, r.begin_node_id) for r in ranges] == [("base", 5)]
