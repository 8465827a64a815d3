"""The one rulebook for execution writes: what a create, update, conflict-resolve or set
request requires of the stored state, derived once for every backend.

A request names a *mode*; the mode decides what the workflow's current-run pointer must be
before the write and what it becomes after it, and each run the request carries is either
inserted (must not exist), mutated or overwritten (must exist at ``db_record_version - 1``).
Backends used to derive this each on their own, and drifted (the SQL store also asserted that a
bypass write's *new* run was not current, the Cassandra batch did not). Now
:func:`plan_execution_write` turns a request into an :class:`ExecutionWritePlan` and each
backend only translates it: the Cassandra batch builder into conditional statements of one
batch, the SQL store into locked reads plus writes of one transaction.

The semantics follow Temporal's persistence layer (``mutable_state_store.go`` and
``workflow_state_status.go``, read for behaviour, not copied):

- ``BYPASS_CURRENT`` asserts only that the *mutated* (update) or *reset* (conflict-resolve) run
  is not current. A new run in the same request is a fresh run id: if that id already exists,
  the insert fails as a conflict on that run (``WorkflowConditionFailed``), never as a current
  condition failure.
- ``IGNORE_CURRENT`` may not create a new run, and a bypassing conflict-resolve may not carry a
  current-run mutation: both would leave the pointer wrong without checking it.
- A new run (continue-as-new, reset) stays in the mutated run's namespace and workflow id.

Which states a run may be in for each mode (Temporal's zombie rules) is the server's business,
checked above persistence; this module checks only what the stored pointer and versions must
be. It does no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from persistence_cassandra import errors
from persistence_cassandra.records import (
    ConflictResolveWorkflowExecutionRequest,
    ConflictResolveWorkflowMode,
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    CurrentExecution,
    ExecutionKey,
    SetWorkflowExecutionRequest,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowMutation,
    WorkflowSnapshot,
    WorkflowState,
)

__all__ = [
    "ExecutionWritePlan",
    "ExecutionWriteRequest",
    "InsertRun",
    "MutateRun",
    "OverwriteRun",
    "PointerPlan",
    "PointerRule",
    "RunWrite",
    "plan_execution_write",
]

ExecutionWriteRequest = (
    CreateWorkflowExecutionRequest
    | UpdateWorkflowExecutionRequest
    | ConflictResolveWorkflowExecutionRequest
    | SetWorkflowExecutionRequest
)


class PointerRule(enum.Enum):
    """What the current-run pointer must be before the write."""

    ABSENT = "absent"
    """No pointer may exist (a brand-new workflow id); the write creates it."""
    POINTS_AT = "points_at"
    """The pointer must name :attr:`PointerPlan.run_id`; the write moves it."""
    REUSABLE = "reusable"
    """The pointer must name :attr:`PointerPlan.run_id`, COMPLETED, at
    :attr:`PointerPlan.last_write_version` (workflow-id reuse); the write moves it."""
    NOT_POINTS_AT = "not_points_at"
    """The pointer, if any, must name another run; the write leaves it alone."""


@dataclass(frozen=True, slots=True)
class PointerPlan:
    namespace_id: str
    workflow_id: str
    rule: PointerRule
    run_id: str = ""
    """The run the rule names (empty for ABSENT)."""
    last_write_version: int | None = None
    """REUSABLE only: the completed run's last write version the caller decided from."""
    new_record: CurrentExecution | None = None
    """The pointer after the write; None when the write leaves it as it is."""

    def violation(self, actual: CurrentExecution | None) -> str | None:
        """Why the stored pointer ``actual`` (None: absent) breaks this rule, or None if it
        holds. Backends check the rule their own way (a CQL condition, a locked read) but
        explain a failure with this one judgement."""
        if self.rule is PointerRule.ABSENT:
            return None if actual is None else f"current run {actual.run_id} already exists"
        if self.rule is PointerRule.NOT_POINTS_AT:
            if actual is not None and actual.run_id == self.run_id:
                return f"run {self.run_id} is the current run"
            return None
        if actual is None:
            return f"no current run (expected {self.run_id})"
        if actual.run_id != self.run_id:
            return f"current run is {actual.run_id} (expected {self.run_id})"
        if self.rule is PointerRule.REUSABLE:
            if actual.last_write_version != self.last_write_version:
                return (
                    f"current run's last write version is {actual.last_write_version} "
                    f"(expected {self.last_write_version})"
                )
            if actual.state is not WorkflowState.COMPLETED:
                return f"current run is {actual.state.name}, not COMPLETED"
        return None


@dataclass(frozen=True, slots=True)
class InsertRun:
    """A new run: must not exist."""

    snapshot: WorkflowSnapshot

    @property
    def key(self) -> ExecutionKey:
        return self.snapshot.key

    @property
    def expected_db_record_version(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class MutateRun:
    """A changed run: scalars replaced, collections changed element by element; the stored
    run must be at ``db_record_version - 1`` (writers bump it by one on every change)."""

    mutation: WorkflowMutation

    @property
    def key(self) -> ExecutionKey:
        return self.mutation.key

    @property
    def expected_db_record_version(self) -> int:
        return self.mutation.db_record_version - 1


@dataclass(frozen=True, slots=True)
class OverwriteRun:
    """A run replaced whole (reset, set): collections replaced by the snapshot's; checked on
    ``db_record_version - 1`` like a mutation."""

    snapshot: WorkflowSnapshot

    @property
    def key(self) -> ExecutionKey:
        return self.snapshot.key

    @property
    def expected_db_record_version(self) -> int:
        return self.snapshot.db_record_version - 1


RunWrite = InsertRun | MutateRun | OverwriteRun


@dataclass(frozen=True, slots=True)
class ExecutionWritePlan:
    """Everything one execution write requires and changes, in the order backends apply it:
    the pointer rule (checked with the range-id fence), then the run writes."""

    shard_id: int
    range_id: int
    pointer: PointerPlan | None
    runs: tuple[RunWrite, ...]

    @property
    def checked_runs(self) -> tuple[MutateRun | OverwriteRun, ...]:
        """Runs that must exist at an expected version before the write."""
        return tuple(r for r in self.runs if not isinstance(r, InsertRun))


def plan_execution_write(request: ExecutionWriteRequest) -> ExecutionWritePlan:
    """The plan of one request; :class:`errors.InvalidRequest` for a combination no mode
    allows."""
    if isinstance(request, CreateWorkflowExecutionRequest):
        return _plan_create(request)
    if isinstance(request, UpdateWorkflowExecutionRequest):
        return _plan_update(request)
    if isinstance(request, ConflictResolveWorkflowExecutionRequest):
        return _plan_conflict_resolve(request)
    return ExecutionWritePlan(
        request.shard_id,
        request.range_id,
        None,
        (OverwriteRun(request.snapshot),),
    )


def _plan_create(request: CreateWorkflowExecutionRequest) -> ExecutionWritePlan:
    snapshot = request.new_snapshot
    key = snapshot.key
    pointer: PointerPlan | None = None
    if request.mode is CreateWorkflowMode.BRAND_NEW:
        pointer = PointerPlan(
            key.namespace_id,
            key.workflow_id,
            PointerRule.ABSENT,
            new_record=snapshot.current_record(),
        )
    elif request.mode is CreateWorkflowMode.UPDATE_CURRENT:
        pointer = PointerPlan(
            key.namespace_id,
            key.workflow_id,
            PointerRule.REUSABLE,
            request.previous_run_id,
            request.previous_last_write_version,
            snapshot.current_record(),
        )
    runs: tuple[RunWrite, ...] = (InsertRun(snapshot),)
    return ExecutionWritePlan(request.shard_id, request.range_id, pointer, runs)


def _plan_update(request: UpdateWorkflowExecutionRequest) -> ExecutionWritePlan:
    mutation = request.mutation
    key = mutation.key
    new = request.new_snapshot
    if new is not None:
        _same_workflow(key, new.key, "a new run")
    pointer: PointerPlan | None = None
    if request.mode is UpdateWorkflowMode.UPDATE_CURRENT:
        record = new.current_record() if new is not None else mutation.current_record()
        pointer = PointerPlan(
            key.namespace_id, key.workflow_id, PointerRule.POINTS_AT, key.run_id, None, record
        )
    elif request.mode is UpdateWorkflowMode.BYPASS_CURRENT:
        pointer = PointerPlan(
            key.namespace_id, key.workflow_id, PointerRule.NOT_POINTS_AT, key.run_id
        )
    elif new is not None:
        raise errors.InvalidRequest(
            "IGNORE_CURRENT cannot create a new run: the current pointer would not be checked"
        )
    runs: list[RunWrite] = [MutateRun(mutation)]
    if new is not None:
        runs.append(InsertRun(new))
    return ExecutionWritePlan(request.shard_id, request.range_id, pointer, tuple(runs))


def _plan_conflict_resolve(request: ConflictResolveWorkflowExecutionRequest) -> ExecutionWritePlan:
    reset = request.reset_snapshot
    key = reset.key
    new, current = request.new_snapshot, request.current_mutation
    if new is not None:
        _same_workflow(key, new.key, "a new run")
    if current is not None:
        _same_workflow(key, current.key, "the current run's mutation")
    if request.mode is ConflictResolveWorkflowMode.UPDATE_CURRENT:
        expected_run = current.key.run_id if current is not None else key.run_id
        record = (new or reset).current_record()
        pointer = PointerPlan(
            key.namespace_id, key.workflow_id, PointerRule.POINTS_AT, expected_run, None, record
        )
    else:
        if current is not None:
            raise errors.InvalidRequest(
                "a BYPASS_CURRENT conflict-resolve cannot carry a current-run mutation: "
                "the pointer is not checked, so the current run is unknown"
            )
        pointer = PointerPlan(
            key.namespace_id, key.workflow_id, PointerRule.NOT_POINTS_AT, key.run_id
        )
    runs: list[RunWrite] = [OverwriteRun(reset)]
    if current is not None:
        runs.append(MutateRun(current))
    if new is not None:
        runs.append(InsertRun(new))
    return ExecutionWritePlan(request.shard_id, request.range_id, pointer, tuple(runs))


def _same_workflow(base: ExecutionKey, other: ExecutionKey, what: str) -> None:
    if (other.namespace_id, other.workflow_id) != (base.namespace_id, base.workflow_id):
        raise errors.InvalidRequest(
            f"{what} must belong to workflow {base.workflow_id!r} in namespace "
            f"{base.namespace_id!r}, not {other.workflow_id!r} in {other.namespace_id!r}"
        )
