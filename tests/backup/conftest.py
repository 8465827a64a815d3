"""A private Cassandra node for the backup tests, started once for them all.

An in-place restore stops and starts the node, so these tests never touch the shared node of
the other suites: this one listens on its own port (9342; the crash tests have 9242, the Astra
stand 9142), has JMX (and so ``bin/nodetool``) on 127.0.0.1:7399, keeps its data under a
temporary directory and is stopped and removed after the last backup test. If it cannot be
started the tests fail; they never skip. medusa's environment is created on first use through
the product's own code path (cached under ``~/.cache/persistence-cassandra``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from backup_support import BackupNodeHandle

from harness.servers import ServerUnavailable, load_tool

BACKUP_PORT = 9342
BACKUP_JMX_PORT = 7399
BACKUP_HEAP = "512M"


def node_tool() -> ModuleType:
    try:
        return load_tool("cassandra_local", "local Cassandra node")
    except ServerUnavailable as exc:
        pytest.fail(f"the backup tests need tools/cassandra_local.py: {exc}")


@pytest.fixture(scope="session")
def backup_node() -> Iterator[BackupNodeHandle]:
    tool = node_tool()
    root = Path(tempfile.mkdtemp(prefix="pc-backup-node-"))
    settings: Any = tool.NodeSettings(
        port=BACKUP_PORT,
        data_dir=root / "node",
        heap=BACKUP_HEAP,
        jmx_port=BACKUP_JMX_PORT,
        quiet=True,
    )

    def stop() -> None:
        try:
            tool.stop_node(settings, force=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    _stops.append(stop)
    try:
        try:
            tool.start_node(settings)
        except tool.CassandraLocalError as exc:
            pytest.fail(f"the private backup node on port {BACKUP_PORT} did not start: {exc}")
        yield BackupNodeHandle(tool, settings, root)
    finally:
        _stop_now()


_stops: list[Callable[[], None]] = []


def _stop_now() -> None:
    while _stops:
        _stops.pop()()


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the node after the last backup test rather than at the end of the session: the
    suites after this one would share two cores with an idle JVM."""
    here = Path(__file__).parent
    if nextitem is None or here not in nextitem.path.parents:
        _stop_now()
