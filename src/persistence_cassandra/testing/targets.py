"""Test targets: the datastores the conformance suite runs against.

A target is a name and an async context manager factory that yields an open
:class:`~persistence_cassandra.stores.StoreBundle` with a fresh, empty schema, and cleans up
after itself. The built-ins:

``sqlite-memory``  an in-memory SQLite database
``sqlite-file``    an SQLite file in a temporary directory
``postgres``       a fresh database on the server of ``servers.postgres_dsn()``, dropped after
``cassandra``      a fresh keyspace on the node of ``servers.cassandra_endpoint()``, dropped after
``cassandra-astra`` a fresh keyspace on the local Astra DB stand (:mod:`.astra_stand`): made by
                   the stand's superuser as Astra's portal would, used through the secure connect
                   bundle by the non-superuser token role, under Astra's guardrails

``cassandra-cluster``          a fresh RF 3 keyspace (NetworkTopologyStrategy ``dc1: 3``) on the
                               local 3-node cluster (:mod:`.local_cluster`), at LOCAL_QUORUM
``cassandra-cluster-degraded`` the same with node 3 stopped for the whole suite

``PC_TEST_TARGETS`` (comma-separated) selects which run; default: all seven. A selected target
whose server cannot be reached fails its tests; it is never skipped. A third-party backend adds
its own with :func:`register_target`.
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
from typing import TYPE_CHECKING, Any, LiteralString

from persistence_cassandra.config import DatastoreConfig, PersistenceConfig
from persistence_cassandra.factory import OpenOptions, open_store_bundle
from persistence_cassandra.stores import StoreBundle

if TYPE_CHECKING:
    from persistence_cassandra.testing.local_cluster import LocalCluster

__all__ = [
    "CLUSTER_CLIENT_TIMEOUT",
    "DEFAULT_TARGETS",
    "TARGETS_ENV",
    "Target",
    "cluster_datastore_config",
    "cluster_datastore_document",
    "cluster_keyspace",
    "cluster_keyspace_name",
    "cluster_persistence_config",
    "get_target",
    "open_datastore",
    "register_target",
    "registered_targets",
    "selected_target_names",
]

TARGETS_ENV = "PC_TEST_TARGETS"
DEFAULT_TARGETS = (
    "sqlite-memory",
    "sqlite-file",
    "postgres",
    "cassandra",
    "cassandra-astra",
    "cassandra-cluster",
    "cassandra-cluster-degraded",
)

TargetFactory = Callable[[], AbstractAsyncContextManager[StoreBundle]]


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    open: TargetFactory
    """Yields an open bundle on a fresh schema; cleans up on exit."""
    marks: tuple[str, ...] = ()
    """pytest marker names for the target's tests (e.g. the server it needs)."""


_targets: dict[str, Target] = {}


def register_target(
    name: str, factory: TargetFactory, *, marks: tuple[str, ...] = (), replace: bool = False
) -> Target:
    """Make ``name`` selectable in ``PC_TEST_TARGETS``."""
    if name in _targets and not replace:
        raise ValueError(f"test target {name!r} is already registered")
    target = Target(name, factory, marks)
    _targets[name] = target
    return target


def registered_targets() -> list[str]:
    return sorted(_targets)


def get_target(name: str) -> Target:
    try:
        return _targets[name]
    except KeyError:
        known = ", ".join(registered_targets())
        raise ValueError(f"unknown test target {name!r} (known: {known})") from None


def selected_target_names(environ: dict[str, str] | None = None) -> list[str]:
    """The targets named by ``PC_TEST_TARGETS`` (all built-ins when unset); unknown names
    raise, so a typo can never silently run nothing."""
    env = os.environ if environ is None else environ
    raw = env.get(TARGETS_ENV, "").strip()
    names = [n.strip() for n in raw.split(",") if n.strip()] if raw else list(DEFAULT_TARGETS)
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


def _unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


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


def _postgres_server() -> dict[str, Any]:
    # Imported only here: it may start a server, and it lives outside the installed package's
    # essentials (a third party selecting only its own target never needs it).
    from psycopg.conninfo import conninfo_to_dict

    from persistence_cassandra.testing import servers

    return dict(conninfo_to_dict(servers.postgres_dsn()))


async def _postgres_admin(params: dict[str, Any], template: LiteralString, database: str) -> None:
    import psycopg
    from psycopg import sql

    statement = sql.SQL(template).format(sql.Identifier(database))
    async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as conn:
        await conn.execute(statement)


@asynccontextmanager
async def _postgres() -> AsyncIterator[StoreBundle]:
    params = await asyncio.to_thread(_postgres_server)
    database = _unique_name("pc_test")
    await _postgres_admin(params, "CREATE DATABASE {}", database)
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
        await _postgres_admin(params, "DROP DATABASE IF EXISTS {} WITH (FORCE)", database)


# --------------------------------------------------------------------------- Cassandra


def _cassandra_hosts() -> tuple[list[str], int]:
    from persistence_cassandra.testing import servers

    endpoint = servers.cassandra_endpoint()
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


def _drop_keyspace(hosts: list[str], port: int, keyspace: str) -> None:
    from cassandra.cluster import Cluster

    cluster = Cluster(hosts, port=port)
    try:
        session = cluster.connect()
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
    finally:
        cluster.shutdown()


@asynccontextmanager
async def _cassandra() -> AsyncIterator[StoreBundle]:
    hosts, port = await asyncio.to_thread(_cassandra_hosts)
    keyspace = _unique_name("pc_test")
    config = DatastoreConfig.model_validate(
        {"cassandra": {"hosts": ",".join(hosts), "port": port, "keyspace": keyspace}}
    )
    try:
        async with open_datastore(config) as bundle:
            yield bundle
    finally:
        try:
            await asyncio.to_thread(_drop_keyspace, hosts, port, keyspace)
        except Exception as exc:  # cleanup only: the tests' outcome stands
            warnings.warn(f"could not drop test keyspace {keyspace}: {exc}", stacklevel=1)


register_target("sqlite-memory", _sqlite_memory)
register_target("sqlite-file", _sqlite_file)
register_target("postgres", _postgres, marks=("postgres",))
register_target("cassandra", _cassandra, marks=("cassandra",))


# --------------------------------------------------------------------------- Astra DB stand


@asynccontextmanager
async def _cassandra_astra() -> AsyncIterator[StoreBundle]:
    from persistence_cassandra.testing.astra_stand import shared_stand

    stand = await asyncio.to_thread(shared_stand)
    # Made by the stand's superuser, as Astra's portal makes keyspaces: the token role the
    # stores connect as cannot create one.
    keyspace = await asyncio.to_thread(stand.create_keyspace)
    try:
        async with open_datastore(stand.datastore_config(keyspace)) as bundle:
            yield bundle
    finally:
        try:
            await asyncio.to_thread(stand.drop_keyspace, keyspace)
        except Exception as exc:  # cleanup only: the tests' outcome stands
            warnings.warn(f"could not drop test keyspace {keyspace}: {exc}", stacklevel=1)


register_target("cassandra-astra", _cassandra_astra, marks=("cassandra",))


# --------------------------------------------------------------------------- Cassandra cluster


async def _create_replicated_keyspace(config: DatastoreConfig, replication_factor: int) -> None:
    # Through the schema tool's own admin, as `schema create-keyspace --rf 3 --dc dc1` would.
    from persistence_cassandra.schema.connect import open_keyspace_admin

    assert config.cassandra is not None
    admin = await open_keyspace_admin(config)
    try:
        await admin.create_keyspace(
            config.cassandra.keyspace,
            replication_factor=replication_factor,
            datacenter=config.cassandra.datacenter,
        )
    finally:
        await admin.close()


def cluster_datastore_document(
    cluster: LocalCluster, keyspace: str, **overrides: Any
) -> dict[str, Any]:
    """The ``cassandra:`` datastore block for the local cluster: all three contact points,
    the cluster's datacenter, LOCAL_QUORUM / LOCAL_SERIAL (the defaults); ``overrides`` are
    more keys of the block (``timeout``...)."""
    return {
        "cassandra": {
            "hosts": ",".join(cluster.hosts),
            "port": cluster.port,
            "keyspace": keyspace,
            "datacenter": cluster.datacenter,
            **overrides,
        }
    }


def cluster_persistence_config(
    cluster: LocalCluster, keyspace: str, **overrides: Any
) -> PersistenceConfig:
    """A ``persistence:`` block whose default store is :func:`cluster_datastore_document`."""
    datastore = cluster_datastore_document(cluster, keyspace, **overrides)
    return PersistenceConfig.model_validate(
        {"defaultStore": "cluster", "datastores": {"cluster": datastore}}
    )


def cluster_datastore_config(
    cluster: LocalCluster, keyspace: str, **overrides: Any
) -> DatastoreConfig:
    return DatastoreConfig.model_validate(
        cluster_datastore_document(cluster, keyspace, **overrides)
    )


@asynccontextmanager
async def _replicated_keyspace(cluster: LocalCluster) -> AsyncIterator[str]:
    """A fresh RF 3 keyspace (no tables yet) on the local cluster, dropped after."""
    keyspace = _unique_name("pc_cluster")
    await _create_replicated_keyspace(cluster_datastore_config(cluster, keyspace), cluster.nodes)
    try:
        yield keyspace
    finally:
        try:
            await asyncio.to_thread(_drop_keyspace, cluster.hosts, cluster.port, keyspace)
        except Exception as exc:  # cleanup only: the tests' outcome stands
            warnings.warn(f"could not drop test keyspace {keyspace}: {exc}", stacklevel=1)


@asynccontextmanager
async def cluster_keyspace_name(cluster: LocalCluster) -> AsyncIterator[str]:
    """A fresh RF 3 keyspace on the local cluster with the bundled schema, dropped after."""
    async with _replicated_keyspace(cluster) as keyspace:
        async with open_datastore(cluster_datastore_config(cluster, keyspace)):
            pass  # creates the schema
        yield keyspace


@asynccontextmanager
async def cluster_keyspace(cluster: LocalCluster, **overrides: Any) -> AsyncIterator[StoreBundle]:
    """An open bundle on a fresh RF 3 keyspace with the bundled schema, dropped after;
    ``overrides`` are more keys of the ``cassandra:`` block."""
    async with _replicated_keyspace(cluster) as keyspace:
        config = cluster_datastore_config(cluster, keyspace, **overrides)
        async with open_datastore(config) as bundle:
            yield bundle


@asynccontextmanager
async def _cassandra_cluster() -> AsyncIterator[StoreBundle]:
    from persistence_cassandra.testing.local_cluster import cassandra_cluster

    cluster = await asyncio.to_thread(cassandra_cluster)
    await asyncio.to_thread(cluster.restore)
    async with cluster_keyspace(cluster) as bundle:
        yield bundle


CLUSTER_CLIENT_TIMEOUT = 5.0
"""Seconds a request may take in fault tests: a paused or cut-off coordinator answers nothing,
so this bounds how long an operation in flight on it waits."""

DEGRADED_NODE = 3
"""The node the ``cassandra-cluster-degraded`` target keeps stopped."""


@asynccontextmanager
async def _cassandra_cluster_degraded() -> AsyncIterator[StoreBundle]:
    from persistence_cassandra.testing.local_cluster import cassandra_cluster

    cluster = await asyncio.to_thread(cassandra_cluster)
    await asyncio.to_thread(cluster.restore)
    # The keyspace and schema are made with every node up (DDL needs schema agreement);
    # the suite then runs with one replica of three gone, at LOCAL_QUORUM.
    async with cluster_keyspace(cluster) as bundle:
        await asyncio.to_thread(cluster.require_down, {DEGRADED_NODE})
        try:
            yield bundle
        finally:
            await asyncio.to_thread(cluster.restore)


register_target("cassandra-cluster", _cassandra_cluster, marks=("cassandra", "cluster"))
register_target(
    "cassandra-cluster-degraded", _cassandra_cluster_degraded, marks=("cassandra", "cluster")
)
