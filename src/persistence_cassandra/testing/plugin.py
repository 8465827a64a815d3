"""pytest plugin of the conformance suite: the fixtures its tests use besides ``stores``.

Load it from the top-level ``conftest.py`` of a test tree, next to a session-scoped async
``stores`` fixture that yields an open :class:`~persistence_cassandra.stores.StoreBundle`::

    pytest_plugins = ["persistence_cassandra.testing.plugin"]

    @pytest.fixture(scope="session")
    async def stores():
        async with my_backend_bundle() as bundle:  # fresh schema, cleaned up after
            yield bundle

and collect the suite from a test module with
``from persistence_cassandra.testing.suite import *``. ``persistence_cassandra.testing.targets``
provides ready targets for the built-in backends (see ``tests/conftest.py`` of this project).
"""

from __future__ import annotations

import pytest

from persistence_cassandra.managers.history import HistoryBranchManager
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import ShardLease, blob, random_shard_id

# The suite's modules are imported by the user's test module, which pytest does not rewrite
# for them: register them so failed asserts show the compared values.
pytest.register_assert_rewrite("persistence_cassandra.testing.suite")

__all__ = ["history", "shard"]


@pytest.fixture
def history(stores: StoreBundle) -> HistoryBranchManager:
    """The history branch manager over the target's history store."""
    return HistoryBranchManager(stores.history)


@pytest.fixture
async def shard(stores: StoreBundle) -> ShardLease:
    """A fresh shard (random id) created with range id 1, owned by the test."""
    shard_id = random_shard_id()
    record = await stores.shard.get_or_create_shard(
        shard_id, lambda: (1, blob(f"shard:{shard_id}", "proto3"))
    )
    return ShardLease(shard_id, record.range_id)
