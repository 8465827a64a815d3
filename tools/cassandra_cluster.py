#!/usr/bin/env python3
"""A local multi-node Apache Cassandra cluster, and the faults the tests inflict on it.

Each node is a real ``CassandraDaemon`` JVM started by :mod:`cassandra_local` (same Maven
Central assembly), with its own data directory and its own loopback address, all on the same
ports: node N listens on ``127.0.2.N`` (CQL 9042, internode 7000). Addresses outside
``127.0.0.1`` keep the cluster clear of the single test node on ``127.0.0.1:9042``.

* **Topology**: ``GossipingPropertyFileSnitch``, one datacenter (``dc1``), one rack per node
  (``rack1``..``rackN``), so ``NetworkTopologyStrategy {'dc1': 3}`` places one replica on
  every node of a 3-node cluster.
* **Fast fresh start**: every node is a seed and gets one token assigned up front
  (``initial_token``, evenly spaced Murmur3 tokens), with ``auto_bootstrap: false``: nothing
  streams and every node can start at the same time.
* **Faults**: ``kill N`` (SIGKILL), ``pause N`` / ``resume N`` (SIGSTOP / SIGCONT of the
  JVM), ``restart N`` (start a stopped or killed node on its data again, or stop and start a
  running one), ``partition N`` (real loss of every packet to and from node N, its peers and
  its clients alike, by ``iptables`` rules on the loopback interface in a chain of this
  tool's own) and ``heal [N]``.

Command line (also as ``cassandra_local.py cluster ...``)::

    python tools/cassandra_cluster.py start --nodes 3 [--heap 512M] [--commitlog-sync group]
    python tools/cassandra_cluster.py status | stop | ensure
    python tools/cassandra_cluster.py kill|pause|resume|restart|partition N
    python tools/cassandra_cluster.py heal [N]
    python tools/cassandra_cluster.py start-node|stop-node N
    python tools/cassandra_cluster.py start --jmx-port-base 7400 --address-prefix 127.0.3. --dir D
    python tools/cassandra_cluster.py backup-nodes --dir D   # nodetool and control, for medusa

The cluster's shape is recorded in ``<dir>/cluster.json`` (``dir`` defaults to
``<cache>/cluster``), so the fault commands need no options. Exit codes as in
:mod:`cassandra_local`: 0 success, 1 a node failed, 2 usage or environment problem, 3
``status`` found the cluster not (fully) running.

Importing this module has no side effects; it uses only the standard library.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal, Never

if __package__ in (None, ""):  # run as a script or loaded by path: its sibling by path too
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import cassandra_local as node_tool

__all__ = [
    "DATACENTER",
    "ClusterSettings",
    "ClusterState",
    "NodeState",
    "backup_nodes",
    "cluster_status",
    "ensure_cluster",
    "heal",
    "kill_node",
    "main",
    "node_settings",
    "partition_node",
    "pause_node",
    "restart_node",
    "resume_node",
    "start_cluster",
    "start_one_node",
    "stop_cluster",
    "stop_one_node",
]

DATACENTER = "dc1"
ADDRESS_PREFIX = "127.0.2."
DEFAULT_NODES = 3
DEFAULT_HEAP = "512M"
CHAIN = "PC_CASSANDRA_PARTITION"
"""The iptables chain holding this tool's partition rules; jumped to from OUTPUT only, since
every loopback packet passes OUTPUT once on its way (INPUT would see it a second time)."""
STATE_FILE = "cluster.json"
_MIN_TOKEN = -(2**63)
_TOKEN_SPACE = 2**64

CassandraLocalError = node_tool.CassandraLocalError
CommitlogSync = node_tool.CommitlogSync


def _usage_error(message: str) -> node_tool.CassandraLocalError:
    return node_tool.CassandraLocalError(message, exit_code=node_tool.EXIT_USAGE)


@dataclass(frozen=True)
class ClusterSettings:
    """The shape of a cluster; stored in ``cluster.json`` when it starts."""

    directory: str
    nodes: int = DEFAULT_NODES
    heap: str = DEFAULT_HEAP
    version: str = node_tool.DEFAULT_VERSION
    commitlog_sync: CommitlogSync = "periodic"
    port: int = node_tool.DEFAULT_PORT
    cluster_name: str = "persistence-cassandra-cluster"
    address_prefix: str = ADDRESS_PREFIX
    """Node N listens on ``<prefix>N``: another prefix (``127.0.3.``) runs a second cluster
    beside the default one."""
    jmx_port_base: int | None = None
    """Node N has JMX (and ``bin/nodetool``) on ``127.0.0.1:<base + N>``: JMX listens on
    127.0.0.1 whatever the node's address, so the nodes need ports of their own."""

    def validate(self) -> None:
        if not 1 <= self.nodes <= 9:
            raise _usage_error(f"--nodes {self.nodes}: a local cluster has 1 to 9 nodes")
        if not re.fullmatch(r"127\.[0-9]{1,3}\.[0-9]{1,3}\.", self.address_prefix):
            raise _usage_error(
                f"--address-prefix {self.address_prefix!r}: use a loopback prefix like 127.0.3."
            )
        if self.jmx_port_base is not None and not 1024 <= self.jmx_port_base <= 65000:
            raise _usage_error(f"--jmx-port-base {self.jmx_port_base}: use 1024 to 65000")

    def address(self, node: int) -> str:
        return f"{self.address_prefix}{node}"

    def jmx_port(self, node: int) -> int | None:
        return None if self.jmx_port_base is None else self.jmx_port_base + node

    @property
    def node_numbers(self) -> range:
        return range(1, self.nodes + 1)

    @property
    def contact_points(self) -> str:
        """``host:port,host:port,...``: what ``PC_CASSANDRA_HOSTS`` takes."""
        return ",".join(f"{self.address(n)}:{self.port}" for n in self.node_numbers)


def default_directory() -> Path:
    return node_tool.default_cache_root() / "cluster"


def _state_path(directory: Path) -> Path:
    return directory / STATE_FILE


def load_settings(directory: Path | None = None) -> ClusterSettings:
    """The settings of the cluster recorded in ``directory`` (default ``<cache>/cluster``)."""
    base = (directory or default_directory()).expanduser().resolve()
    try:
        data = json.loads(_state_path(base).read_text())
    except FileNotFoundError:
        raise _usage_error(
            f"no cluster in {base}: start one first (cassandra_cluster.py start --nodes 3)"
        ) from None
    except (OSError, ValueError) as exc:
        raise _usage_error(f"cannot read {_state_path(base)}: {exc}") from None
    return ClusterSettings(**{**data, "directory": str(base)})


def _token(node: int, nodes: int) -> str:
    return str(_MIN_TOKEN + (node - 1) * (_TOKEN_SPACE // nodes))


def node_settings(cluster: ClusterSettings, node: int) -> node_tool.NodeSettings:
    """The :class:`cassandra_local.NodeSettings` of one node of ``cluster``."""
    if node not in cluster.node_numbers:
        raise _usage_error(f"node {node}: the cluster has nodes 1 to {cluster.nodes}")
    storage_port = 7000
    seeds = ",".join(f"{cluster.address(n)}:{storage_port}" for n in cluster.node_numbers)
    yaml = node_tool.YamlSettings(
        cluster_name=cluster.cluster_name,
        num_tokens=1,
        commitlog_sync=cluster.commitlog_sync,
        extra={
            "endpoint_snitch": "GossipingPropertyFileSnitch",
            "initial_token": _token(node, cluster.nodes),
            "auto_bootstrap": False,
            "seed_provider": [
                {
                    "class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
                    "parameters": [{"seeds": seeds}],
                }
            ],
        },
    )
    cgroup = _node_cgroup(cluster.address(node))
    tool = (sys.executable, str(Path(__file__).resolve()))
    where = ("--dir", cluster.directory, str(node))
    return node_tool.NodeSettings(
        jmx_port=cluster.jmx_port(node),
        control_commands=((*tool, "start-node", *where), (*tool, "stop-node", *where)),
        cgroup_procs=cgroup / "cgroup.procs" if cgroup is not None else None,
        port=cluster.port,
        version=cluster.version,
        data_dir=Path(cluster.directory) / f"node{node}",
        heap=cluster.heap,
        storage_port=storage_port,
        listen_host=cluster.address(node),
        quiet=True,
        yaml=yaml,
    )


CGROUP_PARENT = "pc-cassandra"


def _cgroup2_root() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (``/sys/fs/cgroup`` or its ``unified`` part
    on hybrid systems), if it is."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return Path(fields[1])
    return None


def _node_cgroup(address: str) -> Path | None:
    root = _cgroup2_root()
    return None if root is None else root / CGROUP_PARENT / address


def _cgroup_path(address: str) -> str:
    """The node's cgroup as iptables' ``--path`` names it: relative to the v2 root."""
    return f"{CGROUP_PARENT}/{address}"


def _write_rack_properties(settings: node_tool.NodeSettings, node: int) -> None:
    # Read by GossipingPropertyFileSnitch from the classpath, which starts with conf/.
    settings.conf_dir.mkdir(parents=True, exist_ok=True)
    (settings.conf_dir / "cassandra-rackdc.properties").write_text(
        f"dc={DATACENTER}\nrack=rack{node}\n"
    )


# --------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------

NodeCondition = Literal["up", "down", "paused", "starting"]


@dataclass(frozen=True)
class NodeState:
    node: int
    address: str
    pid: int | None
    condition: NodeCondition
    partitioned: bool


@dataclass(frozen=True)
class ClusterState:
    settings: ClusterSettings
    nodes: tuple[NodeState, ...]

    @property
    def all_up(self) -> bool:
        return all(n.condition == "up" and not n.partitioned for n in self.nodes)


def _process_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[-1].split()[0]


def _daemon_pid(settings: node_tool.NodeSettings) -> int | None:
    pids = node_tool._find_daemon_pids(settings)
    return pids[0] if pids else None


def cluster_status(cluster: ClusterSettings) -> ClusterState:
    partitioned = _partitioned_addresses()
    states: list[NodeState] = []
    for node in cluster.node_numbers:
        settings = node_settings(cluster, node)
        pid = _daemon_pid(settings)
        condition: NodeCondition
        if pid is None:
            condition = "down"
        elif _process_state(pid) == "T":
            condition = "paused"
        elif settings.host in partitioned or node_tool._probe(settings, timeout=2.0) is not None:
            # A partitioned node cannot be probed; it still runs.
            condition = "up"
        else:
            condition = "starting"
        states.append(NodeState(node, settings.host, pid, condition, settings.host in partitioned))
    return ClusterState(cluster, tuple(states))


# --------------------------------------------------------------------------------------
# Start and stop
# --------------------------------------------------------------------------------------


def _start_one(cluster: ClusterSettings, node: int) -> node_tool.NodeInfo:
    settings = node_settings(cluster, node)
    _write_rack_properties(settings, node)
    if settings.cgroup_procs is not None:
        settings.cgroup_procs.parent.mkdir(parents=True, exist_ok=True)
    return node_tool.start_node(settings)


def start_cluster(cluster: ClusterSettings, *, clean: bool = False) -> ClusterState:
    """Start every node that is not running (all at once) and wait until each answers CQL.

    ``clean`` stops the cluster and wipes its directory first. The shape is recorded in
    ``cluster.json``; a different shape over an existing cluster directory is refused, since
    its nodes' tokens and data belong to the old one.
    """
    cluster.validate()
    base = Path(cluster.directory)
    if clean and base.exists():
        with contextlib.suppress(CassandraLocalError):
            stop_cluster(load_settings(base), force=True)
        heal()
        shutil.rmtree(base)
    recorded = _state_path(base)
    if recorded.exists():
        existing = load_settings(base)
        if replace(existing, directory=cluster.directory) != cluster:
            raise _usage_error(
                f"{base} holds a cluster of another shape ({existing.nodes} nodes, heap "
                f"{existing.heap}, {existing.commitlog_sync} sync); use --clean to replace it"
            )
    base.mkdir(parents=True, exist_ok=True)
    node_tool.fetch_distribution(node_settings(cluster, 1))
    node_tool._write_atomic(recorded, json.dumps(asdict(cluster), indent=2) + "\n")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=cluster.nodes) as pool:
        futures = [pool.submit(_start_one, cluster, n) for n in cluster.node_numbers]
        errors = [f.exception() for f in futures]
    failed = [e for e in errors if e is not None]
    if failed:
        raise failed[0]
    _say(f"{cluster.nodes} nodes answering CQL after {time.monotonic() - started:.1f}s")
    return cluster_status(cluster)


def ensure_cluster(cluster: ClusterSettings) -> str:
    """Start whatever is not running; returns the contact points (``host:port,...``)."""
    start_cluster(cluster)
    return cluster.contact_points


def stop_cluster(cluster: ClusterSettings, *, force: bool = False) -> None:
    """Stop every node (paused ones are resumed first so they can shut down) and heal."""
    if cluster.address_prefix == ADDRESS_PREFIX:
        heal()
    else:  # a second cluster lifts its own partitions only, never the default cluster's
        for node in cluster.node_numbers:
            heal(cluster, node)
    nodes = [node_settings(cluster, node) for node in cluster.node_numbers]
    pids: list[int] = []
    for settings in nodes:
        pid = _daemon_pid(settings)
        if pid is not None:
            if _process_state(pid) == "T":
                os.kill(pid, signal.SIGCONT)
            pids.append(pid)
    # One signal to every node, then one wait for all: no threads, since this also runs from
    # an atexit hook, when the interpreter no longer starts any.
    stop_timeout = nodes[0].stop_timeout
    node_tool._terminate(pids, stop_timeout, force, node_tool._Out(quiet=True))
    for settings in nodes:
        with contextlib.suppress(OSError):
            settings.pid_file.unlink()


# --------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------


def _running_pid(cluster: ClusterSettings, node: int) -> int:
    pid = _daemon_pid(node_settings(cluster, node))
    if pid is None:
        raise _usage_error(f"node {node} is not running")
    return pid


def kill_node(cluster: ClusterSettings, node: int) -> int:
    """SIGKILL node ``node`` (no shutdown, no flush: what a crash or an OOM killer does)."""
    pid = _running_pid(cluster, node)
    node_tool._kill_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while node_tool._pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid


def pause_node(cluster: ClusterSettings, node: int) -> int:
    """SIGSTOP the node's JVM: it keeps its sockets but answers nothing (a long GC pause)."""
    pid = _running_pid(cluster, node)
    os.kill(pid, signal.SIGSTOP)
    return pid


def resume_node(cluster: ClusterSettings, node: int) -> int:
    pid = _running_pid(cluster, node)
    os.kill(pid, signal.SIGCONT)
    return pid


def start_one_node(cluster: ClusterSettings, node: int) -> node_tool.NodeInfo:
    """Start node ``node`` on its data unless it runs; returns once it answers CQL."""
    return _start_one(cluster, node)


def stop_one_node(cluster: ClusterSettings, node: int) -> bool:
    """A clean shutdown of node ``node``; False if it was not running."""
    return node_tool.stop_node(node_settings(cluster, node))


def backup_nodes(cluster: ClusterSettings) -> list[dict[str, str | int]]:
    """Every node as a backup configuration names it (needs ``jmx_port_base``); writes each
    node's ``bin/nodetool``, ``bin/start`` and ``bin/stop``."""
    if cluster.jmx_port_base is None:
        raise _usage_error("backups need nodetool: start the cluster with --jmx-port-base")
    facts: list[dict[str, str | int]] = []
    for node in cluster.node_numbers:
        settings = node_settings(cluster, node)
        node_tool.write_control_scripts(settings, node_tool.find_java(settings))
        facts.append(node_tool.backup_node_facts(settings))
    return facts


def restart_node(cluster: ClusterSettings, node: int) -> node_tool.NodeInfo:
    """Start node ``node`` on its data again (a running one is stopped first)."""
    settings = node_settings(cluster, node)
    pid = _daemon_pid(settings)
    if pid is not None:
        if _process_state(pid) == "T":
            os.kill(pid, signal.SIGCONT)
        node_tool.stop_node(settings)
    return _start_one(cluster, node)


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("iptables")
    if binary is None:
        raise _usage_error("iptables not found: apt-get install iptables (needed for partitions)")
    done = subprocess.run(
        [binary, "-w", "5", *args], capture_output=True, text=True, timeout=30, check=False
    )
    if check and done.returncode != 0:
        raise CassandraLocalError(f"iptables {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def _ensure_chain() -> None:
    if _iptables("-n", "-L", CHAIN, check=False).returncode != 0:
        _iptables("-N", CHAIN)
    if _iptables("-C", "OUTPUT", "-o", "lo", "-j", CHAIN, check=False).returncode != 0:
        _iptables("-I", "OUTPUT", "1", "-o", "lo", "-j", CHAIN)


def _partitioned_addresses() -> set[str]:
    if shutil.which("iptables") is None:
        return set()
    listed = _iptables("-n", "-S", CHAIN, check=False)
    if listed.returncode != 0:
        return set()
    found: set[str] = set()
    for line in listed.stdout.splitlines():
        parts = line.split()
        if "-d" in parts:
            found.add(parts[parts.index("-d") + 1].removesuffix("/32"))
    return found


def _rule_args(address: str) -> Iterator[tuple[str, ...]]:
    # Every packet to the node's address, and every packet its own sockets send: the node's
    # outgoing connections leave from 127.0.0.1 (Cassandra does not bind them to its listen
    # address), so only its cgroup tells them apart. Its peers' gossip and its clients'
    # requests are lost alike, in both directions.
    yield ("-d", f"{address}/32", "-j", "DROP")
    yield ("-m", "cgroup", "--path", _cgroup_path(address), "-j", "DROP")


def partition_node(cluster: ClusterSettings, node: int) -> None:
    """Cut node ``node`` off: every packet to its address or from its sockets is dropped."""
    settings = node_settings(cluster, node)
    address = settings.host
    if settings.cgroup_procs is None:
        raise _usage_error("partitions need the cgroup v2 hierarchy (none is mounted)")
    _ensure_chain()
    for rule in _rule_args(address):
        if _iptables("-C", CHAIN, *rule, check=False).returncode != 0:
            _iptables("-A", CHAIN, *rule)


def heal(cluster: ClusterSettings | None = None, node: int | None = None) -> None:
    """Remove the partition rules of ``node`` (all of them when no node is named)."""
    if shutil.which("iptables") is None or _iptables("-n", "-L", CHAIN, check=False).returncode:
        return
    if node is None or cluster is None:
        _iptables("-F", CHAIN)
        return
    address = node_settings(cluster, node).host
    for rule in _rule_args(address):
        while _iptables("-C", CHAIN, *rule, check=False).returncode == 0:
            _iptables("-D", CHAIN, *rule)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"[cassandra-cluster] {message}", file=sys.stderr, flush=True)


class _ArgParser(argparse.ArgumentParser):
    def error(self, message: str) -> Never:
        self.exit(node_tool.EXIT_USAGE, f"[cassandra-cluster] error: {message} (see --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    common = _ArgParser(add_help=False)
    common.add_argument(
        "--dir", type=Path, help="cluster directory (default <cache>/cluster), one per cluster"
    )
    parser = _ArgParser(
        prog="cassandra_cluster.py",
        description="Start, inspect, stop and fault a local multi-node Cassandra cluster.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_ArgParser)
    for name, text in (
        ("start", "start every node (in parallel) and wait until all answer CQL"),
        ("ensure", "start what is not running; print the contact points as the last line"),
    ):
        cmd = sub.add_parser(name, parents=[common], help=text)
        cmd.add_argument("--nodes", type=int, default=DEFAULT_NODES, help="node count (3)")
        cmd.add_argument("--heap", default=DEFAULT_HEAP, help=f"heap per node ({DEFAULT_HEAP})")
        cmd.add_argument("--version", dest="cassandra_version", default=node_tool.DEFAULT_VERSION)
        cmd.add_argument(
            "--commitlog-sync", choices=node_tool.COMMITLOG_SYNC_MODES, default="periodic"
        )
        cmd.add_argument("--clean", action="store_true", help="wipe the cluster first")
        cmd.add_argument(
            "--address-prefix",
            default=ADDRESS_PREFIX,
            help=f"node N listens on PREFIX N (default {ADDRESS_PREFIX})",
        )
        cmd.add_argument(
            "--jmx-port-base",
            type=int,
            help="node N gets JMX and bin/nodetool on 127.0.0.1:BASE+N (for backups)",
        )
    stop = sub.add_parser("stop", parents=[common], help="stop every node and heal partitions")
    stop.add_argument("--force", action="store_true", help="SIGKILL without waiting")
    sub.add_parser("status", parents=[common], help="each node: up, down, paused, partitioned")
    sub.add_parser(
        "backup-nodes",
        parents=[common],
        help="write each node's bin/nodetool, bin/start, bin/stop and print the nodes as a "
        "backup configuration names them (JSON)",
    )
    for name, text in (
        ("kill", "SIGKILL node N"),
        ("pause", "SIGSTOP node N"),
        ("resume", "SIGCONT node N"),
        ("restart", "start node N on its data again (stopping it first if running)"),
        ("start-node", "start node N on its data unless it runs (returns once it answers)"),
        ("stop-node", "stop node N cleanly"),
        ("partition", "drop every packet to and from node N"),
    ):
        cmd = sub.add_parser(name, parents=[common], help=text)
        cmd.add_argument("node", type=int)
    heal_cmd = sub.add_parser("heal", parents=[common], help="lift partitions (of node N)")
    heal_cmd.add_argument("node", type=int, nargs="?")
    return parser


def _run(args: argparse.Namespace) -> int:
    directory = (args.dir or default_directory()).expanduser().resolve()
    if args.command in ("start", "ensure"):
        cluster = ClusterSettings(
            directory=str(directory),
            nodes=args.nodes,
            heap=args.heap,
            version=args.cassandra_version,
            commitlog_sync=args.commitlog_sync,
            address_prefix=args.address_prefix,
            jmx_port_base=args.jmx_port_base,
        )
        state = start_cluster(cluster, clean=bool(args.clean))
        if args.command == "ensure":
            print(cluster.contact_points)
        else:
            _print_state(state)
        return node_tool.EXIT_OK
    cluster = load_settings(directory)
    if args.command == "status":
        state = cluster_status(cluster)
        _print_state(state)
        return node_tool.EXIT_OK if state.all_up else node_tool.EXIT_NOT_RUNNING
    if args.command == "stop":
        stop_cluster(cluster, force=bool(args.force))
        return node_tool.EXIT_OK
    if args.command == "heal":
        heal(cluster, args.node)
        return node_tool.EXIT_OK
    if args.command == "backup-nodes":
        print(json.dumps(backup_nodes(cluster)))
        return node_tool.EXIT_OK
    if args.command == "start-node":
        info = start_one_node(cluster, args.node)
        print(f"node {args.node} answering at {info.address} (pid {info.pid})")
        return node_tool.EXIT_OK
    if args.command == "stop-node":
        stop_one_node(cluster, args.node)
        return node_tool.EXIT_OK
    node: int = args.node
    if args.command == "restart":
        info = restart_node(cluster, node)
        print(f"node {node} answering at {info.address} (pid {info.pid})")
        return node_tool.EXIT_OK
    actions = {"kill": kill_node, "pause": pause_node, "resume": resume_node}
    if args.command in actions:
        pid = actions[args.command](cluster, node)
        print(f"node {node}: {args.command} (pid {pid})")
        return node_tool.EXIT_OK
    partition_node(cluster, node)
    print(f"node {node}: partitioned")
    return node_tool.EXIT_OK


def _print_state(state: ClusterState) -> None:
    for node in state.nodes:
        flags = " partitioned" if node.partitioned else ""
        pid = node.pid if node.pid is not None else "-"
        print(
            f"node {node.node} {node.address}:{state.settings.port} {node.condition}{flags} "
            f"pid {pid}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    return node_tool.run_command(lambda: _run(args), "[cassandra-cluster]")


if __name__ == "__main__":
    sys.exit(main())
