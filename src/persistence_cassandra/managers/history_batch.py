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


@dataclass(slots=True, unsafe_hash=True)
class HistoryEventBatch:
    """Events ``first_event_id .. first_event_id + len(events) - 1``, written as one node.

    A value, like the records of :mod:`~persistence_cassandra.records` (not frozen for the
    same reason: every batch ever read is built here, and a frozen dataclass's construction
    costs about twice as much); do not mutate one."""

    first_event_id: int
    events: Sequence[bytes]
    encoding: str = "proto3"
    """How each event is serialized (opaque to the persistence layer)."""

    def __post_init__(self) -> None:
        # A tuple, so that batches compare equal whatever sequence type the caller used.
        if type(self.events) is not tuple:
            self.events = tuple(self.events)

    @property
    def last_event_id(self) -> int:
        return self.first_event_id + len(self.events) - 1

    @property
    def next_event_id(self) -> int:
        return self.first_event_id + len(self.events)


def _varint(value: int) -> bytes:
    if value < 0x80:
        if value < 0:
            raise ValueError("varints are unsigned")
        return _ONE_BYTE[value]
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_ONE_BYTE = [bytes((value,)) for value in range(0x80)]
"""Every one-byte varint, built once: most counts and many event lengths fit in one byte."""


def _get_varint(data: bytes, offset: int) -> tuple[int, int]:
    if offset >= len(data):
        raise DataLoss("corrupted history batch: truncated varint")
    byte = data[offset]
    if byte < 0x80:
        return byte, offset + 1
    value, shift = byte & 0x7F, 7
    while True:
        offset += 1
        if offset >= len(data):
            raise DataLoss("corrupted history batch: truncated varint")
        byte = data[offset]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset + 1
        shift += 7
        if shift > 63:
            raise DataLoss("corrupted history batch: varint too long")


def encode_batch(batch: HistoryEventBatch) -> DataBlob:
    """The stored blob of ``batch``."""
    # Every append and every read goes through here: join ready-made pieces rather than
    # growing a buffer byte by byte (about four times faster on typical batches).
    events = batch.events
    parts = [_varint(batch.first_event_id), _varint(len(events))]
    for event in events:
        parts.append(_varint(len(event)))
        parts.append(event)
    return DataBlob(b"".join(parts), BATCH_ENCODING_PREFIX + batch.encoding)


def decode_batch(blob: DataBlob) -> HistoryEventBatch:
    """The batch a blob holds; a blob this module did not write raises ``DataLoss``."""
    encoding = blob.encoding
    if not encoding.startswith(BATCH_ENCODING_PREFIX):
        raise DataLoss(f"history node has unknown encoding {encoding!r}")
    data = blob.data
    size = len(data)
    first_event_id, offset = _get_varint(data, 0)
    count, offset = _get_varint(data, offset)
    if count > size:  # every event takes at least its length byte
        raise DataLoss("corrupted history batch: event count larger than the blob")
    events: list[bytes] = []
    for _ in range(count):
        # Lengths below 16 KiB (one or two varint bytes) inline: this loop runs for every
        # event ever read, and a call per varint was most of the cost of a read.
        if offset + 1 < size:
            length = data[offset]
            if length < 0x80:
                offset += 1
            elif data[offset + 1] < 0x80:
                length = (length & 0x7F) | (data[offset + 1] << 7)
                offset += 2
            else:
                length, offset = _get_varint(data, offset)
        else:
            length, offset = _get_varint(data, offset)
        end = offset + length
        if end > size:
            raise DataLoss("corrupted history batch: event runs past the end of the blob")
        events.append(data[offset:end])
        offset = end
    if offset != size:
        raise DataLoss("corrupted history batch: trailing bytes after the last event")
    return HistoryEventBatch(first_event_id, tuple(events), encoding[len(BATCH_ENCODING_PREFIX) :])
