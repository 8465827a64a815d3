"""EXECUTE messages that let the node leave a response's result metadata out (protocol v5).

The driver accepts ``skip_meta`` on ``ExecuteMessage`` but never writes the protocol's
``Skip_metadata`` flag, so every rows response repeats the table's column specifications and
the driver parses them again: one ``read_type`` per column, and for every ``map``, ``set``,
``list`` or ``tuple`` column a new parameterized type class (``apply_parameters``), which is
cyclic garbage. A workflow's execution row has 18 columns, most of them collections, so this
cost the garbage collector and the decoder on every read (issue 18, ``docs/benchmarks.md``).

Protocol v5 makes skipping safe: the request names the result metadata the client holds (its
id), and the node sends the full metadata again, flagged ``Metadata_changed`` with the new id,
whenever the statement's columns differ from it (a table altered and the statement prepared
again by another client); :class:`~.direct_requests.DirectSender` then keeps the new metadata.
On v4 the node compares against its own prepared copy, which another client may have prepared
after an ``ALTER``, so the client's copy could be stale without a word: v4 keeps the
metadata. Conditional statements (lightweight transactions) always get their metadata back:
their result columns depend on whether they applied.

The body follows the protocol's ``EXECUTE`` (native_protocol_v5.spec, sections 4.1.6 and
4.1.4): query id, result metadata id, consistency, ``[int]`` flags, then the optional values,
page size, paging state, serial consistency and timestamp, in that order.
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO, Final

from cassandra import ProtocolVersion
from cassandra.protocol import ExecuteMessage
from cassandra.query import UNSET_VALUE

__all__ = ["ExecuteSkippingMetadata", "skips_metadata"]

_VALUES: Final = 0x01
_SKIP_METADATA: Final = 0x02
_PAGE_SIZE: Final = 0x04
_PAGING_STATE: Final = 0x08
_SERIAL_CONSISTENCY: Final = 0x10
_TIMESTAMP: Final = 0x20

_short = struct.Struct(">H").pack
_int = struct.Struct(">i").pack
_long = struct.Struct(">q").pack
_consistency_and_flags = struct.Struct(">HI").pack
_NULL: Final = _int(-1)
_UNSET: Final = _int(-2)


def skips_metadata(protocol_version: int) -> bool:
    """Whether EXECUTE on ``protocol_version`` names the client's result metadata (v5 on)."""
    return bool(
        ProtocolVersion.uses_prepared_metadata(protocol_version)
        and ProtocolVersion.uses_int_query_flags(protocol_version)
    )


class ExecuteSkippingMetadata(ExecuteMessage):  # type: ignore[misc]  # the driver is untyped
    """An ``ExecuteMessage`` whose body sets ``Skip_metadata``; only for :func:`skips_metadata`
    protocol versions, and only with the prepared statement's result metadata id."""

    def send_body(self, f: BinaryIO, protocol_version: int) -> None:
        query_id: bytes = self.query_id
        metadata_id: bytes = self.result_metadata_id
        values: list[Any] | None = self.query_params
        fetch_size: int | None = self.fetch_size
        paging_state: bytes | None = self.paging_state
        serial_consistency: int | None = self.serial_consistency_level
        timestamp: int | None = self.timestamp
        flags = _SKIP_METADATA
        if values is not None:
            flags |= _VALUES
        if fetch_size:
            flags |= _PAGE_SIZE
        if paging_state:
            flags |= _PAGING_STATE
        if serial_consistency:
            flags |= _SERIAL_CONSISTENCY
        if timestamp is not None:
            flags |= _TIMESTAMP
        write = f.write
        write(_short(len(query_id)))
        write(query_id)
        write(_short(len(metadata_id)))
        write(metadata_id)
        write(_consistency_and_flags(self.consistency_level, flags))
        if values is not None:
            write(_short(len(values)))
            for value in values:
                if value is None:
                    write(_NULL)
                elif value is UNSET_VALUE:
                    write(_UNSET)
                else:
                    write(_int(len(value)))
                    write(value)
        if fetch_size:
            write(_int(fetch_size))
        if paging_state:
            write(_int(len(paging_state)))
            write(paging_state)
        if serial_consistency:
            write(_short(serial_consistency))
        if timestamp is not None:
            write(_long(timestamp))
