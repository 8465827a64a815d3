"""Faults at random moments on the local cluster, for tests that run work meanwhile.

A :class:`FaultSchedule` takes one node at a time out — SIGKILL, SIGSTOP, or a partition that
drops every packet to and from it — holds the fault for a random while, then recovers it
(restart on the same data, SIGCONT, heal) and waits until every node reaches every other again
before the next round. One node at a time is what RF 3 at LOCAL_QUORUM is built to survive:
two replicas of every partition stay reachable, so no acknowledged write can be lost.

The blocking cluster calls run in threads, so the event loop (and the work under test) goes on
while a node restarts.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from harness.local_cluster import LocalCluster

__all__ = ["FaultEvent", "FaultKind", "FaultSchedule"]

FaultKind = Literal["kill", "pause", "partition"]
ALL_KINDS: tuple[FaultKind, ...] = ("kill", "pause", "partition")


@dataclass(frozen=True, slots=True)
class FaultEvent:
    kind: FaultKind
    node: int
    at: float
    """Seconds after the schedule started."""
    held: float
    """Seconds the node was out before recovery began."""
    recovered_in: float
    """Seconds from recovery to every node reaching every other again."""

    def __str__(self) -> str:
        return (
            f"{self.kind} node {self.node} at {self.at:.1f}s, held {self.held:.1f}s, "
            f"healthy again {self.recovered_in:.1f}s later"
        )


@dataclass
class FaultSchedule:
    """``rounds`` faults, one node at a time, each kind in turn from a shuffled order."""

    cluster: LocalCluster
    rounds: int = 3
    seed: int = 0
    kinds: Sequence[FaultKind] = ALL_KINDS
    hold: tuple[float, float] = (1.0, 4.0)
    gap: tuple[float, float] = (0.5, 2.0)
    events: list[FaultEvent] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {kind: 0 for kind in self.kinds}
        for event in self.events:
            found[event.kind] += 1
        return found

    def describe(self) -> str:
        counts = ", ".join(f"{n} {kind}" for kind, n in self.counts().items())
        return f"{len(self.events)} faults ({counts}): " + "; ".join(map(str, self.events))

    async def run(self) -> str:
        """Inject and recover every round; returns :meth:`describe`."""
        rng = random.Random(self.seed)
        order = [self.kinds[i % len(self.kinds)] for i in range(self.rounds)]
        rng.shuffle(order)
        started = time.monotonic()
        for kind in order:
            await asyncio.sleep(rng.uniform(*self.gap))
            node = rng.randint(1, self.cluster.nodes)
            at = time.monotonic() - started
            await asyncio.to_thread(self._inject, kind, node)
            hold = rng.uniform(*self.hold)
            await asyncio.sleep(hold)
            recovery = time.monotonic()
            try:
                await asyncio.to_thread(self._recover, kind, node)
            finally:
                self.events.append(FaultEvent(kind, node, at, hold, time.monotonic() - recovery))
        return self.describe()

    def _inject(self, kind: FaultKind, node: int) -> None:
        if kind == "kill":
            self.cluster.kill(node)
        elif kind == "pause":
            self.cluster.pause(node)
        else:
            self.cluster.partition(node)

    def _recover(self, kind: FaultKind, node: int) -> None:
        if kind == "kill":
            self.cluster.restart(node)
        elif kind == "pause":
            self.cluster.resume(node)
        else:
            self.cluster.heal(node)
        self.cluster.wait_healthy()
