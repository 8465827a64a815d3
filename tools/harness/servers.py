"""Real database servers for the test suites: found, or started, once per process.

Order, for each server (DESIGN §10):

1. an endpoint named by an environment variable (``PC_CASSANDRA_HOSTS``, ``PC_POSTGRES_DSN``):
   a server someone already runs, or one that ``.ci/run`` or Docker started;
2. Docker through pytest-docker, when an engine answers (see :mod:`.plugin`, which sets the
   environment variables above from the containers it starts);
3. a local server this module starts: Cassandra assembled from Maven Central by
   ``tools/cassandra_local.py`` (a checkout only), PostgreSQL from the machine's binaries
   (Debian's ``/usr/lib/postgresql/<ver>/bin``) in a private temporary cluster.

A server that cannot be found or started raises :class:`ServerUnavailable`: the tests that
need it fail; they never skip.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = [
    "LocalServers",
    "ServerUnavailable",
    "cassandra_endpoint",
    "docker_engine_available",
    "load_tool",
    "postgres_dsn",
    "repo_root",
    "stop_started_servers",
]

from persistence_cassandra.testing.targets import ServerUnavailable

_started: list[tuple[str, object]] = []


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def docker_engine_available() -> bool:
    """True when a Docker engine and the compose plugin both answer (not just the client)."""
    if shutil.which("docker") is None:
        return False
    for command in (["docker", "info"], ["docker", "compose", "version"]):
        try:
            done = subprocess.run(command, capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
        if done.returncode != 0:
            return False
    return True


# --------------------------------------------------------------------------- Cassandra


def repo_root() -> Path | None:
    """The checkout this harness lives in (``tools/harness`` exists only there)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "tools" / "cassandra_local.py").is_file():
            return parent
    return None


def load_tool(name: str, what: str) -> ModuleType:
    """``tools/<name>.py`` of the checkout, loaded once per process; ``what`` names what it
    starts, for the error when this package does not run from a checkout."""
    module_name = f"persistence_cassandra_tool_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    root = repo_root()
    if root is None:
        raise ServerUnavailable(
            f"no {what}: tools/{name}.py, which starts one, exists only in a checkout of "
            "persistence-cassandra"
        )
    path = root / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ServerUnavailable(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _cassandra_tool() -> ModuleType:
    return load_tool("cassandra_local", "local Cassandra node (or set PC_CASSANDRA_HOSTS)")


_cassandra_cached: str | None = None


def cassandra_endpoint() -> str:
    """``host:port`` of a Cassandra node (comma-separated hosts allowed), starting one if needed."""
    global _cassandra_cached
    env = os.environ.get("PC_CASSANDRA_HOSTS")
    if env:
        return env
    if _cassandra_cached is not None:
        return _cassandra_cached
    tool = _cassandra_tool()
    settings = tool.NodeSettings()
    already_running = _port_open("127.0.0.1", settings.port)
    try:
        endpoint: str = tool.ensure_node(settings)
    except tool.CassandraLocalError as exc:
        raise ServerUnavailable(f"the local Cassandra node did not start: {exc}") from exc
    if not already_running and os.environ.get("PC_KEEP_SERVERS") != "1":
        # Started here: stopped at exit. A node found running is someone else's to stop.
        _started.append(("cassandra", settings))
    _cassandra_cached = endpoint
    return endpoint


# --------------------------------------------------------------------------- PostgreSQL


@dataclass
class _LocalPostgres:
    data_dir: Path
    port: int
    bin_dir: Path
    run_as: list[str]

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.run_as, *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self) -> None:
        initdb = self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        if initdb.returncode != 0:
            raise ServerUnavailable(f"initdb failed: {initdb.stderr.strip()[-500:]}")
        log = self.data_dir / "server.log"
        options = (
            f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        started = self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "start",
        )
        if started.returncode != 0:
            tail = log.read_text(errors="replace")[-800:] if log.exists() else started.stderr
            raise ServerUnavailable(f"PostgreSQL did not start: {tail.strip()}")

    def stop(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop")
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _postgres_bin_dir() -> Path:
    explicit = os.environ.get("PC_PG_BIN")
    candidates = [Path(explicit)] if explicit else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise ServerUnavailable(
        "no PostgreSQL server: set PC_POSTGRES_DSN, or install Debian's postgresql package "
        "(apt-get install postgresql) so a private test cluster can be started"
    )


_postgres_cached: str | None = None


def postgres_dsn() -> str:
    """A DSN for a PostgreSQL superuser connection, starting a private cluster if needed."""
    global _postgres_cached
    env = os.environ.get("PC_POSTGRES_DSN")
    if env:
        return env
    if _postgres_cached is not None:
        return _postgres_cached
    bin_dir = _postgres_bin_dir()
    data_dir = Path(tempfile.mkdtemp(prefix="pc-postgres-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the postgres system user.
        if shutil.which("runuser") is None:
            raise ServerUnavailable("running as root without runuser: cannot start PostgreSQL")
        if subprocess.run(["id", "postgres"], capture_output=True, check=False).returncode:
            subprocess.run(["useradd", "--system", "postgres"], capture_output=True, check=False)
        shutil.chown(data_dir, user="postgres")
        data_dir.chmod(0o700)
        run_as = ["runuser", "-u", "postgres", "--"]
    server = _LocalPostgres(data_dir, _free_port(), bin_dir, run_as)
    server.start()
    _started.append(("postgres", server))
    _postgres_cached = server.dsn
    return server.dsn


def stop_started_servers() -> None:
    """Stop every server this process started (not those it found running)."""
    while _started:
        kind, handle = _started.pop()
        with contextlib.suppress(Exception):
            if kind == "postgres" and isinstance(handle, _LocalPostgres):
                handle.stop()
            elif kind == "cassandra":
                _cassandra_tool().stop_node(handle)


atexit.register(stop_started_servers)


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Block until ``host:port`` accepts connections, or raise :class:`ServerUnavailable`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(host, port):
            return
        time.sleep(0.5)
    raise ServerUnavailable(f"{host}:{port} did not open within {timeout:.0f}s")


class LocalServers:
    """The test targets' :class:`~persistence_cassandra.testing.targets.ServerLocator` in this
    checkout: an endpoint from the environment, else a local server started once per process."""

    def postgres_dsn(self) -> str:
        return postgres_dsn()

    def cassandra_endpoint(self) -> str:
        return cassandra_endpoint()
