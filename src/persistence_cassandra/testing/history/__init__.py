"""An operation-history checker for fencing and compare-and-set.

Concurrent clients record every operation (invocation and completion time, client, inputs,
outcome) while they take shards over and write fenced by the range they hold, and while they
update one run conditional on its ``db_record_version``; the checker then proves from the
history and the final state that no lease was granted twice, no stale fence was honoured, no
version was acknowledged twice, no acknowledged write was lost or read stale, and that nothing
escaped the error tree.

* :mod:`.recorder`: the operation records and the recorder that timestamps them;
* :mod:`.checker`: pure functions from a history and a final state to violations;
* :mod:`.scenarios`: the clients, and :func:`run_history_check`, the entry point.
"""

from __future__ import annotations

from persistence_cassandra.testing.history.checker import (
    FinalState,
    HistoryReport,
    RunState,
    Violation,
    ViolationKind,
    check_history,
)
from persistence_cassandra.testing.history.recorder import (
    ABSENT,
    HistoryRecorder,
    Operation,
    OpKind,
    Outcome,
    classify,
)
from persistence_cassandra.testing.history.scenarios import HistorySetupFailed, run_history_check

__all__ = [
    "ABSENT",
    "FinalState",
    "HistoryRecorder",
    "HistoryReport",
    "HistorySetupFailed",
    "OpKind",
    "Operation",
    "Outcome",
    "RunState",
    "Violation",
    "ViolationKind",
    "check_history",
    "classify",
    "run_history_check",
]
