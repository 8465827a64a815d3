"""What ``bench --peer`` produces: per concurrency, the workflow lifecycle through our store,
through the raw driver, and through the peer (Temporal's own Go persistence), with the ratios
against the peer. Plain data with a JSON form, and the table the command prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from persistence_cassandra.bench.harness import Measurement
from persistence_cassandra.bench.report import _measurement_json

__all__ = ["PeerCell", "PeerReport", "PeerResult", "print_peer_result"]

TARGET_THROUGHPUT = 1.0
"""Issue 18's target: our lifecycles/s at least the peer's."""
TARGET_CPU = 1.5
"""Issue 18's target: our client CPU per lifecycle at most 1.5 times the peer's."""


def _over(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else 0.0


@dataclass(frozen=True, slots=True)
class PeerCell:
    concurrency: int
    ours: Measurement
    raw: Measurement
    peer: Measurement

    @property
    def ours_over_peer(self) -> float:
        """Our lifecycles/s over the peer's (target: at least 1.0)."""
        return _over(self.ours.per_second, self.peer.per_second)

    @property
    def raw_over_peer(self) -> float:
        return _over(self.raw.per_second, self.peer.per_second)

    @property
    def ours_cpu_over_peer(self) -> float:
        """Our client CPU per lifecycle over the peer's (target: at most 1.5)."""
        return _over(self.ours.cpu_per_operation, self.peer.cpu_per_operation)

    @property
    def raw_cpu_over_peer(self) -> float:
        return _over(self.raw.cpu_per_operation, self.peer.cpu_per_operation)

    @property
    def errors(self) -> int:
        return self.ours.errors + self.raw.errors + self.peer.errors


@dataclass(slots=True)
class PeerResult:
    store: str
    target: str
    driver: str
    peer: str
    peer_keyspace: str
    build_seconds: float = 0.0
    build_cached: bool = False
    cells: list[PeerCell] = field(default_factory=list)
    setup_seconds: float = 0.0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "target": self.target,
            "driver": self.driver,
            "peer": self.peer,
            "peer_keyspace": self.peer_keyspace,
            "peer_build": {"seconds": round(self.build_seconds, 2), "cached": self.build_cached},
            "setup_seconds": round(self.setup_seconds, 2),
            "seconds": round(self.seconds, 2),
            "lifecycle": [
                {
                    "concurrency": cell.concurrency,
                    "ours_over_peer": round(cell.ours_over_peer, 3),
                    "raw_over_peer": round(cell.raw_over_peer, 3),
                    "cpu_ours_over_peer": round(cell.ours_cpu_over_peer, 3),
                    "cpu_raw_over_peer": round(cell.raw_cpu_over_peer, 3),
                    "ours": _measurement_json(cell.ours),
                    "raw": _measurement_json(cell.raw),
                    "peer": _measurement_json(cell.peer),
                }
                for cell in self.cells
            ],
        }


@dataclass(slots=True)
class PeerReport:
    machine: dict[str, Any]
    settings: dict[str, Any]
    results: list[PeerResult] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(cell.errors for result in self.results for cell in result.cells)

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "settings": self.settings,
            "peer_comparisons": [result.to_json() for result in self.results],
        }


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.2f}"


def _print_node_cpu(result: PeerResult, console: Console) -> None:
    """Where the node is a local process: its CPU per lifecycle during each side's slices (a
    line per level under the table, which is as wide as a terminal already)."""
    for cell in result.cells:
        sides = (cell.ours, cell.raw, cell.peer)
        if any(side.server_cpu_per_operation is None for side in sides):
            continue
        figures = " / ".join(_ms(side.server_cpu_per_operation) for side in sides)
        console.print(
            f"node CPU per lifecycle x{cell.concurrency}: ours / raw / peer {figures} ms",
            highlight=False,
        )


def _ratio(value: float, good: bool) -> str:
    return f"[{'green' if good else 'red'}]{value:.2f}[/]"


def print_peer_result(result: PeerResult, console: Console) -> None:
    """One table: the lifecycle at each concurrency, ours, raw and the peer side by side."""
    table = Table(
        title=f"bench {result.store} --peer: workflow lifecycle (17 calls), {result.target}; "
        f"raw: {result.driver}; peer: {result.peer} on keyspace {result.peer_keyspace}"
    )
    columns = (
        "conc.",
        "ours/s",
        "raw/s",
        "peer/s",
        "ours/peer",
        "raw/peer",
        "p50 ours / raw / peer",
        "p99 ours / raw / peer",
        "CPU/lc ours / raw / peer",
        "CPU ours/peer",
        "raw/peer",
    )
    for name in columns:
        table.add_column(name, justify="right", no_wrap=True)
    for cell in result.cells:
        ours, raw, peer = cell.ours, cell.raw, cell.peer
        table.add_row(
            str(cell.concurrency),
            f"{ours.per_second:,.0f}",
            f"{raw.per_second:,.0f}",
            f"{peer.per_second:,.0f}",
            _ratio(cell.ours_over_peer, cell.ours_over_peer >= TARGET_THROUGHPUT)
            + (f" [red]({cell.errors} errors)[/]" if cell.errors else ""),
            f"{cell.raw_over_peer:.2f}",
            f"{ours.p50 * 1e3:.1f} / {raw.p50 * 1e3:.1f} / {peer.p50 * 1e3:.1f} ms",
            f"{ours.p99 * 1e3:.1f} / {raw.p99 * 1e3:.1f} / {peer.p99 * 1e3:.1f} ms",
            f"{ours.cpu_per_operation * 1e3:.2f} / {raw.cpu_per_operation * 1e3:.2f} / "
            f"{peer.cpu_per_operation * 1e3:.2f} ms",
            _ratio(cell.ours_cpu_over_peer, cell.ours_cpu_over_peer <= TARGET_CPU),
            f"{cell.raw_cpu_over_peer:.2f}",
        )
    console.print(table)
    build = "cached" if result.build_cached else f"built in {result.build_seconds:.0f} s"
    console.print(f"peer binary: {build}", highlight=False)
    _print_node_cpu(result, console)
    for cell in result.cells:
        for side, measurement in (("ours", cell.ours), ("raw", cell.raw), ("peer", cell.peer)):
            if measurement.errors:
                console.print(
                    f"[red]failed[/]: lifecycle x{cell.concurrency} ({side}): "
                    f"{measurement.first_error}",
                    highlight=False,
                )
