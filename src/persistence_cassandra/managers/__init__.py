"""Backend-independent logic written once above the store Protocols.

The history branch manager turns the raw rows of a
:class:`~persistence_cassandra.stores.HistoryStore` into a tree of branches: tokens, framed
event batches, ancestor walking, shadowing by transaction id, paging, forks, reference-counted
deletion and trimming.
"""

from __future__ import annotations

from persistence_cassandra.managers.history import (
    DEFAULT_TRANSACTION_SIZE_LIMIT,
    MAX_EVENT_ID,
    HistoryBranchDetail,
    HistoryBranchManager,
    HistoryPage,
)
from persistence_cassandra.managers.history_batch import (
    HistoryEventBatch,
    decode_batch,
    encode_batch,
)
from persistence_cassandra.managers.history_token import (
    BranchRange,
    HistoryBranch,
    encode_branch_token,
    parse_branch_token,
)

__all__ = [
    "DEFAULT_TRANSACTION_SIZE_LIMIT",
    "MAX_EVENT_ID",
    "BranchRange",
    "HistoryBranch",
    "HistoryBranchDetail",
    "HistoryBranchManager",
    "HistoryEventBatch",
    "HistoryPage",
    "decode_batch",
    "encode_batch",
    "encode_branch_token",
    "parse_branch_token",
]
