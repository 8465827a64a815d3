"""``tools/cassandra_lifecycle_probe.py`` on the session's node: both of its questions answer,
with the node's CPU read from /proc, and the setting ``ab`` switches is left as it found it."""

from __future__ import annotations

import argparse
import asyncio
import gc
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import cassandra_lifecycle_probe as probe
from harness.keyspaces import drop_keyspaces
from persistence_cassandra.backends.cassandra.direct_requests import DirectSender
from persistence_cassandra.bench.local_node import LocalProcess
from persistence_cassandra.bench.peer_process import peer_keyspace_name
from persistence_cassandra.config import load_config
from persistence_cassandra.factory import OpenOptions, open_persistence

pytestmark = pytest.mark.cassandra


@pytest.fixture
async def config_file(tmp_path: Path) -> AsyncIterator[Path]:
    """A config file naming a fresh keyspace with our schema; it and the peer's are dropped."""
    from harness import servers

    endpoint = await asyncio.to_thread(servers.cassandra_endpoint)
    host, _, port = endpoint.split(",")[0].strip().rpartition(":")
    keyspace = f"pc_probe_{uuid.uuid4().hex[:12]}"
    path = tmp_path / "probe.yaml"
    path.write_text(
        "persistence:\n  defaultStore: cass\n  datastores:\n    cass:\n      cassandra:\n"
        f"        hosts: {host}\n        port: {port}\n        keyspace: {keyspace}\n"
    )
    persistence = await open_persistence(load_config(path), options=OpenOptions(create_schema=True))
    await persistence.close()
    try:
        yield path
    finally:
        keyspaces = [keyspace, peer_keyspace_name(keyspace)]
        await asyncio.to_thread(drop_keyspaces, host, int(port), keyspaces)


def test_the_node_is_found_by_address_and_port() -> None:
    from harness import servers

    host, _, port = servers.cassandra_endpoint().split(",")[0].strip().rpartition(":")
    node = LocalProcess.serving(host, int(port))
    assert node is not None
    assert "java" in Path(f"/proc/{node.pid}/cmdline").read_text(errors="replace")
    assert (node.cpu_seconds() or 0) > 0
    # Not a loopback address, or nothing listening there: no local node.
    assert LocalProcess.serving("192.0.2.1", int(port)) is None
    assert LocalProcess.serving("127.0.0.1", 1) is None


async def test_ab_prints_the_three_ratios_and_leaves_the_setting_on(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def settings() -> dict[int, bool]:
        return {
            id(item): item._skips_metadata
            for item in gc.get_objects()
            if isinstance(item, DirectSender)
        }

    before = settings()
    arguments = argparse.Namespace(
        config=str(config_file), store=None, n=2, toggle="skip-metadata", pairs=1, slice=0.5
    )
    await probe._ab(arguments)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["lifecycles/s", "client", "node"]
    assert all("on/off" in line for line in lines)
    after = settings()
    assert {key: after[key] for key in before if key in after} == {
        key: before[key] for key in before if key in after
    }


async def test_alone_measures_ours_and_the_peer(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = argparse.Namespace(
        config=str(config_file), store=None, n=2, seconds=1.0, rounds=1, tail=0.5
    )
    await probe._alone(arguments)
    row, tail = capsys.readouterr().out.splitlines()
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[0] == "1" and float(cells[2]) > 0 and float(cells[4]) > 0
    # What the node spent after each side stopped, above idle: never negative.
    ours, peer = tail.rstrip(" |").rpartition(": ")[2].split(" / ")
    assert float(ours) >= 0 and float(peer) >= 0
