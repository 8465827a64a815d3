"""Protocol v5 framing without compression, with a table-driven header checksum.

Protocol v5 wraps every message in a segment: a 3-byte header (payload length and the
self-contained flag), the header's CRC24, the payload and its CRC32. The driver computes the
CRC24 bit by bit in pure Python, 24 shifts a header, on every request and every response:
with the ``io.BytesIO`` it writes a request's segment into, that was 7 % of the client CPU of
the bench's lifecycle (issue 18). :class:`UncompressedSegmentCodec` computes it a byte at a
time from a 256-entry table and builds a single segment as one ``bytes`` join. The CRC32 is
zlib's, as in the driver. Segments with compression (lz4) keep the driver's codec.
"""

from __future__ import annotations

import io
import zlib
from typing import Final

from cassandra.segment import (
    CRC24_INIT,
    CRC24_POLY,
    CRC32_INITIAL,
    CrcException,
    Segment,
    SegmentCodec,
    SegmentHeader,
)

__all__ = ["UncompressedSegmentCodec", "crc24"]

_SELF_CONTAINED: Final = 1 << 17
_MAX_PAYLOAD: Final = Segment.MAX_PAYLOAD_LENGTH


def _crc24_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc: int = byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= CRC24_POLY
        table.append(crc)
    return tuple(table)


_CRC24_TABLE: Final = _crc24_table()


def crc24(value: int, length: int) -> int:
    """The CRC24 of the ``length`` low bytes of ``value``, least significant byte first:
    what ``cassandra.segment.compute_crc24`` computes."""
    crc: int = CRC24_INIT
    table = _CRC24_TABLE
    for _ in range(length):
        crc = ((crc << 8) & 0xFFFFFF) ^ table[((crc >> 16) ^ value) & 0xFF]
        value >>= 8
    return crc


class UncompressedSegmentCodec(SegmentCodec):  # type: ignore[misc]  # the driver is untyped
    """The driver's codec for segments without compression, with cheaper checksums."""

    def __init__(self) -> None:
        super().__init__()

    def frame(self, message: bytes) -> bytes:
        """``message`` as the segments that carry it (one, unless it exceeds 128 KiB)."""
        if len(message) > _MAX_PAYLOAD:
            buffer = io.BytesIO()
            self.encode(buffer, message)
            return buffer.getvalue()
        return self._segment(message, _SELF_CONTAINED)

    def encode(self, buffer: io.BytesIO, msg: bytes) -> None:
        if len(msg) <= _MAX_PAYLOAD:
            buffer.write(self._segment(msg, _SELF_CONTAINED))
            return
        for start in range(0, len(msg), _MAX_PAYLOAD):
            buffer.write(self._segment(msg[start : start + _MAX_PAYLOAD], 0))

    @staticmethod
    def _segment(payload: bytes, flags: int) -> bytes:
        header = len(payload) | flags
        return b"".join(
            (
                header.to_bytes(3, "little"),
                crc24(header, 3).to_bytes(3, "little"),
                payload,
                zlib.crc32(payload, CRC32_INITIAL).to_bytes(4, "little"),
            )
        )

    def decode_header(self, buffer: io.BytesIO) -> SegmentHeader:
        raw = buffer.read(6)
        header = int.from_bytes(raw[:3], "little")
        expected = int.from_bytes(raw[3:], "little")
        actual = crc24(header, 3)
        if actual != expected:
            raise CrcException(
                f"CRC mismatch on header {header:x}. Received {expected:x}, computed {actual:x}."
            )
        return SegmentHeader(header & _MAX_PAYLOAD, -1, bool((header >> 17) & 1))
