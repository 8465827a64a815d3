"""Backups of a Cassandra datastore with medusa: create, list, verify, restore, delete.

Every node of the datastore is backed up under one name (medusa's ``backup-node`` beside each
node, at once), then the backup is checked: medusa only *logs* a failed ``nodetool snapshot``
and goes on, storing a backup with the schema and no data files, so a node whose backup holds
no files is a failure here. A restore is medusa's in-place ``restore-node``: each node is
stopped, its commit log emptied, its table directories replaced, and started again.

What an in-place restore brings back (medusa always restores the system keyspaces, even with
``--keyspace``): the schema of **every** keyspace as it was at backup time, and every record of
the restored keyspaces; writes made since are gone. A datastore of several nodes is stopped
entirely before the first node is restored, so that no node still holding the newer schema
can hand it back to a restored one.
"""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml

from persistence_cassandra.backup.errors import BackupError
from persistence_cassandra.backup.medusa import MedusaNode, MedusaRun
from persistence_cassandra.backup.settings import BackupSettings
from persistence_cassandra.config import CassandraConfig

__all__ = [
    "BackupListing",
    "BackupOutcome",
    "BackupSession",
    "NodeOutcome",
    "VerifyOutcome",
    "check_free_space",
    "default_backup_name",
]

T = TypeVar("T")
Progress = Callable[[str], None]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_SNAPSHOT_FAILED = "Creating snapshot failed"
DISK_MARGIN = 1.1
"""A full backup copies each node's live SSTables once; 10% over that covers the metadata."""
NODE_UP_TIMEOUT = 300.0


def default_backup_name(prefix: str = "pc") -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


def check_free_space(needed: int, where: Path, what: str) -> None:
    """``BackupError`` unless the file system of ``where`` has ``needed`` bytes free."""
    probe = where
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise BackupError(
            f"not enough disk for {what}: about {_size(needed)} needed at {where}, "
            f"{_size(free)} free; free some space or point the backup elsewhere"
        )


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def _data_bytes(cassandra_yaml: str) -> int:
    """Bytes of a node's live data files (snapshots and backups left out)."""
    try:
        config = yaml.safe_load(Path(cassandra_yaml).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise BackupError(f"cannot read {cassandra_yaml}: {exc}") from None
    directories = config.get("data_file_directories") or []
    total = 0
    for directory in directories:
        for path in Path(directory).rglob("*"):
            if path.is_file() and not {"snapshots", "backups"} & set(path.parts):
                total += path.stat().st_size
    return total


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    address: str
    seconds: float
    files: int = 0
    size: int = 0
    detail: str = ""


@dataclass(frozen=True, slots=True)
class BackupOutcome:
    name: str
    action: str
    nodes: tuple[NodeOutcome, ...]
    seconds: float


@dataclass(frozen=True, slots=True)
class BackupListing:
    name: str
    started: datetime | None
    finished: datetime | None
    complete: bool
    nodes: int
    files: int
    size: int


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    name: str
    ok: bool
    problems: tuple[str, ...]


def _when(value: Any) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if value else None


class BackupSession:
    """The backups of one datastore (blocking calls: run them in a thread from async code)."""

    def __init__(
        self,
        settings: BackupSettings,
        medusa: Path,
        cassandra: CassandraConfig | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.nodes = [MedusaNode(medusa, settings, node, cassandra) for node in settings.nodes]
        self._say = progress or (lambda _message: None)

    # ------------------------------------------------------------------ helpers

    def _each(self, work: Callable[[MedusaNode], T]) -> list[T]:
        """``work`` on every node at once, results in node order."""
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            return list(pool.map(work, self.nodes))

    def _medusa_on_each(self, done: str, *args: str) -> list[tuple[MedusaRun, float]]:
        """medusa ``args`` beside every node at once: each run and its seconds."""

        def one(node: MedusaNode) -> tuple[MedusaRun, float]:
            begun = time.monotonic()
            temp = str(node.work_dir / "restore")
            run = node.run(*(temp if arg == "{temp}" else arg for arg in args))
            seconds = time.monotonic() - begun
            self._say(f"  {node.address}: {done} in {seconds:.1f}s")
            return run, seconds

        return self._each(one)

    def _failures(self, runs: list[tuple[MedusaRun, float]]) -> list[str]:
        return [
            f"{node.address}: {run.error_line()}"
            for node, (run, _) in zip(self.nodes, runs, strict=True)
            if not run.ok
        ]

    def status(self, name: str) -> dict[str, Any] | None:
        """medusa's status of backup ``name`` (every node's part), ``None`` if there is none."""
        run = self.nodes[0].run("status", "--backup-name", name, "--output", "json")
        found = run.json() if run.stdout.strip() else {}
        if not run.ok and not found:
            if "No such backup" in run.stderr:
                return None
            raise BackupError(f"medusa status {name} failed: {run.error_line()}")
        return found if isinstance(found, dict) and found else None

    def names(self) -> list[str]:
        return [listing.name for listing in self.list()]

    def _require(self, name: str) -> dict[str, Any]:
        found = self.status(name)
        if found is None:
            known = ", ".join(self.names()) or "none"
            raise BackupError(
                f"no backup named {name!r} for datastore {self.settings.store!r} (known: {known})"
            )
        return found

    def _check_nodes(self) -> None:
        def probe(node: MedusaNode) -> str | None:
            # medusa retries an unanswered CQL connection for minutes before failing.
            port = _native_port(node.node.cassandra_yaml)
            try:
                socket.create_connection((node.address, port), timeout=5).close()
            except OSError as exc:
                return f"node {node.address} does not answer CQL on port {port}: {exc}"
            done = node.nodetool("version", timeout=120.0)
            if done.returncode == 0:
                return None
            lines = [x.strip() for x in (done.stderr + done.stdout).splitlines() if x.strip()]
            where = f"{node.node.jmx_host or '127.0.0.1'}:{node.node.jmx_port or 7199}"
            last = lines[-1] if lines else f"exit code {done.returncode}"
            return (
                f"nodetool ({node.node.nodetool}) cannot reach the JMX of node {node.address} at "
                f"{where}: {last[:300]}; medusa takes its snapshots through nodetool: start "
                "Cassandra with JMX on and set the node's nodetool and jmxPort"
            )

        problems = [problem for problem in self._each(probe) if problem]
        if problems:
            raise BackupError(problems[0])

    # ------------------------------------------------------------------ commands

    def list(self) -> list[BackupListing]:
        run = self.nodes[0].run("list-backups", "--output", "json")
        if not run.ok:
            raise BackupError(f"medusa list-backups failed: {run.error_line()}")
        found = run.json()
        listings = []
        for item in found if isinstance(found, list) else []:
            listings.append(
                BackupListing(
                    name=str(item.get("name")),
                    started=_when(item.get("started")),
                    finished=_when(item.get("finished")),
                    complete=not item.get("missing_nodes") and not item.get("incomplete_nodes"),
                    nodes=int(item.get("completed_nodes") or 0),
                    files=int(item.get("num_objects") or 0),
                    size=int(item.get("size") or 0),
                )
            )
        return sorted(
            listings, key=lambda listing: listing.started or datetime.min.replace(tzinfo=UTC)
        )

    def create(self, name: str | None = None) -> BackupOutcome:
        """Back up every node under ``name``, check that each holds data files, verify."""
        name = name or default_backup_name()
        if not _NAME.fullmatch(name):
            raise BackupError(
                f"backup name {name!r}: use letters, digits, '_', '.' and '-' (at most 100)"
            )
        if self.status(name) is not None:
            raise BackupError(
                f"a backup named {name!r} already exists for datastore {self.settings.store!r}; "
                "choose another name or delete it first (backup delete)"
            )
        self._check_nodes()
        storage = self.settings.storage
        if storage.is_local:
            needed = sum(_data_bytes(node.node.cassandra_yaml) for node in self.nodes)
            check_free_space(
                int(needed * DISK_MARGIN),
                storage.local_root(self.settings.store),
                f"backup {name!r}",
            )
        started = time.monotonic()
        self._say(f"backing up {len(self.nodes)} node(s) as {name!r} ...")

        runs = self._medusa_on_each(
            "backed up", "backup-node", "--backup-name", name, "--mode", self.settings.mode
        )
        failures = self._failures(runs)
        empty = [
            node.address
            for node, (run, _) in zip(self.nodes, runs, strict=True)
            if run.ok and _SNAPSHOT_FAILED in run.stderr
        ]
        status = self.status(name) or {}
        per_node = {str(item.get("fqdn")): item for item in status.get("nodes", [])}
        empty += [
            node.address
            for node, (run, _) in zip(self.nodes, runs, strict=True)
            if run.ok
            and node.address not in empty
            and int(per_node.get(node.address, {}).get("num_objects") or 0) == 0
        ]
        if failures or empty:
            self._discard(name)
            if failures:
                raise BackupError(f"backup {name!r} failed on {'; '.join(failures)}")
            raise BackupError(
                f"backup {name!r} is empty on {', '.join(empty)}: medusa's nodetool snapshot "
                "failed there (see the node's medusa.log), so no data file was stored; the "
                "empty backup was deleted"
            )
        verified = self.verify(name)
        if not verified.ok:
            raise BackupError(
                f"backup {name!r} was written but does not verify: {verified.problems[0]}"
            )
        nodes = tuple(
            NodeOutcome(
                node.address,
                seconds,
                int(per_node.get(node.address, {}).get("num_objects") or 0),
                int(per_node.get(node.address, {}).get("size") or 0),
                "backed up, verified",
            )
            for node, (_, seconds) in zip(self.nodes, runs, strict=True)
        )
        return BackupOutcome(name, "create", nodes, time.monotonic() - started)

    def _discard(self, name: str) -> None:
        if self.status(name) is not None:
            self.nodes[0].run("delete-backup", "--backup-name", name, "--all-nodes")

    def verify(self, name: str) -> VerifyOutcome:
        """medusa's verify: every node's part complete, every file of its manifest present
        with its size."""
        self._require(name)
        run = self.nodes[0].run("verify", "--backup-name", name)
        problems = tuple(
            line.strip().removeprefix("- ")
            for line in run.stdout.splitlines()
            if line.startswith("  - ")
        )
        if not run.ok and not problems:
            problems = (run.error_line(),)
        return VerifyOutcome(name, run.ok and not problems, problems)

    def restore(self, name: str, keyspaces: Sequence[str] = ()) -> BackupOutcome:
        """Restore every node in place from backup ``name`` (only ``keyspaces``' data when
        given; the system keyspaces, schema included, always)."""
        status = self._require(name)
        if status.get("missing_nodes") or status.get("incomplete_nodes"):
            raise BackupError(f"backup {name!r} is incomplete: it cannot restore every node")
        backed_up = {str(item.get("fqdn")) for item in status.get("nodes", [])}
        absent = [node.address for node in self.nodes if node.address not in backed_up]
        if absent:
            raise BackupError(f"backup {name!r} holds no backup of node(s) {', '.join(absent)}")
        check_free_space(
            int(status.get("size") or 0), self.nodes[0].work_dir, f"restoring {name!r}"
        )
        started = time.monotonic()
        stopped_first = len(self.nodes) > 1
        if stopped_first:
            # A node still running with the newer schema would give it back to a restored one.
            self._say(f"stopping all {len(self.nodes)} nodes before restoring ...")
            self._each(self._stop)
            if not keyspaces:
                for node in self.nodes:
                    _clear_hints(node.node.cassandra_yaml)
        self._say(f"restoring {len(self.nodes)} node(s) from {name!r} in place ...")
        extra: list[str] = []
        for keyspace in keyspaces:
            extra += ["--keyspace", keyspace]

        # {temp} is each node's own download directory.
        runs = self._medusa_on_each(
            "restored",
            "restore-node",
            "--backup-name",
            name,
            "--in-place",
            "--temp-dir",
            "{temp}",
            *extra,
        )
        failures = self._failures(runs)
        if failures:
            raise BackupError(f"restore of {name!r} failed on {'; '.join(failures)}")
        self._each(self._wait_up)
        nodes = tuple(
            NodeOutcome(node.address, seconds, detail="restored in place, answering CQL")
            for node, (_, seconds) in zip(self.nodes, runs, strict=True)
        )
        return BackupOutcome(name, "restore", nodes, time.monotonic() - started)

    def delete(self, name: str) -> BackupOutcome:
        self._require(name)
        started = time.monotonic()
        run = self.nodes[0].run("delete-backup", "--backup-name", name, "--all-nodes")
        if not run.ok:
            raise BackupError(f"medusa delete-backup {name} failed: {run.error_line()}")
        nodes = tuple(NodeOutcome(node.address, 0.0, detail="deleted") for node in self.nodes)
        return BackupOutcome(name, "delete", nodes, time.monotonic() - started)

    # ------------------------------------------------------------------ node control

    def _stop(self, node: MedusaNode) -> None:
        done = subprocess.run(
            shlex.split(node.node.stop_cmd), capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            raise BackupError(
                f"stopping node {node.address} ({node.node.stop_cmd}) failed: "
                f"{done.stderr.strip()[-300:]}"
            )

    def _wait_up(self, node: MedusaNode) -> None:
        port = _native_port(node.node.cassandra_yaml)
        deadline = time.monotonic() + NODE_UP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((node.address, port), timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise BackupError(
            f"node {node.address} did not answer on port {port} within "
            f"{NODE_UP_TIMEOUT:.0f}s after the restore"
        )


def _native_port(cassandra_yaml: str) -> int:
    with Path(cassandra_yaml).open(encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    return int(config.get("native_transport_port") or 9042)


def _clear_hints(cassandra_yaml: str) -> None:
    """A full restore of several nodes drops their stored hints too (the nodes are stopped):
    replayed after the restore they would bring back writes made since the backup (medusa
    empties the commit log, not the hints)."""
    with Path(cassandra_yaml).open(encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    hints = config.get("hints_directory")
    if hints and Path(hints).is_dir():
        for path in Path(hints).iterdir():
            if path.is_file():
                path.unlink()
