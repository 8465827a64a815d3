"""History event batches (nodes) and branch metadata (tree rows) on Cassandra.

Writes are idempotent upserts without lightweight transactions: a node is keyed by
(tree, branch, node id, txn id), so a retry rewrites the same cells. Which row of a node wins
(the highest txn id) is decided by readers; ``history_node`` clusters txn ids descending so a
forward read meets the winner first.
"""

from __future__ import annotations

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.execution_batch import MAX_BATCH_BYTES
from persistence_cassandra.backends.cassandra.session import (
    CassandraSession,
    Row,
    StatementSpec,
)
from persistence_cassandra.records import (
    AppendHistoryNodesRequest,
    DataBlob,
    DeleteHistoryBranchRequest,
    HistoryNode,
    HistoryTreeBranch,
    Page,
    ReadHistoryBranchRequest,
)

__all__ = [
    "INSERT_NODE",
    "INSERT_TREE",
    "READ_NODES",
    "CassandraHistoryStore",
]

INSERT_NODE = (
    "INSERT INTO history_node (tree_id, branch_id, node_id, txn_id, prev_txn_id, data, "
    "data_encoding) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
INSERT_TREE = (
    "INSERT INTO history_tree (tree_id, branch_id, branch, branch_encoding, shard_id) "
    "VALUES (?, ?, ?, ?, ?)"
)
_NODE_RANGE = "tree_id = ? AND branch_id = ? AND node_id >= ? AND node_id < ?"
_REVERSE = " ORDER BY branch_id DESC, node_id DESC, txn_id ASC"
READ_NODES = (
    "SELECT node_id, txn_id, prev_txn_id, data, data_encoding FROM history_node "
    f"WHERE {_NODE_RANGE}"
)
READ_NODES_REVERSE = READ_NODES + _REVERSE
READ_NODE_METADATA = f"SELECT node_id, txn_id, prev_txn_id FROM history_node WHERE {_NODE_RANGE}"
READ_NODE_METADATA_REVERSE = READ_NODE_METADATA + _REVERSE
DELETE_NODE = (
    "DELETE FROM history_node WHERE tree_id = ? AND branch_id = ? AND node_id = ? AND txn_id = ?"
)
DELETE_NODES_FROM = "DELETE FROM history_node WHERE tree_id = ? AND branch_id = ? AND node_id >= ?"
DELETE_TREE_ROW = "DELETE FROM history_tree WHERE tree_id = ? AND branch_id = ?"
SCAN_TREES = "SELECT tree_id, branch_id, branch, branch_encoding, shard_id FROM history_tree"
READ_TREE = SCAN_TREES + " WHERE tree_id = ?"

_TREE_PAGE_SIZE = 100


def _branch(row: Row) -> HistoryTreeBranch:
    return HistoryTreeBranch(
        tree_id=row["tree_id"],
        branch_id=row["branch_id"],
        tree_info=DataBlob(row["branch"] or b"", row["branch_encoding"] or ""),
        shard_id=row["shard_id"] or 0,
    )


class CassandraHistoryStore:
    def __init__(self, session: CassandraSession) -> None:
        self._session = session

    async def append_history_nodes(self, request: AppendHistoryNodesRequest) -> None:
        node: StatementSpec = (
            INSERT_NODE,
            (
                request.tree_id,
                request.branch_id,
                request.node_id,
                request.txn_id,
                request.prev_txn_id,
                request.events.data,
                request.events.encoding,
            ),
        )
        info = request.new_branch_tree_info
        if info is None:
            await self._session.write(*node)
            return
        if len(request.events.data) + len(info.data) > MAX_BATCH_BYTES:
            raise errors.InvalidRequest(
                f"history tree {request.tree_id}: first batch of a new branch exceeds the "
                f"{MAX_BATCH_BYTES}-byte batch limit"
            )
        tree: StatementSpec = (
            INSERT_TREE,
            (request.tree_id, request.branch_id, info.data, info.encoding, request.shard_id),
        )
        # The branch's tree row and its first node exist together or not at all: both tables
        # are partitioned by tree_id, so the batch is one mutation, applied atomically.
        await self._session.write_batch([tree, node])

    async def read_history_branch(self, request: ReadHistoryBranchRequest) -> Page[HistoryNode]:
        if request.metadata_only:
            cql = READ_NODE_METADATA_REVERSE if request.reverse else READ_NODE_METADATA
        else:
            cql = READ_NODES_REVERSE if request.reverse else READ_NODES
        result = await self._session.read_tuples(
            cql,
            (request.tree_id, request.branch_id, request.min_node_id, request.max_node_id),
            page_size=request.page_size,
            paging_state=request.next_page_token,
        )
        # Rows in the order of READ_NODES' columns (READ_NODE_METADATA's are its first three).
        if request.metadata_only:
            nodes = [HistoryNode(row[0], row[1], row[2] or 0, None) for row in result.rows]
        else:
            nodes = [
                HistoryNode(node_id, txn_id, prev or 0, DataBlob(data or b"", encoding or ""))
                for node_id, txn_id, prev, data, encoding in result.rows
            ]
        return Page(nodes, result.next_page_token)

    async def fork_history_branch(
        self, shard_id: int, tree_id: str, new_branch_id: str, tree_info: DataBlob
    ) -> None:
        await self._session.write(
            INSERT_TREE, (tree_id, new_branch_id, tree_info.data, tree_info.encoding, shard_id)
        )

    async def delete_history_branch(self, request: DeleteHistoryBranchRequest) -> None:
        statements: list[StatementSpec] = [(DELETE_TREE_ROW, (request.tree_id, request.branch_id))]
        statements.extend(
            (
                DELETE_NODES_FROM,
                (request.tree_id, branch_range.branch_id, branch_range.begin_node_id),
            )
            for branch_range in request.ranges
        )
        await self._session.write_batch(statements)

    async def delete_history_nodes(
        self, shard_id: int, tree_id: str, branch_id: str, node_id: int, txn_id: int
    ) -> None:
        await self._session.write(DELETE_NODE, (tree_id, branch_id, node_id, txn_id))

    async def get_history_tree_containing_branch(
        self, shard_id: int, tree_id: str
    ) -> list[HistoryTreeBranch]:
        branches: list[HistoryTreeBranch] = []
        token = b""
        while True:
            result = await self._session.read(
                READ_TREE, (tree_id,), page_size=_TREE_PAGE_SIZE, paging_state=token
            )
            branches.extend(_branch(row) for row in result.rows)
            token = result.next_page_token
            if not token:
                return branches

    async def get_all_history_tree_branches(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[HistoryTreeBranch]:
        result = await self._session.read(
            SCAN_TREES, (), page_size=page_size, paging_state=next_page_token
        )
        return Page([_branch(row) for row in result.rows], result.next_page_token)
