"""History events as raw rows of a branch tree; ancestry and shadowing live in the manager.

``history_node.txn_id`` is stored negated: ascending (node_id, txn_id) order then yields, for
each node, the highest transaction id (the winner) first, which is the forward read order.
"""

from __future__ import annotations

from persistence_cassandra.backends.sql.paging import check_page_size, decode_token, split_page
from persistence_cassandra.backends.sql.statements import sql_statements
from persistence_cassandra.backends.sql.transaction import Row, TransactionRunner, Tx
from persistence_cassandra.records import (
    AppendHistoryNodesRequest,
    DataBlob,
    DeleteHistoryBranchRequest,
    HistoryNode,
    HistoryTreeBranch,
    Page,
    ReadHistoryBranchRequest,
)
from persistence_cassandra.stores import HistoryStore

__all__ = ["SqlHistoryStore"]

_BRANCH_WHERE = "shard_id = ? AND tree_id = ? AND branch_id = ?"


def _node(row: Row, metadata_only: bool) -> HistoryNode:
    return HistoryNode(
        node_id=row[0],
        txn_id=-row[1],
        prev_txn_id=row[2],
        events=None if metadata_only else DataBlob(row[3], row[4]),
    )


class SqlHistoryStore:
    def __init__(self, runner: TransactionRunner) -> None:
        self._runner = runner
        statements = sql_statements(runner.dialect)
        self._upsert_node = statements.upsert_node
        self._upsert_tree = statements.upsert_tree

    async def append_history_nodes(self, request: AppendHistoryNodesRequest) -> None:
        node_params = (
            request.shard_id,
            request.tree_id,
            request.branch_id,
            request.node_id,
            -request.txn_id,
            request.prev_txn_id,
            request.events.data,
            request.events.encoding,
        )
        tree_info = request.new_branch_tree_info

        def append(tx: Tx) -> None:
            tx.defer(self._upsert_node, node_params)
            if tree_info is not None:
                tx.defer(
                    self._upsert_tree,
                    (
                        request.shard_id,
                        request.tree_id,
                        request.branch_id,
                        tree_info.data,
                        tree_info.encoding,
                    ),
                )

        await self._runner.write(append)

    async def read_history_branch(self, request: ReadHistoryBranchRequest) -> Page[HistoryNode]:
        check_page_size(request.page_size)
        position = decode_token(request.next_page_token, 2)
        columns = "node_id, txn_id, prev_txn_id" + (
            "" if request.metadata_only else ", data, data_encoding"
        )
        if request.reverse:
            after, order = "(node_id, txn_id) < (?, ?)", "node_id DESC, txn_id DESC"
        else:
            after, order = "(node_id, txn_id) > (?, ?)", "node_id, txn_id"
        statement = (
            f"SELECT {columns} FROM history_node WHERE {_BRANCH_WHERE} "
            "AND node_id >= ? AND node_id < ? "
            + (f"AND {after} " if position else "")
            + f"ORDER BY {order} LIMIT ?"
        )
        params = (
            request.shard_id,
            request.tree_id,
            request.branch_id,
            request.min_node_id,
            request.max_node_id,
            *(position or ()),
            request.page_size + 1,
        )
        rows = await self._runner.read(lambda tx: tx.fetchall(statement, params))
        page, token = split_page(rows, request.page_size, lambda row: (row[0], row[1]))
        return Page([_node(row, request.metadata_only) for row in page], token)

    async def fork_history_branch(
        self, shard_id: int, tree_id: str, new_branch_id: str, tree_info: DataBlob
    ) -> None:
        await self._runner.write(
            lambda tx: tx.defer(
                self._upsert_tree,
                (shard_id, tree_id, new_branch_id, tree_info.data, tree_info.encoding),
            )
        )

    async def delete_history_branch(self, request: DeleteHistoryBranchRequest) -> None:
        def delete(tx: Tx) -> None:
            tx.defer(
                f"DELETE FROM history_tree WHERE {_BRANCH_WHERE}",
                (request.shard_id, request.tree_id, request.branch_id),
            )
            for branch_range in request.ranges:
                tx.defer(
                    f"DELETE FROM history_node WHERE {_BRANCH_WHERE} AND node_id >= ?",
                    (
                        request.shard_id,
                        request.tree_id,
                        branch_range.branch_id,
                        branch_range.begin_node_id,
                    ),
                )

        await self._runner.write(delete)

    async def delete_history_nodes(
        self, shard_id: int, tree_id: str, branch_id: str, node_id: int, txn_id: int
    ) -> None:
        await self._runner.write(
            lambda tx: tx.defer(
                f"DELETE FROM history_node WHERE {_BRANCH_WHERE} AND node_id = ? AND txn_id = ?",
                (shard_id, tree_id, branch_id, node_id, -txn_id),
            )
        )

    async def get_history_tree_containing_branch(
        self, shard_id: int, tree_id: str
    ) -> list[HistoryTreeBranch]:
        rows = await self._runner.read(
            lambda tx: tx.fetchall(
                "SELECT branch_id, data, data_encoding FROM history_tree "
                "WHERE shard_id = ? AND tree_id = ? ORDER BY branch_id",
                (shard_id, tree_id),
            )
        )
        return [
            HistoryTreeBranch(tree_id, row[0], DataBlob(row[1], row[2]), shard_id) for row in rows
        ]

    async def get_all_history_tree_branches(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[HistoryTreeBranch]:
        check_page_size(page_size)
        position = decode_token(next_page_token, 3)
        after = "WHERE (shard_id, tree_id, branch_id) > (?, ?, ?) " if position else ""
        statement = (
            "SELECT shard_id, tree_id, branch_id, data, data_encoding FROM history_tree "
            f"{after}ORDER BY shard_id, tree_id, branch_id LIMIT ?"
        )
        params = (*(position or ()), page_size + 1)
        rows = await self._runner.read(lambda tx: tx.fetchall(statement, params))
        page, token = split_page(rows, page_size, lambda row: (row[0], row[1], row[2]))
        return Page(
            [HistoryTreeBranch(row[1], row[2], DataBlob(row[3], row[4]), row[0]) for row in page],
            token,
        )


_: type[HistoryStore] = SqlHistoryStore
