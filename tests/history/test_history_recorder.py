"""Outcome classification and the recorder's timestamps, bounds and observations."""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest

from persistence_cassandra.errors import (
    ConditionFailed,
    CurrentWorkflowConditionFailed,
    InvalidRequest,
    NotFound,
    ShardOwnershipLost,
    Timeout,
    Unavailable,
    WorkflowConditionFailed,
)
from persistence_cassandra.testing.history import (
    ABSENT,
    HistoryRecorder,
    OpKind,
    Outcome,
    classify,
)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (ShardOwnershipLost(1), Outcome.FAIL),
        (ConditionFailed("x"), Outcome.FAIL),
        (WorkflowConditionFailed("x", actual_db_record_version=3), Outcome.FAIL),
        (CurrentWorkflowConditionFailed("x", None), Outcome.FAIL),
        (Timeout("x", may_have_committed=True), Outcome.UNKNOWN),
        (Timeout("x", may_have_committed=False), Outcome.UNKNOWN),
        (Unavailable("x"), Outcome.UNKNOWN),
        (InvalidRequest("x"), Outcome.UNKNOWN),
        (ValueError("x"), Outcome.ESCAPED),
        (TimeoutError(), Outcome.ESCAPED),
    ],
)
def test_outcomes_follow_the_error_tree(error: BaseException, outcome: Outcome) -> None:
    assert classify(error) is outcome


async def _answer(value: object = None, error: BaseException | None = None) -> object:
    await asyncio.sleep(0)
    if error is not None:
        raise error
    return value


async def test_a_call_is_timestamped_and_returns_its_result() -> None:
    ticks = itertools.count(10)
    recorder = HistoryRecorder(clock=lambda: float(next(ticks)))
    op = recorder.begin("c", OpKind.FENCED_WRITE, shard_id=3, range_id=2)
    assert op.op_id == 1 and op.invoke == 10 and math.isinf(op.complete)
    assert await recorder.run(op, lambda: _answer("done")) == "done"
    assert (op.outcome, op.complete, op.shard_id, op.range_id) == (Outcome.OK, 11, 3, 2)
    assert recorder.begin("c", OpKind.RUN_READ).op_id == 2


async def test_errors_become_outcomes_and_never_raise() -> None:
    recorder = HistoryRecorder()
    lost = recorder.begin("c", OpKind.SHARD_BUMP)
    assert await recorder.run(lost, lambda: _answer(error=ShardOwnershipLost(1))) is None
    escaped = recorder.begin("c", OpKind.RUN_WRITE)
    await recorder.run(escaped, lambda: _answer(error=KeyError("driver")))
    missing = recorder.begin("c", OpKind.RUN_WRITE)
    await recorder.run(missing, lambda: _answer(error=NotFound("gone")))
    assert [op.outcome for op in recorder.operations] == [
        Outcome.FAIL,
        Outcome.ESCAPED,
        Outcome.UNKNOWN,
    ]
    assert "KeyError" in escaped.detail


async def test_a_read_that_finds_nothing_observes_absence() -> None:
    recorder = HistoryRecorder()
    read = recorder.begin("c", OpKind.RUN_READ)
    read.version, read.writer = 5, 5
    await recorder.run(read, lambda: _answer(error=NotFound("no run")))
    assert (read.outcome, read.version, read.writer) == (Outcome.OK, ABSENT, None)


async def test_a_call_that_never_answers_is_cut_off_as_unknown() -> None:
    recorder = HistoryRecorder(call_timeout=0.01)
    op = recorder.begin("c", OpKind.SHARD_BUMP)
    await recorder.run(op, lambda: asyncio.sleep(10))
    assert op.outcome is Outcome.UNKNOWN and recorder.client_timeouts == 1
    # A store's own builtin TimeoutError is not the bound firing: it escaped the error tree.
    own = recorder.begin("c", OpKind.SHARD_BUMP)
    await recorder.run(own, lambda: _answer(error=TimeoutError("driver")))
    assert own.outcome is Outcome.ESCAPED and recorder.client_timeouts == 1
