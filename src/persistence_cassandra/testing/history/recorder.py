"""Operation records and the recorder that timestamps them.

A history is a list of :class:`Operation`: what one client asked for, when it asked
(``invoke``), when the answer came (``complete``) and what the answer meant (``outcome``).
Times are ``time.monotonic()`` seconds, so a wall-clock step during a fault run cannot reorder
operations. The checker reasons only over real-time order: an operation whose completion
precedes another's invocation happened before it; overlapping operations may be ordered either
way.

Outcomes follow the error tree (:mod:`persistence_cassandra.errors`):

* ``ok``: the store acknowledged the operation;
* ``fail``: the store reported that the condition did not hold (``ShardOwnershipLost``,
  ``ConditionFailed`` and its subclasses), so the write did not apply;
* ``unknown``: any other ``PersistenceError``. ``Unavailable`` belongs here too: a Paxos write
  can report it after its proposal was accepted, and the accepted value may be completed by
  the next proposer;
* ``escaped``: an exception outside the error tree reached the caller, which the stores
  promise never happens. The write may or may not have applied.

For reads, ``NotFound`` is an answer, not an error: it is recorded as ``ok`` with the
observation "absent" (version 0), so that a read that misses an acknowledged create is caught
as a stale read.
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from persistence_cassandra.errors import (
    ConditionFailed,
    NotFound,
    PersistenceError,
    ShardOwnershipLost,
)

__all__ = [
    "ABSENT",
    "HistoryRecorder",
    "OpKind",
    "Operation",
    "Outcome",
    "classify",
]

T = TypeVar("T")

ABSENT = 0
"""The version a read records when the record does not exist (no write produces it)."""


class OpKind(enum.StrEnum):
    SHARD_READ = "shard_read"
    """``get_or_create_shard``; observes ``range_id``."""
    SHARD_BUMP = "shard_bump"
    """``update_shard(range_id, previous_range_id)``: a takeover."""
    FENCED_WRITE = "fenced_write"
    """An execution write fenced by ``range_id``; its task id is the operation id."""
    RUN_READ = "run_read"
    """``get_workflow_execution``; observes ``version`` and the ``writer`` op that wrote it."""
    RUN_WRITE = "run_write"
    """A create (version 1) or an update of the run conditional on ``version - 1``."""

    @property
    def is_read(self) -> bool:
        return self in (OpKind.SHARD_READ, OpKind.RUN_READ)


class Outcome(enum.StrEnum):
    OK = "ok"
    FAIL = "fail"
    UNKNOWN = "unknown"
    ESCAPED = "escaped"

    @property
    def may_have_applied(self) -> bool:
        """Whether a write with this outcome may be visible in the store."""
        return self is not Outcome.FAIL


def classify(error: BaseException) -> Outcome:
    """The outcome an exception from a store call means."""
    # ShardOwnershipLost is its own branch of the tree, not a ConditionFailed, but for a
    # history both say the same thing: the condition was checked and did not hold.
    if isinstance(error, ShardOwnershipLost | ConditionFailed):
        return Outcome.FAIL
    if isinstance(error, PersistenceError):
        return Outcome.UNKNOWN
    return Outcome.ESCAPED


@dataclass(slots=True)
class Operation:
    """One call of one client, with what it asked and what it got.

    The fields that do not apply to ``kind`` stay at their defaults; see :class:`OpKind` for
    which ones each kind uses.
    """

    op_id: int
    client: str
    kind: OpKind
    invoke: float
    complete: float = math.inf
    """``inf`` while the call has not answered."""
    outcome: Outcome = Outcome.UNKNOWN
    shard_id: int = 0
    range_id: int = 0
    """Bump: the range requested; fenced write: the fence; shard read: the range observed."""
    previous_range_id: int = 0
    """Bump only: the range the client believed stored."""
    version: int = 0
    """Run write: the ``db_record_version`` written; run read: the version observed."""
    writer: int | None = None
    """Run read only: the op id whose tag the observed state carries (``None`` if absent)."""
    detail: str = ""
    """The error, for anything but ``ok``."""

    def describe(self) -> str:
        """One line naming the operation, for violation messages."""
        parts = [f"op {self.op_id} {self.kind} by {self.client}"]
        if self.kind in (OpKind.SHARD_READ, OpKind.SHARD_BUMP, OpKind.FENCED_WRITE):
            parts.append(f"shard {self.shard_id}")
        observed = self.outcome is Outcome.OK
        if self.kind is OpKind.SHARD_BUMP:
            parts.append(f"range {self.previous_range_id}->{self.range_id}")
        elif self.kind is OpKind.FENCED_WRITE:
            parts.append(f"fenced by range {self.range_id}")
        elif self.kind is OpKind.SHARD_READ and observed:
            parts.append(f"saw range {self.range_id}")
        elif self.kind is OpKind.RUN_WRITE:
            parts.append(f"version {self.version}")
        elif self.kind is OpKind.RUN_READ and observed:
            parts.append(f"saw version {self.version} by op {self.writer}")
        end = "open" if math.isinf(self.complete) else f"{self.complete:.6f}"
        parts.append(f"[{self.invoke:.6f}, {end}] {self.outcome}")
        if self.detail:
            parts.append(f"({self.detail})")
        return " ".join(parts)


@dataclass(slots=True)
class HistoryRecorder:
    """Hands out operation ids and records every call's invocation, completion and outcome.

    ``call_timeout`` bounds each call on the client side: a store that never answers (a paused
    node, a hung connection) must not stall a client for the rest of the run. A call cut off
    this way is ``unknown``, since the request may still reach the store.
    """

    call_timeout: float = 30.0
    clock: Callable[[], float] = time.monotonic
    operations: list[Operation] = field(default_factory=list)
    client_timeouts: int = 0
    """Calls cut off by ``call_timeout`` (recorded as ``unknown``)."""

    def begin(
        self,
        client: str,
        kind: OpKind,
        *,
        shard_id: int = 0,
        range_id: int = 0,
        previous_range_id: int = 0,
        version: int = 0,
    ) -> Operation:
        """Record the invocation now. The id is known before the call, so that the write can
        carry it as its tag."""
        op = Operation(
            len(self.operations) + 1,
            client,
            kind,
            self.clock(),
            shard_id=shard_id,
            range_id=range_id,
            previous_range_id=previous_range_id,
            version=version,
        )
        self.operations.append(op)
        return op

    async def run(self, op: Operation, call: Callable[[], Awaitable[T]]) -> T | None:
        """Perform ``call`` for ``op``; returns its result when ``ok``, else ``None``.

        Never raises for a store outcome: every exception is recorded as the op's outcome (a
        read's ``NotFound`` as an observed absence). Only cancellation of the caller
        propagates.
        """
        bound = asyncio.timeout(self.call_timeout)
        try:
            async with bound:
                result = await call()
        except TimeoutError as exc:
            # A builtin TimeoutError that is not our bound's is a driver error that escaped.
            if not bound.expired():
                self._finish(op, Outcome.ESCAPED, repr(exc))
                return None
            self.client_timeouts += 1
            self._finish(op, Outcome.UNKNOWN, f"no answer within {self.call_timeout:g}s")
            return None
        except NotFound as exc:
            if op.kind.is_read:
                op.version, op.writer = ABSENT, None
                self._finish(op, Outcome.OK, f"absent: {exc}")
            else:
                self._finish(op, classify(exc), repr(exc))
            return None
        except asyncio.CancelledError:
            self._finish(op, Outcome.UNKNOWN, "cancelled")
            raise
        except Exception as exc:  # classified, never swallowed: escaped ones become violations
            self._finish(op, classify(exc), repr(exc))
            return None
        self._finish(op, Outcome.OK, "")
        return result

    def _finish(self, op: Operation, outcome: Outcome, detail: str) -> None:
        op.complete = self.clock()
        op.outcome = outcome
        op.detail = detail
