"""The exported conformance suite, run against every selected target (``PC_TEST_TARGETS``)."""

from __future__ import annotations

from persistence_cassandra.testing.suite import *  # noqa: F403
