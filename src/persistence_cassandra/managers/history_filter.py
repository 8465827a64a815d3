"""Pure filters that pick the valid history nodes out of raw rows, by transaction id.

Several rows may exist for one node id: a write whose mutable-state update failed leaves its
node behind, and the retry writes the same node id again with a higher transaction id. Writers
draw transaction ids from an increasing sequence, so:

* for one node id the highest transaction id wins (rows arrive highest first);
* a row whose transaction id is below the last accepted one was written before it and is
  stale, whatever its node id.

Reverse reads cannot use that rule (they meet the newest rows first), so they follow the
``prev_txn_id`` chain back from a transaction id the caller knows is valid. Trimming uses the
same chain to find the rows that are not on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from persistence_cassandra.errors import DataLoss
from persistence_cassandra.records import HistoryNode

__all__ = [
    "ForwardFilterState",
    "NodeRef",
    "filter_forward",
    "filter_reverse",
    "rows_off_chain",
]


@dataclass(frozen=True, slots=True)
class ForwardFilterState:
    """The last node accepted by a forward read (``0, 0`` before the first)."""

    last_node_id: int = 0
    last_txn_id: int = 0


def filter_forward(
    state: ForwardFilterState, rows: Iterable[HistoryNode]
) -> tuple[list[HistoryNode], ForwardFilterState]:
    """Accept the winning rows of a (node asc, txn desc) stream; returns them and the state to
    carry into the next page. Rows out of order raise ``DataLoss``."""
    accepted: list[HistoryNode] = []
    last_node, last_txn = state.last_node_id, state.last_txn_id
    for row in rows:
        if row.txn_id < last_txn:
            continue  # written before the accepted row: stale or shadowed
        if row.node_id < last_node:
            raise DataLoss(f"history node ids decrease ({row.node_id} after {last_node})")
        if row.node_id == last_node:
            raise DataLoss(
                f"history node {row.node_id}: transaction {row.txn_id} arrived after "
                f"the accepted transaction {last_txn}"
            )
        accepted.append(row)
        last_node, last_txn = row.node_id, row.txn_id
    return accepted, ForwardFilterState(last_node, last_txn)


def filter_reverse(
    expected_txn_id: int, rows: Iterable[HistoryNode]
) -> tuple[list[HistoryNode], int]:
    """Accept the rows of a (node desc, txn asc) stream that are on the transaction chain
    starting at ``expected_txn_id``; returns them and the transaction expected next (0 once
    the first batch of the history was accepted)."""
    accepted: list[HistoryNode] = []
    for row in rows:
        if expected_txn_id == 0:
            break
        if row.txn_id != expected_txn_id:
            continue
        accepted.append(row)
        expected_txn_id = row.prev_txn_id
    return accepted, expected_txn_id


@dataclass(frozen=True, slots=True)
class NodeRef:
    """Where one stored row is, without its events."""

    branch_id: str
    node_id: int
    txn_id: int
    prev_txn_id: int


def rows_off_chain(
    rows: Iterable[NodeRef], tail_node_id: int, tail_txn_id: int, first_node_id: int = 1
) -> list[NodeRef] | None:
    """The rows with node id <= ``tail_node_id`` that are not on the chain ending at
    (``tail_node_id``, ``tail_txn_id``), or ``None`` when that chain cannot be followed back
    to the first node (then nothing can be trimmed safely)."""
    candidates = [row for row in rows if row.node_id <= tail_node_id]
    by_txn: dict[int, NodeRef] = {}
    for row in candidates:
        by_txn[row.txn_id] = row
    chain: set[NodeRef] = set()
    current = by_txn.get(tail_txn_id)
    if current is None or current.node_id != tail_node_id:
        return None
    while True:
        if current in chain:
            return None  # a cycle: the chain is corrupted
        chain.add(current)
        if current.node_id == first_node_id:
            if current.prev_txn_id != 0:
                return None
            break
        previous = by_txn.get(current.prev_txn_id)
        if previous is None or previous.node_id >= current.node_id:
            return None
        current = previous
    return [row for row in candidates if row not in chain]
