"""The migration lock: one run at a time per keyspace or database, even from several hosts.

The lock is a lease. The holder renews it every ``ttl / 3`` seconds from a background task;
a run that crashes stops renewing and its lease expires ``ttl`` seconds after the last renewal,
so a dead run never blocks the next one for long; a holder recorded on this host whose process
no longer exists is known dead at once, and its lock is taken over with a write conditional on
its lease (of several runs doing so, one wins). A run that cannot renew (it stalled longer
than the lease, or the database was unreachable) learns it has *lost* the lock and stops before
its next statement, since another run may already be migrating.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC
from types import TracebackType

from persistence_cassandra.errors import SchemaToolError
from persistence_cassandra.schema.admin import LockHolder, SchemaAdmin, new_lock_holder
from persistence_cassandra.schema.progress import MigrationListener

__all__ = ["LockSettings", "MigrationLock"]


@dataclass(frozen=True, slots=True)
class LockSettings:
    ttl: float = 60.0
    """Seconds a lease lasts without renewal: how long a crashed run blocks the next one."""
    wait_timeout: float = 300.0
    """Seconds a second run waits for the lock before giving up."""
    poll_interval: float = 2.0

    @property
    def heartbeat_interval(self) -> float:
        return self.ttl / 3


def _pid_exists(pid: int) -> bool:
    if pid <= 0:
        return True  # unknown: never presume a holder dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def holder_is_dead(holder: LockHolder) -> bool:
    """Whether ``holder`` is a process of this host that no longer exists. A holder on
    another host can only be waited for: its pid means nothing here."""
    if holder.host != socket.gethostname() or holder.pid == os.getpid():
        return False
    return not _pid_exists(holder.pid)


class MigrationLock:
    """``async with MigrationLock(admin, settings):`` holds the lock for the block."""

    def __init__(
        self,
        admin: SchemaAdmin,
        settings: LockSettings | None = None,
        listener: MigrationListener | None = None,
        holder: LockHolder | None = None,
    ) -> None:
        self._admin = admin
        self._settings = settings or LockSettings()
        self._listener = listener or MigrationListener()
        self.holder = holder or new_lock_holder()
        self._heartbeat: asyncio.Task[None] | None = None
        self._lost: str | None = None

    async def __aenter__(self) -> MigrationLock:
        settings = self._settings
        started = time.monotonic()
        reported_dead: set[str] = set()
        while True:
            current = await self._admin.try_lock(self.holder, settings.ttl)
            if current is None or current.holder_id == self.holder.holder_id:
                break
            if holder_is_dead(current):
                if current.holder_id not in reported_dead:
                    reported_dead.add(current.holder_id)
                    self._listener.note(
                        f"the migration lock is held by {current.describe()}, a process of "
                        "this host that no longer exists; taking the lock over"
                    )
                if await self._admin.take_over_lock(current, self.holder, settings.ttl):
                    break
                # Somebody else changed the lock first (or, on PostgreSQL, the dead
                # process's session still holds it): wait as for any holder.
            waited = time.monotonic() - started
            if waited >= settings.wait_timeout:
                raise SchemaToolError(self._busy_message(current, waited))
            self._listener.waiting_for_lock(current, waited)
            await asyncio.sleep(min(settings.poll_interval, settings.wait_timeout - waited))
        self._listener.lock_acquired(self.holder)
        self._heartbeat = asyncio.create_task(self._renew_forever(), name="schema-lock-heartbeat")
        return self

    def _busy_message(self, current: LockHolder, waited: float) -> str:
        renewed = current.renewed_at.astimezone(UTC).strftime("%H:%M:%S UTC")
        return (
            f"{self._admin.target_description} is being migrated by {current.describe()} "
            f"(last heartbeat {renewed}; {current.describe_lease()}); gave up after waiting "
            f"{waited:.0f}s"
        )

    async def _renew_forever(self) -> None:
        settings = self._settings
        last_renewed = time.monotonic()
        while True:
            await asyncio.sleep(settings.heartbeat_interval)
            try:
                renewed = await self._admin.renew_lock(self.holder, settings.ttl)
            except SchemaToolError as exc:
                # One failed renewal is survivable while the lease lasts; a lease that may
                # have expired is not, since another run could hold it by now.
                if time.monotonic() - last_renewed < settings.ttl:
                    self._listener.note(f"could not renew the migration lock ({exc}); retrying")
                    continue
                self._lost = f"could not renew the migration lock for {settings.ttl:.0f}s ({exc})"
                return
            if not renewed:
                self._lost = "the migration lock expired and was taken over"
                return
            last_renewed = time.monotonic()

    def check(self) -> None:
        """Raise if the lock was lost: the caller must not run another statement."""
        if self._lost is not None:
            raise SchemaToolError(
                f"{self._lost}; stopped before running anything else on "
                f"{self._admin.target_description}. Re-run the command to resume"
            )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._lost is not None:
            return
        try:
            await self._admin.release_lock(self.holder)
        except SchemaToolError as release_error:
            self._listener.note(
                f"could not release the migration lock ({release_error}); it expires in "
                f"{self._settings.ttl:.0f}s"
            )
