"""The ``reconnect:`` block of a ``cassandra:`` datastore and the driver policy it becomes."""

from __future__ import annotations

import pytest
from cassandra.policies import ConstantReconnectionPolicy, ExponentialReconnectionPolicy

from persistence_cassandra.backends.cassandra.connection import reconnection_policy
from persistence_cassandra.backends.cassandra.session import build_cluster
from persistence_cassandra.config import CassandraConfig, ReconnectConfig, parse_config
from persistence_cassandra.errors import ConfigError


def _cassandra(reconnect: object) -> CassandraConfig:
    config = parse_config(
        {
            "persistence": {
                "defaultStore": "c",
                "datastores": {"c": {"cassandra": {"reconnect": reconnect}}},
            }
        }
    )
    cassandra = config.datastore().cassandra
    assert cassandra is not None
    return cassandra


def test_defaults_bring_a_node_back_within_a_second():
    assert ReconnectConfig() == CassandraConfig().reconnect
    policy = reconnection_policy(ReconnectConfig())
    assert isinstance(policy, ExponentialReconnectionPolicy)
    assert (policy.base_delay, policy.max_delay) == (0.2, 1.0)
    # The driver's default gives up after 64 attempts; a host given up on never comes back.
    assert policy.max_attempts is None
    schedule = policy.new_schedule()
    delays = [next(schedule) for _ in range(200)]
    assert all(0.2 <= delay <= 1.0 for delay in delays)
    assert delays[-1] == pytest.approx(1.0, abs=0.15)


def test_camel_case_keys_and_the_constant_policy():
    cassandra = _cassandra({"policy": "constant", "baseDelay": 0.5})
    policy = reconnection_policy(cassandra.reconnect)
    assert isinstance(policy, ConstantReconnectionPolicy)
    assert policy.delay == 0.5
    assert policy.max_attempts is None


def test_exponential_keys():
    cassandra = _cassandra({"baseDelay": 0.1, "maxDelay": 5})
    assert (cassandra.reconnect.base_delay, cassandra.reconnect.max_delay) == (0.1, 5.0)


@pytest.mark.parametrize(
    ("reconnect", "message"),
    [
        ({"baseDelay": 2}, "maxDelay (1) must be at least baseDelay (2)"),
        ({"baseDelay": 0}, "reconnect.baseDelay"),
        ({"maxDelay": -1}, "reconnect.maxDelay"),
        ({"policy": "constant", "maxDelay": 3}, "maxDelay applies to policy 'exponential' only"),
        ({"policy": "linear"}, "reconnect.policy"),
        ({"base_delay_ms": 100}, "reconnect.base_delay_ms: is not a known key"),
    ],
)
def test_mistakes_name_the_key(reconnect, message):
    with pytest.raises(ConfigError, match=r"cassandra\.reconnect") as caught:
        _cassandra(reconnect)
    assert message in str(caught.value)


def test_build_cluster_uses_the_configured_policy():
    cluster = build_cluster(_cassandra({"policy": "constant", "baseDelay": 0.3}))
    try:
        assert isinstance(cluster.reconnection_policy, ConstantReconnectionPolicy)
        assert cluster.reconnection_policy.delay == 0.3
    finally:
        cluster.shutdown()
    cluster = build_cluster(CassandraConfig())
    try:
        assert isinstance(cluster.reconnection_policy, ExponentialReconnectionPolicy)
        assert cluster.reconnection_policy.max_delay == 1.0
    finally:
        cluster.shutdown()
