"""HistoryStore conformance at the row level: what the history manager relies on.

Rows of one branch come back in (node asc, txn desc) order or its exact mirror, bounded by
``[min_node_id, max_node_id)``, in pages; tree rows and exact-row deletes behave as documented.
"""

from __future__ import annotations

import uuid

from persistence_cassandra.managers.history_token import (
    HistoryBranch,
    HistoryTreeInfo,
    encode_tree_info,
)
from persistence_cassandra.records import (
    AppendHistoryNodesRequest,
    DataBlob,
    DeleteHistoryBranchRequest,
    HistoryBranchRange,
    HistoryNode,
    ReadHistoryBranchRequest,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import collect_pages, now, random_shard_id

__all__ = ["TestHistoryStoreRows"]

_ROWS = [(1, 1, 0), (3, 2, 1), (3, 5, 1), (5, 3, 2), (7, 4, 3)]
"""(node id, txn id, prev txn id) written by :meth:`Tree.write`."""
_END = 2**63 - 1


def _events(node_id: int, txn_id: int) -> DataBlob:
    return DataBlob(f"events:{node_id}:{txn_id}".encode(), "x-test")


def _tree_info(tree_id: str, branch_id: str) -> DataBlob:
    # A real tree-info blob, although the store treats it as opaque: the database is shared
    # with tests that scan every tree row through the history manager, which parses them.
    return encode_tree_info(HistoryTreeInfo(HistoryBranch(tree_id, branch_id), now()))


class Tree:
    def __init__(self, stores: StoreBundle) -> None:
        self.stores = stores
        self.shard_id = random_shard_id()
        self.tree_id = str(uuid.uuid4())
        self._infos: dict[str, DataBlob] = {}

    async def write(self, branch_id: str, rows: list[tuple[int, int, int]] = _ROWS) -> None:
        for index, (node_id, txn_id, prev_txn_id) in enumerate(rows):
            await self.stores.history.append_history_nodes(
                AppendHistoryNodesRequest(
                    shard_id=self.shard_id,
                    tree_id=self.tree_id,
                    branch_id=branch_id,
                    node_id=node_id,
                    txn_id=txn_id,
                    prev_txn_id=prev_txn_id,
                    events=_events(node_id, txn_id),
                    new_branch_tree_info=self.info(branch_id) if index == 0 else None,
                )
            )

    def info(self, branch_id: str) -> DataBlob:
        return self._infos.setdefault(branch_id, _tree_info(self.tree_id, branch_id))

    async def read(
        self,
        branch_id: str,
        low: int = 1,
        high: int = _END,
        *,
        page_size: int = 100,
        reverse: bool = False,
        metadata_only: bool = False,
    ) -> list[HistoryNode]:
        items, _ = await collect_pages(
            lambda token: self.stores.history.read_history_branch(
                ReadHistoryBranchRequest(
                    shard_id=self.shard_id,
                    tree_id=self.tree_id,
                    branch_id=branch_id,
                    min_node_id=low,
                    max_node_id=high,
                    page_size=page_size,
                    next_page_token=token,
                    reverse=reverse,
                    metadata_only=metadata_only,
                )
            )
        )
        return items

    async def keys(
        self,
        branch_id: str,
        low: int = 1,
        high: int = _END,
        *,
        page_size: int = 100,
        reverse: bool = False,
    ) -> list[tuple[int, int]]:
        rows = await self.read(branch_id, low, high, page_size=page_size, reverse=reverse)
        return [(r.node_id, r.txn_id) for r in rows]

    async def tree_rows(self) -> dict[str, DataBlob]:
        rows = await self.stores.history.get_history_tree_containing_branch(
            self.shard_id, self.tree_id
        )
        return {row.branch_id: row.tree_info for row in rows}


_FORWARD = [(1, 1), (3, 5), (3, 2), (5, 3), (7, 4)]


class TestHistoryStoreRows:
    async def test_rows_come_back_by_node_then_newest_transaction(
        self, stores: StoreBundle
    ) -> None:
        tree = Tree(stores)
        await tree.write("b")
        for page_size in (1, 2, 100):
            assert await tree.keys("b", page_size=page_size) == _FORWARD

    async def test_reverse_order_is_the_exact_mirror(self, stores: StoreBundle) -> None:
        tree = Tree(stores)
        await tree.write("b")
        for page_size in (1, 3, 100):
            assert await tree.keys("b", page_size=page_size, reverse=True) == _FORWARD[::-1]

    async def test_node_bounds_are_inclusive_below_and_exclusive_above(
        self, stores: StoreBundle
    ) -> None:
        tree = Tree(stores)
        await tree.write("b")
        assert await tree.keys("b", low=3, high=7) == [(3, 5), (3, 2), (5, 3)]
        assert await tree.keys("b", low=3, high=7, reverse=True) == [(5, 3), (3, 2), (3, 5)]
        assert await tree.keys("b", low=8) == []

    async def test_rows_carry_events_unless_metadata_only(self, stores: StoreBundle) -> None:
        tree = Tree(stores)
        await tree.write("b")
        full = await tree.read("b")
        assert [r.events for r in full] == [_events(n, t) for n, t in _FORWARD]
        assert [r.prev_txn_id for r in full] == [0, 1, 1, 2, 3]
        metadata = await tree.read("b", metadata_only=True)
        assert [(r.node_id, r.txn_id, r.prev_txn_id) for r in metadata] == [
            (r.node_id, r.txn_id, r.prev_txn_id) for r in full
        ]
        assert all(r.events is None for r in metadata)

    async def test_branches_hold_their_own_rows(self, stores: StoreBundle) -> None:
        tree = Tree(stores)
        await tree.write("first")
        await tree.write("second", [(1, 10, 0)])
        assert await tree.keys("second") == [(1, 10)]
        assert await tree.keys("first") == _FORWARD

    async def test_append_is_an_idempotent_upsert(self, stores: StoreBundle) -> None:
        tree = Tree(stores)
        await tree.write("b")
        await tree.write("b")
        assert await tree.keys("b") == _FORWARD

    async def test_a_new_branch_writes_its_tree_row(self, stores: StoreBundle) -> None:
        tree = Tree(stores)
        await tree.write("first")
        await tree.write("second", [(1, 10, 0)])
        assert await tree.tree_rows() == {
            "first": tree.info("first"),
            "second": tree.info("second"),
        }

    async def test_delete_one_exact_row(self, stores: StoreBundle) -> None:
        tree = Tree(stores)
        await tree.write("b")
        await stores.history.delete_history_nodes(tree.shard_id, tree.tree_id, "b", 3, 2)
        await stores.history.delete_history_nodes(tree.shard_id, tree.tree_id, "b", 4, 4)
        assert await tree.keys("b") == [(1, 1), (3, 5), (5, 3), (7, 4)]

    async def test_fork_writes_only_a_tree_row(self, stores: StoreBundle) -> None:
        tree = Tree(stores)
        await tree.write("base")
        await stores.history.fork_history_branch(
            tree.shard_id, tree.tree_id, "fork", tree.info("fork")
        )
        assert await tree.tree_rows() == {
            "base": tree.info("base"),
            "fork": tree.info("fork"),
        }
        assert await tree.keys("fork") == []

    async def test_delete_branch_removes_its_tree_row_and_the_given_ranges(
        self, stores: StoreBundle
    ) -> None:
        tree = Tree(stores)
        await tree.write("base")
        await tree.write("fork", [(5, 10, 2), (6, 11, 10)])
        await stores.history.delete_history_branch(
            DeleteHistoryBranchRequest(
                tree.shard_id,
                tree.tree_id,
                "base",
                [HistoryBranchRange("base", 5)],
            )
        )
        assert await tree.keys("base") == [(1, 1), (3, 5), (3, 2)]
        assert await tree.keys("fork") == [(5, 10), (6, 11)]
        assert set(await tree.tree_rows()) == {"fork"}
        await stores.history.delete_history_branch(
            DeleteHistoryBranchRequest(
                tree.shard_id,
                tree.tree_id,
                "fork",
                [HistoryBranchRange("fork", 5), HistoryBranchRange("base", 1)],
            )
        )
        assert await tree.keys("base") == []
        assert await tree.keys("fork") == []
        assert await tree.tree_rows() == {}

    async def test_scan_of_all_branches_returns_the_tree_rows(self, stores: StoreBundle) -> None:
        tree = Tree(stores)
        await tree.write("first")
        await tree.write("second", [(1, 10, 0)])
        items, _ = await collect_pages(
            lambda token: stores.history.get_all_history_tree_branches(3, token)
        )
        ours = {r.branch_id: r.tree_info for r in items if r.tree_id == tree.tree_id}
        assert ours == {"first": tree.info("first"), "second": tree.info("second")}
