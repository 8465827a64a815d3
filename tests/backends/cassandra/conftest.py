"""Fixtures of the Cassandra backend's own tests: a real node and a keyspace per session.

The node comes from ``PC_CASSANDRA_HOSTS`` or the local node that
``harness.servers`` starts; when neither works the tests fail, never
skip. The session's keyspace has a random name and is dropped at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from cassandra_test_support import Endpoint, make_config

from persistence_cassandra.backends.cassandra.session import CassandraSession
from persistence_cassandra.factory import OpenOptions, open_store_bundle
from persistence_cassandra.stores import StoreBundle


@pytest.fixture(scope="session")
def cassandra_endpoint() -> Endpoint:
    from harness import servers

    try:
        endpoint = servers.cassandra_endpoint()
    except servers.ServerUnavailable as exc:
        pytest.fail(f"a Cassandra node is needed (set PC_CASSANDRA_HOSTS=host:port): {exc}")
    hosts: list[str] = []
    port = 9042
    for part in endpoint.split(","):
        host, _, port_text = part.strip().rpartition(":")
        hosts.append(host or port_text)
        if host and port_text:
            port = int(port_text)
    return ",".join(hosts), port


@pytest.fixture(scope="session")
async def keyspace(cassandra_endpoint: Endpoint) -> AsyncIterator[str]:
    """A keyspace with the bundled schema, shared by the session's tests, dropped at the end."""
    name = f"pc_backend_{uuid.uuid4().hex[:12]}"
    bundle = await open_store_bundle(
        make_config(cassandra_endpoint, name), options=OpenOptions(create_schema=True)
    )
    await bundle.close()
    yield name
    config = make_config(cassandra_endpoint, name).cassandra
    assert config is not None
    session = await CassandraSession.connect(config)
    try:
        await session.execute_schema(f"DROP KEYSPACE IF EXISTS {name}")
    finally:
        await session.close()


@pytest.fixture(scope="session")
async def bundle(cassandra_endpoint: Endpoint, keyspace: str) -> AsyncIterator[StoreBundle]:
    opened = await open_store_bundle(make_config(cassandra_endpoint, keyspace))
    yield opened
    await opened.close()


@pytest.fixture(scope="session")
async def raw_session(
    cassandra_endpoint: Endpoint, keyspace: str
) -> AsyncIterator[CassandraSession]:
    """A session of its own on the test keyspace, for statements the stores do not expose."""
    config = make_config(cassandra_endpoint, keyspace).cassandra
    assert config is not None
    session = await CassandraSession.connect(config)
    await session.use_keyspace(keyspace)
    yield session
    await session.close()
