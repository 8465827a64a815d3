"""The local Astra DB stand, started once per session; it fails the tests (never skips them)
when it cannot start. Everything here talks to it as Astra users do: through the secure connect
bundle, as the non-superuser ``token`` role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.astra_stand import (
    AstraStand,
    close_shared_stand,
    shared_stand,
)


@pytest.fixture(scope="session")
def astra_stand() -> Iterator[AstraStand]:
    stand = shared_stand()
    yield stand
    # Stops the node too when a stand started it and no other process still uses it.
    close_shared_stand()


@pytest.fixture(scope="session")
def astra_keyspace(astra_stand: AstraStand) -> Iterator[str]:
    """A fresh keyspace made by the stand's superuser, as Astra's portal makes one."""
    keyspace = astra_stand.create_keyspace()
    yield keyspace
    astra_stand.drop_keyspace(keyspace)


@pytest.fixture(scope="session")
def token_session(astra_stand: AstraStand, astra_keyspace: str) -> Iterator[Any]:
    """A driver session of the token role through the bundle (protocol v4), in the keyspace."""
    cluster = astra_stand.token_cluster()
    session = cluster.connect(astra_keyspace)
    yield session
    cluster.shutdown()
