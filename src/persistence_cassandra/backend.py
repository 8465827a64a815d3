"""The backend contract: what a backend module exposes and how it is asked to open.

Declared here, beside the store Protocols (:mod:`persistence_cassandra.stores`), so that the
backends depend on contracts below them and never on the registry above them
(:mod:`persistence_cassandra.factory` resolves and opens backends by name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.stores import StoreBundle

__all__ = ["Backend", "OpenOptions"]


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
