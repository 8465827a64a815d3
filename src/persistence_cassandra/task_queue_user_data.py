"""Task-queue user data, written once for every backend: request checks and a CAS loop.

A matching service keeps per task queue a versioned blob (Temporal's ``TaskQueueUserData``:
worker-versioning rules, build ids and the like) and a build-id → task-queue mapping. The
store offers compare-and-set on the version only; :func:`update_user_data_with_retries` is
the read-modify-write loop a server runs on top of it when several writers race.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from persistence_cassandra.errors import (
    InvalidRequest,
    NotFound,
    TaskQueueUserDataConflict,
    Timeout,
)
from persistence_cassandra.records import (
    DataBlob,
    TaskQueueUserData,
    TaskQueueUserDataUpdate,
    UpdateTaskQueueUserDataRequest,
)
from persistence_cassandra.stores import TaskStore

__all__ = ["UserDataChange", "check_user_data_request", "update_user_data_with_retries"]


def check_user_data_request(request: UpdateTaskQueueUserDataRequest) -> None:
    """Refuse what no backend could store unambiguously (``InvalidRequest``)."""
    seen: set[str] = set()
    for update in request.updates:
        if not update.task_queue:
            raise InvalidRequest("a task-queue user-data update needs a task queue name")
        if update.task_queue in seen:
            raise InvalidRequest(
                f"task queue {update.task_queue!r} appears twice in one user-data update"
            )
        seen.add(update.task_queue)
        if update.version < 0:
            raise InvalidRequest(f"task queue {update.task_queue!r}: version must be >= 0")
        if "" in update.build_ids_added or "" in update.build_ids_removed:
            raise InvalidRequest(f"task queue {update.task_queue!r}: a build id must not be empty")
        both = update.build_ids_added & update.build_ids_removed
        if both:
            raise InvalidRequest(
                f"task queue {update.task_queue!r}: build ids both added and removed: "
                f"{', '.join(sorted(both))}"
            )


@dataclass(frozen=True, slots=True)
class UserDataChange:
    """What a writer wants given the current data (``None`` when the queue has none)."""

    data: DataBlob
    build_ids_added: frozenset[str] = frozenset()
    build_ids_removed: frozenset[str] = frozenset()


async def update_user_data_with_retries(
    store: TaskStore,
    namespace_id: str,
    task_queue: str,
    change: Callable[[TaskQueueUserData | None], UserDataChange | None],
    *,
    attempts: int = 20,
) -> tuple[TaskQueueUserData | None, int]:
    """Read, apply ``change``, compare-and-set; on a version conflict re-read and retry.

    ``change`` returns ``None`` when the current data already holds the change: nothing is
    written. That is how a write that timed out with an unknown outcome is settled exactly:
    put the writer's token in the data (Temporal's user data carries per-change clocks), and
    let ``change`` find it on the re-read, even under later writes. Without that, a timed-out
    write is taken as landed only if the next read shows exactly the version and data it would
    have made (the next compare-and-set on the partition settles any proposal still in
    flight). Returns the data as written (or found) and how many attempts were retried; after
    ``attempts`` the last error propagates.
    """
    retries = 0
    unsettled: TaskQueueUserData | None = None
    while True:
        try:
            current: TaskQueueUserData | None = await store.get_task_queue_user_data(
                namespace_id, task_queue
            )
        except NotFound:
            current = None
        if unsettled is not None and current == unsettled:
            return unsettled, retries
        wanted = change(current)
        if wanted is None:
            return current, retries
        version = current.version if current is not None else 0
        written = TaskQueueUserData(namespace_id, task_queue, wanted.data, version + 1)
        update = TaskQueueUserDataUpdate(
            task_queue,
            wanted.data,
            version,
            wanted.build_ids_added,
            wanted.build_ids_removed,
        )
        try:
            await store.update_task_queue_user_data(
                UpdateTaskQueueUserDataRequest(namespace_id, [update])
            )
        except (TaskQueueUserDataConflict, Timeout) as error:
            retries += 1
            if retries >= attempts:
                raise
            if isinstance(error, Timeout) and error.may_have_committed:
                unsettled = written
            continue
        return written, retries
