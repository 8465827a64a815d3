"""Which keyspace or database a schema command works on, from temporal-cassandra-tool style
connection settings (or a ``persistence:`` config file), as a validated ``DatastoreConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from persistence_cassandra.config import DatastoreConfig, load_config
from persistence_cassandra.errors import SchemaToolError

__all__ = ["ConnectionSettings", "datastore_for"]

SQL_PLUGINS = ("sqlite", "postgres", "postgres12", "postgresql")


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Connection flags as given; ``None`` means not given."""

    endpoint: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = None
    keyspace: str | None = None
    datacenter: str | None = None
    disable_initial_host_lookup: bool = False
    tls: bool = False
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_ca_file: str | None = None
    tls_server_name: str | None = None
    tls_disable_host_verification: bool = False
    secure_connect_bundle: str | None = None
    astra_token: str | None = None
    plugin: str | None = None
    database: str | None = None
    connect_addr: str | None = None
    config_file: Path | None = None
    store: str | None = None

    @property
    def is_astra(self) -> bool:
        return self.secure_connect_bundle is not None


def _validated(document: dict[str, Any]) -> DatastoreConfig:
    try:
        return DatastoreConfig.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SchemaToolError(f"invalid connection settings: {where}: {message}") from None


def _tls(settings: ConnectionSettings) -> dict[str, Any]:
    return {
        "enabled": settings.tls,
        "certFile": settings.tls_cert_file,
        "keyFile": settings.tls_key_file,
        "caFile": settings.tls_ca_file,
        "serverName": settings.tls_server_name,
        "enableHostVerification": not settings.tls_disable_host_verification,
    }


def _from_config_file(
    settings: ConnectionSettings, overrides: ConnectionSettings
) -> DatastoreConfig:
    assert settings.config_file is not None
    datastore = load_config(settings.config_file).datastore(settings.store)
    # Only what was typed on the command line beats the file (not environment defaults).
    if datastore.cassandra is not None and overrides.keyspace:
        cassandra = datastore.cassandra.model_copy(update={"keyspace": overrides.keyspace})
        datastore = datastore.model_copy(update={"cassandra": cassandra})
    if datastore.sql is not None and overrides.database:
        sql = datastore.sql.model_copy(update={"database_name": overrides.database})
        datastore = datastore.model_copy(update={"sql": sql})
    return datastore


def datastore_for(
    settings: ConnectionSettings, *, typed: ConnectionSettings | None = None
) -> DatastoreConfig:
    """The datastore ``settings`` designate.

    With ``config_file`` the datastore comes from that file (``store`` or its default), and
    only the keyspace / database typed on the command line (``typed``) overrides it. Otherwise
    ``plugin`` picks SQL (``database`` is the SQLite file or PostgreSQL database) and no
    plugin means Cassandra, or Astra DB when a secure connect bundle is given.
    """
    if settings.config_file is not None:
        return _from_config_file(settings, typed or ConnectionSettings())
    if settings.plugin is not None:
        if settings.plugin not in SQL_PLUGINS:
            raise SchemaToolError(
                f"unknown --plugin {settings.plugin!r} (known: {', '.join(SQL_PLUGINS)})"
            )
        if not settings.database:
            raise SchemaToolError(f"--db is required with --plugin {settings.plugin}")
        address = settings.connect_addr
        if address is None and settings.plugin != "sqlite":
            address = f"{settings.endpoint or '127.0.0.1'}:{settings.port or 5432}"
        sql: dict[str, Any] = {
            "pluginName": settings.plugin,
            "databaseName": settings.database,
            "connectAddr": address,
            "user": settings.user,
            "password": settings.password,
            "tls": _tls(settings),
        }
        return _validated({"sql": sql})
    cassandra: dict[str, Any] = {
        "keyspace": settings.keyspace or "persistence",
        "user": settings.user,
        "password": settings.password,
        "datacenter": settings.datacenter,
        "disableInitialHostLookup": settings.disable_initial_host_lookup,
        "tls": _tls(settings),
    }
    if settings.is_astra:
        if not settings.astra_token:
            raise SchemaToolError(
                "--astra-token (or ASTRA_TOKEN) is required with --secure-connect-bundle"
            )
        cassandra["astra"] = {
            "secureConnectBundle": settings.secure_connect_bundle,
            "token": settings.astra_token,
        }
    else:
        cassandra["hosts"] = settings.endpoint or "127.0.0.1"
        cassandra["port"] = settings.port or 9042
    return _validated({"cassandra": cassandra})
