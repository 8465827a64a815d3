"""The test targets that need this checkout's local servers, and the harness's server locator.

Importing this module (``tests/conftest.py`` does) makes the built-in ``postgres`` and
``cassandra`` targets start local servers when no endpoint is set
(:class:`~harness.servers.LocalServers`), and registers, all run by default:

``cassandra-astra``            a fresh keyspace on the local Astra DB stand (:mod:`.astra_stand`):
                               made by the stand's superuser as Astra's portal would, used through
                               the secure connect bundle by the non-superuser token role, under
                               Astra's guardrails
``cassandra-cluster``          a fresh RF 3 keyspace (NetworkTopologyStrategy ``dc1: 3``) on the
                               local 3-node cluster (:mod:`.local_cluster`), at LOCAL_QUORUM
``cassandra-cluster-degraded`` the same with node 3 stopped for the whole suite
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from harness.local_cluster import LocalCluster, cassandra_cluster
from harness.servers import LocalServers
from persistence_cassandra.config import DatastoreConfig, PersistenceConfig
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.targets import (
    drop_keyspace,
    open_datastore,
    register_target,
    unique_name,
    use_servers,
)

__all__ = [
    "CLUSTER_CLIENT_TIMEOUT",
    "DEGRADED_NODE",
    "cluster_datastore_config",
    "cluster_datastore_document",
    "cluster_keyspace",
    "cluster_keyspace_name",
    "cluster_persistence_config",
]

use_servers(LocalServers())


# --------------------------------------------------------------------------- Astra DB stand


@asynccontextmanager
async def _cassandra_astra() -> AsyncIterator[StoreBundle]:
    from harness.astra_stand import shared_stand

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


register_target("cassandra-astra", _cassandra_astra, marks=("cassandra",), default=True)


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
    keyspace = unique_name("pc_cluster")
    await _create_replicated_keyspace(cluster_datastore_config(cluster, keyspace), cluster.nodes)
    try:
        yield keyspace
    finally:
        try:
            await asyncio.to_thread(drop_keyspace, cluster.hosts, cluster.port, keyspace)
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


register_target(
    "cassandra-cluster", _cassandra_cluster, marks=("cassandra", "cluster"), default=True
)
register_target(
    "cassandra-cluster-degraded",
    _cassandra_cluster_degraded,
    marks=("cassandra", "cluster"),
    default=True,
)
