"""open_persistence: backend resolution, schema options, middleware order, Persistence."""

from __future__ import annotations

from typing import Any

import pytest

from persistence_cassandra import factory
from persistence_cassandra.config import parse_config
from persistence_cassandra.errors import ConfigError, Unavailable
from persistence_cassandra.factory import OpenOptions, open_persistence, wrap_bundle
from persistence_cassandra.middleware import (
    FaultInjection,
    FaultRule,
    MetricsRegistry,
    MiddlewareOptions,
    RateLimit,
    RetryPolicy,
    protocol_methods,
)
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.stores import (
    Capabilities,
    ClusterMetadataStore,
    ExecutionStore,
    HistoryStore,
    MetadataStore,
    NexusEndpointStore,
    QueueStore,
    ShardStore,
    StoreBundle,
    TaskStore,
)

PROTOCOLS = {
    "shard": ShardStore,
    "execution": ExecutionStore,
    "history": HistoryStore,
    "task": TaskStore,
    "metadata": MetadataStore,
    "cluster_metadata": ClusterMetadataStore,
    "queue": QueueStore,
    "nexus_endpoint": NexusEndpointStore,
}


def fake_store(protocol: type) -> Any:
    def method(name: str) -> Any:
        async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return name

        return call

    namespace = {name: method(name) for name in protocol_methods(protocol)}
    store = type(f"Fake{protocol.__name__}", (), namespace)()
    store.calls = []
    return store


def fake_bundle(closed: list[bool] | None = None) -> StoreBundle:
    async def close() -> None:
        if closed is not None:
            closed.append(True)

    async def server_info() -> dict[str, str]:
        return {"server_version": "fake 1.0", "schema_version": "1.0"}

    return StoreBundle(
        **{name: fake_store(protocol) for name, protocol in PROTOCOLS.items()},
        capabilities=Capabilities(),
        close=close,
        description="fake target",
        server_info=server_info,
    )


class FakeBackend:
    def __init__(self, name: str) -> None:
        self.name = name
        self.opened: list[tuple[Any, OpenOptions]] = []
        self.bundles: list[StoreBundle] = []

    async def open(self, config, options):
        self.opened.append((config, options))
        self.bundles.append(fake_bundle())
        return self.bundles[-1]


@pytest.fixture
def backend(monkeypatch):
    fake = FakeBackend("fake")
    monkeypatch.setitem(factory._registered, "fake", lambda: fake)
    return fake


FAKE_CONFIG = parse_config(
    {"persistence": {"defaultStore": "f", "datastores": {"f": {"backend": "fake"}}}}
)


async def test_opens_the_named_backend_and_only_verifies_its_schema(backend):
    persistence = await open_persistence(FAKE_CONFIG)
    assert isinstance(persistence, Persistence)
    assert persistence.backend_name == "fake"
    assert persistence.description == "fake target"
    [(datastore, options)] = backend.opened
    assert datastore is FAKE_CONFIG.datastore("f")
    assert options == OpenOptions(create_schema=False, verify_schema=True)
    assert await persistence.server_info() == {
        "server_version": "fake 1.0",
        "schema_version": "1.0",
    }


async def test_every_store_is_wrapped(backend):
    persistence = await open_persistence(FAKE_CONFIG)
    raw = backend.bundles[0]
    for name, protocol in PROTOCOLS.items():
        wrapped = getattr(persistence, name)
        assert isinstance(wrapped, protocol)
        assert wrapped is not getattr(raw, name)
        assert wrapped.wrapped is getattr(raw, name)
        for method in protocol_methods(protocol):
            assert await getattr(wrapped, method)() == method
    counted = {summary.name: summary.calls for summary in persistence.metrics.snapshot()}
    assert len(counted) == sum(len(protocol_methods(p)) for p in PROTOCOLS.values())
    assert set(counted.values()) == {1}


async def test_explicit_options_are_passed_through(backend):
    options = OpenOptions(create_schema=True, verify_schema=False)
    await open_persistence(FAKE_CONFIG, options=options)
    assert backend.opened[0][1] is options


async def test_unknown_store_and_backend_are_config_errors(backend):
    with pytest.raises(ConfigError, match="unknown datastore 'nope'"):
        await open_persistence(FAKE_CONFIG, store="nope")
    other = parse_config(
        {"persistence": {"defaultStore": "x", "datastores": {"x": {"backend": "martian"}}}}
    )
    with pytest.raises(ConfigError, match="unknown persistence backend 'martian'"):
        await open_persistence(other)


async def test_middleware_order_retry_metrics_limit_faults(backend):
    """Faults are innermost and retry outermost: metrics sees every attempt and its error."""
    middleware = MiddlewareOptions(
        retry=RetryPolicy(max_attempts=3, initial_interval=0, max_interval=0),
        rate_limit=RateLimit(per_second=10_000),
        faults=FaultInjection([FaultRule("Unavailable", 1, "shard", "update_shard")]),
    )
    persistence = await open_persistence(FAKE_CONFIG, middleware=middleware)
    with pytest.raises(Unavailable, match="injected"):
        await persistence.shard.update_shard(1, 2, None, 1)
    [summary] = persistence.metrics.snapshot()
    assert summary.name == "shard.update_shard"
    assert summary.calls == 3
    assert summary.errors == {"Unavailable": 3}
    # The fault fired before the store: the backend never saw the call.
    assert backend.bundles[0].shard.calls == []
    assert await persistence.shard.get_or_create_shard(1) == "get_or_create_shard"


async def test_no_middleware_gives_the_raw_stores(backend):
    persistence = await open_persistence(FAKE_CONFIG, middleware=MiddlewareOptions.none())
    for name in PROTOCOLS:
        assert getattr(persistence, name) is getattr(backend.bundles[0], name)
    assert persistence.metrics.snapshot() == []


async def test_a_shared_registry_collects_from_several_persistences(backend):
    registry = MetricsRegistry()
    middleware = MiddlewareOptions(registry=registry)
    first = await open_persistence(FAKE_CONFIG, middleware=middleware)
    second = await open_persistence(FAKE_CONFIG, middleware=middleware)
    await first.metadata.get_metadata()
    await second.metadata.get_metadata()
    assert first.metrics is second.metrics is registry
    assert registry.snapshot()[0].calls == 2


async def test_close_is_idempotent_and_the_context_manager_closes():
    closed: list[bool] = []
    persistence = wrap_bundle(fake_bundle(closed), backend_name="fake")
    async with persistence as entered:
        assert entered is persistence
        assert not persistence.closed
    assert persistence.closed
    await persistence.close()
    assert closed == [True]


async def test_server_info_is_empty_when_the_backend_reports_nothing():
    bundle = fake_bundle()
    bundle.server_info = None
    assert await wrap_bundle(bundle).server_info() == {}


def test_history_manager_is_built_once_over_the_wrapped_history_store():
    persistence = wrap_bundle(fake_bundle())
    manager = persistence.history_manager
    assert manager is persistence.history_manager
    assert manager._store is persistence.history


async def test_default_store_is_sqlite_created_with_its_schema(tmp_path, monkeypatch):
    data_dir = tmp_path / "a" / "b"
    monkeypatch.setenv("PC_DATA_DIR", str(data_dir))
    async with await open_persistence() as persistence:
        assert persistence.backend_name == "sqlite"
        assert str(data_dir / "persistence.db") in persistence.description
        assert await persistence.metadata.get_metadata() == 0
        info = await persistence.server_info()
    assert (data_dir / "persistence.db").is_file()
    assert info.get("schema_version")
    # Reopening finds the schema in place.
    async with await open_persistence() as persistence:
        assert await persistence.metadata.get_metadata() == 0


async def test_sqlite_without_options_creates_its_schema(monkeypatch):
    fake = FakeBackend("sqlite")
    monkeypatch.setitem(factory._registered, "sqlite", lambda: fake)
    config = parse_config(
        {
            "persistence": {
                "defaultStore": "s",
                "datastores": {"s": {"sql": {"pluginName": "sqlite", "databaseName": ":memory:"}}},
            }
        }
    )
    await open_persistence(config)
    assert fake.opened[0][1].create_schema is True
