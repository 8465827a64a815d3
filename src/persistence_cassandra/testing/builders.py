"""Builders of records for the conformance suite: unique ids, snapshots, mutations, tasks.

Every suite shares one store bundle per target for the whole session, so every id a test uses
is fresh (uuid4, random shard ids) and defaults are chosen so that a test names only what it
checks. Payload blobs embed the run id and version they were built for, so a test can tell which
write won.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from persistence_cassandra.records import (
    ClusterMember,
    DataBlob,
    ExecutionKey,
    HistoryTask,
    MembershipRole,
    NamespaceRecord,
    Page,
    TaskCategory,
    TaskCategoryType,
    TaskKey,
    TaskQueueKey,
    TaskQueueRecord,
    TaskRecord,
    WorkflowMutation,
    WorkflowSnapshot,
    WorkflowState,
    truncate_to_ms,
)

__all__ = [
    "STATUS_COMPLETED",
    "STATUS_RUNNING",
    "ShardLease",
    "blob",
    "cluster_member",
    "collect_pages",
    "execution_key",
    "history_task",
    "mutation",
    "namespace_record",
    "now",
    "random_shard_id",
    "snapshot",
    "task",
    "task_queue",
    "unique_id",
]

T = TypeVar("T")

# Not the module-level generator: a plugin that seeds it per test (pytest-randomly, hypothesis)
# would hand every test the same "random" shard id.
_random = random.SystemRandom()

STATUS_RUNNING = 1
STATUS_COMPLETED = 2
"""Temporal's ``WorkflowExecutionStatus`` values (stored as plain integers)."""


@dataclass(frozen=True, slots=True)
class ShardLease:
    """A shard a test owns, and the range id it holds."""

    shard_id: int
    range_id: int


def unique_id(prefix: str = "id") -> str:
    return f"{prefix}-{uuid.uuid4()}"


def random_shard_id() -> int:
    """A random positive 31-bit shard id: tests share one database per session."""
    return _random.randint(1, 2**31 - 1)


def now() -> datetime:
    """The current UTC time at the millisecond precision every backend stores."""
    return truncate_to_ms(datetime.now(UTC))


def blob(text: str, encoding: str = "json") -> DataBlob:
    return DataBlob(text.encode(), encoding)


def execution_key(
    namespace_id: str | None = None, workflow_id: str | None = None, run_id: str | None = None
) -> ExecutionKey:
    return ExecutionKey(
        namespace_id or str(uuid.uuid4()),
        workflow_id or unique_id("wf"),
        run_id or str(uuid.uuid4()),
    )


def _request_id(key: ExecutionKey) -> str:
    # Derived from the run so snapshots and mutations of one run agree without bookkeeping.
    return f"request-{key.run_id}"


def snapshot(
    key: ExecutionKey,
    *,
    db_record_version: int = 1,
    state: WorkflowState = WorkflowState.RUNNING,
    status: int = STATUS_RUNNING,
    next_event_id: int = 3,
    last_write_version: int = 0,
    tag: str = "",
    **collections: Any,
) -> WorkflowSnapshot:
    """A run written whole; ``collections`` are :class:`WorkflowSnapshot` fields (activity
    infos, tasks...)."""
    suffix = f"{key.run_id}:v{db_record_version}{':' + tag if tag else ''}"
    return WorkflowSnapshot(
        key=key,
        execution_info=blob(f"info:{suffix}"),
        execution_state=blob(f"state:{suffix}", "proto3"),
        next_event_id=next_event_id,
        db_record_version=db_record_version,
        state=state,
        status=status,
        create_request_id=_request_id(key),
        last_write_version=last_write_version,
        start_time=None,
        **collections,
    )


def mutation(
    key: ExecutionKey,
    *,
    db_record_version: int,
    state: WorkflowState = WorkflowState.RUNNING,
    status: int = STATUS_RUNNING,
    next_event_id: int = 5,
    last_write_version: int = 0,
    tag: str = "",
    **changes: Any,
) -> WorkflowMutation:
    """A change to an existing run expecting stored version ``db_record_version - 1``;
    ``changes`` are :class:`WorkflowMutation` fields (upserts, deletes, tasks...)."""
    suffix = f"{key.run_id}:v{db_record_version}{':' + tag if tag else ''}"
    return WorkflowMutation(
        key=key,
        execution_info=blob(f"info:{suffix}"),
        execution_state=blob(f"state:{suffix}", "proto3"),
        next_event_id=next_event_id,
        db_record_version=db_record_version,
        state=state,
        status=status,
        create_request_id=_request_id(key),
        last_write_version=last_write_version,
        **changes,
    )


def history_task(
    category: TaskCategory, task_id: int, fire_time: datetime | None = None
) -> HistoryTask:
    """A task of ``category``; scheduled categories need ``fire_time``."""
    if category.category_type is TaskCategoryType.IMMEDIATE:
        key = TaskKey.immediate(task_id)
    else:
        key = TaskKey(truncate_to_ms(fire_time or now()), task_id)
    return HistoryTask(category, key, blob(f"task:{category.name}:{task_id}", "proto3"))


def namespace_record(
    *, name: str | None = None, id: str | None = None, is_global: bool = False
) -> NamespaceRecord:
    namespace_id = id or str(uuid.uuid4())
    return NamespaceRecord(
        id=namespace_id,
        name=name or unique_id("ns"),
        detail=blob(f"namespace:{namespace_id}", "proto3"),
        is_global=is_global,
    )


def task_queue(
    namespace_id: str | None = None, *, task_type: int = 1, range_id: int = 1, tag: str = ""
) -> TaskQueueRecord:
    key = TaskQueueKey(namespace_id or str(uuid.uuid4()), unique_id("tq"), task_type)
    return TaskQueueRecord(key, range_id, blob(f"queue:{key.name}:r{range_id}{tag}", "proto3"))


def task(task_id: int, expiry: datetime | None = None) -> TaskRecord:
    return TaskRecord(task_id, blob(f"task:{task_id}", "proto3"), expiry)


def cluster_member(
    *,
    host_id: str | None = None,
    rpc_address: str = "127.0.0.1",
    rpc_port: int = 7234,
    role: MembershipRole = MembershipRole.HISTORY,
    session_start: datetime | None = None,
    last_heartbeat: datetime | None = None,
    ttl: timedelta = timedelta(minutes=5),
) -> ClusterMember:
    heartbeat = truncate_to_ms(last_heartbeat or now())
    return ClusterMember(
        host_id=host_id or str(uuid.uuid4()),
        rpc_address=rpc_address,
        rpc_port=rpc_port,
        role=role,
        session_start=truncate_to_ms(session_start or heartbeat),
        last_heartbeat=heartbeat,
        record_expiry=truncate_to_ms(heartbeat + ttl),
    )


async def collect_pages(
    fetch: Callable[[bytes], Awaitable[Page[T]]], *, max_pages: int = 10_000
) -> tuple[list[T], int]:
    """Every item of a paged read and the number of pages; fails on a token that never
    ends (a paging bug would otherwise hang the suite)."""
    items: list[T] = []
    token = b""
    for pages in range(1, max_pages + 1):
        page = await fetch(token)
        items.extend(page.items)
        if not page.next_page_token:
            return items, pages
        assert page.next_page_token != token, "paging token did not advance"
        token = page.next_page_token
    raise AssertionError(f"paging did not end after {max_pages} pages")
