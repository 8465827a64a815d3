"""A private single Cassandra node for the crash tests, started once per test session.

The shared node of the other suites runs with ``commitlog_sync: periodic`` and must never be
killed; this one listens on its own port (9242; the Astra stand has 9142), keeps its data
under a temporary directory, runs ``commitlog_sync: group`` (the commit log is fsynced before a
write is acknowledged, so a SIGKILL loses nothing acknowledged) and is stopped and removed at
the end of the session. If it cannot be started the tests fail; they never skip.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from persistence_cassandra.config import DatastoreConfig

CRASH_PORT = 9242
CRASH_HEAP = "512M"
CRASH_COMMITLOG_SYNC = "group"
CRASH_KEYSPACE = "pc_crash"
_TOOL_MODULE = "persistence_cassandra_local_tool"


def cassandra_tool() -> ModuleType:
    """``tools/cassandra_local.py`` as a module (shared with ``testing.servers`` when loaded)."""
    loaded = sys.modules.get(_TOOL_MODULE)
    if loaded is not None:
        return loaded
    path = Path(__file__).resolve().parents[2] / "tools" / "cassandra_local.py"
    spec = importlib.util.spec_from_file_location(_TOOL_MODULE, path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[_TOOL_MODULE] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class CrashNode:
    """The private node: kill it, start it again on the same data, and say where it is."""

    tool: ModuleType
    settings: Any
    """The tool's ``NodeSettings``."""

    @property
    def port(self) -> int:
        return CRASH_PORT

    def kill(self) -> None:
        """SIGKILL the node's process group and wait until it is gone and its port closed."""
        assert self.tool.stop_node(self.settings, force=True), "the crash node was not running"

    def start(self) -> float:
        """Start the node on its existing data; returns when it answers CQL (monotonic)."""
        try:
            self.tool.start_node(self.settings)
        except self.tool.CassandraLocalError as exc:
            pytest.fail(f"the crash node did not start again: {exc}\n{exc.details}")
        return time.monotonic()

    def datastore(self, keyspace: str = CRASH_KEYSPACE, **cassandra: Any) -> DatastoreConfig:
        block = {"hosts": "127.0.0.1", "port": CRASH_PORT, "keyspace": keyspace, **cassandra}
        return DatastoreConfig.model_validate({"cassandra": block})


@pytest.fixture(scope="session")
def crash_node() -> Iterator[CrashNode]:
    tool = cassandra_tool()
    root = Path(tempfile.mkdtemp(prefix="pc-crash-node-"))
    settings = tool.NodeSettings(
        port=CRASH_PORT,
        data_dir=root / "node",
        heap=CRASH_HEAP,
        quiet=True,
        yaml=tool.YamlSettings(commitlog_sync=CRASH_COMMITLOG_SYNC),
    )
    node = CrashNode(tool, settings)
    try:
        try:
            tool.start_node(settings)
        except tool.CassandraLocalError as exc:
            pytest.fail(f"the private crash node on port {CRASH_PORT} did not start: {exc}")
        yield node
    finally:
        try:
            tool.stop_node(settings, force=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)
