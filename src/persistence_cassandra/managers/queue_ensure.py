"""Creating a queue on first use, shared by the managers built on the queue store."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from persistence_cassandra.errors import QueueAlreadyExists, QueueNotFound
from persistence_cassandra.records import QueueKey
from persistence_cassandra.stores import QueueStore

__all__ = ["ensure_queue", "on_existing_queue"]

T = TypeVar("T")


async def ensure_queue(queue: QueueStore, key: QueueKey) -> None:
    """Create ``key`` unless it exists (a concurrent creator winning is fine)."""
    with contextlib.suppress(QueueAlreadyExists):
        await queue.create_queue(key)


async def on_existing_queue(
    queue: QueueStore, key: QueueKey, operation: Callable[[], Awaitable[T]]
) -> T:
    """``operation()``, creating the queue and trying once more if it did not exist yet."""
    try:
        return await operation()
    except QueueNotFound:
        await ensure_queue(queue, key)
    return await operation()
