"""Issue 14, items 1, 2 and 7: Ctrl-C stops every long-running command on every backend
within a second, exit 130, leaving nothing behind (a bench's temporary store) and saying what
it kept (a workload's partial report, a copy's saved progress).

Each test runs the real command in a subprocess (a signal needs a process of its own) on a
small store, waits for the command to show it is at work, then sends SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from persistence_cassandra.config import parse_config
from persistence_cassandra.factory import OpenOptions, open_persistence

STOP_WITHIN = 1.0
"""Seconds from SIGINT to exit that the issue allows."""
START_TIMEOUT = 90.0
"""Seconds a command may take to show it is at work (a Cassandra schema takes a while)."""

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("cassandra", id="cassandra", marks=pytest.mark.cassandra),
]


def _postgres_store() -> Iterator[dict[str, Any]]:
    from persistence_cassandra.testing.targets import postgres_admin, postgres_connect_params

    params = postgres_connect_params()
    database = f"pc_sigint_{uuid.uuid4().hex[:10]}"
    asyncio.run(postgres_admin(params, "CREATE DATABASE {}", database))
    sql: dict[str, Any] = {
        "pluginName": "postgres",
        "databaseName": database,
        "connectAddr": f"{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}",
    }
    for key in ("user", "password"):
        if params.get(key):
            sql[key] = params[key]
    try:
        yield {"sql": sql}
    finally:
        asyncio.run(postgres_admin(params, "DROP DATABASE IF EXISTS {} WITH (FORCE)", database))


def _cassandra_store() -> Iterator[dict[str, Any]]:
    from persistence_cassandra.testing.targets import cassandra_hosts, drop_keyspace

    hosts, port = cassandra_hosts()
    keyspace = f"pc_sigint_{uuid.uuid4().hex[:10]}"
    try:
        yield {"cassandra": {"hosts": ",".join(hosts), "port": port, "keyspace": keyspace}}
    finally:
        drop_keyspace(hosts, port, keyspace)


@pytest.fixture(scope="module", params=BACKENDS)
def store(request, tmp_path_factory) -> Iterator[tuple[str, dict[str, Any]]]:
    """One datastore per backend for the whole module, its schema created once."""
    backend = request.param
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("sigint") / "store.db"
        stores: Iterator[dict[str, Any]] = iter(
            [{"sql": {"pluginName": "sqlite", "databaseName": str(path)}}]
        )
    else:
        stores = _postgres_store() if backend == "postgres" else _cassandra_store()
    datastore = next(stores)
    config = parse_config({"defaultStore": "s", "datastores": {"s": datastore}})

    async def create_schema() -> None:
        opened = await open_persistence(config, options=OpenOptions(create_schema=True))
        await opened.close()

    asyncio.run(create_schema())
    yield backend, datastore
    for _ in stores:  # runs the generator's cleanup
        pass


def write_config(path: Path, datastores: dict[str, Any], default: str) -> Path:
    path.write_text(
        yaml.safe_dump({"persistence": {"defaultStore": default, "datastores": datastores}})
    )
    return path


def _interruptible() -> None:
    """In the child, before Python starts: SIGINT as a terminal gives it. A shell runs its
    background jobs with SIGINT ignored (no job control), and a Python started so keeps it
    ignored: a suite started as ``.ci/run &`` would then see every interrupt fail."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(
    args: list[str], ready: str | float, tmp_path: Path, sig: signal.Signals = signal.SIGINT
) -> tuple[int, str, str, float]:
    """Run the CLI with ``args``, send ``sig`` once ``ready`` appears on stderr (or after
    ``ready`` seconds), and return (exit status, stdout, stderr, seconds from the signal to
    the exit)."""
    env = dict(os.environ, PC_DATA_DIR=str(tmp_path / "data"), TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir(exist_ok=True)
    command = [sys.executable, "-m", "persistence_cassandra", *args]
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr_file:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            text=True,
            preexec_fn=_interruptible,
        )
        started = time.monotonic()
        deadline = started + START_TIMEOUT

        def waiting() -> bool:
            if isinstance(ready, float):
                return time.monotonic() - started < ready
            return ready not in stderr_path.read_text()

        while waiting():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                out, _ = process.communicate()
                pytest.fail(f"never showed {ready!r}: {out}\n{stderr_path.read_text()}")
            time.sleep(0.05)
        process.send_signal(sig)
        sent = time.monotonic()
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
            pytest.fail(f"still running 30 s after SIGINT:\n{stderr_path.read_text()}")
        elapsed = time.monotonic() - sent
    return process.returncode, out, stderr_path.read_text(), elapsed


def last_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[-1]


def test_workload(store, tmp_path):
    _, datastore = store
    config = write_config(tmp_path / "c.yaml", {"s": datastore}, "s")
    code, out, err, elapsed = interrupt(
        ["--config", str(config), "workload", "--workflows", "100000", "--concurrency", "8"],
        "workload: ",
        tmp_path,
    )
    assert code == 130, err
    assert elapsed < STOP_WITHIN, err
    line = last_error(err)
    assert "workload interrupted" in line
    assert "the store is consistent" in line
    # The partial report went to stdout, with the operation table.
    assert "INTERRUPTED" in out
    assert "shard.get_or_create_shard" in out


def test_bench(store, tmp_path):
    backend, datastore = store
    config = write_config(tmp_path / "c.yaml", {"s": datastore}, "s")
    args = ["bench", "--quick", "--no-history", "--concurrency", "1,8"]
    # On SQLite, bench without --config measures a temporary copy of the embedded settings.
    if backend != "sqlite":
        args = ["--config", str(config), *args]
    code, _, err, elapsed = interrupt(args, "warming up", tmp_path)
    assert code == 130, err
    assert elapsed < STOP_WITHIN, err
    assert last_error(err) == "error: interrupted"
    assert list((tmp_path / "tmp").iterdir()) == []  # its temporary store is gone


def test_copy(store, tmp_path):
    _, datastore = store
    source = tmp_path / "source.db"
    sqlite = {"sql": {"pluginName": "sqlite", "databaseName": str(source)}}
    config = write_config(tmp_path / "c.yaml", {"src": sqlite, "dst": datastore}, "src")
    filled = subprocess.run(
        [
            sys.executable,
            "-m",
            "persistence_cassandra",
            "--config",
            str(config),
            "workload",
            "--workflows",
            "40",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert filled.returncode == 0, filled.stderr
    args = [
        "--config",
        str(config),
        "copy",
        "--from",
        "src",
        "--to",
        "dst",
        "--force",
        "--page-size",
        "1",
        "--concurrency",
        "1",
    ]
    code, _, err, elapsed = interrupt(args, "copy: copying", tmp_path)
    assert code == 130, err
    assert elapsed < STOP_WITHIN, err
    line = last_error(err)
    assert "progress is saved in" in line
    assert "run the same command again to resume" in line


def test_bench_stopped_by_sigterm_removes_its_temporary_store(tmp_path):
    args = ["bench", "--quick", "--no-history", "--concurrency", "1,8"]
    code, _, err, elapsed = interrupt(args, "warming up", tmp_path, signal.SIGTERM)
    assert code == 130, err
    assert elapsed < STOP_WITHIN, err
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.fixture
def silent_server():
    """A port that accepts connections and never answers (a hung server, a black hole)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # the kernel completes handshakes; nobody ever reads or writes
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.parametrize("backend", ["cassandra", "postgres"])
def test_doctor_connecting_to_a_silent_server(tmp_path, silent_server, backend):
    if backend == "cassandra":
        store = {"cassandra": {"hosts": "127.0.0.1", "port": silent_server, "connectTimeout": 20}}
    else:
        store = {
            "sql": {
                "pluginName": "postgres",
                "databaseName": "x",
                "connectAddr": f"127.0.0.1:{silent_server}",
                "connectAttributes": {"connect_timeout": "20"},
            }
        }
    config = write_config(tmp_path / "c.yaml", {"s": store}, "s")
    # The connect blocks in a driver thread: SIGINT must not wait for its 20 s timeout.
    code, _, err, elapsed = interrupt(["--config", str(config), "doctor"], 1.5, tmp_path)
    assert code == 130, err
    assert elapsed < STOP_WITHIN, (elapsed, err)
    assert last_error(err) == "error: interrupted"
