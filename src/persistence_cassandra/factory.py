"""Backend registry and :func:`open_persistence`.

Backends are resolved lazily by name, the way SQLAlchemy resolves dialects: first those
registered in-process with :func:`register_backend`, then the built-ins, then the entry-point
group ``persistence_cassandra.backends``. A backend's heavy driver is imported only when a
store is opened.

:func:`open_persistence` is the one place where middleware is composed around the stores, in
the order documented on :class:`~persistence_cassandra.middleware.MiddlewareOptions`:
retry -> metrics -> rate limit -> fault injection -> backend store.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from persistence_cassandra.backend import Backend, OpenOptions
from persistence_cassandra.config import DatastoreConfig, PersistenceConfig, default_config
from persistence_cassandra.errors import ConfigError
from persistence_cassandra.middleware import (
    FaultInjectionInterceptor,
    Interceptor,
    InterceptorChain,
    MetricsInterceptor,
    MetricsRegistry,
    MiddlewareOptions,
    RateLimitInterceptor,
    RetryInterceptor,
    wrap_store,
)
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.stores import (
    ClusterMetadataStore,
    ExecutionStore,
    HistoryStore,
    MetadataStore,
    NexusEndpointStore,
    QueueStore,
    ShardStore,
    StoreBundle,
    TaskScavenger,
    TaskStore,
    VisibilityStore,
)

__all__ = [
    "Backend",
    "OpenOptions",
    "available_backends",
    "open_persistence",
    "open_store_bundle",
    "register_backend",
    "resolve_backend",
    "wrap_bundle",
]

ENTRY_POINT_GROUP = "persistence_cassandra.backends"


# name -> "module:attribute" of the built-ins, imported only when asked for.
_BUILTINS: dict[str, str] = {
    "sqlite": "persistence_cassandra.backends.sql.sqlite:BACKEND",
    "postgres": "persistence_cassandra.backends.sql.postgres:BACKEND",
    "cassandra": "persistence_cassandra.backends.cassandra.backend:BACKEND",
}

_registered: dict[str, Callable[[], Backend]] = {}


def register_backend(name: str, loader: Callable[[], Backend]) -> None:
    """Register a backend in-process; it takes precedence over built-ins and entry points."""
    _registered[name] = loader


def _entry_point_names() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_backends() -> list[str]:
    return sorted(set(_registered) | set(_BUILTINS) | set(_entry_point_names()))


def _load(target: str) -> Backend:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        # A backend whose driver is not installed is a setup mistake, not a crash.
        missing = exc.name or module_name
        raise ConfigError(
            f"backend module {module_name} cannot be imported (missing: {missing}); "
            "is its driver installed?"
        ) from exc
    backend = getattr(module, attribute or "BACKEND")
    if not isinstance(backend, Backend):
        raise ConfigError(f"{target} is not a persistence backend")
    return backend


def resolve_backend(name: str) -> Backend:
    """The backend called ``name``; an unknown name lists the known ones."""
    if name in _registered:
        return _registered[name]()
    if name in _BUILTINS:
        return _load(_BUILTINS[name])
    found = _entry_point_names()
    if name in found:
        return _load(found[name])
    raise ConfigError(
        f"unknown persistence backend {name!r} (known: {', '.join(available_backends())})"
    )


async def open_store_bundle(
    config: PersistenceConfig | DatastoreConfig,
    *,
    store: str | None = None,
    options: OpenOptions | None = None,
) -> StoreBundle:
    """Open the raw stores of one datastore (the default one unless ``store`` names another)."""
    datastore = config.datastore(store) if isinstance(config, PersistenceConfig) else config
    backend = resolve_backend(datastore.backend_name)
    return await backend.open(datastore, options or OpenOptions())


def _interceptors(middleware: MiddlewareOptions, registry: MetricsRegistry) -> list[Interceptor]:
    """The enabled layers, outermost first (the order is the contract; see MiddlewareOptions)."""
    layers: list[Interceptor] = []
    if middleware.retry is not None:
        layers.append(RetryInterceptor(middleware.retry))
    if middleware.metrics:
        layers.append(MetricsInterceptor(registry))
    if middleware.rate_limit is not None:
        layers.append(RateLimitInterceptor.from_config(middleware.rate_limit))
    if middleware.faults is not None:
        layers.append(FaultInjectionInterceptor.from_config(middleware.faults))
    return layers


def wrap_bundle(
    bundle: StoreBundle, middleware: MiddlewareOptions | None = None, *, backend_name: str = ""
) -> Persistence:
    """Wrap already-open stores in middleware (``open_persistence`` does this for you)."""
    middleware = middleware or MiddlewareOptions()
    registry = middleware.registry or MetricsRegistry()
    layers = _interceptors(middleware, registry)
    if not layers:
        return Persistence(
            shard=bundle.shard,
            execution=bundle.execution,
            history=bundle.history,
            task=bundle.task,
            metadata=bundle.metadata,
            cluster_metadata=bundle.cluster_metadata,
            queue=bundle.queue,
            nexus_endpoint=bundle.nexus_endpoint,
            capabilities=bundle.capabilities,
            metrics=registry,
            description=bundle.description,
            backend_name=backend_name,
            raw=bundle,
            task_scavenger=bundle.task_scavenger,
            visibility=bundle.visibility,
        )
    chain = InterceptorChain(layers)
    return Persistence(
        shard=wrap_store(bundle.shard, ShardStore, chain),
        execution=wrap_store(bundle.execution, ExecutionStore, chain),
        history=wrap_store(bundle.history, HistoryStore, chain),
        task=wrap_store(bundle.task, TaskStore, chain),
        metadata=wrap_store(bundle.metadata, MetadataStore, chain),
        cluster_metadata=wrap_store(bundle.cluster_metadata, ClusterMetadataStore, chain),
        queue=wrap_store(bundle.queue, QueueStore, chain),
        nexus_endpoint=wrap_store(bundle.nexus_endpoint, NexusEndpointStore, chain),
        capabilities=bundle.capabilities,
        metrics=registry,
        description=bundle.description,
        backend_name=backend_name,
        raw=bundle,
        task_scavenger=(
            None
            if bundle.task_scavenger is None
            else wrap_store(bundle.task_scavenger, TaskScavenger, chain)
        ),
        visibility=(
            None
            if bundle.visibility is None
            else wrap_store(bundle.visibility, VisibilityStore, chain)
        ),
    )


def _is_sqlite(datastore: DatastoreConfig) -> bool:
    return datastore.sql is not None and datastore.sql.dialect == "sqlite"


async def open_persistence(
    config: PersistenceConfig | None = None,
    *,
    store: str | None = None,
    middleware: MiddlewareOptions | None = None,
    options: OpenOptions | None = None,
) -> Persistence:
    """Open one datastore (the default unless ``store`` names another) with its middleware.

    Without ``config`` this is the embedded SQLite file store of
    :func:`~persistence_cassandra.config.default_config` (its directory is created). An SQLite
    store opened without explicit ``options`` creates or upgrades its own schema, like a dev
    server; every other store only verifies the stored schema version (the backend raises
    ``SchemaVersionMismatch`` naming the command to run).
    """
    if config is None:
        config = default_config()
        database = config.datastore().sql
        if database is not None and database.database_name != ":memory:":
            Path(database.database_name).parent.mkdir(parents=True, exist_ok=True)
    datastore = config.datastore(store)
    if options is None:
        options = OpenOptions(create_schema=_is_sqlite(datastore))
    bundle = await open_store_bundle(datastore, options=options)
    return wrap_bundle(bundle, middleware, backend_name=datastore.backend_name)
