"""The opaque tokens of the history manager: branch tokens, tree-info blobs and paging tokens.

A **branch token** names a branch of a history tree and the ancestor ranges it reads through.
It is stored by callers (in the run's version histories) and handed back on every call, so its
encoding is versioned and kept compact: JSON with short separators, never pickled objects.
Ancestor ranges are contiguous from node 1 (each range ends where the next begins); a token that
breaks this is rejected, because every range computation downstream relies on it.

**Paging tokens** carry the reader's filter state between pages (which ancestor range is being
read, the store's own token, the last accepted node and transaction, the last event id), so a
page boundary inside a run of shadowed rows cannot let a stale row through.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from persistence_cassandra.errors import DataLoss, InvalidRequest
from persistence_cassandra.records import DataBlob, from_epoch_ms, to_epoch_ms

__all__ = [
    "FIRST_NODE_ID",
    "TREE_INFO_ENCODING",
    "BranchRange",
    "ForwardPagingToken",
    "HistoryBranch",
    "HistoryTreeInfo",
    "ReversePagingToken",
    "decode_tree_info",
    "encode_branch_token",
    "encode_tree_info",
    "parse_branch_token",
]

FIRST_NODE_ID = 1
"""Node ids are first event ids, and event ids start at 1."""

TREE_INFO_ENCODING = "pc-tree-info/v1+json"
_TOKEN_VERSION = 1


@dataclass(frozen=True, slots=True)
class BranchRange:
    """Nodes ``[begin_node_id, end_node_id)`` of ``branch_id`` that a branch reads through."""

    branch_id: str
    begin_node_id: int
    end_node_id: int


@dataclass(frozen=True, slots=True)
class HistoryBranch:
    """A branch of a history tree: its own id plus the ancestor ranges that precede it."""

    tree_id: str
    branch_id: str
    ancestors: tuple[BranchRange, ...] = ()

    @property
    def begin_node_id(self) -> int:
        """The first node id this branch owns itself (nodes below live in ancestors)."""
        return self.ancestors[-1].end_node_id if self.ancestors else FIRST_NODE_ID

    @property
    def token(self) -> bytes:
        return encode_branch_token(self)


@dataclass(frozen=True, slots=True)
class HistoryTreeInfo:
    """What the tree row of a branch holds: the branch, when it was created, and a free-form
    note for the scavenger."""

    branch: HistoryBranch
    fork_time: datetime
    info: str = ""


# --------------------------------------------------------------------------- branch tokens


def _branch_to_json(branch: HistoryBranch) -> dict[str, Any]:
    return {
        "v": _TOKEN_VERSION,
        "tree_id": branch.tree_id,
        "branch_id": branch.branch_id,
        "ancestors": [
            {
                "branch_id": r.branch_id,
                "begin_node_id": r.begin_node_id,
                "end_node_id": r.end_node_id,
            }
            for r in branch.ancestors
        ],
    }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _branch_from_json(document: object) -> HistoryBranch:
    """Validate a decoded token; raises ``ValueError`` naming the first problem."""
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    if document.get("v") != _TOKEN_VERSION:
        raise ValueError(f"unknown token version {document.get('v')!r}")
    tree_id, branch_id = document.get("tree_id"), document.get("branch_id")
    if not isinstance(tree_id, str) or not tree_id:
        raise ValueError("tree_id must be a non-empty string")
    if not isinstance(branch_id, str) or not branch_id:
        raise ValueError("branch_id must be a non-empty string")
    raw_ancestors = document.get("ancestors", [])
    if not isinstance(raw_ancestors, list):
        raise ValueError("ancestors must be a list")
    ancestors: list[BranchRange] = []
    expected_begin = FIRST_NODE_ID
    for raw in raw_ancestors:
        if not isinstance(raw, dict):
            raise ValueError("an ancestor must be a JSON object")
        ancestor_id = raw.get("branch_id")
        begin, end = raw.get("begin_node_id"), raw.get("end_node_id")
        if not isinstance(ancestor_id, str) or not ancestor_id:
            raise ValueError("an ancestor's branch_id must be a non-empty string")
        if not _is_int(begin) or not _is_int(end):
            raise ValueError("ancestor node ids must be integers")
        assert isinstance(begin, int) and isinstance(end, int)
        # Contiguous, non-empty ranges from node 1: the read and delete arithmetic relies on it.
        if begin != expected_begin or end <= begin:
            raise ValueError(f"ancestor ranges are not contiguous at node {begin}")
        ancestors.append(BranchRange(ancestor_id, begin, end))
        expected_begin = end
    return HistoryBranch(tree_id, branch_id, tuple(ancestors))


def encode_branch_token(branch: HistoryBranch) -> bytes:
    """The opaque token of ``branch`` (compact, versioned JSON)."""
    return json.dumps(_branch_to_json(branch), separators=(",", ":")).encode()


def parse_branch_token(token: bytes) -> HistoryBranch:
    """The branch a token names; a token this module did not produce raises ``InvalidRequest``."""
    if type(token) is bytes:
        return _parse_cached(token)
    return _parse(token)


def _parse(token: bytes) -> HistoryBranch:
    try:
        return _branch_from_json(json.loads(token))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"invalid history branch token: {exc}") from exc


# Every append and read of a run hands the manager the same token again; parsing (JSON plus
# validation) cost more than the rest of an append. Tokens are immutable bytes and branches
# frozen, so a parsed token can be shared; failures are not cached (they raise).
_parse_cached = functools.lru_cache(maxsize=4096)(_parse)


# --------------------------------------------------------------------------- tree info


def encode_tree_info(tree_info: HistoryTreeInfo) -> DataBlob:
    document = {
        "branch": _branch_to_json(tree_info.branch),
        "fork_time_ms": to_epoch_ms(tree_info.fork_time),
        "info": tree_info.info,
    }
    return DataBlob(json.dumps(document, separators=(",", ":")).encode(), TREE_INFO_ENCODING)


def decode_tree_info(blob: DataBlob) -> HistoryTreeInfo:
    """Parse a tree row; one this manager did not write raises ``DataLoss``."""
    if blob.encoding != TREE_INFO_ENCODING:
        raise DataLoss(f"history tree row has unknown encoding {blob.encoding!r}")
    try:
        document = json.loads(blob.data)
        branch = _branch_from_json(document["branch"])
        fork_time_ms, info = document["fork_time_ms"], document.get("info", "")
        if not _is_int(fork_time_ms) or not isinstance(info, str):
            raise ValueError("fork_time_ms must be an integer and info a string")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise DataLoss(f"corrupted history tree row: {exc}") from exc
    return HistoryTreeInfo(branch, from_epoch_ms(fork_time_ms), info)


# --------------------------------------------------------------------------- paging tokens


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("store token must be a string")
    return base64.b64decode(text.encode("ascii"), validate=True)


def _load_paging(token: bytes, kind: str) -> dict[str, Any]:
    try:
        document = json.loads(token)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"invalid history paging token: {exc}") from exc
    if not isinstance(document, dict) or document.get("k") != kind:
        raise InvalidRequest(f"invalid history paging token: not a {kind} token")
    return document


def _ints(document: dict[str, Any], *keys: str) -> list[int]:
    values = [document.get(key) for key in keys]
    if not all(_is_int(v) for v in values):
        raise InvalidRequest("invalid history paging token: fields must be integers")
    return [int(v) for v in values if isinstance(v, int)]


@dataclass(frozen=True, slots=True)
class ForwardPagingToken:
    """Where a forward read stopped and the shadowing filter's state at that point."""

    range_index: int
    store_token: bytes
    last_node_id: int
    last_txn_id: int
    last_event_id: int

    def encode(self) -> bytes:
        document = {
            "k": "fwd",
            "r": self.range_index,
            "s": _b64(self.store_token),
            "n": self.last_node_id,
            "t": self.last_txn_id,
            "e": self.last_event_id,
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @staticmethod
    def decode(token: bytes) -> ForwardPagingToken:
        document = _load_paging(token, "fwd")
        range_index, last_node, last_txn, last_event = _ints(document, "r", "n", "t", "e")
        try:
            store_token = _unb64(document.get("s"))
        except (ValueError, binascii.Error) as exc:
            raise InvalidRequest(f"invalid history paging token: {exc}") from exc
        return ForwardPagingToken(range_index, store_token, last_node, last_txn, last_event)


@dataclass(frozen=True, slots=True)
class ReversePagingToken:
    """Where a reverse read stopped: the transaction it expects next (the previous batch's)
    and the first event id of the last batch it returned."""

    range_index: int
    store_token: bytes
    expected_txn_id: int
    next_last_event_id: int

    def encode(self) -> bytes:
        document = {
            "k": "rev",
            "r": self.range_index,
            "s": _b64(self.store_token),
            "t": self.expected_txn_id,
            "e": self.next_last_event_id,
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @staticmethod
    def decode(token: bytes) -> ReversePagingToken:
        document = _load_paging(token, "rev")
        range_index, expected_txn, next_last_event = _ints(document, "r", "t", "e")
        try:
            store_token = _unb64(document.get("s"))
        except (ValueError, binascii.Error) as exc:
            raise InvalidRequest(f"invalid history paging token: {exc}") from exc
        return ReversePagingToken(range_index, store_token, expected_txn, next_last_event)
