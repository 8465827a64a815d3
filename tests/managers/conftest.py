"""Property tests of the history manager's pure logic."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent

# Hypothesis warns when the global ``random`` state changes while it draws data. When these
# tests share a session with the conformance suite, the Cassandra driver's background threads
# (load balancing, reconnection jitter) use that generator; our strategies never do.
_IGNORE_FOREIGN_RANDOM = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(_IGNORE_FOREIGN_RANDOM)
