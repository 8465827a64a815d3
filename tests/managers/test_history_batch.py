"""Batch framing round-trips and a damaged frame is always detected."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persistence_cassandra.errors import DataLoss
from persistence_cassandra.managers.history_batch import (
    BATCH_ENCODING_PREFIX,
    HistoryEventBatch,
    decode_batch,
    encode_batch,
)
from persistence_cassandra.records import DataBlob

batches = st.builds(
    HistoryEventBatch,
    first_event_id=st.integers(min_value=1, max_value=2**63 - 1),
    events=st.lists(st.binary(max_size=300), min_size=1, max_size=20),
    encoding=st.sampled_from(["proto3", "json", "x-custom"]),
)


@given(batches)
def test_batch_round_trips(batch: HistoryEventBatch) -> None:
    blob = encode_batch(batch)
    assert blob.encoding == BATCH_ENCODING_PREFIX + batch.encoding
    assert decode_batch(blob) == batch


@given(batches)
def test_event_ids_follow_from_the_first(batch: HistoryEventBatch) -> None:
    assert batch.last_event_id == batch.first_event_id + len(batch.events) - 1
    assert batch.next_event_id == batch.last_event_id + 1


@given(batches, st.data())
def test_every_strict_prefix_of_a_frame_is_data_loss(
    batch: HistoryEventBatch, data: st.DataObject
) -> None:
    blob = encode_batch(batch)
    cut = data.draw(st.integers(min_value=0, max_value=len(blob.data) - 1))
    with pytest.raises(DataLoss):
        decode_batch(DataBlob(blob.data[:cut], blob.encoding))


@given(batches, st.binary(min_size=1, max_size=10))
def test_trailing_bytes_are_data_loss(batch: HistoryEventBatch, extra: bytes) -> None:
    blob = encode_batch(batch)
    with pytest.raises(DataLoss):
        decode_batch(DataBlob(blob.data + extra, blob.encoding))


@given(st.binary(max_size=100))
def test_garbage_raises_data_loss_only(data: bytes) -> None:
    with contextlib.suppress(DataLoss):
        decode_batch(DataBlob(data, BATCH_ENCODING_PREFIX + "proto3"))


def test_a_foreign_encoding_is_data_loss() -> None:
    with pytest.raises(DataLoss):
        decode_batch(DataBlob(b"\x01\x01\x00", "proto3"))


def test_batches_compare_equal_whatever_the_sequence_type() -> None:
    assert HistoryEventBatch(1, [b"a"]) == HistoryEventBatch(1, (b"a",))
