"""The checker on hand-built histories: each violation kind is found, clean histories pass,
and (property) no linearizable history is ever flagged."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from persistence_cassandra.testing.history import (
    FinalState,
    HistoryReport,
    Operation,
    OpKind,
    Outcome,
    RunState,
    ViolationKind,
    check_history,
)

SHARD = 7
OK, FAIL, UNKNOWN, ESCAPED = Outcome.OK, Outcome.FAIL, Outcome.UNKNOWN, Outcome.ESCAPED


def op(
    op_id: int,
    kind: OpKind,
    invoke: float,
    complete: float,
    outcome: Outcome = OK,
    **fields: int | None,
) -> Operation:
    shard = SHARD if kind in (OpKind.SHARD_READ, OpKind.SHARD_BUMP, OpKind.FENCED_WRITE) else 0
    fields.setdefault("shard_id", shard)
    return Operation(op_id, f"c{op_id}", kind, invoke, complete, outcome, **fields)  # type: ignore[arg-type]


def bump(op_id: int, t0: float, t1: float, to: int, outcome: Outcome = OK) -> Operation:
    return op(op_id, OpKind.SHARD_BUMP, t0, t1, outcome, range_id=to, previous_range_id=to - 1)


def fenced(op_id: int, t0: float, t1: float, fence: int, outcome: Outcome = OK) -> Operation:
    return op(op_id, OpKind.FENCED_WRITE, t0, t1, outcome, range_id=fence)


def write(op_id: int, t0: float, t1: float, version: int, outcome: Outcome = OK) -> Operation:
    return op(op_id, OpKind.RUN_WRITE, t0, t1, outcome, version=version)


def read(op_id: int, t0: float, t1: float, version: int, writer: int | None) -> Operation:
    return op(op_id, OpKind.RUN_READ, t0, t1, version=version, writer=writer)


def final(
    *, range_id: int = 1, tasks: set[int] | None = None, run: RunState | None = None
) -> FinalState:
    return FinalState(
        created_ranges={SHARD: 1},
        shard_ranges={SHARD: range_id},
        fenced_tasks={SHARD: frozenset(tasks or ())},
        run=run,
    )


def kinds(history: list[Operation], state: FinalState) -> list[ViolationKind]:
    return [violation.kind for violation in check_history(history, state)]


def clean_history() -> tuple[list[Operation], FinalState]:
    history = [
        write(1, 0, 1, 1),  # the create
        bump(2, 1, 2, 2),
        fenced(3, 2, 3, 2),
        fenced(4, 2.5, 5, 2, UNKNOWN),  # may or may not be there
        bump(5, 3, 4, 3),
        fenced(6, 4.5, 5, 2, FAIL),  # stale fence, refused
        fenced(7, 4.5, 6, 3),
        read(8, 1, 2, 1, 1),
        write(9, 2, 3, 2),
        write(10, 2, 3.5, 2, FAIL),
        read(11, 3.2, 4, 2, 9),
        write(12, 4, 5, 3, UNKNOWN),
        read(13, 4.5, 6, 3, 12),  # an unknown write may be seen
        op(14, OpKind.SHARD_READ, 4.1, 4.2, range_id=3),
        op(15, OpKind.SHARD_READ, 2.5, 4.2, range_id=2),  # overlaps the bump to 3
    ]
    return history, final(range_id=3, tasks={3, 7}, run=RunState(3, 12))


def test_a_clean_history_has_no_violations() -> None:
    history, state = clean_history()
    assert check_history(history, state) == []


def test_unknown_writes_may_be_absent_from_the_final_state() -> None:
    history, state = clean_history()
    assert check_history(history, final(range_id=3, tasks={3, 4, 7}, run=RunState(2, 9))) == []
    assert state.run == RunState(3, 12)


def test_an_escaped_exception_is_a_violation() -> None:
    history, state = clean_history()
    history.append(fenced(20, 6, 7, 3, ESCAPED))
    violations = check_history(history, state)
    assert [v.kind for v in violations] == [ViolationKind.ESCAPED_EXCEPTION]
    assert "nothing escapes" in violations[0].description
    assert violations[0].op_ids == (20,)


def test_a_range_granted_twice_is_found() -> None:
    history = [bump(1, 0, 1, 2), bump(2, 0.5, 1.5, 2)]
    assert ViolationKind.RANGE_GRANTED_TWICE in kinds(history, final(range_id=2))


def test_a_failed_and_an_acknowledged_bump_to_one_range_are_fine() -> None:
    history = [bump(1, 0, 1, 2), bump(2, 0.5, 1.5, 2, FAIL), bump(3, 0, 9, 2, UNKNOWN)]
    assert kinds(history, final(range_id=2)) == []


def test_a_stale_fence_accepted_after_a_takeover_is_found() -> None:
    history = [bump(1, 0, 1, 2), bump(2, 1, 2, 3), fenced(3, 2.5, 3, 2)]
    violations = check_history(history, final(range_id=3, tasks={3}))
    assert [v.kind for v in violations] == [ViolationKind.STALE_FENCE_ACCEPTED]
    assert violations[0].op_ids == (3, 2)


def test_a_stale_fence_overlapping_the_takeover_is_allowed() -> None:
    # The write may have been applied before the takeover: real time does not order them.
    history = [bump(1, 0, 1, 2), bump(2, 1, 2, 3), fenced(3, 1.9, 3, 2)]
    assert kinds(history, final(range_id=3, tasks={3})) == []


def test_a_stale_fence_after_an_unknown_takeover_is_allowed() -> None:
    history = [bump(1, 0, 1, 2), bump(2, 1, 2, 3, UNKNOWN), fenced(3, 2.5, 3, 2)]
    assert kinds(history, final(range_id=2, tasks={3})) == []


def test_a_version_acknowledged_twice_is_found() -> None:
    history = [write(1, 0, 1, 1), write(2, 1, 2, 2), write(3, 1, 2.5, 2)]
    assert ViolationKind.VERSION_ACKNOWLEDGED_TWICE in kinds(history, final(run=RunState(2, 3)))


def test_a_stale_run_read_is_found() -> None:
    history = [write(1, 0, 1, 1), write(2, 1, 2, 2), read(3, 2.5, 3, 1, 1)]
    assert kinds(history, final(run=RunState(2, 2))) == [ViolationKind.STALE_READ]


def test_a_read_missing_an_acknowledged_create_is_stale() -> None:
    history = [write(1, 0, 1, 1), read(2, 1.5, 2, 0, None)]
    assert kinds(history, final(run=RunState(1, 1))) == [ViolationKind.STALE_READ]


def test_a_stale_shard_read_is_found() -> None:
    history = [bump(1, 0, 1, 2), op(2, OpKind.SHARD_READ, 1.5, 2, range_id=1)]
    assert kinds(history, final(range_id=2)) == [ViolationKind.STALE_READ]


def test_a_read_of_a_definitely_failed_write_is_found() -> None:
    history = [write(1, 0, 1, 1), write(2, 1, 2, 2, FAIL), read(3, 2.5, 3, 2, 2)]
    assert kinds(history, final(run=RunState(1, 1))) == [ViolationKind.FAILED_WRITE_VISIBLE]


def test_a_failed_fenced_write_in_the_final_state_is_found() -> None:
    history = [bump(1, 0, 1, 2), fenced(2, 1, 2, 1, FAIL)]
    assert kinds(history, final(range_id=2, tasks={2})) == [ViolationKind.FAILED_WRITE_VISIBLE]


def test_state_no_write_produced_is_found() -> None:
    history = [write(1, 0, 1, 1), write(2, 1, 2, 2)]
    # Op 2 wrote version 2, but the state says version 3 with op 2's tag (a torn write).
    assert kinds(history, final(run=RunState(3, 2))) == [ViolationKind.UNEXPLAINED_STATE]
    assert kinds(history, final(run=RunState(2, 99))) == [ViolationKind.UNEXPLAINED_STATE]
    assert kinds([], final(range_id=5)) == [ViolationKind.UNEXPLAINED_STATE]
    assert kinds([], final(tasks={42})) == [ViolationKind.UNEXPLAINED_STATE]


def test_a_read_from_the_future_is_found() -> None:
    history = [write(1, 0, 1, 1), read(2, 1.5, 2, 2, 3), write(3, 2.5, 3, 2)]
    assert kinds(history, final(run=RunState(2, 3))) == [ViolationKind.FUTURE_READ]


def test_lost_acknowledged_writes_are_found() -> None:
    history = [write(1, 0, 1, 1), write(2, 1, 2, 2), bump(3, 0, 1, 2), fenced(4, 1, 2, 2)]
    found = kinds(history, final(range_id=1, tasks=set(), run=RunState(1, 1)))
    assert found.count(ViolationKind.ACKNOWLEDGED_WRITE_LOST) == 3  # range, task, version


def test_an_unreadable_final_state_is_reported() -> None:
    state = FinalState(created_ranges={SHARD: 1}, unreadable=("the run: Unavailable()",))
    assert kinds([], state) == [ViolationKind.FINAL_STATE_UNREADABLE]


def test_the_summary_names_counts_and_violations() -> None:
    history, state = clean_history()
    history.append(fenced(20, 6, 7, 3, ESCAPED))
    report = HistoryReport("test store", history, state, check_history(history, state))
    summary = report.summary()
    assert "16 operations (5 reads)" in summary
    assert "fenced_write: 5 (ok 2, fail 1, unknown 1, escaped 1)" in summary
    assert "violations: 1" in summary
    assert "violation: exception escaped the error tree: nothing escapes" in summary
    assert not report.ok


# --------------------------------------------------------------------------- property


@st.composite
def linearizable_histories(draw: st.DrawFn) -> tuple[list[Operation], FinalState]:
    """A history made by a correct store: operations take effect one at a time, each at a
    point inside its own [invoke, complete] interval; unknown writes may or may not apply."""
    steps = draw(st.lists(st.sampled_from(list(OpKind)), min_size=1, max_size=40))
    stored_range, version, writer = 1, 1, 1
    history = [write(1, 0.0, 0.5, 1)]
    tasks: set[int] = set()
    held: list[int] = [1]
    for index, kind in enumerate(steps, start=2):
        point = float(index)
        invoke = point - draw(st.floats(0, 3))
        complete = point + draw(st.floats(0, 3))
        unknown = draw(st.booleans()) and draw(st.booleans())
        applies = not unknown or draw(st.booleans())
        if kind is OpKind.SHARD_READ:
            history.append(op(index, kind, invoke, complete, range_id=stored_range))
            held.append(stored_range)
            continue
        if kind is OpKind.RUN_READ:
            history.append(read(index, invoke, complete, version, writer))
            continue
        if kind is OpKind.SHARD_BUMP:
            previous = draw(st.sampled_from(held))
            ok = previous == stored_range
            history.append(bump(index, invoke, complete, previous + 1, OK if ok else FAIL))
            if ok and applies:
                stored_range = previous + 1
        elif kind is OpKind.FENCED_WRITE:
            fence = draw(st.sampled_from(held))
            ok = fence == stored_range
            history.append(fenced(index, invoke, complete, fence, OK if ok else FAIL))
            if ok and applies:
                tasks.add(index)
        else:
            expected = draw(st.sampled_from([version, max(1, version - 1)]))
            ok = expected == version
            history.append(write(index, invoke, complete, expected + 1, OK if ok else FAIL))
            if ok and applies:
                version, writer = expected + 1, index
        if unknown and history[-1].outcome is OK:
            history[-1].outcome = UNKNOWN
            history[-1].complete = draw(st.sampled_from([complete, math.inf]))
    return history, final(range_id=stored_range, tasks=tasks, run=RunState(version, writer))


@settings(max_examples=150, deadline=None)
@given(linearizable_histories())
def test_no_linearizable_history_is_flagged(made: tuple[list[Operation], FinalState]) -> None:
    history, state = made
    assert check_history(history, state) == []
