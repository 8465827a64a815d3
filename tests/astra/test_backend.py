"""The Cassandra backend opened from a ``persistence:`` file with an ``astra:`` datastore
(``secureConnectBundle``, ``token`` from the environment), and the conformance checks that lean
hardest on the Astra path: shard fencing, concurrent lightweight transactions, run creation.

The whole conformance suite runs on the stand as the ``cassandra-astra`` target
(``PC_TEST_TARGETS``); these keep the essentials covered when that target is not selected.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from persistence_cassandra.config import DatastoreConfig, load_config
from persistence_cassandra.errors import PersistenceError, SchemaVersionMismatch
from persistence_cassandra.factory import OpenOptions, open_store_bundle
from persistence_cassandra.schema.bundled import EXPECTED_SCHEMA_VERSION
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.astra_stand import AstraStand
from persistence_cassandra.testing.suite.concurrency import TestConcurrency
from persistence_cassandra.testing.suite.execution_create import TestExecutionCreate
from persistence_cassandra.testing.suite.shard import TestShardStore

__all__ = ["TestConcurrency", "TestExecutionCreate", "TestShardStore"]

TOKEN_VARIABLE = "PC_TEST_ASTRA_TOKEN"


def _config_text(stand: AstraStand, keyspace: str) -> str:
    return f"""\
persistence:
  defaultStore: astra
  datastores:
    astra:
      cassandra:
        keyspace: {keyspace}
        astra:
          secureConnectBundle: {stand.bundle_path}
          token: ${{{TOKEN_VARIABLE}}}
"""


@pytest.fixture(scope="module")
def token_in_environment(astra_stand: AstraStand) -> Iterator[None]:
    os.environ[TOKEN_VARIABLE] = astra_stand.token
    yield
    os.environ.pop(TOKEN_VARIABLE, None)


@pytest.fixture(scope="module")
def config_file(
    astra_stand: AstraStand, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    keyspace = astra_stand.create_keyspace()
    path = tmp_path_factory.mktemp("astra-config") / "persistence.yaml"
    path.write_text(_config_text(astra_stand, keyspace), encoding="utf-8")
    yield path
    astra_stand.drop_keyspace(keyspace)


@pytest.fixture(scope="module")
async def stores(config_file: Path, token_in_environment: None) -> AsyncIterator[StoreBundle]:
    """Overrides the suite's ``stores`` for this module: the bundle on the stand."""
    datastore = load_config(config_file).datastore()
    bundle = await open_store_bundle(datastore, options=OpenOptions(create_schema=True))
    yield bundle
    await bundle.close()


async def test_the_bundle_reports_astra_and_the_schema_version(
    stores: StoreBundle, config_file: Path, astra_stand: AstraStand
) -> None:
    assert "Astra DB (secure-connect-astra-stand.zip)" in stores.description
    assert astra_stand.token not in stores.description
    assert stores.server_info is not None
    info = await stores.server_info()
    assert info["server_version"].startswith("5.0")
    assert info["schema_version"] == EXPECTED_SCHEMA_VERSION


async def test_a_portal_keyspace_without_schema_is_refused_naming_the_command(
    astra_stand: AstraStand,
) -> None:
    keyspace = astra_stand.create_keyspace()
    try:
        with pytest.raises(SchemaVersionMismatch) as caught:
            await open_store_bundle(astra_stand.datastore_config(keyspace))
        assert "setup-schema" in str(caught.value) or "update-schema" in str(caught.value)
    finally:
        astra_stand.drop_keyspace(keyspace)


async def test_a_wrong_token_fails_without_showing_it(astra_stand: AstraStand) -> None:
    wrong = "AstraCS:local:wrong-token-0123456789"
    cassandra = astra_stand.cassandra_config()
    cassandra["astra"]["token"] = wrong
    config = DatastoreConfig.model_validate({"cassandra": cassandra})
    with pytest.raises(PersistenceError) as caught:
        await open_store_bundle(config)
    assert wrong not in str(caught.value)
