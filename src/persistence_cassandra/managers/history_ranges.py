"""Pure range arithmetic over history branches: which ranges a read visits, what a fork
inherits, and which node ranges a branch deletion may remove.

A branch reads its history as a chain of ranges: its ancestors' ranges, then its own nodes from
its begin node onward. Forks never copy nodes; they only record ranges. That makes deletion a
reference-counting problem: a node range can be removed only when no other branch of the tree
still reads through it.
"""

from __future__ import annotations

from collections.abc import Iterable

from persistence_cassandra.errors import InvalidRequest
from persistence_cassandra.managers.history_token import BranchRange, HistoryBranch
from persistence_cassandra.records import HistoryBranchRange

__all__ = [
    "UNBOUNDED_NODE_ID",
    "delete_ranges",
    "fork_ancestors",
    "read_ranges",
]

UNBOUNDED_NODE_ID = 2**63 - 1
"""An exclusive end that no node id reaches (the largest signed 64-bit value)."""


def read_ranges(branch: HistoryBranch, min_node_id: int, max_node_id: int) -> list[BranchRange]:
    """The ranges a read of ``[min_node_id, max_node_id)`` visits, in node order, each clipped
    to the read's bounds; one store read per range (Cassandra has no OR across branches)."""
    own = BranchRange(branch.branch_id, branch.begin_node_id, UNBOUNDED_NODE_ID)
    selected: list[BranchRange] = []
    for candidate in (*branch.ancestors, own):
        begin = max(candidate.begin_node_id, min_node_id)
        end = min(candidate.end_node_id, max_node_id)
        if begin < end:
            selected.append(BranchRange(candidate.branch_id, begin, end))
    return selected


def fork_ancestors(branch: HistoryBranch, fork_node_id: int) -> tuple[BranchRange, ...]:
    """The ancestors of a branch forked from ``branch`` whose own nodes start at
    ``fork_node_id``."""
    if fork_node_id <= 1:
        raise InvalidRequest(f"fork node id must be > 1 (got {fork_node_id})")
    begin = branch.begin_node_id
    if fork_node_id > begin:
        # The fork point is in the branch's own nodes: inherit everything, then read the forked
        # branch itself up to the fork point.
        return (*branch.ancestors, BranchRange(branch.branch_id, begin, fork_node_id))
    # The fork point is inside (or at the end of) an ancestor range: keep the prefix of ranges
    # up to it, the last one cut at the fork point.
    kept: list[BranchRange] = []
    for ancestor in branch.ancestors:
        if ancestor.end_node_id >= fork_node_id:
            kept.append(BranchRange(ancestor.branch_id, ancestor.begin_node_id, fork_node_id))
            break
        kept.append(ancestor)
    return tuple(kept)


def delete_ranges(
    branch: HistoryBranch, tree_branches: Iterable[HistoryBranch]
) -> list[HistoryBranchRange]:
    """The node ranges deleting ``branch`` may remove, given every branch of its tree.

    Another branch keeps alive its own nodes (all of them) and its ancestors' nodes below each
    range's end. Walking the target's ranges from newest to oldest, an unreferenced range is
    deleted whole; the first referenced one is deleted only from the highest referenced end
    node, and the walk stops there, because whoever references a range also references every
    older range of the same lineage.
    """
    whole_branch = UNBOUNDED_NODE_ID
    referenced: dict[str, int] = {}
    for other in tree_branches:
        if other.branch_id == branch.branch_id:
            continue
        referenced[other.branch_id] = whole_branch
        for ancestor in other.ancestors:
            if referenced.get(ancestor.branch_id, 0) < ancestor.end_node_id:
                referenced[ancestor.branch_id] = ancestor.end_node_id
    own = BranchRange(branch.branch_id, branch.begin_node_id, whole_branch)
    deletions: list[HistoryBranchRange] = []
    for candidate in reversed((*branch.ancestors, own)):
        kept_below = referenced.get(candidate.branch_id)
        if kept_below is None:
            deletions.append(HistoryBranchRange(candidate.branch_id, candidate.begin_node_id))
            continue
        if kept_below != whole_branch:
            deletions.append(HistoryBranchRange(candidate.branch_id, kept_below))
        break
    return deletions
