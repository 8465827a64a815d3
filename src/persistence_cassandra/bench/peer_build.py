"""Building the Temporal peer (``bench/peer_temporal_go/``, a Go program) on first use.

The Go sources ship as package data. They are copied into a cache directory outside the
clone, ``~/.cache/persistence-cassandra/peer-temporal-go/<key>/`` (``$XDG_CACHE_HOME`` is
honoured, ``PC_PEER_CACHE`` overrides the whole path), keyed by a hash of the sources and of
the Go version, and built there with ``go build``; a later run with the same sources and Go
finds the binary and builds nothing. ``-mod=readonly`` makes the committed ``go.sum`` the
whole truth: a build never rewrites it, so what runs is what was reviewed.

Every failure is a :class:`PeerUnavailable` with one line saying what to do: no Go on
``PATH``, or a failed build (with where its log is).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from persistence_cassandra.errors import UserFacingError

__all__ = [
    "TEMPORAL_MODULE",
    "PeerBuild",
    "PeerUnavailable",
    "build_peer",
    "find_go",
    "peer_cache_root",
    "peer_sources",
    "temporal_schema_dir",
]

TEMPORAL_MODULE = "go.temporal.io/server"
BINARY = "peer-temporal-go"
GO_HINT = "install Go 1.26.4 or newer (https://go.dev/dl/) and put `go` on PATH"


class PeerUnavailable(UserFacingError):
    """The peer cannot run here (no Go, a failed build, a datastore it cannot use)."""


@dataclass(frozen=True, slots=True)
class PeerBuild:
    binary: Path
    source_dir: Path
    """The built copy of the sources (its ``go.mod`` pins Temporal's release)."""
    go: str
    go_version: str
    cached: bool
    """The binary was already there: nothing was built."""
    seconds: float


def peer_sources() -> Traversable:
    """The shipped Go sources (``go.mod``, ``go.sum``, ``*.go``)."""
    return files("persistence_cassandra.bench").joinpath("peer_temporal_go")


def peer_cache_root() -> Path:
    override = os.environ.get("PC_PEER_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "persistence-cassandra" / "peer-temporal-go"


def find_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise PeerUnavailable(
            f"bench --peer temporal-go needs Go, and `go` is not on PATH: {GO_HINT}"
        )
    return go


def _source_files(sources: Traversable) -> dict[str, bytes]:
    found = {
        entry.name: entry.read_bytes()
        for entry in sources.iterdir()
        if entry.is_file() and (entry.name.endswith(".go") or entry.name in ("go.mod", "go.sum"))
    }
    if "go.mod" not in found or "go.sum" not in found:
        raise PeerUnavailable(f"the peer's Go sources are incomplete in {sources} (go.mod, go.sum)")
    return found


def _key(sources: dict[str, bytes], go_version: str) -> str:
    digest = hashlib.sha256(go_version.encode())
    for name in sorted(sources):
        digest.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(sources[name]).digest())
    return digest.hexdigest()[:16]


async def _go(
    go: str, *args: str, cwd: Path | None = None, log: Path | None = None
) -> tuple[int, bytes]:
    """Run ``go args...``; its output goes to ``log`` when given, else is returned."""
    env = {**os.environ, "GOFLAGS": "-mod=readonly"}
    if log is not None:
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                go, *args, cwd=cwd, env=env, stdout=sink, stderr=asyncio.subprocess.STDOUT
            )
            return await process.wait(), b""
    process = await asyncio.create_subprocess_exec(
        go, *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    return process.returncode or 0, out if process.returncode == 0 else err


async def _go_version(go: str) -> str:
    code, out = await _go(go, "env", "GOVERSION")
    if code != 0:
        raise PeerUnavailable(
            f"`{go} env GOVERSION` failed: {out.decode(errors='replace').strip()}"
        )
    return out.decode().strip()


async def build_peer(
    *, sources: Traversable | None = None, cache_root: Path | None = None, go: str | None = None
) -> PeerBuild:
    """The peer's binary, built now unless the cache holds one for these sources and Go."""
    started = time.perf_counter()
    go = go or find_go()
    go_version = await _go_version(go)
    source_files = _source_files(sources or peer_sources())
    directory = (cache_root or peer_cache_root()) / _key(source_files, go_version)
    binary, source_dir = directory / BINARY, directory / "src"
    if binary.is_file():
        return PeerBuild(binary, source_dir, go, go_version, True, time.perf_counter() - started)
    source_dir.mkdir(parents=True, exist_ok=True)
    for name, data in source_files.items():
        (source_dir / name).write_bytes(data)
    log = directory / "build.log"
    # Built under a name of its own, then renamed: two first runs at once both build, and
    # neither ever executes the other's half-written file.
    partial = directory / f"{BINARY}.{os.getpid()}.partial"
    code, _ = await _go(go, "build", "-o", str(partial), ".", cwd=source_dir, log=log)
    if code != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise PeerUnavailable(
            f"building the Temporal peer failed (`go build` exit status {code}); build log: {log}"
        )
    partial.replace(binary)
    return PeerBuild(binary, source_dir, go, go_version, False, time.perf_counter() - started)


async def temporal_schema_dir(build: PeerBuild) -> Path:
    """Temporal's versioned Cassandra schema inside the module the peer was built against
    (the Go module cache, read-only): the very release whose code the peer runs."""
    code, out = await _go(
        build.go, "mod", "download", "-json", TEMPORAL_MODULE, cwd=build.source_dir
    )
    if code != 0:
        raise PeerUnavailable(
            f"`go mod download {TEMPORAL_MODULE}` failed: {out.decode(errors='replace').strip()}"
        )
    module_dir = Path(json.loads(out)["Dir"])
    schema = module_dir / "schema" / "cassandra" / "temporal" / "versioned"
    if not schema.is_dir():
        raise PeerUnavailable(f"{module_dir} holds no schema/cassandra/temporal/versioned")
    return schema
