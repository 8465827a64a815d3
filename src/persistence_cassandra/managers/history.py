"""The history branch manager: the backend-independent logic above ``HistoryStore``.

A workflow's history is a tree of branches. A store only keeps raw rows, one per
(tree, branch, node, transaction), and tree rows; this manager gives them meaning:

* **tokens**: a branch token names a branch and the ancestor ranges it reads through;
* **append**: validates a batch, frames it into one blob, writes one node (plus the tree row
  of a new branch);
* **read**: walks the ancestor ranges, one store read per range, keeps the winning row of
  each node by transaction id, checks that event ids continue without gaps, and carries that
  state between pages in an opaque token, so memory stays bounded by the page size;
* **fork**: records a new branch's ancestors in a tree row; never copies events;
* **delete**: removes only the node ranges no other branch of the tree still reads;
* **trim**: removes rows that are not on the valid transaction chain (after a failed write).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from persistence_cassandra.errors import DataLoss, InvalidRequest, NotFound
from persistence_cassandra.managers.history_batch import (
    HistoryEventBatch,
    decode_batch,
    encode_batch,
)
from persistence_cassandra.managers.history_filter import (
    ForwardFilterState,
    NodeRef,
    filter_forward,
    filter_reverse,
    rows_off_chain,
)
from persistence_cassandra.managers.history_ranges import (
    UNBOUNDED_NODE_ID,
    delete_ranges,
    fork_ancestors,
    read_ranges,
)
from persistence_cassandra.managers.history_token import (
    BranchRange,
    ForwardPagingToken,
    HistoryBranch,
    HistoryTreeInfo,
    ReversePagingToken,
    decode_tree_info,
    encode_tree_info,
    parse_branch_token,
)
from persistence_cassandra.records import (
    AppendHistoryNodesRequest,
    DeleteHistoryBranchRequest,
    HistoryNode,
    HistoryTreeBranch,
    Page,
    ReadHistoryBranchRequest,
    truncate_to_ms,
)
from persistence_cassandra.stores import HistoryStore

__all__ = [
    "DEFAULT_TRANSACTION_SIZE_LIMIT",
    "MAX_EVENT_ID",
    "ForkedBranch",
    "HistoryBranchDetail",
    "HistoryBranchManager",
    "HistoryPage",
]

DEFAULT_TRANSACTION_SIZE_LIMIT = 4 * 1024 * 1024
"""Largest framed batch accepted by :meth:`HistoryBranchManager.append_history_nodes`."""

MAX_EVENT_ID = UNBOUNDED_NODE_ID
"""An exclusive upper bound that includes every event."""

_TRIM_PAGE_SIZE = 1000  # metadata-only rows: cheap, so large pages


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of a history read: whole batches, in read order."""

    batches: list[HistoryEventBatch]
    transaction_ids: list[int] = field(default_factory=list)
    """The transaction id of the node each batch came from, in the same order."""
    next_page_token: bytes = b""
    """Empty when there is nothing more to read."""
    size_bytes: int = 0
    """Stored size of the page's batches."""


@dataclass(frozen=True, slots=True)
class HistoryBranchDetail:
    """One branch row of a tree, parsed."""

    tree_id: str
    branch_id: str
    branch: HistoryBranch
    fork_time: datetime
    info: str

    @property
    def branch_token(self) -> bytes:
        return self.branch.token


def _now() -> datetime:
    return datetime.now(UTC)


def _detail(row: HistoryTreeBranch) -> HistoryBranchDetail:
    tree_info = decode_tree_info(row.tree_info)
    return HistoryBranchDetail(
        row.tree_id, row.branch_id, tree_info.branch, tree_info.fork_time, tree_info.info
    )


@dataclass(frozen=True, slots=True)
class ForkedBranch:
    """What :meth:`HistoryBranchManager.fork_history_branch` made."""

    new_branch_token: bytes
    base_branch_token: bytes
    """The branch whose own nodes hold the event just below the fork point: the forked branch
    itself, or, when the fork point lies in one of its ancestors' ranges, that ancestor (with
    the ancestry it has there). Temporal returns it so a reset can name where it forked."""


class HistoryBranchManager:
    """History branch operations over any :class:`~persistence_cassandra.stores.HistoryStore`.

    Node ids are first event ids; ``txn_id`` values must increase with every write of a shard
    (callers draw them from the shard's task id allocator), because that order decides which
    of several rows for one node is valid.
    """

    def __init__(
        self,
        store: HistoryStore,
        *,
        transaction_size_limit: int = DEFAULT_TRANSACTION_SIZE_LIMIT,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._store = store
        self._size_limit = transaction_size_limit
        self._clock = clock

    # ----------------------------------------------------------------------- tokens

    def new_branch_token(self, tree_id: str | None = None) -> bytes:
        """A token for the first branch of a tree (a new tree unless ``tree_id`` is given).

        Nothing is written until the first append with ``is_new_branch=True``.
        """
        return HistoryBranch(tree_id or str(uuid.uuid4()), str(uuid.uuid4())).token

    def parse_branch_token(self, token: bytes) -> HistoryBranch:
        """The branch a token names; ``InvalidRequest`` for a token this manager did not make."""
        return parse_branch_token(token)

    # ----------------------------------------------------------------------- append

    async def append_history_nodes(
        self,
        shard_id: int,
        branch_token: bytes,
        batch: HistoryEventBatch,
        txn_id: int,
        prev_txn_id: int,
        *,
        is_new_branch: bool = False,
        info: str = "",
    ) -> int:
        """Write ``batch`` as node ``batch.first_event_id`` of the branch; returns its stored
        size in bytes.

        ``prev_txn_id`` is the transaction id of the branch's previous batch (0 for the first
        batch of the history): reverse reads and trims follow that chain. Re-appending the same
        (node, txn) overwrites it, so a retry after a timeout is safe.
        """
        branch = parse_branch_token(branch_token)
        if not batch.events:
            raise InvalidRequest("a history batch needs at least one event")
        if batch.first_event_id < 1:
            raise InvalidRequest(f"event ids start at 1 (got {batch.first_event_id})")
        if batch.first_event_id < branch.begin_node_id:
            raise InvalidRequest(
                f"cannot append to ancestors' nodes: node {batch.first_event_id} is below the "
                f"branch's first own node {branch.begin_node_id}"
            )
        if txn_id < 1 or not 0 <= prev_txn_id < txn_id:
            raise InvalidRequest(
                f"transaction ids must satisfy 0 <= prev_txn_id < txn_id "
                f"(got prev_txn_id={prev_txn_id}, txn_id={txn_id})"
            )
        blob = encode_batch(batch)
        if len(blob.data) > self._size_limit:
            raise InvalidRequest(
                f"history batch of {len(blob.data)} bytes exceeds the limit of "
                f"{self._size_limit} bytes"
            )
        tree_info = None
        if is_new_branch:
            tree_info = encode_tree_info(
                HistoryTreeInfo(branch, truncate_to_ms(self._clock()), info)
            )
        await self._store.append_history_nodes(
            AppendHistoryNodesRequest(
                shard_id=shard_id,
                tree_id=branch.tree_id,
                branch_id=branch.branch_id,
                node_id=batch.first_event_id,
                txn_id=txn_id,
                prev_txn_id=prev_txn_id,
                events=blob,
                new_branch_tree_info=tree_info,
            )
        )
        return len(blob.data)

    # ----------------------------------------------------------------------- forward reads

    async def read_history_branch(
        self,
        shard_id: int,
        branch_token: bytes,
        min_event_id: int,
        max_event_id: int,
        page_size: int,
        next_page_token: bytes = b"",
    ) -> HistoryPage:
        """Batches whose first event id is in ``[min_event_id, max_event_id)``, in order.

        ``min_event_id`` must be the first event id of a batch. Pass the returned token back
        (with the same other arguments) to continue; ``page_size`` bounds the rows read per
        store call. ``NotFound`` when the first page holds nothing; ``DataLoss`` when stored
        batches do not continue each other.
        """
        _check_paging(page_size)
        if min_event_id < 1 or max_event_id <= min_event_id:
            raise InvalidRequest(
                f"need 1 <= min_event_id < max_event_id (got {min_event_id}, {max_event_id})"
            )
        branch = parse_branch_token(branch_token)
        ranges = read_ranges(branch, min_event_id, max_event_id)
        if next_page_token:
            token = ForwardPagingToken.decode(next_page_token)
        else:
            token = ForwardPagingToken(0, b"", 0, 0, min_event_id - 1)
        if not 0 <= token.range_index <= len(ranges):
            raise InvalidRequest("history paging token does not belong to this read")
        state = ForwardFilterState(token.last_node_id, token.last_txn_id)
        range_index, store_token, last_event_id = (
            token.range_index,
            token.store_token,
            token.last_event_id,
        )
        batches: list[HistoryEventBatch] = []
        txn_ids: list[int] = []
        size = 0
        # Keep reading until something is accepted or the read ends: a store page of shadowed
        # rows, or a range with nothing left, never reaches callers as an empty page.
        while range_index < len(ranges) and not batches:
            current = ranges[range_index]
            page = await self._store.read_history_branch(
                ReadHistoryBranchRequest(
                    shard_id=shard_id,
                    tree_id=branch.tree_id,
                    branch_id=current.branch_id,
                    min_node_id=current.begin_node_id,
                    max_node_id=current.end_node_id,
                    page_size=page_size,
                    next_page_token=store_token,
                )
            )
            accepted, state = filter_forward(state, page.items)
            for row in accepted:
                batch, stored_size = _decode_row(row)
                if batch.first_event_id != last_event_id + 1:
                    raise DataLoss(
                        f"history of tree {branch.tree_id} is not contiguous: batch starts at "
                        f"event {batch.first_event_id}, expected {last_event_id + 1}"
                    )
                last_event_id = batch.last_event_id
                batches.append(batch)
                txn_ids.append(row.txn_id)
                size += stored_size
            if page.next_page_token:
                store_token = page.next_page_token
            else:
                range_index, store_token = range_index + 1, b""
        if not batches and not next_page_token:
            raise NotFound(f"history branch {branch.branch_id} of tree {branch.tree_id} is empty")
        more = range_index < len(ranges)
        token_out = b""
        if more:
            token_out = ForwardPagingToken(
                range_index, store_token, state.last_node_id, state.last_txn_id, last_event_id
            ).encode()
        return HistoryPage(batches, txn_ids, token_out, size)

    async def iter_history(
        self,
        shard_id: int,
        branch_token: bytes,
        min_event_id: int = 1,
        max_event_id: int = MAX_EVENT_ID,
        page_size: int = 100,
    ) -> AsyncIterator[HistoryEventBatch]:
        """Every batch of ``[min_event_id, max_event_id)``, one page in memory at a time."""
        token = b""
        while True:
            page = await self.read_history_branch(
                shard_id, branch_token, min_event_id, max_event_id, page_size, token
            )
            for batch in page.batches:
                yield batch
            if not page.next_page_token:
                return
            token = page.next_page_token

    # ----------------------------------------------------------------------- reverse reads

    async def read_history_branch_reverse(
        self,
        shard_id: int,
        branch_token: bytes,
        max_event_id: int,
        last_first_txn_id: int,
        page_size: int,
        next_page_token: bytes = b"",
    ) -> HistoryPage:
        """Batches from newest to oldest, ending before ``max_event_id`` (the run's next event
        id), following ``prev_txn_id`` back from ``last_first_txn_id`` (the transaction of the
        run's last batch). Events inside each batch keep their order."""
        _check_paging(page_size)
        if max_event_id <= 1:
            raise InvalidRequest(f"max_event_id must be > 1 (got {max_event_id})")
        branch = parse_branch_token(branch_token)
        ranges = read_ranges(branch, 1, max_event_id)
        if next_page_token:
            token = ReversePagingToken.decode(next_page_token)
        else:
            token = ReversePagingToken(len(ranges) - 1, b"", last_first_txn_id, max_event_id - 1)
        if not -1 <= token.range_index < len(ranges):
            raise InvalidRequest("history paging token does not belong to this read")
        range_index, store_token = token.range_index, token.store_token
        expected_txn, expected_last_event = token.expected_txn_id, token.next_last_event_id
        batches: list[HistoryEventBatch] = []
        txn_ids: list[int] = []
        size = 0
        while range_index >= 0 and expected_txn != 0 and not batches:
            current = ranges[range_index]
            page = await self._store.read_history_branch(
                ReadHistoryBranchRequest(
                    shard_id=shard_id,
                    tree_id=branch.tree_id,
                    branch_id=current.branch_id,
                    min_node_id=current.begin_node_id,
                    max_node_id=current.end_node_id,
                    page_size=page_size,
                    next_page_token=store_token,
                    reverse=True,
                )
            )
            accepted, expected_txn = filter_reverse(expected_txn, page.items)
            for row in accepted:
                batch, stored_size = _decode_row(row)
                if batch.last_event_id != expected_last_event:
                    raise DataLoss(
                        f"history of tree {branch.tree_id} is not contiguous: batch ends at "
                        f"event {batch.last_event_id}, expected {expected_last_event}"
                    )
                expected_last_event = batch.first_event_id - 1
                batches.append(batch)
                txn_ids.append(row.txn_id)
                size += stored_size
            if page.next_page_token:
                store_token = page.next_page_token
            else:
                range_index, store_token = range_index - 1, b""
        if not batches and not next_page_token:
            raise NotFound(
                f"history branch {branch.branch_id} of tree {branch.tree_id} has no batch with "
                f"transaction id {last_first_txn_id}"
            )
        if expected_txn != 0 and range_index < 0:
            raise DataLoss(
                f"history of tree {branch.tree_id}: transaction {expected_txn} is missing"
            )
        token_out = b""
        if expected_txn != 0:
            token_out = ReversePagingToken(
                range_index, store_token, expected_txn, expected_last_event
            ).encode()
        return HistoryPage(batches, txn_ids, token_out, size)

    # ----------------------------------------------------------------------- fork

    async def fork_history_branch(
        self, shard_id: int, branch_token: bytes, fork_node_id: int, info: str = ""
    ) -> ForkedBranch:
        """Create a branch that shares the history below ``fork_node_id`` (a batch's first
        event id, > 1); returns its token and the base branch's. Only a tree row is written."""
        branch = parse_branch_token(branch_token)
        ancestors = fork_ancestors(branch, fork_node_id)
        new_branch = HistoryBranch(branch.tree_id, str(uuid.uuid4()), ancestors)
        tree_info = encode_tree_info(
            HistoryTreeInfo(new_branch, truncate_to_ms(self._clock()), info)
        )
        await self._store.fork_history_branch(
            shard_id, branch.tree_id, new_branch.branch_id, tree_info
        )
        # The last inherited range is the branch holding the fork point's last event.
        owner = ancestors[-1]
        base = (
            branch
            if owner.branch_id == branch.branch_id
            else HistoryBranch(branch.tree_id, owner.branch_id, ancestors[:-1])
        )
        return ForkedBranch(new_branch.token, base.token)

    # ----------------------------------------------------------------------- delete, trim

    async def delete_history_branch(self, shard_id: int, branch_token: bytes) -> None:
        """Delete the branch's tree row and every node range no other branch still reads."""
        branch = parse_branch_token(branch_token)
        tree = await self.get_history_tree(shard_id, branch.tree_id)
        ranges = delete_ranges(branch, [detail.branch for detail in tree])
        await self._store.delete_history_branch(
            DeleteHistoryBranchRequest(shard_id, branch.tree_id, branch.branch_id, ranges)
        )

    async def trim_history_branch(
        self, shard_id: int, branch_token: bytes, last_node_id: int, last_txn_id: int
    ) -> int:
        """Delete the branch's own rows up to ``last_node_id`` that are not on the transaction
        chain ending at (``last_node_id``, ``last_txn_id``), the run's last committed batch.

        Best effort: when that chain cannot be followed back to the first node nothing is
        deleted. Ancestors' rows are never deleted (other branches read them). Returns the
        number of rows deleted.
        """
        branch = parse_branch_token(branch_token)
        if last_node_id < 1:
            return 0
        rows: list[NodeRef] = []
        for current in read_ranges(branch, 1, last_node_id + 1):
            rows.extend(await self._metadata_rows(shard_id, branch.tree_id, current))
        off_chain = rows_off_chain(rows, last_node_id, last_txn_id)
        if off_chain is None:
            return 0
        own = [row for row in off_chain if row.branch_id == branch.branch_id]
        for row in own:
            await self._store.delete_history_nodes(
                shard_id, branch.tree_id, branch.branch_id, row.node_id, row.txn_id
            )
        return len(own)

    async def _metadata_rows(
        self, shard_id: int, tree_id: str, current: BranchRange
    ) -> list[NodeRef]:
        found: list[NodeRef] = []
        token = b""
        while True:
            page = await self._store.read_history_branch(
                ReadHistoryBranchRequest(
                    shard_id=shard_id,
                    tree_id=tree_id,
                    branch_id=current.branch_id,
                    min_node_id=current.begin_node_id,
                    max_node_id=current.end_node_id,
                    page_size=_TRIM_PAGE_SIZE,
                    next_page_token=token,
                    metadata_only=True,
                )
            )
            found.extend(
                NodeRef(current.branch_id, row.node_id, row.txn_id, row.prev_txn_id)
                for row in page.items
            )
            if not page.next_page_token:
                return found
            token = page.next_page_token

    # ----------------------------------------------------------------------- trees

    async def get_history_tree(self, shard_id: int, tree_id: str) -> list[HistoryBranchDetail]:
        """Every branch of the tree (empty when the tree has none)."""
        rows = await self._store.get_history_tree_containing_branch(shard_id, tree_id)
        return [_detail(row) for row in rows]

    async def get_all_history_tree_branches(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[HistoryBranchDetail]:
        """Every branch of every tree, in pages (for the scavenger; may skip or repeat rows
        under concurrent change)."""
        _check_paging(page_size)
        page = await self._store.get_all_history_tree_branches(page_size, next_page_token)
        return Page([_detail(row) for row in page.items], page.next_page_token)


def _check_paging(page_size: int) -> None:
    if page_size < 1:
        raise InvalidRequest(f"page_size must be >= 1 (got {page_size})")


def _decode_row(row: HistoryNode) -> tuple[HistoryEventBatch, int]:
    """The row's batch and its stored size; a batch that does not match its node is data loss
    (node ids are first event ids)."""
    if row.events is None:
        raise DataLoss(f"history node {row.node_id} came back without its events")
    batch = decode_batch(row.events)
    if batch.first_event_id != row.node_id or not batch.events:
        raise DataLoss(
            f"history node {row.node_id} holds a batch starting at event {batch.first_event_id}"
        )
    return batch, len(row.events.data)
