"""Backend registry and :func:`open_persistence`.

Backends are resolved lazily by name, the way SQLAlchemy resolves dialects: first those
registered in-process with :func:`register_backend`, then the built-ins, then the entry-point
group ``persistence_cassandra.backends``. A backend's heavy driver is imported only when a
store is opened.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from persistence_cassandra.config import DatastoreConfig, PersistenceConfig
from persistence_cassandra.errors import ConfigError
from persistence_cassandra.stores import StoreBundle

__all__ = [
    "Backend",
    "OpenOptions",
    "available_backends",
    "open_store_bundle",
    "register_backend",
    "resolve_backend",
]

ENTRY_POINT_GROUP = "persistence_cassandra.backends"


@dataclass(frozen=True, slots=True)
class OpenOptions:
    """How a store is opened, beyond its configuration."""

    create_schema: bool = False
    """Create or upgrade the schema on open (only the embedded SQLite default does this)."""
    verify_schema: bool = True
    """Refuse a stored schema older than the code expects."""


@runtime_checkable
class Backend(Protocol):
    """What a backend module exposes (as a module-level ``BACKEND`` object)."""

    name: str

    async def open(self, config: DatastoreConfig, options: OpenOptions) -> StoreBundle:
        """Connect and return every store, sharing one session or pool."""
        ...


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
    module = importlib.import_module(module_name)
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
