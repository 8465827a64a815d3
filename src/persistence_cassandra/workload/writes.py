"""Sending writes whose outcome may be unknown, as a history service must.

A conditional write that times out may have committed (``Timeout(may_have_committed=True)``):
sending it again blindly could fail its condition against its own first attempt, or apply it
twice. So an execution write is followed, after a timeout, by a read of the run: if the stored
``db_record_version`` is the one the write set, it applied; if it is still the previous one, it
did not, and is sent again; anything else is a broken invariant. Idempotent writes (history
nodes and matching tasks are upserts keyed by transaction or task id) are simply sent again.

On Cassandra the read is not the last word: a lightweight transaction that timed out may have
its proposal accepted by a replica that the read did not ask, and the next Paxos round on the
partition (the resend itself) completes it. The resend then fails its condition against its
own first attempt: a create finds the current run pointing at the run it creates, an update
finds the version it writes. Both mean the first attempt applied (a history service dedupes a
create by its request id the same way); seen on the 3-node cluster under node kills.

Lease bumps (a shard's range id, a task queue's) and versioned cluster-metadata records (the
group's settings, each member's result) follow the same rule through :func:`send_conditional`:
after an unknown outcome, or a refused resend, a read of the stored record says whether the
write is there (applied), the record is still what the write was conditioned on (sent again),
or another writer's record holds the place (lost). Several members creating the group record at
once contend for one Paxos partition, and the cluster answers a proposer that lost the race after
one replica accepted it with ``CAS_WRITE_UNKNOWN``, an unknown outcome with every node up (seen
in CI).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import ParamSpec, Protocol, TypeVar

from persistence_cassandra.errors import (
    ConditionFailed,
    CurrentWorkflowConditionFailed,
    DataLoss,
    NotFound,
    Timeout,
    WorkflowConditionFailed,
)
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import (
    ClusterMetadataRecord,
    ConflictResolveWorkflowExecutionRequest,
    CreateWorkflowExecutionRequest,
    HistoryTask,
    UpdateWorkflowExecutionRequest,
)

__all__ = [
    "LEASE_ATTEMPTS",
    "WRITE_ATTEMPTS",
    "ExecutionRequest",
    "RequestBuilder",
    "Stored",
    "execute_write",
    "lease_outcome",
    "resend_delay",
    "retry_idempotent",
    "save_metadata",
    "send_conditional",
    "take_lease",
    "write_applied",
]

T = TypeVar("T")
P = ParamSpec("P")

WRITE_ATTEMPTS = 5
"""Attempts of a write whose outcome was unknown."""
IDEMPOTENT_ATTEMPTS = 8
IDEMPOTENT_FIRST_DELAY = 0.1
IDEMPOTENT_MAX_DELAY = 2.0
"""Seconds between re-sends of an idempotent call: 0.1 s doubling to 2 s, about 9 s in all,
which outlasts a node's pause or partition until its peers and clients route around it."""
LEASE_ATTEMPTS = IDEMPOTENT_ATTEMPTS
"""Sends of a lease bump (shard or task queue) whose outcome stays unknown."""


def resend_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next send."""
    return min(IDEMPOTENT_FIRST_DELAY * (1 << (attempt - 1)), IDEMPOTENT_MAX_DELAY)


ExecutionRequest = (
    CreateWorkflowExecutionRequest
    | UpdateWorkflowExecutionRequest
    | ConflictResolveWorkflowExecutionRequest
)
RequestBuilder = Callable[[int, list[HistoryTask]], ExecutionRequest]
"""``(range_id, tasks) -> request``: builds a write once its task ids are known."""


async def execute_write(persistence: Persistence, request: ExecutionRequest) -> None:
    """Send an execution write; after a timeout, re-read to learn whether it applied and send
    it again only if it did not."""
    execution = persistence.execution
    uncertain = False
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            if isinstance(request, CreateWorkflowExecutionRequest):
                await execution.create_workflow_execution(request)
            elif isinstance(request, UpdateWorkflowExecutionRequest):
                await execution.update_workflow_execution(request)
            else:
                await execution.conflict_resolve_workflow_execution(request)
            return
        except Timeout:
            if attempt == WRITE_ATTEMPTS:
                raise
            if await write_applied(persistence, request):
                return
            uncertain = True
        except (CurrentWorkflowConditionFailed, WorkflowConditionFailed) as conflict:
            if not (uncertain and _conflicts_with_itself(request, conflict)):
                raise
            return


def _conflicts_with_itself(
    request: ExecutionRequest, conflict: CurrentWorkflowConditionFailed | WorkflowConditionFailed
) -> bool:
    """Whether a resend failed against the write's own earlier attempt."""
    if isinstance(conflict, CurrentWorkflowConditionFailed):
        return (
            isinstance(request, CreateWorkflowExecutionRequest)
            and conflict.run_id == request.new_snapshot.key.run_id
        )
    if isinstance(request, UpdateWorkflowExecutionRequest):
        return conflict.actual_db_record_version == request.mutation.db_record_version
    return False


async def write_applied(persistence: Persistence, request: ExecutionRequest) -> bool:
    """Whether a write whose outcome is unknown is stored (``DataLoss`` when the run is at a
    version neither before nor after it)."""
    if isinstance(request, CreateWorkflowExecutionRequest):
        key, version = request.new_snapshot.key, request.new_snapshot.db_record_version
    elif isinstance(request, UpdateWorkflowExecutionRequest):
        key, version = request.mutation.key, request.mutation.db_record_version
    else:
        key, version = request.reset_snapshot.key, request.reset_snapshot.db_record_version
    try:
        stored = await persistence.execution.get_workflow_execution(request.shard_id, key)
    except NotFound:
        return False
    if stored.db_record_version == version:
        return True
    if stored.db_record_version == version - 1:
        return False
    raise DataLoss(
        f"after a timed-out write at version {version}, the run is at version "
        f"{stored.db_record_version}"
    )


async def retry_idempotent(call: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    """For reads and idempotent writes only (upserts by key, range deletes): send again after
    a timeout. A coordinator that dies, pauses or is cut off with the request in flight times
    it out; the next attempt goes to another one."""
    for attempt in range(1, IDEMPOTENT_ATTEMPTS + 1):
        try:
            return await call(*args, **kwargs)
        except Timeout:
            if attempt == IDEMPOTENT_ATTEMPTS:
                raise
        # Back off: a paused or cut-off replica keeps timing writes out for a few seconds,
        # and back-to-back resends all land in that window (seen in the cluster fault tests).
        await asyncio.sleep(resend_delay(attempt))
    raise AssertionError("unreachable: the last attempt returns or raises")


class Stored(Enum):
    """What the stored record says of a conditional write whose outcome was unknown."""

    APPLIED = "applied"
    """The write's own values are stored."""
    BEFORE = "before"
    """Still what the write was conditioned on: it did not apply, and is sent again."""
    MOVED = "moved"
    """Another writer's values: the write lost the place."""


async def send_conditional(
    send: Callable[[], Awaitable[None]],
    settle: Callable[[], Awaitable[Stored]],
    *,
    refused: type[Exception],
    attempts: int,
) -> bool:
    """Send a conditional write whose outcome may be unknown: ``True`` once it is stored,
    ``False`` when another writer's record holds the place.

    After a ``Timeout``, or a ``refused`` answer to a resend (which may have met the write's own
    first attempt, completed by the next Paxos round), ``settle`` reads the stored record. A
    ``refused`` answer to the first attempt is the caller's to handle: it is raised. So is the
    last attempt's error when the record is still as it was before the write.
    """
    uncertain = False
    for attempt in range(1, attempts + 1):
        try:
            await send()
            return True
        except Timeout:
            if attempt == attempts:
                raise
            uncertain = True
            stored = await settle()
        except refused:
            if not uncertain:
                raise
            stored = await settle()
            if stored is Stored.BEFORE and attempt == attempts:
                raise
        if stored is not Stored.BEFORE:
            return stored is Stored.APPLIED
        await asyncio.sleep(resend_delay(attempt))
    raise AssertionError("unreachable: the last attempt returns or raises")


def lease_outcome(
    stored_range_id: int,
    stored_info: object,
    range_id: int,
    info: object,
    previous_range_id: int,
) -> Stored:
    """What a stored lease (shard or task queue) says of a bump from ``previous_range_id`` to
    ``range_id`` with ``info``."""
    if stored_range_id == range_id and stored_info == info:
        return Stored.APPLIED
    return Stored.BEFORE if stored_range_id == previous_range_id else Stored.MOVED


class _Lease(Protocol):
    @property
    def range_id(self) -> int: ...

    @property
    def info(self) -> object: ...


async def take_lease(
    send: Callable[[], Awaitable[None]],
    read: Callable[[], Awaitable[_Lease]],
    range_id: int,
    info: object,
    previous_range_id: int,
    *,
    refused: type[Exception],
) -> int | None:
    """Bump a lease (shard or task queue) from ``previous_range_id`` to ``range_id`` with
    ``info``: ``None`` once taken, else the range id another owner's lease stands at. A
    ``refused`` first attempt is raised."""
    holder = previous_range_id

    async def settle() -> Stored:
        nonlocal holder
        stored = await retry_idempotent(read)
        holder = stored.range_id
        return lease_outcome(stored.range_id, stored.info, range_id, info, previous_range_id)

    taken = await send_conditional(send, settle, refused=refused, attempts=LEASE_ATTEMPTS)
    return None if taken else holder


async def save_metadata(persistence: Persistence, record: ClusterMetadataRecord) -> bool:
    """Save a versioned cluster-metadata record (version 0: insert if absent) whose outcome may
    be unknown: ``True`` once it is stored, ``False`` when another writer's record holds the
    place (the store's ``ConditionFailed``, answered to the first attempt)."""
    store = persistence.cluster_metadata

    async def settle() -> Stored:
        try:
            stored = await retry_idempotent(store.get_cluster_metadata, record.cluster_name)
        except NotFound:
            return Stored.BEFORE if record.version == 0 else Stored.MOVED
        if stored.version == record.version + 1:
            return Stored.APPLIED if stored.metadata == record.metadata else Stored.MOVED
        return Stored.BEFORE if stored.version == record.version else Stored.MOVED

    try:
        return await send_conditional(
            lambda: store.save_cluster_metadata(record),
            settle,
            refused=ConditionFailed,
            attempts=WRITE_ATTEMPTS,
        )
    except ConditionFailed:
        return False
