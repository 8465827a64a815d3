"""``history_node.txn_id`` is stored negated, so that plain ascending order puts the winning
(highest) transaction of each node first, on both dialects."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sql_test_records import open_bundle, postgres_config, sqlite_config

from persistence_cassandra.records import (
    AppendHistoryNodesRequest,
    DataBlob,
    ReadHistoryBranchRequest,
)
from persistence_cassandra.stores import StoreBundle

TXNS = (5, 9, 7)


async def _append(bundle: StoreBundle, tree: str) -> None:
    for node_id in (1, 2):
        for txn in TXNS:
            await bundle.history.append_history_nodes(
                AppendHistoryNodesRequest(
                    1, tree, "branch", node_id, txn, 0, DataBlob(f"{node_id}/{txn}".encode())
                )
            )


async def _check_reads(bundle: StoreBundle, tree: str) -> None:
    forward = await bundle.history.read_history_branch(
        ReadHistoryBranchRequest(1, tree, "branch", 1, 3, 100)
    )
    expected = [(1, 9), (1, 7), (1, 5), (2, 9), (2, 7), (2, 5)]
    assert [(n.node_id, n.txn_id) for n in forward.items] == expected
    reverse = await bundle.history.read_history_branch(
        ReadHistoryBranchRequest(1, tree, "branch", 1, 3, 100, reverse=True)
    )
    assert [(n.node_id, n.txn_id) for n in reverse.items] == expected[::-1]


def _stored_order(rows: list[Any]) -> list[tuple[int, int]]:
    return [(int(node), int(txn)) for node, txn in rows]


_RAW = "SELECT node_id, txn_id FROM history_node WHERE tree_id = {} ORDER BY node_id, txn_id"


async def test_sqlite_stores_txn_ids_negated(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    bundle = await open_bundle(sqlite_config(path))
    tree = str(uuid.uuid4())
    try:
        await _append(bundle, tree)
        await _check_reads(bundle, tree)
    finally:
        await bundle.close()
    connection = sqlite3.connect(path)
    rows = connection.execute(_RAW.format("?"), (tree,)).fetchall()
    connection.close()
    assert _stored_order(rows) == [(1, -9), (1, -7), (1, -5), (2, -9), (2, -7), (2, -5)]


async def test_postgres_stores_txn_ids_negated(
    postgres_params: dict[str, Any], postgres_database: str
) -> None:
    bundle = await open_bundle(postgres_config(postgres_params, postgres_database))
    tree = str(uuid.uuid4())
    try:
        await _append(bundle, tree)
        await _check_reads(bundle, tree)
    finally:
        await bundle.close()
    with psycopg.connect(**{**postgres_params, "dbname": postgres_database}) as connection:
        rows = connection.execute(_RAW.format("%s"), (tree,)).fetchall()  # type: ignore[arg-type]
    assert _stored_order(rows) == [(1, -9), (1, -7), (1, -5), (2, -9), (2, -7), (2, -5)]
