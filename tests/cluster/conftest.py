"""Fixtures of the cluster tests: the local 3-node cluster (started once per session) and a
fresh RF 3 keyspace per test module. Every test starts and ends with all nodes up and
connected; a test that needs a node down takes it down itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from harness.local_cluster import LocalCluster, cassandra_cluster
from harness.servers import ServerUnavailable
from harness.targets import CLUSTER_CLIENT_TIMEOUT, cluster_keyspace
from persistence_cassandra.stores import StoreBundle


@pytest.fixture(scope="session")
def local_cluster() -> LocalCluster:
    try:
        return cassandra_cluster()
    except ServerUnavailable as exc:
        pytest.fail(f"the local 3-node Cassandra cluster is needed: {exc}")


@pytest.fixture
async def cluster(local_cluster: LocalCluster) -> AsyncIterator[LocalCluster]:
    await asyncio.to_thread(local_cluster.restore)
    yield local_cluster
    await asyncio.to_thread(local_cluster.restore)


@pytest.fixture(scope="module")
async def cluster_stores(local_cluster: LocalCluster) -> AsyncIterator[StoreBundle]:
    await asyncio.to_thread(local_cluster.restore)
    async with cluster_keyspace(local_cluster, timeout=CLUSTER_CLIENT_TIMEOUT) as bundle:
        yield bundle
