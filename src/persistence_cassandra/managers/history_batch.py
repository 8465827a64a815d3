"""Framing of one batch of history events into one stored blob.

Events are opaque to this layer (serialized by the caller, usually proto3). A node stores one
batch, and readers must be able to check that batches follow each other without gaps, so the
frame records the first event id and the number of events next to the events themselves:

    varint first_event_id | varint count | count x (varint length | event bytes)

Varints are unsigned LEB128. The blob's encoding name is ``pc-batch/v1+<event encoding>`` so the
events' own encoding survives the round trip and a later frame version can be told apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from persistence_cassandra.errors import DataLoss
from persistence_cassandra.records import DataBlob

__all__ = [
    "BATCH_ENCODING_PREFIX",
    "HistoryEventBatch",
    "decode_batch",
    "encode_batch",
]

BATCH_ENCODING_PREFIX = "pc-batch/v1+"


@dataclass(frozen=True, slots=True)
class HistoryEventBatch:
    """Events ``first_event_id .. first_event_id + len(events) - 1``, written as one node."""

    first_event_id: int
    events: Sequence[bytes]
    encoding: str = "proto3"
    """How each event is serialized (opaque to the persistence layer)."""

    def __post_init__(self) -> None:
        # A tuple, so that batches compare equal whatever sequence type the caller used.
        object.__setattr__(self, "events", tuple(self.events))

    @property
    def last_event_id(self) -> int:
        return self.first_event_id + len(self.events) - 1

    @property
    def next_event_id(self) -> int:
        return self.first_event_id + len(self.events)


def _put_varint(out: bytearray, value: int) -> None:
    if value < 0:
        raise ValueError("varints are unsigned")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _get_varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= len(data):
            raise DataLoss("corrupted history batch: truncated varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7
        if shift > 63:
            raise DataLoss("corrupted history batch: varint too long")


def encode_batch(batch: HistoryEventBatch) -> DataBlob:
    """The stored blob of ``batch``."""
    out = bytearray()
    _put_varint(out, batch.first_event_id)
    _put_varint(out, len(batch.events))
    for event in batch.events:
        _put_varint(out, len(event))
        out += event
    return DataBlob(bytes(out), BATCH_ENCODING_PREFIX + batch.encoding)


def decode_batch(blob: DataBlob) -> HistoryEventBatch:
    """The batch a blob holds; a blob this module did not write raises ``DataLoss``."""
    if not blob.encoding.startswith(BATCH_ENCODING_PREFIX):
        raise DataLoss(f"history node has unknown encoding {blob.encoding!r}")
    data = blob.data
    first_event_id, offset = _get_varint(data, 0)
    count, offset = _get_varint(data, offset)
    if count > len(data):  # every event takes at least its length byte
        raise DataLoss("corrupted history batch: event count larger than the blob")
    events: list[bytes] = []
    for _ in range(count):
        length, offset = _get_varint(data, offset)
        end = offset + length
        if end > len(data):
            raise DataLoss("corrupted history batch: event runs past the end of the blob")
        events.append(data[offset:end])
        offset = end
    if offset != len(data):
        raise DataLoss("corrupted history batch: trailing bytes after the last event")
    return HistoryEventBatch(first_event_id, events, blob.encoding[len(BATCH_ENCODING_PREFIX) :])
