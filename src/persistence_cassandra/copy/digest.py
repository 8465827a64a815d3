"""Counts and order-independent checksums of records, per kind.

Two stores hold the same data when, for every kind, they hold the same number of records and
the same multiset of records. Backends return rows in different orders (Cassandra by token,
SQL by key), and sorting every record digest of a large store would take unbounded memory, so
the checksum of a kind is a *multiset hash*: the sum, modulo 2**256, of the SHA-256 digest of
each record's canonical encoding. It is independent of order, needs constant memory, and any
added, missing or changed record changes it.

A record's canonical encoding is a typed, length-prefixed serialization of the fields that
identify and carry it (keys, blobs with their encodings, versions). The shard range id is left
out on purpose: a copy bumps it (see :mod:`persistence_cassandra.copy.engine`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from persistence_cassandra.copy.kinds import RecordKind
from persistence_cassandra.records import (
    BuildIdMapping,
    ClusterMetadataRecord,
    CurrentExecution,
    DataBlob,
    HistoryNode,
    HistoryTask,
    HistoryTreeBranch,
    NamespaceRecord,
    NexusEndpointRecord,
    QueueKey,
    QueueMessage,
    QueueRecord,
    ReplicationDLQTask,
    ShardRecord,
    TaskQueueKey,
    TaskQueueRecord,
    TaskQueueUserData,
    TaskRecord,
    WorkflowMutableState,
    to_epoch_ms,
)
from persistence_cassandra.visibility.records import SearchAttributeType, VisibilityRecord

__all__ = [
    "Census",
    "Tally",
    "build_id_mapping_facts",
    "canonical_bytes",
    "cluster_metadata_facts",
    "current_facts",
    "history_node_facts",
    "history_task_facts",
    "history_tree_facts",
    "namespace_facts",
    "nexus_endpoint_facts",
    "queue_facts",
    "queue_message_facts",
    "replication_dlq_facts",
    "run_facts",
    "search_attribute_facts",
    "shard_facts",
    "task_facts",
    "task_queue_facts",
    "task_queue_user_data_facts",
    "visibility_facts",
]

_MODULUS = 1 << 256

Fact = tuple[RecordKind, tuple[Any, ...]]
"""One record: its kind and the canonical fields that identify and carry it."""


def _encode(value: Any, out: bytearray) -> None:
    if value is None:
        out += b"n"
    elif isinstance(value, bool):
        out += b"t" if value else b"f"
    elif isinstance(value, int):
        text = str(value).encode()
        out += b"i" + len(text).to_bytes(2, "big") + text
    elif isinstance(value, str):
        data = value.encode()
        out += b"s" + len(data).to_bytes(8, "big") + data
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        out += b"b" + len(data).to_bytes(8, "big") + data
    elif isinstance(value, DataBlob):
        out += b"B"
        _encode(value.data, out)
        _encode(value.encoding, out)
    elif isinstance(value, datetime):
        _encode(to_epoch_ms(value), out)
    elif isinstance(value, tuple | list):
        out += b"l" + len(value).to_bytes(8, "big")
        for item in value:
            _encode(item, out)
    else:
        raise TypeError(f"no canonical encoding for {type(value).__name__}")


def canonical_bytes(fields: tuple[Any, ...]) -> bytes:
    """The typed, length-prefixed encoding of ``fields`` (equal values, equal bytes)."""
    out = bytearray()
    _encode(fields, out)
    return bytes(out)


@dataclass(slots=True)
class Tally:
    """How many records of one kind, and their multiset hash."""

    count: int = 0
    total: int = 0

    def add(self, fields: tuple[Any, ...]) -> None:
        digest = hashlib.sha256(canonical_bytes(fields)).digest()
        self.count += 1
        self.total = (self.total + int.from_bytes(digest, "big")) % _MODULUS

    def merge(self, other: Tally) -> None:
        self.count += other.count
        self.total = (self.total + other.total) % _MODULUS

    @property
    def checksum(self) -> str:
        """A short hex form of the hash (empty kinds all show the same value)."""
        return f"{self.total:064x}"[:16]


@dataclass(slots=True)
class Census:
    """Per-kind tallies of one store, and the two values a copy sets rather than copies."""

    tallies: dict[RecordKind, Tally] = field(default_factory=dict)
    shard_ranges: dict[int, int] = field(default_factory=dict)
    """Range id of every shard (a copy bumps them, so they are compared, not hashed)."""
    notification_version: int = 0
    """The global namespace notification version."""

    def tally(self, kind: RecordKind) -> Tally:
        found = self.tallies.get(kind)
        if found is None:
            found = self.tallies[kind] = Tally()
        return found

    def add(self, facts: Iterator[Fact] | list[Fact]) -> None:
        for kind, fields in facts:
            self.tally(kind).add(fields)

    def merge(self, other: Census) -> None:
        for kind, tally in other.tallies.items():
            self.tally(kind).merge(tally)

    def count(self, kind: RecordKind) -> int:
        found = self.tallies.get(kind)
        return 0 if found is None else found.count

    @property
    def total_count(self) -> int:
        return sum(t.count for t in self.tallies.values())


# --------------------------------------------------------------------------- facts per record


def namespace_facts(record: NamespaceRecord) -> Iterator[Fact]:
    yield (
        RecordKind.NAMESPACES,
        (record.id, record.name, record.detail, record.is_global, record.notification_version),
    )


def cluster_metadata_facts(record: ClusterMetadataRecord) -> Iterator[Fact]:
    yield (RecordKind.CLUSTER_METADATA, (record.cluster_name, record.metadata, record.version))


def shard_facts(record: ShardRecord) -> Iterator[Fact]:
    yield (RecordKind.SHARDS, (record.shard_id, record.info))


def _entries(entries: Mapping[Any, DataBlob]) -> list[tuple[Any, DataBlob]]:
    return sorted(entries.items(), key=lambda item: item[0])


def run_facts(shard_id: int, state: WorkflowMutableState) -> Iterator[Fact]:
    """The run row and one fact per collection entry (each a row of its own table in SQL)."""
    key = (shard_id, state.key.namespace_id, state.key.workflow_id, state.key.run_id)
    yield (
        RecordKind.EXECUTIONS,
        (
            *key,
            state.execution_info,
            state.execution_state,
            state.next_event_id,
            state.db_record_version,
            state.checksum,
        ),
    )
    maps: tuple[tuple[RecordKind, Mapping[Any, DataBlob]], ...] = (
        (RecordKind.ACTIVITY_INFOS, state.activity_infos),
        (RecordKind.TIMER_INFOS, state.timer_infos),
        (RecordKind.CHILD_EXECUTION_INFOS, state.child_execution_infos),
        (RecordKind.REQUEST_CANCEL_INFOS, state.request_cancel_infos),
        (RecordKind.SIGNAL_INFOS, state.signal_infos),
    )
    for kind, entries in maps:
        for entry_key, blob in _entries(entries):
            yield (kind, (*key, entry_key, blob))
    for signal_id in sorted(state.signal_requested_ids):
        yield (RecordKind.SIGNALS_REQUESTED, (*key, signal_id))
    for position, blob in enumerate(state.buffered_events):
        yield (RecordKind.BUFFERED_EVENTS, (*key, position, blob))


def current_facts(
    shard_id: int, namespace_id: str, workflow_id: str, current: CurrentExecution
) -> Iterator[Fact]:
    yield (
        RecordKind.CURRENT_EXECUTIONS,
        (
            shard_id,
            namespace_id,
            workflow_id,
            current.run_id,
            current.create_request_id,
            int(current.state),
            current.status,
            current.last_write_version,
            current.start_time,
            # As a write of the pointer fills them (a pointer written before schema 1.1 has
            # neither): the create request id is attached, a missing first run is this run.
            tuple(
                sorted(
                    current.request_ids | {current.create_request_id}
                    if current.create_request_id
                    else current.request_ids
                )
            ),
            current.first_execution_run_id or current.run_id,
        ),
    )


def history_tree_facts(branch: HistoryTreeBranch) -> Iterator[Fact]:
    yield (
        RecordKind.HISTORY_TREES,
        (branch.shard_id, branch.tree_id, branch.branch_id, branch.tree_info),
    )


def history_node_facts(tree_id: str, branch_id: str, node: HistoryNode) -> Iterator[Fact]:
    # No shard id: Cassandra keys history by tree alone, SQL adds the shard; the copy writes
    # every node with its tree row's shard, so the tree facts already cover it.
    yield (
        RecordKind.HISTORY_NODES,
        (tree_id, branch_id, node.node_id, node.txn_id, node.prev_txn_id, node.events),
    )


def history_task_facts(shard_id: int, task: HistoryTask) -> Iterator[Fact]:
    yield (
        RecordKind.HISTORY_TASKS,
        (shard_id, int(task.category), task.key.fire_time, task.key.task_id, task.blob),
    )


def task_queue_facts(record: TaskQueueRecord) -> Iterator[Fact]:
    key = record.key
    yield (
        RecordKind.TASK_QUEUES,
        (
            key.namespace_id,
            key.name,
            key.task_type,
            record.range_id,
            record.info,
            int(record.kind),
            record.expiry,
        ),
    )


def task_queue_user_data_facts(entry: TaskQueueUserData) -> Iterator[Fact]:
    yield (
        RecordKind.TASK_QUEUE_USER_DATA,
        (entry.namespace_id, entry.task_queue, entry.data, entry.version),
    )


def build_id_mapping_facts(mapping: BuildIdMapping) -> Iterator[Fact]:
    yield (
        RecordKind.BUILD_ID_MAPPINGS,
        (mapping.namespace_id, mapping.build_id, mapping.task_queue),
    )


def task_facts(queue: TaskQueueKey, task: TaskRecord) -> Iterator[Fact]:
    yield (
        RecordKind.TASKS,
        (queue.namespace_id, queue.name, queue.task_type, task.task_id, task.blob, task.expiry),
    )


# --------------------------------------------------------------------------- schema v1.1 kinds


def queue_facts(record: QueueRecord) -> Iterator[Fact]:
    key = record.key
    yield (
        RecordKind.QUEUES,
        (
            key.queue_type,
            key.queue_name,
            record.metadata,
            record.version,
            record.min_message_id,
            record.next_message_id,
        ),
    )


def queue_message_facts(key: QueueKey, message: QueueMessage) -> Iterator[Fact]:
    yield (
        RecordKind.QUEUE_MESSAGES,
        (key.queue_type, key.queue_name, message.message_id, message.payload),
    )


def nexus_endpoint_facts(record: NexusEndpointRecord) -> Iterator[Fact]:
    # The table version is left out: it counts the writes a store has seen, not its contents.
    yield (RecordKind.NEXUS_ENDPOINTS, (record.id, record.data, record.version))


def replication_dlq_facts(shard_id: int, task: ReplicationDLQTask) -> Iterator[Fact]:
    yield (
        RecordKind.REPLICATION_DLQ_TASKS,
        (shard_id, task.source_cluster, task.task_id, task.blob),
    )


# --------------------------------------------------------------------------- visibility (issue 17)


def search_attribute_facts(
    namespace_id: str, attributes: Mapping[str, SearchAttributeType]
) -> Iterator[Fact]:
    for name, type_ in sorted(attributes.items()):
        yield (RecordKind.SEARCH_ATTRIBUTES, (namespace_id, name, type_.value))


def _attribute_value(value: object) -> Any:
    # Floats have no canonical encoding of their own: their repr round-trips exactly.
    return repr(value) if isinstance(value, float) else value


def visibility_facts(record: VisibilityRecord) -> Iterator[Fact]:
    attributes = tuple(
        (name, _attribute_value(value)) for name, value in sorted(record.search_attributes.items())
    )
    yield (
        RecordKind.VISIBILITY,
        (
            record.namespace_id, record.run_id, record.workflow_id, record.workflow_type,
            record.task_queue, record.start_time, record.execution_time, int(record.status),
            record.close_time, record.history_length, record.history_size_bytes, record.memo,
            attributes,
        ),
    )  # fmt: skip
