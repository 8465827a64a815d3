"""The running Temporal peer: its keyspace, and the process that measures slices on command.

:func:`prepare_peer_keyspace` creates a keyspace of its own beside the store's and migrates it
with **Temporal's** schema (the versioned directory of the module the peer was built
against) through our schema tool, as an operator would (``create-keyspace``,
``setup-schema -v 0.0``, ``update-schema -d ...``); the store's keyspace is never touched.

:class:`TemporalGoPeer` starts the program in ``-serve`` mode: it prepares its workers (a
leased shard and a task queue each, through Temporal's managers), says it is ready, then
runs one slice per command and answers with every latency. It is idle between commands, so
it takes no CPU while the Python sides of the same cell run. Its stderr goes to a log file
beside the binary; the last line of it is in the error when the process fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from persistence_cassandra.bench.harness import Tally
from persistence_cassandra.bench.peer_build import PeerBuild, PeerUnavailable
from persistence_cassandra.config import CassandraConfig

__all__ = ["PeerSlice", "TemporalGoPeer", "peer_keyspace_name", "prepare_peer_keyspace"]

READY_TIMEOUT = 300.0
"""Seconds for the peer to connect and prepare its workers (256 shards and queues, on a
loaded machine)."""
LINE_LIMIT = 64 * 2**20
"""A slice's answer holds every latency: one line of up to a few hundred kilobytes."""
KEYSPACE_SUFFIX = "_temporal_peer"
MAX_KEYSPACE = 48


def peer_keyspace_name(store_keyspace: str) -> str:
    """The peer's keyspace: the store's name with a suffix (Cassandra allows 48 characters)."""
    return store_keyspace[: MAX_KEYSPACE - len(KEYSPACE_SUFFIX)] + KEYSPACE_SUFFIX


async def prepare_peer_keyspace(store: CassandraConfig, schema_dir: Path) -> CassandraConfig:
    """The peer's keyspace, created if missing and migrated to Temporal's latest version."""
    from persistence_cassandra.schema import ensure_schema, read_schema_set
    from persistence_cassandra.schema.admin_cassandra import (
        CassandraKeyspaceAdmin,
        CassandraSchemaAdmin,
    )

    if store.astra is not None:
        raise PeerUnavailable("the Temporal peer runs against Cassandra contact points, not Astra")
    config = store.model_copy(update={"keyspace": peer_keyspace_name(store.keyspace)})
    keyspaces = await CassandraKeyspaceAdmin.connect(config)
    try:
        # One replica, as the single node the comparison is made on; a cluster's replication
        # would be read from the store's keyspace (not needed here yet).
        await keyspaces.create_keyspace(config.keyspace, replication_factor=1)
    finally:
        await keyspaces.close()
    admin = await CassandraSchemaAdmin.connect(config)
    try:
        await ensure_schema(admin, read_schema_set(schema_dir))
    finally:
        await admin.close()
    return config


@dataclass(frozen=True, slots=True)
class PeerSlice:
    """One slice the peer ran, as it reported it."""

    completed: int
    errors: int
    first_error: str
    seconds: float
    cpu_seconds: float
    """The peer process's CPU (getrusage, every thread) during the slice."""
    latencies: tuple[float, ...]
    """Seconds, one per completed lifecycle (empty for a warm-up)."""
    sample: dict[str, Any] | None
    """The last completed run's key (shard, namespace, workflow and run id)."""

    @staticmethod
    def from_json(data: dict[str, Any]) -> PeerSlice:
        return PeerSlice(
            completed=int(data["completed"]),
            errors=int(data["errors"]),
            first_error=str(data.get("first_error", "")),
            seconds=float(data["seconds"]),
            cpu_seconds=float(data["cpu_seconds"]),
            latencies=tuple(us / 1e6 for us in data.get("latencies_us") or ()),
            sample=data.get("sample"),
        )

    def add_to(self, tally: Tally) -> None:
        """Count this slice into ``tally`` the way the harness counts one of its own."""
        tally.latencies.extend(self.latencies)
        tally.seconds += self.seconds
        tally.cpu_seconds += self.cpu_seconds
        tally.errors += self.errors
        tally.first_error = tally.first_error or self.first_error
        tally.slice_rates.append(self.completed / self.seconds if self.seconds > 0 else 0.0)
        tally.slice_cpu.append(self.cpu_seconds / self.completed if self.completed else 0.0)


class TemporalGoPeer:
    """The peer process in ``-serve`` mode; :meth:`start` returns once its workers are ready."""

    def __init__(
        self, process: asyncio.subprocess.Process, ready: dict[str, Any], log: Path
    ) -> None:
        self._process = process
        self.ready = ready
        self.log = log

    @property
    def description(self) -> str:
        return (
            f"Temporal {self.ready.get('temporal', '?')} persistence ({self.ready.get('go', 'Go')})"
        )

    @classmethod
    async def start(
        cls,
        build: PeerBuild,
        cassandra: CassandraConfig,
        *,
        workers: int,
        first_shard: int,
        tag: str,
    ) -> TemporalGoPeer:
        args = [
            "-serve",
            f"-hosts={cassandra.hosts}",
            f"-port={cassandra.port}",
            f"-keyspace={cassandra.keyspace}",
            f"-max-conns={cassandra.max_conns}",
            f"-workers={workers}",
            f"-first-shard={first_shard}",
            f"-tag={tag}",
        ]
        if cassandra.user:
            args.append(f"-user={cassandra.user}")
        if cassandra.datacenter:
            args.append(f"-datacenter={cassandra.datacenter}")
        env = None
        if cassandra.password is not None:
            env = {**os.environ, "PEER_CASSANDRA_PASSWORD": cassandra.password.get_secret_value()}
        log = build.binary.parent / "run.log"
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                str(build.binary),
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=sink,
                env=env,
                limit=LINE_LIMIT,
            )
        peer = cls(process, {}, log)
        try:
            peer.ready = await asyncio.wait_for(peer._read(), READY_TIMEOUT)
        except BaseException:
            await peer.close()
            raise
        if not peer.ready.get("ready"):
            await peer.close()
            raise PeerUnavailable(f"the Temporal peer did not start: {peer.ready}")
        return peer

    async def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            await self._process.wait()
            raise PeerUnavailable(
                f"the Temporal peer exited (status {self._process.returncode}): "
                f"{self._last_log_line()} (log: {self.log})"
            )
        data: dict[str, Any] = json.loads(line)
        return data

    def _last_log_line(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "no output"

    async def _send(self, command: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(command).encode() + b"\n")
        await self._process.stdin.drain()

    async def run(
        self, concurrency: int, count: int, seconds: float, *, keep: bool = True
    ) -> PeerSlice:
        """One slice: ``concurrency`` lifecycles in flight until ``count`` were started or
        ``seconds`` passed (``keep=False``: a warm-up, no latencies sent back)."""
        await self._send(
            {
                "op": "run",
                "concurrency": concurrency,
                "count": count,
                "seconds": seconds,
                "keep": keep,
            }
        )
        return PeerSlice.from_json(await self._read())

    async def close(self) -> None:
        if self._process.returncode is None:
            with contextlib.suppress(Exception):
                await self._send({"op": "quit"})
                await asyncio.wait_for(self._process.wait(), 10)
        if self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
