"""Test wiring: the conformance plugin, this checkout's harness (``tools/harness``: local servers,
the Astra-stand and cluster targets), Docker-started servers when an engine answers, and the
session-scoped ``stores`` fixture parametrized over the selected targets (``PC_TEST_TARGETS``,
default: every built-in target; a target whose server is unreachable fails, never skips)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import harness.targets  # noqa: F401  (local servers, the Astra-stand and cluster targets)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.targets import get_target, selected_target_names

pytest_plugins = [
    "persistence_cassandra.testing.plugin",
    "harness.docker_gate",
]


def _target_params() -> list[object]:
    params: list[object] = []
    for name in selected_target_names():
        marks = [getattr(pytest.mark, mark) for mark in get_target(name).marks]
        params.append(pytest.param(name, id=name, marks=marks))
    return params


@pytest.fixture(scope="session", params=_target_params())
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[StoreBundle]:
    async with get_target(request.param).open() as bundle:
        yield bundle
