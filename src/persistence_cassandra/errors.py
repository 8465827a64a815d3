"""The one error tree of persistence-cassandra, grouped by what the caller does next.

::

    PersistenceError
    ├── ShardOwnershipLost            stop using the shard; another owner holds a newer range id
    ├── ConditionFailed               re-read and decide (generic compare-and-set failure)
    │   ├── CurrentWorkflowConditionFailed   carries the actual current run
    │   ├── WorkflowConditionFailed          carries the actual db_record_version
    │   ├── QueueVersionConflict             carries the queue metadata's actual version
    │   ├── NexusTableVersionConflict        carries the actual table version
    │   ├── NexusEndpointVersionConflict     carries the endpoint's actual version
    │   └── TaskQueueUserDataConflict        names the queues whose version moved
    ├── NotFound
    │   ├── NamespaceNotFound
    │   ├── QueueNotFound
    │   └── NexusEndpointNotFound
    ├── AlreadyExists
    │   ├── NamespaceAlreadyExists
    │   └── QueueAlreadyExists
    ├── Timeout                       outcome unknown when may_have_committed is True
    ├── Unavailable                   transient: the store could not be reached or was overloaded
    ├── InvalidRequest                the request itself is wrong (including size limits)
    ├── DataLoss                      stored data breaks an invariant (e.g. a broken event chain)
    │   └── UnknownTaskCategory       (task_categories) a task category id nobody registered
    └── SchemaVersionMismatch         the stored schema is older than this code expects

    UserFacingError                   configuration and CLI mistakes: one clear line, no traceback
    ├── ConfigError
    └── SchemaToolError

``ShardOwnershipLost`` is deliberately *not* a ``ConditionFailed``: a caller that catches a
plain condition failure to re-read and retry must never swallow the signal that it has been
fenced out of the shard.

Backends translate their driver's exceptions into this tree at exactly one boundary, chaining
the original (``raise ... from exc``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from persistence_cassandra.hints import MessagePart, as_parts, render_message

if TYPE_CHECKING:
    from persistence_cassandra.records import CurrentExecution

__all__ = [
    "AlreadyExists",
    "ConditionFailed",
    "ConfigError",
    "CurrentWorkflowConditionFailed",
    "DataLoss",
    "InvalidRequest",
    "NamespaceAlreadyExists",
    "NamespaceNotFound",
    "NexusEndpointNotFound",
    "NexusEndpointVersionConflict",
    "NexusTableVersionConflict",
    "NotFound",
    "PersistenceError",
    "QueueAlreadyExists",
    "QueueNotFound",
    "QueueVersionConflict",
    "SchemaToolError",
    "SchemaVersionMismatch",
    "ShardOwnershipLost",
    "TaskQueueUserDataConflict",
    "Timeout",
    "Unavailable",
    "UserFacingError",
    "WorkflowConditionFailed",
]


class PersistenceError(Exception):
    """Base of every error a store raises."""


class ShardOwnershipLost(PersistenceError):
    """The shard's stored range id is no longer the caller's lease: stop using the shard."""

    def __init__(
        self, shard_id: int, message: str = "", *, actual_range_id: int | None = None
    ) -> None:
        self.shard_id = shard_id
        self.actual_range_id = actual_range_id
        detail = message or "shard ownership lost"
        if actual_range_id is not None:
            detail += f" (stored range_id={actual_range_id})"
        super().__init__(f"shard {shard_id}: {detail}")


class ConditionFailed(PersistenceError):
    """A conditional write found a different stored value than the caller expected."""


class CurrentWorkflowConditionFailed(ConditionFailed):
    """The current-run pointer of a workflow id is not what the caller expected.

    ``current`` is the actual current record (``None`` when no current record exists but one
    was required), so that the caller can apply its workflow-id reuse policy without a re-read.
    """

    def __init__(self, message: str, current: CurrentExecution | None) -> None:
        self.current = current
        super().__init__(message)

    @property
    def run_id(self) -> str | None:
        return self.current.run_id if self.current else None


class WorkflowConditionFailed(ConditionFailed):
    """The run's stored ``db_record_version`` did not match; carries the actual values."""

    def __init__(
        self, message: str, *, actual_db_record_version: int, next_event_id: int = 0
    ) -> None:
        self.actual_db_record_version = actual_db_record_version
        self.next_event_id = next_event_id
        super().__init__(message)


class NotFound(PersistenceError):
    """The requested record does not exist."""


class NamespaceNotFound(NotFound):
    """No namespace with that id or name."""


class AlreadyExists(PersistenceError):
    """A record that must be unique already exists."""


class NamespaceAlreadyExists(AlreadyExists):
    """A namespace with that name (or id) already exists."""


class Timeout(PersistenceError):
    """The operation timed out.

    ``may_have_committed`` is True for writes whose outcome is unknown (for example a timed-out
    lightweight transaction): the caller must neither treat it as success nor as a clean
    failure, but re-establish ownership (bump the range id) and re-read.
    """

    def __init__(self, message: str, *, may_have_committed: bool) -> None:
        self.may_have_committed = may_have_committed
        super().__init__(message)


class Unavailable(PersistenceError):
    """The store could not serve the request now (no hosts, overloaded, connection lost)."""


class InvalidRequest(PersistenceError):
    """The request is malformed or exceeds a size limit; retrying it will not help."""


class DataLoss(PersistenceError):
    """Stored data breaks an invariant the reader relies on (a corrupted history batch, event
    ids that are not contiguous, a node id seen twice): retrying will not help."""


class SchemaVersionMismatch(PersistenceError):
    """The stored schema is older than the code expects; the message names the command to run
    (``parts`` keeps it as data, see :mod:`persistence_cassandra.hints`)."""

    def __init__(
        self, message: str | Sequence[MessagePart], *, actual: str | None, expected: str
    ) -> None:
        self.actual = actual
        self.expected = expected
        self.parts = as_parts(message)
        super().__init__(render_message(self.parts))


# --------------------------------------------------------------------------- queues and Nexus


class QueueNotFound(NotFound):
    """No queue of that type and name (create it first)."""


class QueueAlreadyExists(AlreadyExists):
    """A queue of that type and name already exists."""


class QueueVersionConflict(ConditionFailed):
    """The queue's metadata was updated since the caller read it; ``actual_version`` is the
    stored version."""

    def __init__(self, message: str, *, expected_version: int, actual_version: int) -> None:
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(f"{message}: expected version {expected_version}, found {actual_version}")


class NexusTableVersionConflict(ConditionFailed):
    """The Nexus endpoints table changed since the caller read its version (0: never written)."""

    def __init__(self, *, expected_version: int, actual_version: int) -> None:
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"nexus endpoints table: expected version {expected_version}, found {actual_version}"
        )


class NexusEndpointVersionConflict(ConditionFailed):
    """The endpoint's stored version is not the caller's (0: the endpoint does not exist)."""

    def __init__(self, endpoint_id: str, *, expected_version: int, actual_version: int) -> None:
        self.endpoint_id = endpoint_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"nexus endpoint {endpoint_id!r}: expected version {expected_version}, "
            f"found {actual_version}"
        )


class NexusEndpointNotFound(NotFound):
    """No Nexus endpoint with that id."""


class UserFacingError(Exception):
    """A mistake by the user (config, CLI input): printed as one line, never as a traceback."""


class ConfigError(UserFacingError):
    """The configuration is invalid; the message names the key and the problem."""


class SchemaToolError(UserFacingError):
    """A schema tool command cannot proceed; the message says why and what to do (``parts``
    keeps the commands it names as data, see :mod:`persistence_cassandra.hints`)."""

    def __init__(self, message: str | Sequence[MessagePart]) -> None:
        self.parts = as_parts(message)
        super().__init__(render_message(self.parts))


# --------------------------------------------------------------------------- task-queue user data


class TaskQueueUserDataConflict(ConditionFailed):
    """An ``update_task_queue_user_data`` call wrote nothing: the stored version of each queue
    in ``conflicting`` differs from the update's. Every other queue of the call is in
    ``not_applied`` (it had no conflict of its own but shares the all-or-nothing write)."""

    def __init__(
        self, namespace_id: str, conflicting: frozenset[str], not_applied: frozenset[str]
    ) -> None:
        self.namespace_id = namespace_id
        self.conflicting = conflicting
        self.not_applied = not_applied
        names = ", ".join(sorted(conflicting)) or "(unknown)"
        super().__init__(
            f"namespace {namespace_id}: task-queue user data version conflict on {names}; "
            "nothing was written"
        )
