#!/usr/bin/env python3
"""Obtain, configure, start, probe and stop a local single-node Apache Cassandra.

Meant for tests and CI on machines without Docker and without general internet access
(only package registries).  The Apache binary tarball is not published on Maven Central,
so the node is assembled from Maven instead: a throw-away ``pom.xml`` depending on
``org.apache.cassandra:cassandra-all:<version>`` is resolved with
``mvn dependency:copy-dependencies`` into a cache directory, and
``org.apache.cassandra.service.CassandraDaemon`` is launched directly with ``java``,
a generated ``cassandra.yaml`` and a generated ``logback.xml``.  No Cassandra shell
scripts are used, so running as root works.

Command line::

    python tools/cassandra_local.py fetch|start|ensure|stop|status [options]
    python tools/cassandra_local.py backup-node --jmx-port 7399 [options]  # nodetool, for medusa
    python tools/cassandra_local.py cluster start --nodes 3   # see cassandra_cluster.py

Library use (e.g. from pytest fixtures)::

    import cassandra_local as cl
    address = cl.ensure_node(cl.NodeSettings(port=9042))  # "127.0.0.1:9042"
    ...
    cl.stop_node(cl.NodeSettings(port=9042))

Environment variables (each overridden by the matching command-line option):

* ``PC_CASSANDRA_VERSION``  cassandra-all version from Maven Central (default 5.0.9)
* ``PC_CASSANDRA_PORT``     CQL native port (default 9042)
* ``PC_CASSANDRA_DATA_DIR`` node directory (default ``<cache>/node-<port>``)
* ``PC_CASSANDRA_HEAP``     JVM heap, e.g. ``1G`` or ``512M`` (default 1G)
* ``PC_CACHE_DIR``          cache root (default ``$XDG_CACHE_HOME/persistence-cassandra``
  or ``~/.cache/persistence-cassandra``)
* ``PC_JAVA_HOME``          JDK to use (otherwise ``JAVA_HOME``, ``java`` on PATH, then
  ``/usr/lib/jvm/*``; Cassandra 5.0 needs Java 11 or 17, 4.x needs 8 or 11)

Profiles (``--profile``): ``dev`` (default) is a plain node without authentication or TLS;
``astra`` emulates Astra DB's server side: PasswordAuthenticator + CassandraAuthorizer, client
TLS with client certificates required (``--tls-dir`` holding ``ca.crt``, ``node.pem`` = node key
and certificate, ``client.crt``/``client.key`` for this tool's readiness probe), and Astra's
guardrails (no writes at ANY/ONE/LOCAL_ONE, ignored table options, no DROP KEYSPACE, SAI only,
640 KiB batches...).  Guardrails skip superusers, so they only bite a non-superuser role;
``PYTHONPATH=tools python -m harness.astra_stand`` builds the whole stand (certificates,
roles, keyspace, secure connect bundle, metadata service and SNI proxy) on top of this profile.

Exit codes: 0 success, 1 the node failed, 2 usage or environment problem,
3 ``status`` found no running node.

Importing this module has no side effects; it uses only the standard library.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Never, TypeAlias

__all__ = [
    "COMMITLOG_SYNC_MODES",
    "DEFAULT_PORT",
    "DEFAULT_VERSION",
    "CassandraLocalError",
    "ClientTls",
    "JavaInfo",
    "NodeInfo",
    "NodeSettings",
    "NodeStatus",
    "YamlSettings",
    "backup_node_facts",
    "cassandra_yaml_config",
    "cql_release_version",
    "ensure_node",
    "fetch_distribution",
    "find_java",
    "main",
    "node_status",
    "render_cassandra_yaml",
    "start_node",
    "stop_node",
    "write_control_scripts",
]

DEFAULT_VERSION = "5.0.9"
DEFAULT_PORT = 9042
DEFAULT_HEAP = "1G"
DEFAULT_TIMEOUT = 240.0
DEFAULT_STOP_TIMEOUT = 60.0
HOST = "127.0.0.1"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3

_PREFIX = "[cassandra-local]"
_DAEMON_CLASS = "org.apache.cassandra.service.CassandraDaemon"
_READY_LOG_LINE = "Starting listening for CQL clients"
_NODE_MARKER = ".pc-cassandra-node"
_DIST_MARKER = ".complete.json"
_PROGRESS_EVERY = 5.0

CommitlogSync: TypeAlias = Literal["periodic", "group", "batch"]
COMMITLOG_SYNC_MODES: tuple[CommitlogSync, ...] = ("periodic", "group", "batch")
GROUP_WINDOW = "10ms"
"""How long ``group`` sync collects writes for one fsync: short, since every write waits it."""

YamlValue: TypeAlias = (
    str | int | float | bool | Sequence["YamlValue"] | Mapping[str, "YamlValue"] | None
)


class CassandraLocalError(Exception):
    """A failure that is reported as one line (plus optional details such as a log tail).

    ``exit_code`` is 2 for usage/environment mistakes (bad option, no java, no mvn,
    port taken) and 1 when the node itself failed.
    """

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILED, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.details = details


def _usage_error(message: str) -> CassandraLocalError:
    return CassandraLocalError(message, exit_code=EXIT_USAGE)


# --------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------


def _env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise _usage_error(f"{name}={raw!r} is not an integer") from None


def _env_path(name: str) -> Path | None:
    raw = os.environ.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


def default_cache_root() -> Path:
    """``$PC_CACHE_DIR``, else ``$XDG_CACHE_HOME/persistence-cassandra``, else ``~/.cache/...``."""
    explicit = _env_path("PC_CACHE_DIR")
    if explicit is not None:
        return explicit.resolve()
    xdg = _env_path("XDG_CACHE_HOME")
    base = xdg if xdg is not None and xdg.is_absolute() else Path.home() / ".cache"
    return (base / "persistence-cassandra").resolve()


@dataclass(frozen=True)
class YamlSettings:
    """What goes into ``cassandra.yaml`` beyond paths and ports.

    ``profile`` selects a set of overrides applied on top of the base config (see
    ``_PROFILES``): ``"dev"`` (no auth, no TLS) or ``"astra"`` (PasswordAuthenticator,
    CassandraAuthorizer, client TLS with client certificates, Astra DB's guardrails; needs
    ``NodeSettings.client_tls``).  ``extra`` is applied last and wins over everything
    (new-style 4.1+/5.0 key names, e.g. ``{"batch_size_warn_threshold": "64KiB"}``).
    """

    profile: Literal["dev", "astra"] = "dev"
    cluster_name: str = "persistence-cassandra-test"
    commitlog_sync: CommitlogSync = "periodic"
    """``periodic`` acknowledges writes before they reach the disk: a killed node loses the
    last ones, which breaks LWT fencing on a single node. ``group`` and ``batch`` fsync the
    commit log before acknowledging (``group`` shares one fsync among the writes of a short
    window)."""
    num_tokens: int = 16
    cas_contention_timeout_ms: int | None = None
    write_request_timeout_ms: int | None = None
    read_request_timeout_ms: int | None = None
    range_request_timeout_ms: int | None = None
    extra: Mapping[str, YamlValue] = field(default_factory=dict)


@dataclass(frozen=True)
class ClientTls:
    """PEM files for a node that requires TLS (with client certificates) on its CQL port.

    ``node_pem`` holds the node's private key followed by its certificate chain;
    ``ca_file`` the CA certificates the node trusts for client certificates, which this
    tool's readiness probe also uses to verify the node; ``client_cert``/``client_key`` the
    certificate the probe presents.
    """

    ca_file: Path
    node_pem: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def from_dir(cls, directory: Path) -> ClientTls:
        """The conventional names inside one directory: ``ca.crt``, ``node.pem``,
        ``client.crt``, ``client.key``."""
        base = directory.expanduser().resolve()
        return cls(base / "ca.crt", base / "node.pem", base / "client.crt", base / "client.key")

    def missing(self) -> list[Path]:
        return [
            p
            for p in (self.ca_file, self.node_pem, self.client_cert, self.client_key)
            if not p.is_file()
        ]

    def probe_context(self) -> ssl.SSLContext:
        """Verifies the node's chain against ``ca_file`` (not its name: the probe dials an
        IP address) and presents the client certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(self.ca_file))
        context.load_cert_chain(certfile=str(self.client_cert), keyfile=str(self.client_key))
        return context


@dataclass(frozen=True)
class NodeSettings:
    """Everything needed to fetch, start, find and stop one node.

    Defaults are read from the environment when the object is created, so
    ``NodeSettings()`` honours ``PC_CASSANDRA_PORT`` etc.; explicit arguments win.
    """

    port: int = field(default_factory=lambda: _env_int("PC_CASSANDRA_PORT", DEFAULT_PORT))
    version: str = field(default_factory=lambda: _env_str("PC_CASSANDRA_VERSION", DEFAULT_VERSION))
    data_dir: Path | None = field(default_factory=lambda: _env_path("PC_CASSANDRA_DATA_DIR"))
    cache_dir: Path | None = None
    heap: str = field(default_factory=lambda: _env_str("PC_CASSANDRA_HEAP", DEFAULT_HEAP))
    timeout: float = DEFAULT_TIMEOUT
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    java_home: Path | None = field(default_factory=lambda: _env_path("PC_JAVA_HOME"))
    storage_port: int | None = None
    jmx_port: int | None = None
    lock_memory: bool = False
    quiet: bool = False
    username: str | None = None
    password: str | None = None
    extra_jvm_options: tuple[str, ...] = ()
    yaml: YamlSettings = field(default_factory=YamlSettings)
    client_tls: ClientTls | None = None
    """Required by the ``astra`` profile: the node then accepts only TLS clients."""
    listen_host: str = HOST
    """The loopback address the node listens on (CQL and internode): a cluster's nodes share
    the ports and differ in address (127.0.2.1, 127.0.2.2, ...)."""
    cgroup_procs: Path | None = None
    """A cgroup's ``cgroup.procs`` file to start the JVM in, so that packet filters can tell
    its sockets apart (its outgoing connections leave from 127.0.0.1, not its address)."""
    control_commands: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    """The start and stop commands written to ``bin/start`` and ``bin/stop`` for a node with
    a JMX port (what a backup tool restarts it with); ``None``: this tool's own ``start`` and
    ``stop`` with this node's options (a cluster's nodes name the cluster tool instead)."""

    # ---- derived locations -----------------------------------------------------------

    @property
    def host(self) -> str:
        return self.listen_host

    @property
    def address(self) -> str:
        return f"{self.listen_host}:{self.port}"

    @property
    def cache_root(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir.expanduser().resolve()
        return default_cache_root()

    @property
    def dist_dir(self) -> Path:
        return self.cache_root / f"cassandra-{self.version}"

    @property
    def lib_dir(self) -> Path:
        return self.dist_dir / "lib"

    @property
    def node_dir(self) -> Path:
        if self.data_dir is not None:
            return self.data_dir.expanduser().resolve()
        return self.cache_root / f"node-{self.port}"

    @property
    def conf_dir(self) -> Path:
        return self.node_dir / "conf"

    @property
    def yaml_path(self) -> Path:
        return self.conf_dir / "cassandra.yaml"

    @property
    def log_dir(self) -> Path:
        return self.node_dir / "logs"

    @property
    def stdout_log(self) -> Path:
        return self.log_dir / "stdout.log"

    @property
    def pid_file(self) -> Path:
        return self.node_dir / "cassandra.pid"

    @property
    def bin_dir(self) -> Path:
        """``nodetool``, ``start`` and ``stop`` of this node (written when it has a JMX port)."""
        return self.node_dir / "bin"

    @property
    def effective_storage_port(self) -> int:
        """7000 for the default CQL port; otherwise derived so parallel nodes don't clash."""
        if self.storage_port is not None:
            return self.storage_port
        if self.port == DEFAULT_PORT:
            return 7000
        return self.port - 2042 if self.port > 3000 else self.port + 1

    def validate(self) -> None:
        for name, port in (
            ("port", self.port),
            ("storage port", self.effective_storage_port),
            ("JMX port", self.jmx_port),
        ):
            if port is not None and not 1 <= port <= 65535:
                raise _usage_error(f"invalid {name} {port}: must be between 1 and 65535")
        if self.effective_storage_port == self.port:
            raise _usage_error("storage port and CQL port must differ")
        if not re.fullmatch(r"[1-9][0-9]*[MmGg]", self.heap):
            raise _usage_error(f"invalid heap size {self.heap!r}: use e.g. 512M or 1G")
        if not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+(-[A-Za-z0-9.]+)?", self.version):
            raise _usage_error(f"invalid Cassandra version {self.version!r}: use e.g. 5.0.9")
        if self.timeout <= 0 or self.stop_timeout <= 0:
            raise _usage_error("timeouts must be positive")
        if self.yaml.num_tokens < 1:
            raise _usage_error("num_tokens must be >= 1")
        if self.yaml.profile == "astra":
            if self.client_tls is None:
                raise _usage_error(
                    "the astra profile needs TLS files (--tls-dir with ca.crt, node.pem, "
                    "client.crt, client.key)"
                )
            missing = self.client_tls.missing()
            if missing:
                raise _usage_error(f"TLS file(s) missing: {', '.join(map(str, missing))}")


@dataclass(frozen=True)
class JavaInfo:
    executable: Path
    home: Path
    major: int
    version: str


@dataclass(frozen=True)
class NodeInfo:
    """Result of :func:`start_node`."""

    host: str
    port: int
    pid: int | None
    release_version: str | None
    already_running: bool
    startup_seconds: float | None
    data_dir: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class NodeStatus:
    """Result of :func:`node_status`."""

    running: bool
    pid: int | None
    port: int
    answering: bool
    release_version: str | None
    data_dir: Path


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


class _Out:
    """Messages to stderr with a prefix; ``info`` is suppressed in quiet mode."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def progress(self, message: str) -> None:
        print(f"{_PREFIX} {message}", file=sys.stderr, flush=True)

    def info(self, message: str) -> None:
        if not self.quiet:
            self.progress(message)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(data.splitlines()[-lines:])


def _last_log_message(path: Path) -> str:
    """Short description of the latest log line, for progress messages."""
    last = _tail(path, 1)
    if last.startswith("(no log"):
        return ""
    message = last.split(" - ", 1)[-1].strip()
    return message if len(message) <= 90 else message[:87] + "..."


# --------------------------------------------------------------------------------------
# Locks and processes
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _file_lock(path: Path, timeout: float, out: _Out, what: str) -> Iterator[None]:
    """Exclusive ``flock`` on ``path`` (created if needed), waiting at most ``timeout``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        start = time.monotonic()
        next_note = start + _PROGRESS_EVERY
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if now - start > timeout:
                    raise CassandraLocalError(
                        f"timed out after {timeout:.0f}s waiting for another process to finish "
                        f"{what} (lock {path})"
                    ) from None
                if now >= next_note:
                    out.progress(f"waiting for another process {what}: {now - start:.0f}s")
                    next_note = now + _PROGRESS_EVERY
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)


def _proc_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (our daemons are re-parented to init)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
    if state not in ("Z", "X"):
        return True
    # A killed JVM's main thread turns zombie while other threads still exit (and hold
    # sockets and files); only count it as gone once it is the last task left.
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def _is_our_daemon(pid: int, settings: NodeSettings) -> bool:
    args = _proc_cmdline(pid)
    return _DAEMON_CLASS in args and f"-Dcassandra.config=file://{settings.yaml_path}" in args


def _read_pid_file(settings: NodeSettings) -> int | None:
    try:
        return int(settings.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _find_daemon_pids(settings: NodeSettings) -> list[int]:
    """Live CassandraDaemon processes using this node's config (pid file first, then /proc)."""
    found: list[int] = []
    recorded = _read_pid_file(settings)
    if recorded is not None and _pid_alive(recorded) and _is_our_daemon(recorded, settings):
        found.append(recorded)
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                pid = int(entry)
                if pid not in found and _pid_alive(pid) and _is_our_daemon(pid, settings):
                    found.append(pid)
    return found


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _tcp_open(port: int, timeout: float = 1.0, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------
# Minimal CQL native protocol (v4) client: STARTUP [+ SASL PLAIN] + one QUERY
# --------------------------------------------------------------------------------------

_OP_ERROR = 0x00
_OP_STARTUP = 0x01
_OP_READY = 0x02
_OP_AUTHENTICATE = 0x03
_OP_QUERY = 0x07
_OP_RESULT = 0x08
_OP_AUTH_RESPONSE = 0x0F
_OP_AUTH_SUCCESS = 0x10
_RESULT_ROWS = 0x0002


class CqlProbeError(Exception):
    """The port answered, but not with what a ready Cassandra node answers."""


def _cql_string(value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack(">H", len(data)) + data


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise CqlProbeError("connection closed by server")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _cql_request(sock: socket.socket, opcode: int, body: bytes) -> tuple[int, bytes]:
    sock.sendall(struct.pack(">BBhBi", 0x04, 0, 0, opcode, len(body)) + body)
    _version, _flags, _stream, resp_op, length = struct.unpack(">BBhBi", _recv_exact(sock, 9))
    payload = _recv_exact(sock, length) if length > 0 else b""
    if resp_op == _OP_ERROR:
        code = struct.unpack_from(">i", payload, 0)[0] if len(payload) >= 4 else -1
        (mlen,) = struct.unpack_from(">H", payload, 4) if len(payload) >= 6 else (0,)
        message = payload[6 : 6 + mlen].decode("utf-8", "replace")
        raise CqlProbeError(f"server error 0x{code:04x}: {message}")
    return resp_op, payload


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read_int(self) -> int:
        (value,) = struct.unpack_from(">i", self.data, self.pos)
        self.pos += 4
        return int(value)

    def read_short(self) -> int:
        (value,) = struct.unpack_from(">H", self.data, self.pos)
        self.pos += 2
        return int(value)

    def read_string(self) -> str:
        size = self.read_short()
        value = self.data[self.pos : self.pos + size].decode("utf-8", "replace")
        self.pos += size
        return value

    def read_bytes(self) -> bytes | None:
        size = self.read_int()
        if size < 0:
            return None
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return value

    def skip_option(self) -> None:
        kind = self.read_short()
        if kind == 0x0000:  # custom
            self.read_string()
        elif kind in (0x0020, 0x0022):  # list, set
            self.skip_option()
        elif kind == 0x0021:  # map
            self.skip_option()
            self.skip_option()
        elif kind == 0x0030:  # udt
            self.read_string()
            self.read_string()
            for _ in range(self.read_short()):
                self.read_string()
                self.skip_option()
        elif kind == 0x0031:  # tuple
            for _ in range(self.read_short()):
                self.skip_option()


def _first_cell_as_text(body: bytes) -> str | None:
    reader = _Reader(body)
    if reader.read_int() != _RESULT_ROWS:
        raise CqlProbeError("unexpected result kind")
    flags = reader.read_int()
    columns = reader.read_int()
    if flags & 0x0002:  # has_more_pages
        reader.read_bytes()
    if not flags & 0x0004:  # metadata present
        global_spec = bool(flags & 0x0001)
        if global_spec:
            reader.read_string()
            reader.read_string()
        for _ in range(columns):
            if not global_spec:
                reader.read_string()
                reader.read_string()
            reader.read_string()
            reader.skip_option()
    if reader.read_int() < 1 or columns < 1:
        return None
    cell = reader.read_bytes()
    return None if cell is None else cell.decode("utf-8", "replace")


def cql_release_version(
    host: str,
    port: int,
    *,
    timeout: float = 5.0,
    username: str | None = None,
    password: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> str:
    """Run ``SELECT release_version FROM system.local`` over a raw CQL v4 connection.

    Standard library only (no driver).  Raises ``OSError`` (``ssl.SSLError`` included) if
    nothing listens or TLS fails, and :class:`CqlProbeError` if the server answers but is
    not (yet) usable.  If the server requires authentication and no credentials are given,
    returns ``"unknown (auth)"``.  With ``ssl_context`` the connection is TLS.
    """
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(socket.create_connection((host, port), timeout=timeout))
        sock = (
            stack.enter_context(ssl_context.wrap_socket(raw, server_hostname=host))
            if ssl_context is not None
            else raw
        )
        sock.settimeout(timeout)
        startup = struct.pack(">H", 1) + _cql_string("CQL_VERSION") + _cql_string("3.0.0")
        opcode, _ = _cql_request(sock, _OP_STARTUP, startup)
        if opcode == _OP_AUTHENTICATE:
            if username is None or password is None:
                return "unknown (auth)"
            token = b"\0" + username.encode() + b"\0" + password.encode()
            opcode, _ = _cql_request(sock, _OP_AUTH_RESPONSE, struct.pack(">i", len(token)) + token)
            if opcode != _OP_AUTH_SUCCESS:
                raise CqlProbeError(f"authentication not accepted (opcode 0x{opcode:02x})")
        elif opcode != _OP_READY:
            raise CqlProbeError(f"unexpected reply to STARTUP (opcode 0x{opcode:02x})")
        query = b"SELECT release_version FROM system.local"
        body = struct.pack(">i", len(query)) + query + struct.pack(">HB", 0x0001, 0)
        opcode, payload = _cql_request(sock, _OP_QUERY, body)
        if opcode != _OP_RESULT:
            raise CqlProbeError(f"unexpected reply to QUERY (opcode 0x{opcode:02x})")
        version = _first_cell_as_text(payload)
        if version is None:
            raise CqlProbeError("system.local returned no release_version")
        return version


def _probe(settings: NodeSettings, timeout: float = 3.0) -> str | None:
    """Release version if a usable node answers CQL on the port, else None."""
    tls = settings.client_tls
    try:
        return cql_release_version(
            settings.host,
            settings.port,
            timeout=timeout,
            username=settings.username,
            password=settings.password,
            ssl_context=tls.probe_context() if tls is not None else None,
        )
    except (OSError, CqlProbeError, struct.error, ValueError):
        return None


# --------------------------------------------------------------------------------------
# Java
# --------------------------------------------------------------------------------------


def _supported_java_majors(cassandra_version: str) -> tuple[int, ...]:
    """Preferred first.  5.0 supports 11 and 17; 4.0/4.1 support 8 and 11."""
    major = int(cassandra_version.split(".", 1)[0])
    return (17, 11) if major >= 5 else (11, 8)


def _java_version_of(home: Path) -> str | None:
    release = home / "release"
    with contextlib.suppress(OSError):
        match = re.search(r'^JAVA_VERSION="([^"]+)"', release.read_text(), re.MULTILINE)
        if match:
            return match.group(1)
    java = home / "bin" / "java"
    if not java.is_file():
        return None
    try:
        proc = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "([^"]+)"', proc.stderr)
    return match.group(1) if match else None


def _java_major(version: str) -> int:
    match = re.match(r"1\.([0-9]+)|([0-9]+)", version)  # "1.8.0_412" -> 8, "17.0.15" -> 17
    if match is None:
        return 0
    return int(match.group(1) or match.group(2))


def _java_info(home: Path) -> JavaInfo | None:
    java = home / "bin" / "java"
    if not java.is_file():
        return None
    version = _java_version_of(home)
    if version is None:
        return None
    return JavaInfo(executable=java, home=home, major=_java_major(version), version=version)


def find_java(settings: NodeSettings, out: _Out | None = None) -> JavaInfo:
    """Pick a JDK: ``settings.java_home``/``PC_JAVA_HOME`` if given (used as is, with a
    warning if Cassandra does not support it); otherwise the first of ``JAVA_HOME``,
    ``java`` on PATH and ``/usr/lib/jvm/*`` whose major version Cassandra supports."""
    out = out or _Out(settings.quiet)
    supported = _supported_java_majors(settings.version)
    wanted = " or ".join(str(m) for m in supported)
    if settings.java_home is not None:
        home = settings.java_home.expanduser().resolve()
        info = _java_info(home)
        if info is None:
            raise _usage_error(f"no usable java at {home}/bin/java (from PC_JAVA_HOME/--java-home)")
        if info.major not in supported:
            out.progress(
                f"warning: {home} is Java {info.major}; Cassandra {settings.version} "
                f"supports Java {wanted} only"
            )
        return info

    candidates: list[Path] = []
    env_home = _env_path("JAVA_HOME")
    if env_home is not None:
        candidates.append(env_home.resolve())
    on_path = shutil.which("java")
    if on_path is not None:
        candidates.append(Path(on_path).resolve().parent.parent)
    jvm_root = Path("/usr/lib/jvm")
    if jvm_root.is_dir():
        candidates.extend(sorted(p.resolve() for p in jvm_root.iterdir() if p.is_dir()))

    seen: dict[Path, JavaInfo] = {}
    for home in candidates:
        if home in seen:
            continue
        info = _java_info(home)
        if info is not None:
            seen[home] = info
    for major in supported:
        for info in seen.values():
            if info.major == major:
                return info
    found = ", ".join(f"{i.home} (Java {i.major})" for i in seen.values()) or "none"
    raise _usage_error(
        f"no Java {wanted} found for Cassandra {settings.version} (found: {found}); "
        f"install one (e.g. apt-get install openjdk-17-jre-headless) or set PC_JAVA_HOME"
    )


# --------------------------------------------------------------------------------------
# Fetching the distribution from Maven Central
# --------------------------------------------------------------------------------------

_POM_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by tools/cassandra_local.py: resolves a Cassandra node's runtime classpath. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.persistence-cassandra</groupId>
  <artifactId>cassandra-node</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def _dist_complete(settings: NodeSettings) -> bool:
    return (settings.dist_dir / _DIST_MARKER).is_file() and (
        settings.lib_dir / f"cassandra-all-{settings.version}.jar"
    ).is_file()


def _run_with_progress(
    cmd: Sequence[str], *, cwd: Path, log: Path, timeout: float, out: _Out, what: str
) -> int:
    """Run ``cmd`` with output to ``log``, printing elapsed time every few seconds."""
    start = time.monotonic()
    with log.open("wb") as log_fh:
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log_fh, stderr=subprocess.STDOUT
        )
        try:
            while True:
                try:
                    return proc.wait(timeout=_PROGRESS_EVERY)
                except subprocess.TimeoutExpired:
                    elapsed = time.monotonic() - start
                    if elapsed > timeout:
                        raise CassandraLocalError(
                            f"{what} timed out after {timeout:.0f}s", details=_tail(log)
                        ) from None
                    out.progress(f"{what}: {elapsed:.0f}s elapsed")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def fetch_distribution(settings: NodeSettings, out: _Out | None = None) -> Path:
    """Make sure ``<cache>/cassandra-<version>/lib`` holds cassandra-all and all its runtime
    dependencies (resolved with ``mvn``); returns the distribution directory."""
    out = out or _Out(settings.quiet)
    settings.validate()
    if _dist_complete(settings):
        return settings.dist_dir
    mvn = shutil.which("mvn")
    if mvn is None:
        raise _usage_error(
            "mvn (Apache Maven) not found on PATH; install it: apt-get install maven"
        )
    cache = settings.cache_root
    cache.mkdir(parents=True, exist_ok=True)
    lock = cache / f".cassandra-{settings.version}.lock"
    with _file_lock(lock, settings.timeout * 4, out, f"fetching Cassandra {settings.version}"):
        if _dist_complete(settings):
            return settings.dist_dir
        out.progress(
            f"fetching cassandra-all {settings.version} and dependencies from Maven Central "
            f"into {settings.dist_dir} ..."
        )
        start = time.monotonic()
        staging = Path(tempfile.mkdtemp(dir=cache, prefix=f".cassandra-{settings.version}-"))
        try:
            (staging / "pom.xml").write_text(_POM_TEMPLATE.format(version=settings.version))
            log = staging / "mvn.log"
            cmd = [
                mvn,
                "-B",
                "-q",
                "-f",
                str(staging / "pom.xml"),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging / 'lib'}",
            ]
            code = _run_with_progress(
                cmd, cwd=staging, log=log, timeout=settings.timeout * 4, out=out, what="mvn"
            )
            if code != 0:
                text = _tail(log, 400)
                if re.search(r"cassandra-all:(jar|pom):" + re.escape(settings.version), text) and (
                    "not found" in text or "Could not find artifact" in text
                ):
                    raise _usage_error(
                        f"org.apache.cassandra:cassandra-all:{settings.version} is not available "
                        f"from Maven (try 5.0.9, 5.0.6 or 4.1.x)"
                    )
                raise CassandraLocalError(
                    f"mvn failed with exit code {code} (log: {log})", details=_tail(log)
                )
            jar = staging / "lib" / f"cassandra-all-{settings.version}.jar"
            if not jar.is_file():
                raise CassandraLocalError(f"mvn succeeded but {jar.name} is missing")
            jars = sorted(p.name for p in (staging / "lib").glob("*.jar"))
            seconds = time.monotonic() - start
            marker = {"version": settings.version, "jars": len(jars), "fetch_seconds": seconds}
            (staging / _DIST_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            staging.chmod(0o755)  # mkdtemp creates 0700
            if settings.dist_dir.exists():
                shutil.rmtree(settings.dist_dir)
            os.replace(staging, settings.dist_dir)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        out.progress(f"fetched {len(jars)} jars in {seconds:.1f}s -> {settings.dist_dir}")
    return settings.dist_dir


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


def _ms(value: int) -> str:
    return f"{value}ms"


def cassandra_yaml_config(settings: NodeSettings) -> dict[str, YamlValue]:
    """The ``cassandra.yaml`` content as a dict (4.1+/5.0 key names)."""
    data = settings.node_dir / "data"
    ys = settings.yaml
    config: dict[str, YamlValue] = {
        "cluster_name": ys.cluster_name,
        "num_tokens": ys.num_tokens,
        "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
        "listen_address": settings.host,
        "rpc_address": settings.host,
        "seed_provider": [
            {
                "class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
                "parameters": [{"seeds": f"{settings.host}:{settings.effective_storage_port}"}],
            }
        ],
        "storage_port": settings.effective_storage_port,
        "native_transport_port": settings.port,
        "start_native_transport": True,
        "endpoint_snitch": "SimpleSnitch",
        "data_file_directories": [str(data / "data")],
        "commitlog_directory": str(data / "commitlog"),
        "saved_caches_directory": str(data / "saved_caches"),
        "hints_directory": str(data / "hints"),
        "cdc_raw_directory": str(data / "cdc_raw"),
        "commitlog_sync": ys.commitlog_sync,
        "auto_snapshot": False,
        "authenticator": "AllowAllAuthenticator",
        "authorizer": "AllowAllAuthorizer",
        "role_manager": "CassandraRoleManager",
    }
    if ys.commitlog_sync == "periodic":
        config["commitlog_sync_period"] = "10000ms"
    elif ys.commitlog_sync == "group":
        config["commitlog_sync_group_window"] = GROUP_WINDOW
    for key, value in (
        ("cas_contention_timeout", ys.cas_contention_timeout_ms),
        ("write_request_timeout", ys.write_request_timeout_ms),
        ("read_request_timeout", ys.read_request_timeout_ms),
        ("range_request_timeout", ys.range_request_timeout_ms),
    ):
        if value is not None:
            config[key] = _ms(value)
    _PROFILES[ys.profile](settings, config)
    config.update(ys.extra)
    return config


def _profile_dev(settings: NodeSettings, config: dict[str, YamlValue]) -> None:
    """Plain local node: no auth, no TLS, default guardrails."""


# Table options Astra DB accepts but ignores (with a client warning).  Astra's list also
# names nodesync and the dse_* graph labels, which Apache refuses to start with because they
# are not table properties at all.
ASTRA_IGNORED_TABLE_PROPERTIES: tuple[str, ...] = (
    "additional_write_policy",
    "bloom_filter_fp_chance",
    "caching",
    "cdc",
    "compaction",
    "compression",
    "crc_check_chance",
    "gc_grace_seconds",
    "id",
    "max_index_interval",
    "memtable",
    "memtable_flush_period_in_ms",
    "min_index_interval",
    "read_repair",
    "speculative_retry",
)


def _profile_astra(settings: NodeSettings, config: dict[str, YamlValue]) -> None:
    """Astra DB's server side, as far as Apache Cassandra 5.0 can express it.

    Guardrails skip superusers (and everyone is a superuser without authentication), so
    authentication and authorization come first; the guardrail values follow Astra's DBaaS
    defaults (reference/astra_and_tools.md, 1.3 and 1.4).  CREATE/ALTER KEYSPACE are left
    to permissions: the application role is simply never granted them.
    """
    tls = settings.client_tls
    if tls is None:  # validate() reports it; kept for the type checker
        raise _usage_error("the astra profile needs NodeSettings.client_tls")
    config.update(
        {
            "authenticator": {"class_name": "org.apache.cassandra.auth.PasswordAuthenticator"},
            "authorizer": "CassandraAuthorizer",
            "role_manager": "CassandraRoleManager",
            "client_encryption_options": {
                "enabled": True,
                "optional": False,
                "require_client_auth": True,
                "ssl_context_factory": {
                    "class_name": "org.apache.cassandra.security.PEMBasedSslContextFactory"
                },
                "keystore": str(tls.node_pem),
                "truststore": str(tls.ca_file),
            },
            # Writes
            "write_consistency_levels_disallowed": ["ANY", "ONE", "LOCAL_ONE"],
            "read_consistency_levels_disallowed": [],
            # Apache's 5/50 KiB defaults are stricter than Astra: left alone, local tests
            # would reject batches Astra accepts.
            "batch_size_warn_threshold": "64KiB",
            "batch_size_fail_threshold": "640KiB",
            "unlogged_batch_across_partitions_warn_threshold": 10,
            "read_before_write_list_operations_enabled": False,
            "column_value_size_fail_threshold": "5MiB",
            "collection_size_warn_threshold": "5MiB",
            "items_per_collection_warn_threshold": 20,
            # Schema.  Astra fixes compaction to UCS; the `compaction` option is ignored.
            "default_compaction": {"class_name": "UnifiedCompactionStrategy", "parameters": {}},
            "table_properties_ignored": list(ASTRA_IGNORED_TABLE_PROPERTIES),
            "drop_keyspace_enabled": False,
            "simplestrategy_enabled": False,
            "materialized_views_enabled": False,
            "user_defined_functions_enabled": False,
            "sasi_indexes_enabled": False,
            "default_secondary_index": "sai",
            "secondary_indexes_per_table_fail_threshold": 10,
            "tables_warn_threshold": 100,
            "tables_fail_threshold": 200,
            "columns_per_table_fail_threshold": 50,
            "fields_per_udt_fail_threshold": 10,
            # Reads
            "partition_keys_in_select_fail_threshold": 20,
            "in_select_cartesian_product_fail_threshold": 25,
            "partition_size_warn_threshold": "100MiB",
            "tombstone_warn_threshold": 1000,
            "tombstone_failure_threshold": 100000,
        }
    )


# Profile name -> function mutating the base config.
_PROFILES: dict[str, Callable[[NodeSettings, dict[str, YamlValue]], None]] = {
    "dev": _profile_dev,
    "astra": _profile_astra,
}


def render_cassandra_yaml(settings: NodeSettings) -> str:
    """Serialise :func:`cassandra_yaml_config`.  Values are written in JSON syntax, which
    is valid YAML flow style, so quoting is always right without a YAML library."""
    lines = ["# Generated by tools/cassandra_local.py; rewritten on every start."]
    for key, value in cassandra_yaml_config(settings).items():
        lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


_LOGBACK_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by tools/cassandra_local.py: everything goes to stdout (logs/stdout.log). -->
<configuration scan="false">
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <logger name="org.apache.cassandra" level="INFO"/>
  <logger name="com.thinkaurelius.thrift" level="ERROR"/>
  <root level="INFO">
    <appender-ref ref="STDOUT"/>
  </root>
</configuration>
"""


def _write_config(settings: NodeSettings) -> None:
    node = settings.node_dir
    for sub in ("conf", "logs", "triggers", "data/data", "data/commitlog"):
        (node / sub).mkdir(parents=True, exist_ok=True)
    (node / _NODE_MARKER).touch()
    _write_atomic(settings.yaml_path, render_cassandra_yaml(settings))
    _write_atomic(settings.conf_dir / "logback.xml", _LOGBACK_XML)


# JPMS flags Cassandra needs on Java 11+ (from the 5.0 tarball's jvm17-server.options).
_JPMS_OPTIONS: tuple[str, ...] = (
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
)


def java_command(settings: NodeSettings, java: JavaInfo) -> list[str]:
    """The full ``java ... CassandraDaemon`` command line for this node."""
    node = settings.node_dir
    logs = settings.log_dir
    opts: list[str] = [
        str(java.executable),
        f"-Xms{settings.heap}",
        f"-Xmx{settings.heap}",
        "-XX:+UseG1GC",
        "-XX:+ParallelRefProcEnabled",
        "-XX:MaxGCPauseMillis=300",
        "-Xss256k",
        "-XX:+UseThreadPriorities",
        "-XX:+PerfDisableSharedMem",
        "-XX:+ExitOnOutOfMemoryError",
        f"-XX:ErrorFile={logs}/hs_err_pid%p.log",
        "-ea",
        "-da:net.openhft...",
        "-Djava.net.preferIPv4Stack=true",
        "-Dcassandra-foreground=yes",
        f"-Dcassandra.config=file://{settings.yaml_path}",
        f"-Dlogback.configurationFile=file://{settings.conf_dir / 'logback.xml'}",
        f"-Dcassandra.storagedir={node / 'data'}",
        f"-Dcassandra.logdir={logs}",
        f"-Dcassandra.triggers_dir={node / 'triggers'}",
        "-Dcassandra.superuser_setup_delay_ms=0",
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-Dcassandra.ring_delay_ms=100",
        "-Dio.netty.tryReflectionSetAccessible=true",
        "-Dio.netty.allocator.useCacheForAllThreads=true",
        "-Dio.netty.allocator.maxOrder=11",
    ]
    if java.major >= 9:
        opts.append(f"-Xlog:gc:file={logs}/gc.log:time,uptime:filecount=3,filesize=10M")
        opts.extend(_JPMS_OPTIONS)
    if java.major >= 18:
        opts.append("-Djava.security.manager=allow")
    if settings.jmx_port is not None:
        opts.extend(
            [
                f"-Dcassandra.jmx.local.port={settings.jmx_port}",
                "-Djava.rmi.server.hostname=127.0.0.1",
            ]
        )
    opts.extend(settings.extra_jvm_options)
    classpath = f"{settings.conf_dir}{os.pathsep}{settings.lib_dir}/*"
    opts.extend(["-cp", classpath, _DAEMON_CLASS])
    return opts


# --------------------------------------------------------------------------------------
# nodetool and the node's control scripts (what a backup tool such as medusa drives)
# --------------------------------------------------------------------------------------

_NODETOOL_CLASS = "org.apache.cassandra.tools.NodeTool"

_LOGBACK_TOOLS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by tools/cassandra_local.py: nodetool's own messages, warnings only, on stderr. -->
<configuration scan="false">
  <appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%-5level %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="STDERR"/></root>
</configuration>
"""

# Arguments starting with -D go to the JVM, as Cassandra's own nodetool script does: medusa
# passes -Dcom.sun.jndi.rmiURLParsing=legacy that way. Without -p the node's JMX port is used.
_NODETOOL_SCRIPT = """#!/bin/bash
# Generated by tools/cassandra_local.py: nodetool of the node in {node}, from the same
# Cassandra jars, talking JMX to 127.0.0.1:{jmx_port} unless -p is given.
jvm=()
args=()
port_given=
for arg in "$@"; do
  case "$arg" in
    -D*) jvm+=("$arg") ;;
    -p|--port|-p=*|--port=*) port_given=1; args+=("$arg") ;;
    *) args+=("$arg") ;;
  esac
done
if [ -z "$port_given" ]; then
  args=(-p {jmx_port} "${{args[@]}}")
fi
exec {java} -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 {jpms} \\
  -Dcassandra.storagedir={data} -Dlogback.configurationFile=file://{logback} \\
  "${{jvm[@]}}" -cp '{classpath}' {main_class} "${{args[@]}}"
"""

_CONTROL_SCRIPT = """#!/bin/sh
# Generated by tools/cassandra_local.py: {what} the node in {node} (daemonized: returns
# {when}).
{before}exec {command}
"""


def _own_control_commands(settings: NodeSettings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """This tool's ``start`` and ``stop`` for this node, with the options that shape it."""
    options: list[str] = [
        "--port",
        str(settings.port),
        "--data-dir",
        str(settings.node_dir),
        "--heap",
        settings.heap,
        "--version",
        settings.version,
        "--storage-port",
        str(settings.effective_storage_port),
        "--commitlog-sync",
        settings.yaml.commitlog_sync,
        "--profile",
        settings.yaml.profile,
        "--cache-dir",
        str(settings.cache_root),
    ]
    if settings.jmx_port is not None:
        options += ["--jmx-port", str(settings.jmx_port)]
    if settings.java_home is not None:
        options += ["--java-home", str(settings.java_home)]
    if settings.client_tls is not None:
        options += ["--tls-dir", str(settings.client_tls.ca_file.parent)]
    if settings.username is not None and settings.password is not None:
        options += ["--user", settings.username, "--password", settings.password]
    tool = (sys.executable, str(Path(__file__).resolve()))
    return (*tool, "start", *options, "-q"), (*tool, "stop", *options, "-q")


def write_control_scripts(settings: NodeSettings, java: JavaInfo) -> None:
    """Write ``bin/nodetool`` (JMX on 127.0.0.1 at the node's JMX port), ``bin/start`` and
    ``bin/stop`` into the node directory. ``bin/stop`` drains the node first, so that the
    memtables are flushed before a restore empties the commit log."""
    if settings.jmx_port is None:
        raise _usage_error("nodetool needs a JMX port (--jmx-port)")
    bin_dir = settings.bin_dir
    bin_dir.mkdir(parents=True, exist_ok=True)
    logback = settings.conf_dir / "logback-tools.xml"
    _write_atomic(logback, _LOGBACK_TOOLS_XML)
    nodetool = _NODETOOL_SCRIPT.format(
        node=settings.node_dir,
        jmx_port=settings.jmx_port,
        java=java.executable,
        jpms=" ".join(_JPMS_OPTIONS) if java.major >= 9 else "",
        data=settings.node_dir / "data",
        logback=logback,
        classpath=f"{settings.conf_dir}{os.pathsep}{settings.lib_dir}/*",
        main_class=_NODETOOL_CLASS,
    )
    start, stop = settings.control_commands or _own_control_commands(settings)
    scripts = {
        "nodetool": nodetool,
        "start": _CONTROL_SCRIPT.format(
            what="start",
            node=settings.node_dir,
            when="once it answers CQL",
            before="",
            command=" ".join(shlex.quote(word) for word in start),
        ),
        "stop": _CONTROL_SCRIPT.format(
            what="drain and stop",
            node=settings.node_dir,
            when="once it is gone",
            before=f"{shlex.quote(str(bin_dir / 'nodetool'))} drain >/dev/null 2>&1\n",
            command=" ".join(shlex.quote(word) for word in stop),
        ),
    }
    for name, text in scripts.items():
        _write_atomic(bin_dir / name, text)
        (bin_dir / name).chmod(0o755)


def backup_node_facts(settings: NodeSettings) -> dict[str, str | int]:
    """One node as a backup configuration names it (``backup.<store>.nodes[]``): its address,
    cassandra.yaml, nodetool launcher, JMX port and control scripts."""
    if settings.jmx_port is None:
        raise _usage_error("a node for backups needs a JMX port (--jmx-port)")
    return {
        "address": settings.host,
        "cassandraYaml": str(settings.yaml_path),
        "nodetool": str(settings.bin_dir / "nodetool"),
        "jmxPort": settings.jmx_port,
        "startCmd": str(settings.bin_dir / "start"),
        "stopCmd": str(settings.bin_dir / "stop"),
    }


# --------------------------------------------------------------------------------------
# Start / wait / stop
# --------------------------------------------------------------------------------------

# Runs in a short-lived intermediate Python process so the JVM is re-parented to init
# (PID 1 reaps it): the caller never owns a child to wait for and gets no "subprocess
# still running" ResourceWarning (matters inside pytest with -W error).
# Unless memory locking is wanted, it also drops CAP_IPC_LOCK from the capability
# bounding set and lowers RLIMIT_MEMLOCK, so Cassandra's mlockall() fails harmlessly
# instead of faulting in the whole heap (which costs seconds and ~1 GB RSS as root).
_LAUNCHER = r"""
import ctypes, json, os, resource, subprocess, sys
spec = json.loads(sys.argv[1])
if not spec["lock_memory"]:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(24, 14, 0, 0, 0)
    except Exception:
        pass
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        low = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (low, hard))
    except Exception:
        pass
if spec["cgroup_procs"]:
    with open(spec["cgroup_procs"], "w") as procs:
        procs.write(str(os.getpid()))
with open(spec["log"], "ab", buffering=0) as log:
    proc = subprocess.Popen(
        spec["cmd"], cwd=spec["cwd"], stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
    )
sys.stdout.write(str(proc.pid))
sys.stdout.flush()
os._exit(0)
"""


def _spawn_detached(settings: NodeSettings, cmd: list[str]) -> int:
    env = dict(os.environ)
    env.setdefault("MALLOC_ARENA_MAX", "4")
    env.pop("JAVA_TOOL_OPTIONS", None)
    env.pop("_JAVA_OPTIONS", None)
    spec = {
        "cmd": cmd,
        "cwd": str(settings.node_dir),
        "log": str(settings.stdout_log),
        "lock_memory": settings.lock_memory,
        "cgroup_procs": str(settings.cgroup_procs) if settings.cgroup_procs else None,
    }
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip().isdigit():
        raise CassandraLocalError(
            f"could not launch java (launcher exit code {proc.returncode})",
            details=proc.stderr[-4000:],
        )
    return int(proc.stdout.strip())


def _rotate_log(path: Path) -> None:
    if path.exists():
        os.replace(path, path.with_name(path.name + ".1"))


def _kill_group(pid: int, sig: signal.Signals) -> None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    try:
        if pgid == pid:
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _terminate(
    pids: Sequence[int],
    stop_timeout: float,
    force: bool,
    out: _Out,
    port: int | None = None,
    host: str = HOST,
) -> None:
    if not pids:
        return
    start = time.monotonic()
    first = signal.SIGKILL if force else signal.SIGTERM
    for pid in pids:
        _kill_group(pid, first)
    deadline = start + stop_timeout
    next_note = start + _PROGRESS_EVERY
    while any(_pid_alive(p) for p in pids):
        now = time.monotonic()
        if now >= deadline:
            out.progress(f"still running after {stop_timeout:.0f}s; sending SIGKILL")
            for pid in pids:
                _kill_group(pid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 15
            while any(_pid_alive(p) for p in pids) and time.monotonic() < kill_deadline:
                time.sleep(0.1)
            break
        if now >= next_note:
            out.progress(f"waiting for shutdown: {now - start:.0f}s")
            next_note = now + _PROGRESS_EVERY
        time.sleep(0.1)
    alive = [p for p in pids if _pid_alive(p)]
    if alive:
        raise CassandraLocalError(f"could not stop pid(s) {alive}")
    port_deadline = time.monotonic() + 10
    while port is not None and _tcp_open(port, 0.2, host) and time.monotonic() < port_deadline:
        time.sleep(0.1)


def _wait_ready(settings: NodeSettings, pid: int, out: _Out, start: float) -> str:
    deadline = start + settings.timeout
    next_note = start + _PROGRESS_EVERY
    while True:
        if not _pid_alive(pid):
            raise CassandraLocalError(
                f"Cassandra exited during startup (log: {settings.stdout_log})",
                details=_tail(settings.stdout_log),
            )
        if _tcp_open(settings.port, timeout=1.0, host=settings.host):
            version = _probe(settings, timeout=5.0)
            if version is not None:
                return version
        now = time.monotonic()
        if now >= deadline:
            raise CassandraLocalError(
                f"Cassandra did not answer CQL on {settings.address} within "
                f"{settings.timeout:.0f}s (log: {settings.stdout_log})",
                details=_tail(settings.stdout_log),
            )
        if now >= next_note:
            phase = _last_log_message(settings.stdout_log)
            out.progress(f"waiting for CQL on {settings.address}: {now - start:.0f}s  {phase}")
            next_note = now + _PROGRESS_EVERY
        time.sleep(0.25)


def _node_lock_path(settings: NodeSettings) -> Path:
    node = settings.node_dir
    return node.parent / f".{node.name}.lock"


def _wipe_node_dir(settings: NodeSettings, out: _Out) -> None:
    node = settings.node_dir
    if not node.exists():
        return
    if not (node / _NODE_MARKER).exists() and any(node.iterdir()):
        raise _usage_error(
            f"refusing to wipe {node}: it is not empty and was not created by this tool"
        )
    out.info(f"wiping {node}")
    shutil.rmtree(node)


def start_node(
    settings: NodeSettings | None = None, *, clean: bool = False, out: _Out | None = None
) -> NodeInfo:
    """Start the node (fetching Cassandra first if needed) and wait until it answers CQL.

    Idempotent: if a node already answers CQL on the port, returns immediately with
    ``already_running=True`` (with ``clean=True`` a node of ours is stopped and wiped
    first).  Concurrent callers (e.g. pytest-xdist workers) serialise on a lock file.
    Raises :class:`CassandraLocalError` on failure; a node it started that then failed
    to become ready is killed again.
    """
    settings = settings or NodeSettings()
    out = out or _Out(settings.quiet)
    settings.validate()
    lock_timeout = settings.timeout * 5 + settings.stop_timeout
    with _file_lock(_node_lock_path(settings), lock_timeout, out, "starting the node"):
        ours = _find_daemon_pids(settings)
        if clean and ours:
            out.info(f"stopping running node (pid {', '.join(map(str, ours))}) before --clean")
            _terminate(
                ours,
                settings.stop_timeout,
                force=True,
                out=out,
                port=settings.port,
                host=settings.host,
            )
            ours = []
        version = _probe(settings)
        if version is not None:
            if clean:
                raise _usage_error(
                    f"--clean: a node answers on {settings.address} but it is not the one in "
                    f"{settings.node_dir}; stop it first"
                )
            pid = ours[0] if ours else None
            out.info(f"Cassandra {version} already answering on {settings.address}")
            return NodeInfo(
                settings.host, settings.port, pid, version, True, None, settings.node_dir
            )
        if ours:
            # Our daemon is alive but not answering: probably still starting (another
            # process was interrupted while waiting). Wait for it instead of starting twice.
            pid = ours[0]
            out.progress(f"node pid {pid} is running but not ready yet; waiting")
            start = time.monotonic()
            version = _wait_ready(settings, pid, out, start)
            return NodeInfo(
                settings.host, settings.port, pid, version, True, None, settings.node_dir
            )

        java = find_java(settings, out)
        if clean:
            _wipe_node_dir(settings, out)
        fetch_distribution(settings, out)
        if not _port_free(settings.port, settings.host):
            raise _usage_error(
                f"port {settings.port} is in use by something that does not answer CQL; "
                f"choose another with --port"
            )
        for name, port in (
            ("storage", settings.effective_storage_port),
            ("JMX", settings.jmx_port),
        ):
            if port is not None and not _port_free(port, settings.host):
                raise _usage_error(
                    f"{name} port {port} is in use (another Cassandra?); "
                    f"choose another with --{name.lower()}-port"
                )

        _write_config(settings)
        if settings.jmx_port is not None:
            write_control_scripts(settings, java)
        _rotate_log(settings.stdout_log)
        cmd = java_command(settings, java)
        out.info(
            f"starting Cassandra {settings.version} on {settings.address} with Java "
            f"{java.version} (heap {settings.heap}, data {settings.node_dir})"
        )
        start = time.monotonic()
        pid = _spawn_detached(settings, cmd)
        _write_atomic(settings.pid_file, f"{pid}\n")
        try:
            version = _wait_ready(settings, pid, out, start)
        except BaseException:
            with contextlib.suppress(Exception):
                _terminate([pid], 10.0, force=True, out=out, port=settings.port, host=settings.host)
            with contextlib.suppress(OSError):
                settings.pid_file.unlink()
            raise
        elapsed = time.monotonic() - start
        out.info(
            f"Cassandra {version} ready on {settings.address} in {elapsed:.1f}s (pid {pid}, "
            f"log {settings.stdout_log})"
        )
        return NodeInfo(
            settings.host, settings.port, pid, version, False, elapsed, settings.node_dir
        )


def ensure_node(settings: NodeSettings | None = None, *, clean: bool = False) -> str:
    """Make sure a node answers CQL; returns ``"127.0.0.1:<port>"``.  See :func:`start_node`."""
    return start_node(settings, clean=clean).address


def stop_node(settings: NodeSettings | None = None, *, force: bool = False) -> bool:
    """Stop this node (SIGTERM to its process group, SIGKILL after ``stop_timeout``;
    ``force=True`` kills at once).  Returns True if a process was stopped.  A foreign
    process answering on the port is left alone."""
    settings = settings or NodeSettings()
    out = _Out(settings.quiet)
    settings.validate()
    pids = _find_daemon_pids(settings)
    if not pids:
        with contextlib.suppress(OSError):
            settings.pid_file.unlink()
        if _tcp_open(settings.port, timeout=0.5, host=settings.host):
            out.progress(
                f"something listens on {settings.address}, but no node with data dir "
                f"{settings.node_dir} is running; leaving it alone"
            )
        else:
            out.info(f"no node running for {settings.node_dir}")
        return False
    start = time.monotonic()
    out.info(f"stopping Cassandra pid {', '.join(map(str, pids))} on {settings.address}")
    _terminate(
        pids, settings.stop_timeout, force=force, out=out, port=settings.port, host=settings.host
    )
    with contextlib.suppress(OSError):
        settings.pid_file.unlink()
    out.info(f"stopped in {time.monotonic() - start:.1f}s")
    return True


def node_status(settings: NodeSettings | None = None) -> NodeStatus:
    settings = settings or NodeSettings()
    settings.validate()
    pids = _find_daemon_pids(settings)
    version = _probe(settings, timeout=2.0)
    return NodeStatus(
        running=bool(pids),
        pid=pids[0] if pids else None,
        port=settings.port,
        answering=version is not None,
        release_version=version,
        data_dir=settings.node_dir,
    )


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


class _ArgParser(argparse.ArgumentParser):
    def error(self, message: str) -> Never:  # one line, exit 2
        self.exit(EXIT_USAGE, f"{_PREFIX} error: {message} (see --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    common = _ArgParser(add_help=False)
    common.add_argument("--port", type=int, help="CQL native port (default 9042)")
    common.add_argument("--data-dir", type=Path, help="node directory (config, data, logs)")
    common.add_argument("--heap", help="JVM heap, e.g. 512M or 1G (default 1G)")
    common.add_argument(
        "--version", dest="cassandra_version", help=f"Cassandra version (default {DEFAULT_VERSION})"
    )
    common.add_argument("--timeout", type=float, help="startup timeout in seconds (default 240)")
    common.add_argument("--stop-timeout", type=float, help="SIGTERM grace period (default 60)")
    common.add_argument("--cache-dir", type=Path, help="cache root for downloads and nodes")
    common.add_argument("--java-home", type=Path, help="JDK to run Cassandra with")
    common.add_argument("--storage-port", type=int, help="internode port (default derived)")
    common.add_argument("--jmx-port", type=int, help="enable local JMX (nodetool) on this port")
    common.add_argument(
        "--lock-memory", action="store_true", help="let Cassandra mlockall() its memory"
    )
    common.add_argument(
        "--profile",
        choices=sorted(_PROFILES),
        help="dev (default): no auth, no TLS; astra: auth, client TLS, Astra's guardrails",
    )
    common.add_argument(
        "--tls-dir",
        type=Path,
        help="client TLS files (ca.crt, node.pem, client.crt, client.key); TLS is then required",
    )
    common.add_argument(
        "--commitlog-sync",
        choices=COMMITLOG_SYNC_MODES,
        help="commit log mode (default periodic; group or batch for crash tests on one node)",
    )
    common.add_argument("--user", help="role the readiness probe logs in as (auth profiles)")
    common.add_argument("--password", help="password of --user")
    common.add_argument("-q", "--quiet", action="store_true", help="fewer messages")

    parser = _ArgParser(
        prog="cassandra_local.py",
        description="Fetch (from Maven Central), start, probe and stop a local Cassandra node.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_ArgParser)
    sub.add_parser("fetch", parents=[common], help="download/assemble Cassandra into the cache")
    for name, text in (
        ("start", "start the node and wait until it answers CQL"),
        ("ensure", "start unless running; print host:port as the last line"),
    ):
        cmd = sub.add_parser(name, parents=[common], help=text)
        cmd.add_argument("--clean", action="store_true", help="wipe the node directory first")
    stop = sub.add_parser("stop", parents=[common], help="stop the node")
    stop.add_argument("--force", action="store_true", help="SIGKILL without waiting")
    sub.add_parser("status", parents=[common], help="report whether the node is running")
    sub.add_parser(
        "backup-node",
        parents=[common],
        help="write bin/nodetool, bin/start, bin/stop (needs --jmx-port) and print the node "
        "as a backup configuration names it (JSON)",
    )
    return parser


def _settings_from_args(args: argparse.Namespace) -> NodeSettings:
    env = NodeSettings()  # defaults from the environment; options win
    return NodeSettings(
        port=env.port if args.port is None else args.port,
        version=args.cassandra_version or env.version,
        data_dir=env.data_dir if args.data_dir is None else args.data_dir,
        cache_dir=args.cache_dir,
        heap=args.heap or env.heap,
        timeout=env.timeout if args.timeout is None else args.timeout,
        stop_timeout=env.stop_timeout if args.stop_timeout is None else args.stop_timeout,
        java_home=env.java_home if args.java_home is None else args.java_home,
        storage_port=args.storage_port,
        jmx_port=args.jmx_port,
        lock_memory=bool(args.lock_memory),
        quiet=bool(args.quiet) or args.command == "ensure",
        # The astra profile's built-in superuser, which exists as soon as auth is set up.
        username=args.user or ("cassandra" if args.profile == "astra" else None),
        password=args.password or ("cassandra" if args.profile == "astra" else None),
        yaml=YamlSettings(
            profile=args.profile or "dev", commitlog_sync=args.commitlog_sync or "periodic"
        ),
        client_tls=ClientTls.from_dir(args.tls_dir) if args.tls_dir is not None else None,
    )


def _run(args: argparse.Namespace) -> int:
    settings = _settings_from_args(args)
    settings.validate()
    if args.command == "fetch":
        start = time.monotonic()
        dist = fetch_distribution(settings)
        _Out(settings.quiet).info(f"distribution ready ({time.monotonic() - start:.1f}s)")
        print(dist)
        return EXIT_OK
    if args.command in ("start", "ensure"):
        info = start_node(settings, clean=bool(args.clean))
        if args.command == "ensure":
            print(info.address)
        elif info.already_running:
            print(f"already running: {info.address} (Cassandra {info.release_version})")
        else:
            print(
                f"started: {info.address} Cassandra {info.release_version} "
                f"pid {info.pid} in {info.startup_seconds:.1f}s"
            )
        return EXIT_OK
    if args.command == "stop":
        stop_node(settings, force=bool(args.force))
        return EXIT_OK
    if args.command == "backup-node":
        write_control_scripts(settings, find_java(settings))
        print(json.dumps(backup_node_facts(settings)))
        return EXIT_OK
    status = node_status(settings)
    if status.running or status.answering:
        print(
            f"running: pid {status.pid if status.pid is not None else '?'} port {status.port} "
            f"answering={'yes' if status.answering else 'no'} "
            f"version {status.release_version or '?'} data {status.data_dir}"
        )
        return EXIT_OK
    print(f"not running: port {status.port} data {status.data_dir}")
    return EXIT_NOT_RUNNING


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["cluster"]:  # the multi-node tool, next to this file
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import cassandra_cluster

        return cassandra_cluster.main(words[1:])
    args = _build_parser().parse_args(words)
    return run_command(lambda: _run(args), _PREFIX)


def run_command(run: Callable[[], int], prefix: str) -> int:
    """Run a command's body: its errors as one line (details first), Ctrl-C as exit 130."""
    # Treat SIGTERM/SIGHUP like Ctrl-C so an interrupted `start` kills the half-started node.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)
    try:
        return run()
    except CassandraLocalError as exc:
        if exc.details:
            print(exc.details, file=sys.stderr)
        print(f"{prefix} error: {exc.message}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prefix} interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
