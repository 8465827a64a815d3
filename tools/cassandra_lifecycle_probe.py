#!/usr/bin/env python3
"""The bench's workflow lifecycle in steady state, with the node's CPU: a profiling aid.

``bench --peer`` runs short interleaved slices, which is fair to machine drift but charges
what the node does after a slice (flushes, compactions) to whichever slice runs next, and on
a small shared machine its figures swing by a third from minute to minute. This tool answers
two narrower questions on a local node (one whose process this machine can read in /proc):

``alone``: each side by itself, without pause, for a window after a warm-up: ours, then the
Temporal peer (built as ``bench --peer`` builds it), alternately for ``--rounds``. Per side:
lifecycles/s, client CPU per lifecycle (``process_time`` for ours, the peer's getrusage) and
the node's CPU per lifecycle (``/proc/<pid>/stat``). With ``--tail SECONDS`` it also reads the
node's CPU for that long after each side stops, above an idle baseline: the flushes and
compactions a side leaves behind, which in the bench land on the next slice.

``ab``: one setting of ours switched on and off every ``--slice`` seconds in one process
while the lifecycle runs without pause; the median of the on/off ratio of each pair. The
settings are those a change of issue 18 can be measured by (``--toggle skip-metadata``).

    python tools/cassandra_lifecycle_probe.py alone --config c.yaml [--store NAME]
    python tools/cassandra_lifecycle_probe.py ab --config c.yaml --toggle skip-metadata

It is not a benchmark of record: the bench is that (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from persistence_cassandra.backends.cassandra.direct_requests import DirectSender
from persistence_cassandra.bench.fixtures import BenchWorker, prepare_workers
from persistence_cassandra.bench.local_node import LocalProcess
from persistence_cassandra.bench.operations import OPERATIONS
from persistence_cassandra.bench.peer_build import build_peer, find_go, temporal_schema_dir
from persistence_cassandra.bench.peer_process import TemporalGoPeer, prepare_peer_keyspace
from persistence_cassandra.bench.runner import _namespace_id
from persistence_cassandra.config import CassandraConfig, PersistenceConfig, load_config
from persistence_cassandra.errors import PersistenceError, UserFacingError
from persistence_cassandra.factory import open_persistence
from persistence_cassandra.persistence import Persistence

LIFECYCLE = "workflow lifecycle"
WARMUP_SECONDS = 3.0
SETTLE_SECONDS = 0.3
"""After a switch in ``ab``: lifecycles already past the switched step finish first."""


@dataclass(frozen=True)
class Window:
    lifecycles: int
    seconds: float
    client_cpu: float
    node_cpu: float

    def row(self) -> tuple[float, float, float]:
        """Lifecycles/s, client and node CPU ms per lifecycle."""
        done = max(self.lifecycles, 1)
        return (
            self.lifecycles / self.seconds,
            1000 * self.client_cpu / done,
            1000 * self.node_cpu / done,
        )


def local_node(cassandra: CassandraConfig) -> LocalProcess:
    host = cassandra.hosts.split(",")[0].strip()
    node = LocalProcess.serving(host, cassandra.port)
    if node is None:
        sys.exit(f"error: no local process listens on {host}:{cassandra.port} (a local node)")
    return node


def _cpu(node: LocalProcess) -> float:
    seconds = node.cpu_seconds()
    if seconds is None:
        sys.exit(f"error: the node (process {node.pid}) is gone")
    return seconds


class OursRunning:
    """``concurrency`` lifecycles of ours in flight, without pause, until stopped."""

    def __init__(self, persistence: Persistence, workers: list[BenchWorker]) -> None:
        self.completed = 0
        self._stop = False
        lifecycle = next(operation for operation in OPERATIONS if operation.name == LIFECYCLE)

        async def loop(worker: BenchWorker) -> None:
            while not self._stop:
                await lifecycle.ours(persistence, worker)
                self.completed += 1

        self._tasks = [asyncio.create_task(loop(worker)) for worker in workers]

    async def window(self, seconds: float, node: LocalProcess) -> Window:
        cpu, node_cpu, started, done = (
            time.process_time(),
            _cpu(node),
            time.monotonic(),
            self.completed,
        )
        await asyncio.sleep(seconds)
        return Window(
            self.completed - done,
            time.monotonic() - started,
            time.process_time() - cpu,
            _cpu(node) - node_cpu,
        )

    async def stop(self) -> None:
        self._stop = True
        await asyncio.gather(*self._tasks)


def _cassandra(config: PersistenceConfig, store: str | None) -> CassandraConfig:
    cassandra = config.datastore(store).cassandra
    if cassandra is None:
        sys.exit(f"error: datastore {store or config.default_store!r} is not cassandra")
    return cassandra


async def _ours_workers(persistence: Persistence, tag: str, count: int) -> list[BenchWorker]:
    namespace_id = await _namespace_id(persistence)
    first_shard = 3_000_000 + time.time_ns() % 1_000_000
    return await prepare_workers(persistence, tag, count, first_shard, namespace_id)


async def _alone(arguments: argparse.Namespace) -> None:
    config = load_config(arguments.config)
    cassandra = _cassandra(config, arguments.store)
    node = local_node(cassandra)
    build = await build_peer(go=find_go())
    peer_config = await prepare_peer_keyspace(cassandra, await temporal_schema_dir(build))
    tag = f"p{time.time_ns():x}"
    rows: list[tuple[Window, Window]] = []
    idle = await _idle(node, arguments.tail)
    for round_number in range(arguments.rounds):
        async with await open_persistence(config, store=arguments.store) as persistence:
            workers = await _ours_workers(persistence, f"{tag}o{round_number}", arguments.n)
            running = OursRunning(persistence, workers)
            await asyncio.sleep(WARMUP_SECONDS)
            ours = await running.window(arguments.seconds, node)
            await running.stop()
        ours_tail = await _idle(node, arguments.tail)
        peer = await TemporalGoPeer.start(
            build,
            peer_config,
            workers=arguments.n,
            first_shard=4_000_000 + round_number * arguments.n + time.time_ns() % 1_000_000,
            tag=f"{tag}p{round_number}",
        )
        try:
            await peer.run(arguments.n, sys.maxsize >> 1, WARMUP_SECONDS, keep=False)
            node_before = _cpu(node)
            measured = await peer.run(arguments.n, sys.maxsize >> 1, arguments.seconds, keep=False)
            theirs = Window(
                measured.completed,
                measured.seconds,
                measured.cpu_seconds,
                _cpu(node) - node_before,
            )
        finally:
            await peer.close()
        peer_tail = await _idle(node, arguments.tail)
        rows.append((ours, theirs))
        print(_alone_row(round_number + 1, ours, theirs), flush=True)
        if arguments.tail:
            print(_tail_row(idle, (ours, ours_tail), (theirs, peer_tail)), flush=True)


async def _idle(node: LocalProcess, seconds: float) -> float:
    """The node's CPU seconds over ``seconds`` with no client sending."""
    before = _cpu(node)
    await asyncio.sleep(seconds)
    return _cpu(node) - before


def _tail_row(idle: float, *sides: tuple[Window, float]) -> str:
    """What the node spent after a side stopped, above what it spends idle, per lifecycle of
    that side's window: its flushes and compactions that would land on the next slice."""
    tails = [1000 * max(tail - idle, 0.0) / max(window.lifecycles, 1) for window, tail in sides]
    return (
        "|  | node CPU after the window, ms per lifecycle ours / peer: "
        + " / ".join(f"{tail:.2f}" for tail in tails)
        + " |"
    )


def _alone_row(number: int, ours: Window, peer: Window) -> str:
    (rate, cpu, node), (peer_rate, peer_cpu, peer_node) = ours.row(), peer.row()
    return (
        f"| {number} | {rate:.0f} / {peer_rate:.0f} | {rate / peer_rate:.2f} | "
        f"{cpu:.2f} / {peer_cpu:.2f} | {cpu / peer_cpu:.2f} | {node:.2f} / {peer_node:.2f} |"
    )


class SkipMetadata:
    """Result metadata skipped (change 4) or sent, on the direct senders open when created;
    "on" is each sender's own setting (protocol v4 never skips)."""

    def __init__(self) -> None:
        self._senders = {
            sender: sender._skips_metadata
            for sender in gc.get_objects()
            if isinstance(sender, DirectSender)
        }

    def set(self, on: bool) -> None:
        for sender, own in self._senders.items():
            sender._skips_metadata = on and own


TOGGLES: dict[str, Callable[[], SkipMetadata]] = {"skip-metadata": SkipMetadata}


async def _ab(arguments: argparse.Namespace) -> None:
    config = load_config(arguments.config)
    cassandra = _cassandra(config, arguments.store)
    node = local_node(cassandra)
    windows: dict[bool, list[Window]] = {True: [], False: []}
    async with await open_persistence(config, store=arguments.store) as persistence:
        workers = await _ours_workers(persistence, f"ab{time.time_ns():x}", arguments.n)
        toggle = TOGGLES[arguments.toggle]()
        running = OursRunning(persistence, workers)
        await asyncio.sleep(WARMUP_SECONDS)
        try:
            for pair in range(arguments.pairs):
                for setting in (True, False) if pair % 2 == 0 else (False, True):
                    toggle.set(setting)
                    await asyncio.sleep(SETTLE_SECONDS)
                    windows[setting].append(await running.window(arguments.slice, node))
        finally:
            toggle.set(True)
            await running.stop()
    names = ("lifecycles/s", "client CPU ms per lifecycle", "node CPU ms per lifecycle")
    for index, name in enumerate(names):
        on = [window.row()[index] for window in windows[True]]
        off = [window.row()[index] for window in windows[False]]
        ratios = [a / b for a, b in zip(on, off, strict=True)]
        print(
            f"{name:28} on {statistics.median(on):8.2f}  off {statistics.median(off):8.2f}  "
            f"on/off {statistics.median(ratios):.3f} (pairs {min(ratios):.2f}-{max(ratios):.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="a persistence config file")
    parser.add_argument("--store", help="the Cassandra datastore (default: defaultStore)")
    parser.add_argument("-n", type=int, default=64, help="lifecycles in flight (default 64)")
    commands = parser.add_subparsers(dest="command", required=True)
    alone = commands.add_parser("alone", help="ours, then the Temporal peer, each alone")
    alone.add_argument("--seconds", type=float, default=15.0, help="window per side")
    alone.add_argument("--rounds", type=int, default=2)
    alone.add_argument(
        "--tail",
        type=float,
        default=0.0,
        help="seconds of the node's CPU after each side stops, above an idle baseline",
    )
    ab = commands.add_parser("ab", help="one setting of ours on and off in one process")
    ab.add_argument("--toggle", choices=sorted(TOGGLES), required=True)
    ab.add_argument("--pairs", type=int, default=12)
    ab.add_argument("--slice", type=float, default=1.5, help="seconds per setting and pair")
    arguments = parser.parse_args()
    if arguments.command == "alone":
        print(
            "| run | lifecycles/s ours / peer | ours/peer | client CPU per lifecycle ms ours /"
            " peer | CPU ours/peer | node CPU per lifecycle ms ours / peer |"
        )
        print("|--:|--:|--:|--:|--:|--:|")
    try:
        asyncio.run(_alone(arguments) if arguments.command == "alone" else _ab(arguments))
    except (PersistenceError, UserFacingError) as error:  # a bad config, no Go, no node
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
