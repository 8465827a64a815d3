"""A local 3-node Cassandra cluster for the tests, and the faults they inflict on it.

The nodes are started by ``tools/cassandra_cluster.py`` (a checkout only): real JVMs on
127.0.2.1-3, one datacenter ``dc1``, one rack each. :class:`LocalCluster` wraps that tool for
the tests: kill, pause, resume, restart and partition a node, then :meth:`LocalCluster.restore`
brings everything back and waits until **every node can reach every other** (a write at
consistency ALL through each node as coordinator succeeds), so that one test's faults never
leak into the next.

:func:`cassandra_cluster` finds or starts the cluster once per process and stops it at exit
when it started it (unless ``PC_KEEP_SERVERS=1``). ``PC_CASSANDRA_CLUSTER_DIR`` names the
cluster directory (default ``~/.cache/persistence-cassandra/cluster``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.servers import ServerUnavailable, load_tool

__all__ = ["CLUSTER_DATACENTER", "LocalCluster", "NodeView", "cassandra_cluster"]

CLUSTER_DATACENTER = "dc1"
CLUSTER_DIR_ENV = "PC_CASSANDRA_CLUSTER_DIR"
HEALTHY_TIMEOUT = 240.0
SCHEMA_PATIENCE = 60.0
"""Seconds of schema disagreement after which the node that stands apart is restarted."""
PROBE_KEYSPACE = "pc_cluster_probe"


def _cluster_tool() -> ModuleType:
    return load_tool("cassandra_cluster", "local Cassandra cluster")


@dataclass(frozen=True, slots=True)
class NodeView:
    node: int
    address: str
    condition: str
    """``up``, ``down``, ``paused`` or ``starting``."""
    partitioned: bool


class LocalCluster:
    """Control of the local cluster (blocking calls: run them in a thread from async code)."""

    def __init__(self, tool: ModuleType, settings: Any) -> None:
        self._tool = tool
        self._settings = settings
        self.datacenter = CLUSTER_DATACENTER
        self.port: int = settings.port
        self.nodes: int = settings.nodes
        self.hosts: list[str] = [settings.address(n) for n in settings.node_numbers]

    @property
    def contact_points(self) -> str:
        contact: str = self._settings.contact_points
        return contact

    def address(self, node: int) -> str:
        return self.hosts[node - 1]

    # ---------------------------------------------------------------- faults

    def kill(self, node: int) -> None:
        self._tool.kill_node(self._settings, node)

    def pause(self, node: int) -> None:
        self._tool.pause_node(self._settings, node)

    def resume(self, node: int) -> None:
        self._tool.resume_node(self._settings, node)

    def partition(self, node: int) -> None:
        self._tool.partition_node(self._settings, node)

    def heal(self, node: int | None = None) -> None:
        self._tool.heal(self._settings, node)

    def restart(self, node: int) -> float:
        """Start ``node`` on its data again; returns the seconds until it answered CQL."""
        started = time.monotonic()
        self._tool.restart_node(self._settings, node)
        return time.monotonic() - started

    def stop(self, node: int) -> None:
        """A clean shutdown of one node (drained, flushed)."""
        self._tool.node_tool.stop_node(self._tool.node_settings(self._settings, node))

    # ---------------------------------------------------------------- state

    def status(self) -> list[NodeView]:
        state = self._tool.cluster_status(self._settings)
        return [NodeView(n.node, n.address, n.condition, n.partitioned) for n in state.nodes]

    def restore(self) -> None:
        """Heal, resume, restart whatever is down, and wait until all nodes see each other."""
        self.heal()
        for view in self.status():
            if view.condition == "paused":
                self.resume(view.node)
        if any(view.condition in ("down", "starting") for view in self.status()):
            self._tool.start_cluster(self._settings)  # starts the down, waits for the rest
        self.wait_healthy()

    def require_down(self, down: set[int]) -> None:
        """Every node but ``down`` up and connected; the ``down`` ones cleanly stopped."""
        self.restore()
        for node in sorted(down):
            self.stop(node)
        self.wait_healthy(expect_down=down)

    def wait_healthy(
        self, *, expect_down: set[int] | None = None, timeout: float = HEALTHY_TIMEOUT
    ) -> None:
        """Until every live node, as coordinator, reaches every other live node's replica."""
        down = expect_down or set()
        started = time.monotonic()
        deadline = started + timeout
        last_error = "not tried"
        repaired = False
        while time.monotonic() < deadline:
            try:
                self._probe_all(down)
                unsettled = self._unsettled(down)
            except Exception as exc:  # any driver failure: not healthy yet
                last_error = f"{type(exc).__name__}: {exc}"
                time.sleep(1.0)
                continue
            if unsettled is None:
                return
            last_error, stray = unsettled
            if stray is not None and not repaired and time.monotonic() - started > SCHEMA_PATIENCE:
                # A node whose schema stays apart from the others' (seen after a keyspace was
                # dropped while hints were still replaying to a restarted node: the drop
                # failed on that node alone) loads its schema again on a restart.
                self.restart(stray)
                repaired = True
            time.sleep(1.0)
        raise ServerUnavailable(
            f"the cluster did not become healthy in {timeout:.0f}s: {last_error}"
        )

    def _unsettled(self, down: set[int]) -> tuple[str, int | None] | None:
        """Why the live nodes are not settled yet (and a node whose schema stands apart), or
        ``None``: every node on one schema version, no hints waiting for replay. Hints still
        replaying to a restarted node race with a later ``DROP KEYSPACE`` on it."""
        versions: dict[int, str] = {}
        away = {self.address(n) for n in down}  # hints for a node kept down wait, rightly
        for node in (n for n in range(1, self.nodes + 1) if n not in down):
            with self._session_on(node) as session:
                local = session.execute("SELECT schema_version FROM system.local").one()
                versions[node] = str(local.schema_version)
                pending = [
                    row
                    for row in session.execute(
                        "SELECT address, files FROM system_views.pending_hints"
                    )
                    if row.files and str(row.address) not in away
                ]
                if pending:
                    return f"node {node} still holds hints for {pending[0].address}", None
        if len(set(versions.values())) > 1:
            counts = {v: list(versions.values()).count(v) for v in versions.values()}
            majority = max(counts, key=lambda v: counts[v])
            strays = [n for n, v in versions.items() if v != majority]
            stray = strays[0] if len(strays) == 1 and counts[majority] > 1 else None
            return f"schema versions differ: {versions}", stray
        return None

    def _probe_all(self, down: set[int]) -> None:
        from cassandra import ConsistencyLevel
        from cassandra.query import SimpleStatement

        live = [n for n in range(1, self.nodes + 1) if n not in down]
        # ALL with every node up; otherwise as many as are alive (a quorum of 3 is 2).
        level = ConsistencyLevel.ALL if not down else ConsistencyLevel.TWO
        for node in live:
            with self._session_on(node) as session:
                session.execute(
                    f"CREATE KEYSPACE IF NOT EXISTS {PROBE_KEYSPACE} WITH replication = "
                    f"{{'class': 'NetworkTopologyStrategy', '{self.datacenter}': {self.nodes}}}"
                )
                session.execute(
                    f"CREATE TABLE IF NOT EXISTS {PROBE_KEYSPACE}.probe (node int PRIMARY KEY, "
                    "at timestamp)"
                )
                session.execute(
                    SimpleStatement(
                        f"INSERT INTO {PROBE_KEYSPACE}.probe (node, at) "
                        "VALUES (%s, toTimestamp(now()))",
                        consistency_level=level,
                    ),
                    (node,),
                )

    @contextlib.contextmanager
    def _session_on(self, node: int) -> Iterator[Any]:
        """A driver session that sends every request to ``node`` as coordinator."""
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import WhiteListRoundRobinPolicy

        address = self.address(node)
        profile = ExecutionProfile(
            load_balancing_policy=WhiteListRoundRobinPolicy([address]), request_timeout=10
        )
        cluster = Cluster(
            [address],
            port=self.port,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=5,
            control_connection_timeout=5,
        )
        try:
            yield cluster.connect()
        finally:
            cluster.shutdown()


_cached: LocalCluster | None = None


def cassandra_cluster() -> LocalCluster:
    """The local cluster, started (all nodes in parallel) if it is not running."""
    global _cached
    if _cached is not None:
        return _cached
    tool = _cluster_tool()
    directory = os.environ.get(CLUSTER_DIR_ENV)
    base = Path(directory).expanduser().resolve() if directory else tool.default_directory()
    settings = tool.ClusterSettings(directory=str(base))
    if (base / tool.STATE_FILE).exists():
        settings = tool.load_settings(base)
    already_up = (base / tool.STATE_FILE).exists() and tool.cluster_status(settings).all_up
    try:
        tool.start_cluster(settings)
    except tool.CassandraLocalError as exc:
        raise ServerUnavailable(f"the local Cassandra cluster did not start: {exc}") from exc
    cluster = LocalCluster(tool, settings)
    if not already_up and os.environ.get("PC_KEEP_SERVERS") != "1":
        atexit.register(tool.stop_cluster, settings)
    cluster.restore()
    _cached = cluster
    return cluster
