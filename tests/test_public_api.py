"""The curated public API: every name in ``__all__`` exists, and additions are deliberate."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import persistence_cassandra

EXPECTED = {
    # entry points
    "open_persistence",
    "open_store_bundle",
    "Persistence",
    "OpenOptions",
    "register_backend",
    "available_backends",
    # configuration
    "PersistenceConfig",
    "DatastoreConfig",
    "load_config",
    "parse_config",
    "default_config",
    # middleware options
    "MiddlewareOptions",
    "RetryPolicy",
    "RateLimit",
    "FaultInjection",
    "FaultRule",
    "MetricsRegistry",
    # store contracts
    "ShardStore",
    "ExecutionStore",
    "HistoryStore",
    "TaskStore",
    "MetadataStore",
    "ClusterMetadataStore",
    "QueueStore",
    "NexusEndpointStore",
    "StoreBundle",
    "Capabilities",
    "DataBlob",
    "Page",
    # optional capabilities and server extension points (issue 16)
    "TaskScavenger",
    "TaskScavengerSchedule",
    "register_task_category",
    # errors
    "PersistenceError",
    "ShardOwnershipLost",
    "ConditionFailed",
    "CurrentWorkflowConditionFailed",
    "WorkflowConditionFailed",
    "TaskQueueUserDataConflict",
    "NotFound",
    "NamespaceNotFound",
    "AlreadyExists",
    "NamespaceAlreadyExists",
    "QueueNotFound",
    "QueueAlreadyExists",
    "QueueVersionConflict",
    "NexusEndpointNotFound",
    "NexusTableVersionConflict",
    "NexusEndpointVersionConflict",
    "Timeout",
    "Unavailable",
    "InvalidRequest",
    "DataLoss",
    "SchemaVersionMismatch",
    "UserFacingError",
    "ConfigError",
    "SchemaToolError",
}


def test_all_is_curated():
    assert set(persistence_cassandra.__all__) == EXPECTED
    assert len(persistence_cassandra.__all__) == len(EXPECTED), "duplicates in __all__"
    assert list(persistence_cassandra.__all__) == sorted(persistence_cassandra.__all__)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_name_is_importable(name):
    namespace: dict[str, object] = {}
    exec(f"from persistence_cassandra import {name}", namespace)
    assert namespace[name] is getattr(persistence_cassandra, name)


def test_every_error_is_exported():
    from persistence_cassandra import errors

    assert set(errors.__all__) <= set(persistence_cassandra.__all__)


def test_version():
    assert persistence_cassandra.__version__


SUBMODULES = [
    "persistence_cassandra.config",
    "persistence_cassandra.errors",
    "persistence_cassandra.factory",
    "persistence_cassandra.persistence",
    "persistence_cassandra.stores",
    "persistence_cassandra.middleware",
    *(
        f"persistence_cassandra.middleware.{module.name}"
        for module in pkgutil.iter_modules(
            importlib.import_module("persistence_cassandra.middleware").__path__
        )
    ),
    "persistence_cassandra.cli.main",
    "persistence_cassandra.cli.context",
    "persistence_cassandra.cli.config_commands",
    "persistence_cassandra.cli.doctor",
    "persistence_cassandra.doctor",
    "persistence_cassandra.cli.demo",
    "persistence_cassandra.workload.demo_scenario",
]


@pytest.mark.parametrize("module_name", SUBMODULES)
def test_submodule_all_names_exist(module_name):
    module = importlib.import_module(module_name)
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ lists missing {name}"
