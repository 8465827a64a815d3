"""Timing probes for the crash tests: when the node answers again, when the stores do."""

from __future__ import annotations

import asyncio
import contextlib
import time

from persistence_cassandra.errors import NotFound, PersistenceError
from persistence_cassandra.stores import StoreBundle

PROBE_INTERVAL = 0.01
PROBE_LIMIT = 180.0
"""A restart takes 10-20 s on two cores; three minutes means something is broken."""
PROBE_SHARD = 1
"""Never created: its read fails with ``NotFound`` once the node answers, which is a success
of the operation for timing purposes (the server was asked and replied)."""


async def wait_for_port(host: str, port: int) -> float:
    """Monotonic time at which ``host:port`` first accepts a TCP connection. The native port
    opens when Cassandra starts listening for CQL clients, i.e. when the node answers CQL."""
    deadline = time.monotonic() + PROBE_LIMIT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection(host, port)
            opened = time.monotonic()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return opened
        await asyncio.sleep(PROBE_INTERVAL)
    raise AssertionError(f"{host}:{port} did not open within {PROBE_LIMIT:.0f}s")


async def measure_first_success(stores: StoreBundle) -> float:
    """Monotonic time of the first store operation that the server answers (read every 10 ms).
    Start it after the node was killed: it waits for the way back, not for the way down."""
    deadline = time.monotonic() + PROBE_LIMIT
    while time.monotonic() < deadline:
        try:
            await stores.shard.get_or_create_shard(PROBE_SHARD)
        except NotFound:
            return time.monotonic()
        except PersistenceError:
            await asyncio.sleep(PROBE_INTERVAL)
            continue
        return time.monotonic()
    raise AssertionError(f"no store operation succeeded within {PROBE_LIMIT:.0f}s")
