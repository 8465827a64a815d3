"""What the workload stores inside the opaque blobs, and how it reads them back.

The stores never look inside a blob, but the integrity check must: it finds a run's history
through the branch token kept in the *stored* execution info (not through the workload's own
memory), reads the run's state and status from the stored execution state, and checks that
every event carries the id of its position. Everything is compact JSON, so a failed check can
print what it found.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from persistence_cassandra.errors import DataLoss
from persistence_cassandra.records import DataBlob, WorkflowState

__all__ = [
    "ENCODING",
    "EventType",
    "ExecutionInfo",
    "ExecutionStateDoc",
    "TaskPayload",
    "decode_event",
    "encode_event",
    "json_blob",
]

ENCODING = "json"


class EventType:
    """History event names (Temporal's), as the workload writes them."""

    STARTED = "WorkflowExecutionStarted"
    WFT_SCHEDULED = "WorkflowTaskScheduled"
    WFT_STARTED = "WorkflowTaskStarted"
    WFT_COMPLETED = "WorkflowTaskCompleted"
    WFT_FAILED = "WorkflowTaskFailed"
    ACTIVITY_SCHEDULED = "ActivityTaskScheduled"
    ACTIVITY_STARTED = "ActivityTaskStarted"
    ACTIVITY_COMPLETED = "ActivityTaskCompleted"
    TIMER_STARTED = "TimerStarted"
    TIMER_FIRED = "TimerFired"
    SIGNAL_INITIATED = "SignalExternalWorkflowExecutionInitiated"
    SIGNAL_DELIVERED = "ExternalWorkflowExecutionSignaled"
    COMPLETED = "WorkflowExecutionCompleted"
    CONTINUED_AS_NEW = "WorkflowExecutionContinuedAsNew"

    CLOSING = frozenset({COMPLETED, CONTINUED_AS_NEW})


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def _loads(data: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise DataLoss(f"{what} is not the JSON the workload wrote: {data[:80]!r}") from None
    if not isinstance(document, dict):
        raise DataLoss(f"{what} is not a JSON object: {data[:80]!r}")
    return document


def json_blob(document: dict[str, Any]) -> DataBlob:
    return DataBlob(_dumps(document), ENCODING)


def encode_event(event_id: int, event_type: str, workflow_id: str) -> bytes:
    return _dumps({"id": event_id, "type": event_type, "wf": workflow_id})


def decode_event(data: bytes) -> tuple[int, str]:
    """The event's id and type."""
    document = _loads(data, "history event")
    event_id, event_type = document.get("id"), document.get("type")
    if not isinstance(event_id, int) or not isinstance(event_type, str):
        raise DataLoss(f"history event without id or type: {data[:80]!r}")
    return event_id, event_type


@dataclass(frozen=True, slots=True)
class ExecutionInfo:
    """The execution info blob: where the run's history is."""

    workflow_id: str
    branch_token: bytes

    def blob(self) -> DataBlob:
        token = base64.b64encode(self.branch_token).decode("ascii")
        return json_blob({"workflow_id": self.workflow_id, "branch_token": token})

    @staticmethod
    def decode(blob: DataBlob) -> ExecutionInfo:
        document = _loads(blob.data, "execution info")
        try:
            return ExecutionInfo(
                str(document["workflow_id"]),
                base64.b64decode(str(document["branch_token"]), validate=True),
            )
        except (KeyError, ValueError):
            raise DataLoss(f"execution info without a branch token: {blob.data[:80]!r}") from None


@dataclass(frozen=True, slots=True)
class ExecutionStateDoc:
    """The execution state blob: the run's state and status, which the stores keep only in
    the current pointer's significant columns."""

    state: WorkflowState
    status: int

    def blob(self) -> DataBlob:
        return json_blob({"state": int(self.state), "status": self.status})

    @staticmethod
    def decode(blob: DataBlob) -> ExecutionStateDoc:
        document = _loads(blob.data, "execution state")
        try:
            return ExecutionStateDoc(WorkflowState(document["state"]), int(document["status"]))
        except (KeyError, ValueError, TypeError):
            raise DataLoss(f"execution state without state/status: {blob.data[:80]!r}") from None


@dataclass(frozen=True, slots=True)
class TaskPayload:
    """A history or matching task's blob: what to do, and for whom.

    ``token`` names the waiter (a run and the event that scheduled the work), so a task that
    reaches the wrong waiter, or no waiter, is detected.
    """

    kind: str
    token: str
    queue: str = ""

    WORKFLOW_TASK = "workflow_task"
    ACTIVITY_TASK = "activity_task"
    SIGNAL = "signal"
    CLOSE = "close"
    TIMER = "timer"

    def blob(self) -> DataBlob:
        return json_blob({"kind": self.kind, "token": self.token, "queue": self.queue})

    @staticmethod
    def decode(blob: DataBlob) -> TaskPayload:
        document = _loads(blob.data, "task payload")
        try:
            return TaskPayload(
                str(document["kind"]), str(document["token"]), str(document.get("queue", ""))
            )
        except KeyError:
            raise DataLoss(f"task payload without kind/token: {blob.data[:80]!r}") from None
