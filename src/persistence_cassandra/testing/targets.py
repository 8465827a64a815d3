"""Test targets: the datastores the conformance suite runs against.

A target is a name and an async context manager factory that yields an open
:class:`~persistence_cassandra.stores.StoreBundle` with a fresh, empty schema, and cleans up
after itself. The built-ins:

``sqlite-memory``  an in-memory SQLite database
``sqlite-file``    an SQLite file in a temporary directory
``postgres``       a fresh database on the server of ``PC_POSTGRES_DSN``, dropped after
``cassandra``      a fresh keyspace on the node(s) of ``PC_CASSANDRA_HOSTS``, dropped after

The servers come from a :class:`ServerLocator`. The default one reads those two environment
variables and nothing else, so a backend author who installed the wheel runs the suite against
servers of their own. This project's test harness (``tools/harness``, a checkout only) installs
a locator that also starts local servers, and registers more targets: ``cassandra-astra`` (the
local Astra DB stand), ``cassandra-cluster`` and ``cassandra-cluster-degraded`` (the local
3-node cluster).

``PC_TEST_TARGETS`` (comma-separated) selects which run; default: every target registered with
``default=True``. A selected target whose server cannot be reached fails its tests; it is never
skipped. A third-party backend adds its own with :func:`register_target`.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, LiteralString, Protocol

from persistence_cassandra.backend import OpenOptions
from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.factory import open_store_bundle
from persistence_cassandra.stores import StoreBundle

__all__ = [
    "TARGETS_ENV",
    "EnvironmentServers",
    "ServerLocator",
    "ServerUnavailable",
    "Target",
    "cassandra_hosts",
    "default_target_names",
    "drop_keyspace",
    "get_target",
    "open_datastore",
    "postgres_admin",
    "postgres_connect_params",
    "register_target",
    "registered_targets",
    "selected_target_names",
    "server_locator",
    "unique_name",
    "use_servers",
]

TARGETS_ENV = "PC_TEST_TARGETS"

TargetFactory = Callable[[], AbstractAsyncContextManager[StoreBundle]]


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    open: TargetFactory
    """Yields an open bundle on a fresh schema; cleans up on exit."""
    marks: tuple[str, ...] = ()
    """pytest marker names for the target's tests (e.g. the server it needs)."""
    default: bool = False
    """Run when ``PC_TEST_TARGETS`` is unset."""


_targets: dict[str, Target] = {}


def register_target(
    name: str,
    factory: TargetFactory,
    *,
    marks: tuple[str, ...] = (),
    default: bool = False,
    replace: bool = False,
) -> Target:
    """Make ``name`` selectable in ``PC_TEST_TARGETS`` (and run by default if ``default``)."""
    if name in _targets and not replace:
        raise ValueError(f"test target {name!r} is already registered")
    target = Target(name, factory, marks, default)
    _targets[name] = target
    return target


def default_target_names() -> list[str]:
    """The targets run when ``PC_TEST_TARGETS`` is unset, in registration order."""
    return [name for name, target in _targets.items() if target.default]


def registered_targets() -> list[str]:
    return sorted(_targets)


def get_target(name: str) -> Target:
    try:
        return _targets[name]
    except KeyError:
        known = ", ".join(registered_targets())
        raise ValueError(f"unknown test target {name!r} (known: {known})") from None


def selected_target_names(environ: dict[str, str] | None = None) -> list[str]:
    """The targets named by ``PC_TEST_TARGETS`` (the default ones when unset); unknown names
    raise, so a typo can never silently run nothing."""
    env = os.environ if environ is None else environ
    raw = env.get(TARGETS_ENV, "").strip()
    names = [n.strip() for n in raw.split(",") if n.strip()] if raw else default_target_names()
    for name in names:
        get_target(name)
    return names


@asynccontextmanager
async def open_datastore(config: DatastoreConfig) -> AsyncIterator[StoreBundle]:
    """Open ``config`` creating its schema, and close it on exit."""
    bundle = await open_store_bundle(config, options=OpenOptions(create_schema=True))
    try:
        yield bundle
    finally:
        await bundle.close()


def unique_name(prefix: str) -> str:
    """A keyspace or database name no other run uses."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


# --------------------------------------------------------------------------- servers


class ServerUnavailable(RuntimeError):
    """A server the tests need could not be found or started."""


class ServerLocator(Protocol):
    """Where the built-in ``postgres`` and ``cassandra`` targets find their servers."""

    def postgres_dsn(self) -> str:
        """A DSN of a PostgreSQL superuser connection (the targets create databases)."""
        ...

    def cassandra_endpoint(self) -> str:
        """``host:port`` of a Cassandra node; comma-separated hosts allowed."""
        ...


class EnvironmentServers:
    """The servers named by ``PC_POSTGRES_DSN`` and ``PC_CASSANDRA_HOSTS``; nothing is started."""

    def postgres_dsn(self) -> str:
        return _required_env("PC_POSTGRES_DSN", "postgresql://user:password@host:5432/postgres")

    def cassandra_endpoint(self) -> str:
        return _required_env("PC_CASSANDRA_HOSTS", "127.0.0.1:9042")


def _required_env(name: str, example: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ServerUnavailable(f"no server for this target: set {name} (for example {example})")
    return value


_locator: ServerLocator = EnvironmentServers()


def use_servers(locator: ServerLocator) -> None:
    """Make the built-in targets find their servers through ``locator`` from now on."""
    global _locator
    _locator = locator


def server_locator() -> ServerLocator:
    return _locator


# --------------------------------------------------------------------------- SQLite


def _sqlite(database: str) -> DatastoreConfig:
    return DatastoreConfig.model_validate(
        {"sql": {"pluginName": "sqlite", "databaseName": database}}
    )


@asynccontextmanager
async def _sqlite_memory() -> AsyncIterator[StoreBundle]:
    async with open_datastore(_sqlite(":memory:")) as bundle:
        yield bundle


@asynccontextmanager
async def _sqlite_file() -> AsyncIterator[StoreBundle]:
    with tempfile.TemporaryDirectory(prefix="pc-sqlite-") as directory:
        async with open_datastore(_sqlite(str(Path(directory) / "persistence.db"))) as bundle:
            yield bundle


# --------------------------------------------------------------------------- PostgreSQL


def postgres_connect_params() -> dict[str, Any]:
    """The locator's PostgreSQL server as ``psycopg`` connection keywords (blocking: the
    locator may start a server)."""
    from psycopg.conninfo import conninfo_to_dict

    return dict(conninfo_to_dict(server_locator().postgres_dsn()))


async def postgres_admin(params: dict[str, Any], template: LiteralString, database: str) -> None:
    """Run ``template`` (``CREATE DATABASE {}``...) with ``database`` quoted as an identifier."""
    import psycopg
    from psycopg import sql

    statement = sql.SQL(template).format(sql.Identifier(database))
    async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as conn:
        await conn.execute(statement)


@asynccontextmanager
async def _postgres() -> AsyncIterator[StoreBundle]:
    params = await asyncio.to_thread(postgres_connect_params)
    database = unique_name("pc_test")
    await postgres_admin(params, "CREATE DATABASE {}", database)
    try:
        sql: dict[str, Any] = {
            "pluginName": "postgres",
            "databaseName": database,
            "connectAddr": f"{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}",
        }
        if params.get("user"):
            sql["user"] = params["user"]
        if params.get("password"):
            sql["password"] = params["password"]
        config = DatastoreConfig.model_validate({"sql": sql})
        async with open_datastore(config) as bundle:
            yield bundle
    finally:
        await postgres_admin(params, "DROP DATABASE IF EXISTS {} WITH (FORCE)", database)


# --------------------------------------------------------------------------- Cassandra


def cassandra_hosts() -> tuple[list[str], int]:
    """The locator's Cassandra contact points and port (blocking: it may start a node)."""
    endpoint = server_locator().cassandra_endpoint()
    hosts: list[str] = []
    port = 9042
    for part in endpoint.split(","):
        host, _, port_text = part.strip().rpartition(":")
        if not host:  # no port given
            host, port_text = port_text, ""
        hosts.append(host)
        if port_text:
            port = int(port_text)
    return hosts, port


def drop_keyspace(hosts: list[str], port: int, keyspace: str) -> None:
    """Drop ``keyspace`` through a plain driver session (blocking)."""
    from cassandra.cluster import Cluster

    cluster = Cluster(hosts, port=port)
    try:
        session = cluster.connect()
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
    finally:
        cluster.shutdown()


@asynccontextmanager
async def _cassandra() -> AsyncIterator[StoreBundle]:
    hosts, port = await asyncio.to_thread(cassandra_hosts)
    keyspace = unique_name("pc_test")
    config = DatastoreConfig.model_validate(
        {"cassandra": {"hosts": ",".join(hosts), "port": port, "keyspace": keyspace}}
    )
    try:
        async with open_datastore(config) as bundle:
            yield bundle
    finally:
        try:
            await asyncio.to_thread(drop_keyspace, hosts, port, keyspace)
        except Exception as exc:  # cleanup only: the tests' outcome stands
            warnings.warn(f"could not drop test keyspace {keyspace}: {exc}", stacklevel=1)


register_target("sqlite-memory", _sqlite_memory, default=True)
register_target("sqlite-file", _sqlite_file, default=True)
register_target("postgres", _postgres, marks=("postgres",), default=True)
register_target("cassandra", _cassandra, marks=("cassandra",), default=True)
