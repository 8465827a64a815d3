"""What the workload knows while it runs: its own model of every run it wrote, and the services
(shards, history task queues, task queues) its workflows share.

The model is what the integrity check compares the stores against, so it records only what a
successful write made true: a run's version, next event id, branch and history nodes move
forward only after the store accepted the write.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from persistence_cassandra.managers.history import HistoryBranchManager
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import ExecutionKey, WorkflowState
from persistence_cassandra.workload.dead_letters import DeadLetterReplayer
from persistence_cassandra.workload.history_queues import TimerQueue, TransferQueue
from persistence_cassandra.workload.matching import TaskQueueOwner
from persistence_cassandra.workload.report import Counters, ViolationLog, WorkloadSettings
from persistence_cassandra.workload.shards import ShardOwner

if TYPE_CHECKING:
    from persistence_cassandra.workload.visibility import VisibilityRecorder

__all__ = [
    "STATUS_COMPLETED",
    "STATUS_CONTINUED_AS_NEW",
    "STATUS_RUNNING",
    "ChainPlan",
    "ChainState",
    "RunState",
    "ShardServices",
    "WorkloadContext",
]

# Temporal's WorkflowExecutionStatus values.
STATUS_RUNNING = 1
STATUS_COMPLETED = 2
STATUS_CONTINUED_AS_NEW = 6


@dataclass(slots=True)
class RunState:
    """One run as the workload wrote it."""

    key: ExecutionKey
    shard_id: int
    branch_token: bytes
    create_request_id: str
    start_time: datetime
    next_event_id: int = 1
    db_record_version: int = 0
    state: WorkflowState = WorkflowState.RUNNING
    status: int = STATUS_RUNNING
    nodes: list[tuple[int, int]] = field(default_factory=list)
    """``(node id, txn id)`` of every batch on the run's current branch, in order."""
    signal_requested_ids: set[str] = field(default_factory=set)
    forked_from: bytes = b""
    """The branch token before the last reset (empty without a reset)."""
    forked_from_next_event_id: int = 0
    task_sequence: int = 0
    """Numbers the run's waiter tokens, so no two tasks of a run share one."""

    @property
    def last_txn_id(self) -> int:
        return self.nodes[-1][1] if self.nodes else 0

    def token(self, kind: str) -> str:
        self.task_sequence += 1
        return f"{self.key.run_id}:{kind}:{self.task_sequence}"


@dataclass(frozen=True, slots=True)
class ChainPlan:
    """What one workflow id goes through."""

    transitions: int
    continue_as_new: bool
    reuse: bool
    reset_at: int | None
    """Index of the transition that starts with a reset (``None``: no reset)."""


@dataclass(slots=True)
class ChainState:
    """Every run of one workflow id, in order; the last one is current."""

    index: int
    workflow_id: str
    shard_id: int
    plan: ChainPlan
    runs: list[RunState] = field(default_factory=list)
    failure: str = ""
    """Empty unless a step failed (then it is already a violation)."""
    started_at: float = 0.0
    finished_at: float = 0.0
    handed_over: bool = False
    """The chain's shard moved to another member mid-run (not a failure: it finishes it)."""


@dataclass(slots=True)
class ShardServices:
    owner: ShardOwner
    transfer: TransferQueue
    timers: TimerQueue


@dataclass(slots=True)
class WorkloadContext:
    persistence: Persistence
    history: HistoryBranchManager
    settings: WorkloadSettings
    namespace_id: str
    counters: Counters
    violations: ViolationLog
    shards: dict[int, ShardServices] = field(default_factory=dict)
    workflow_queues: list[TaskQueueOwner] = field(default_factory=list)
    activity_queues: list[TaskQueueOwner] = field(default_factory=list)
    chains: list[ChainState] = field(default_factory=list)
    signals: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    """Waiters of signal transfer tasks, by token (the transfer queue delivers them)."""
    dead_letters: DeadLetterReplayer | None = None
    """Parks poison transfer tasks in a history-task DLQ and replays them (single process)."""
    # ------------------------------------------------------------------ visibility (issue 17)
    visibility: VisibilityRecorder | None = None
    """Records every run's visibility and checks it (None: the backend has no visibility)."""

    def queue(self, name: str) -> TaskQueueOwner:
        for queue in (*self.workflow_queues, *self.activity_queues):
            if queue.name == name:
                return queue
        raise KeyError(name)
