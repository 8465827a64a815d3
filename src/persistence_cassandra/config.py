"""The ``persistence:`` configuration block, in the shape Temporal operators know.

Temporal's key names (``defaultStore``, ``numHistoryShards``, ``datastores``, ``cassandra``,
``sql`` ...) are accepted as written; ``astra`` is ours. Secrets may be given as ``${ENV_VAR}``
references and are never shown by ``repr`` or in error messages. With no configuration at all
the default is an embedded SQLite file store (:func:`default_config`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from persistence_cassandra.errors import ConfigError

__all__ = [
    "MAX_HISTORY_SHARDS",
    "AstraConfig",
    "CassandraConfig",
    "ConsistencyConfig",
    "DatastoreConfig",
    "PersistenceConfig",
    "ReconnectConfig",
    "SqlConfig",
    "TLSConfig",
    "default_config",
    "default_data_dir",
    "expand_env",
    "load_config",
    "parse_config",
]

MAX_HISTORY_SHARDS = 16_384
"""The largest ``numHistoryShards`` accepted: the most Temporal deployments run. The count is
fixed for a cluster's life, and tools that visit every shard (``copy``) do work per shard."""

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Model(BaseModel):
    # Unknown keys are errors: a misspelt key silently ignored is a production outage later.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class TLSConfig(_Model):
    enabled: bool = False
    cert_file: str | None = Field(default=None, alias="certFile")
    key_file: str | None = Field(default=None, alias="keyFile")
    ca_file: str | None = Field(default=None, alias="caFile")
    cert_data: SecretStr | None = Field(default=None, alias="certData")
    key_data: SecretStr | None = Field(default=None, alias="keyData")
    ca_data: SecretStr | None = Field(default=None, alias="caData")
    enable_host_verification: bool = Field(default=True, alias="enableHostVerification")
    server_name: str | None = Field(default=None, alias="serverName")


_CONSISTENCIES = {"ALL", "EACH_QUORUM", "QUORUM", "LOCAL_QUORUM", "TWO", "THREE"}
_SERIALS = {"SERIAL", "LOCAL_SERIAL"}


class ConsistencyConfig(_Model):
    consistency: str = "LOCAL_QUORUM"
    serial_consistency: str = Field(default="LOCAL_SERIAL", alias="serialConsistency")

    @field_validator("consistency")
    @classmethod
    def _check_consistency(cls, value: str) -> str:
        value = value.upper()
        if value not in _CONSISTENCIES:
            # ONE/ANY/LOCAL_ONE writes could lose acknowledged state (and Astra rejects them).
            raise ValueError(f"must be one of {sorted(_CONSISTENCIES)} (got {value!r})")
        return value

    @field_validator("serial_consistency")
    @classmethod
    def _check_serial(cls, value: str) -> str:
        value = value.upper()
        if value not in _SERIALS:
            raise ValueError(f"must be SERIAL or LOCAL_SERIAL (got {value!r})")
        return value


class _ConsistencyBlock(_Model):
    default: ConsistencyConfig = ConsistencyConfig()


class AstraConfig(_Model):
    secure_connect_bundle: str = Field(alias="secureConnectBundle")
    token: SecretStr


class ReconnectConfig(_Model):
    """When the driver tries a lost host (and its control connection) again.

    The driver alone decides when a restarted node is used again: until one of these attempts
    succeeds every request fails at once with ``Unavailable``, and on a single node nothing
    else (no peer's status event) brings the host back. The driver's own default (1 s doubling
    up to 10 min) left a node restarted after a 10-20 s outage unused for another 5-7 s; these
    defaults bring it back within about a second, for one TCP connect per second per lost host.
    Attempts never stop (the driver's default gives up after 64, and the host is then never
    reconnected).
    """

    policy: Literal["exponential", "constant"] = "exponential"
    """``exponential``: ``baseDelay`` doubling (with +/-15% jitter) up to ``maxDelay``;
    ``constant``: every ``baseDelay``."""
    base_delay: float = Field(default=0.2, gt=0, le=3600, alias="baseDelay")
    """Seconds before the first attempt (the fixed interval of ``constant``)."""
    max_delay: float = Field(default=1.0, gt=0, le=3600, alias="maxDelay")
    """Seconds, the longest wait between two attempts (``exponential`` only)."""

    @model_validator(mode="after")
    def _check_delays(self) -> ReconnectConfig:
        if self.policy == "constant":
            if "max_delay" in self.model_fields_set:
                raise ValueError("maxDelay applies to policy 'exponential' only")
        elif self.max_delay < self.base_delay:
            raise ValueError(
                f"maxDelay ({self.max_delay:g}) must be at least baseDelay ({self.base_delay:g})"
            )
        return self


class CassandraConfig(_Model):
    hosts: str = "127.0.0.1"
    """Comma-separated contact points, as in Temporal."""
    port: int = Field(default=9042, ge=1, le=65535)
    keyspace: str = "persistence"
    user: str | None = None
    password: SecretStr | None = None
    datacenter: str | None = None
    max_conns: int = Field(default=2, ge=1, alias="maxConns")
    connect_timeout: float = Field(default=10.0, gt=0, alias="connectTimeout")
    timeout: float = Field(default=10.0, gt=0)
    """Request timeout in seconds."""
    protocol_version: int | None = Field(default=None, alias="protocolVersion")
    consistency: _ConsistencyBlock = _ConsistencyBlock()
    tls: TLSConfig = TLSConfig()
    disable_initial_host_lookup: bool = Field(default=False, alias="disableInitialHostLookup")
    astra: AstraConfig | None = None
    reconnect: ReconnectConfig = ReconnectConfig()
    io_loop: Literal["asyncio", "driver"] = Field(default="asyncio", alias="ioLoop")
    """Who serves the stores' sockets: ``asyncio``, the event loop that opened the stores
    (no thread hand-over per request; the loop must keep running while they are open), or
    ``driver``, the driver's own I/O thread (libev), as plain cassandra-driver code does."""

    @field_validator("keyspace")
    @classmethod
    def _check_keyspace(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,47}", value):
            raise ValueError("must start with a letter and hold only letters, digits and _")
        return value

    @model_validator(mode="after")
    def _check_hosts(self) -> CassandraConfig:
        if self.astra is None and not self.host_list:
            raise ValueError("hosts is empty: give at least one contact point (host[,host...])")
        return self

    @property
    def host_list(self) -> list[str]:
        return [h.strip() for h in self.hosts.split(",") if h.strip()]


class SqlConfig(_Model):
    plugin_name: Literal["sqlite", "postgres", "postgres12", "postgresql"] = Field(
        alias="pluginName"
    )
    database_name: str = Field(alias="databaseName")
    """SQLite: a file path or ``:memory:``. PostgreSQL: the database name."""
    connect_addr: str | None = Field(default=None, alias="connectAddr")
    """``host:port`` for PostgreSQL."""
    user: str | None = None
    password: SecretStr | None = None
    max_conns: int = Field(default=10, ge=1, alias="maxConns")
    connect_attributes: dict[str, str] = Field(default_factory=dict, alias="connectAttributes")
    tls: TLSConfig = TLSConfig()

    @property
    def dialect(self) -> Literal["sqlite", "postgres"]:
        return "sqlite" if self.plugin_name == "sqlite" else "postgres"


class DatastoreConfig(_Model):
    cassandra: CassandraConfig | None = None
    sql: SqlConfig | None = None
    backend: str | None = None
    """A third-party backend registered under this name (entry point or ``register``)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Free-form options for a third-party backend."""

    @model_validator(mode="after")
    def _exactly_one(self) -> DatastoreConfig:
        given = [k for k in ("cassandra", "sql", "backend") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a datastore needs exactly one of 'cassandra', 'sql' or 'backend'"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def backend_name(self) -> str:
        if self.cassandra is not None:
            return "cassandra"
        if self.sql is not None:
            return self.sql.dialect
        assert self.backend is not None
        return self.backend


class PersistenceConfig(_Model):
    default_store: str = Field(alias="defaultStore")
    num_history_shards: int = Field(
        default=4, ge=1, le=MAX_HISTORY_SHARDS, alias="numHistoryShards"
    )
    datastores: dict[str, DatastoreConfig]
    _unset: dict[str, dict[str, str]] = PrivateAttr(default_factory=dict)
    """Per datastore: ``{key path: variable}`` of each ``${VAR}`` that is not set. Such a
    value holds the reference's text; the datastore fails only when a command uses it."""

    @model_validator(mode="after")
    def _default_store_exists(self) -> PersistenceConfig:
        if self.default_store not in self.datastores:
            known = ", ".join(sorted(self.datastores)) or "none"
            raise ValueError(
                f"defaultStore {self.default_store!r} is not a datastore (known: {known})"
            )
        return self

    def datastore(self, name: str | None = None) -> DatastoreConfig:
        """The named datastore, or the default one."""
        key = self.check_name(name)
        missing = self._unset.get(key)
        if missing:
            listed = "; ".join(
                f"{where}: environment variable {variable} is not set"
                for where, variable in missing.items()
            )
            raise ConfigError(listed)
        return self.datastores[key]

    def check_name(self, name: str | None = None) -> str:
        """The datastore's name (the default one for ``None``); ``ConfigError`` listing the
        known names for an unknown one. Unlike :meth:`datastore`, unset ``${VAR}`` references
        in it are not an error here."""
        key = name or self.default_store
        if key not in self.datastores:
            known = ", ".join(sorted(self.datastores))
            raise ConfigError(f"unknown datastore {key!r} (known: {known})")
        return key

    def unset_references(self) -> dict[str, dict[str, str]]:
        """Per datastore, ``{key path: variable}`` of the ``${VAR}`` references not set."""
        return {name: dict(found) for name, found in self._unset.items()}


def default_data_dir() -> Path:
    """Where the embedded store lives: ``$PC_DATA_DIR``, else under ``$XDG_DATA_HOME``."""
    env = os.environ.get("PC_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "persistence-cassandra"


def default_config() -> PersistenceConfig:
    """No configuration at all: an SQLite file store under the data directory."""
    path = default_data_dir() / "persistence.db"
    return PersistenceConfig.model_validate(
        {
            "defaultStore": "default",
            "datastores": {"default": {"sql": {"pluginName": "sqlite", "databaseName": str(path)}}},
        }
    )


def expand_env(value: Any, where: str, unset: dict[str, str] | None = None) -> Any:
    """``value`` with every ``${VAR}`` (or ``${VAR:-fallback}``) replaced. A variable that is
    not set raises ``ConfigError``, unless ``unset`` collects it (``{where: VAR}``) and the
    reference's text is kept."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, fallback = match.group(1), match.group(2)
            found = os.environ.get(name, fallback)
            if found is not None:
                return found
            if unset is None:
                raise ConfigError(f"{where}: environment variable {name} is not set")
            unset[where] = name
            return match.group(0)

        return _ENV_REF.sub(replace, value)
    if isinstance(value, dict):
        return {k: expand_env(v, f"{where}.{k}", unset) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{where}[{i}]", unset) for i, v in enumerate(value)]
    return value


def _expand_block(block: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The block with its references expanded, and the unset ones of each datastore: those
    matter only to a command that uses that datastore (a secret of a store this command never
    opens need not be in its environment). Elsewhere an unset variable is an error at once."""
    expanded: dict[str, Any] = {}
    unset: dict[str, dict[str, str]] = {}
    for key, value in block.items():
        if key == "datastores" and isinstance(value, dict):
            stores: dict[str, Any] = {}
            for name, store in value.items():
                found: dict[str, str] = {}
                stores[name] = expand_env(store, f"persistence.datastores.{name}", found)
                if found:
                    unset[str(name)] = found
            expanded[key] = stores
        else:
            expanded[key] = expand_env(value, f"persistence.{key}")
    return expanded, unset


def _describe(error: ValidationError, root: str) -> str:
    """Every problem pydantic found, each as ``path: problem``, joined on one line (an
    operator fixing a file wants the whole list, not one mistake per run)."""
    return "; ".join(_describe_one(problem, root) for problem in error.errors())


def _describe_one(problem: Any, root: str) -> str:
    location = ".".join(str(part) for part in problem["loc"]) if problem["loc"] else ""
    path = f"{root}.{location}" if location else root
    kind = problem["type"]
    if kind == "missing":
        text = "is required but missing"
    elif kind == "extra_forbidden":
        text = "is not a known key"
    else:
        text = problem["msg"].removeprefix("Value error, ")
        if "input" in problem and kind != "value_error" and not isinstance(problem["input"], dict):
            text += f" (got {problem['input']!r})"
    return f"{path}: {text}"


def parse_config(document: Any, *, source: str = "config") -> PersistenceConfig:
    """Validate a parsed YAML document holding a ``persistence:`` block (or the block itself)."""
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping with a 'persistence:' block")
    block = document.get("persistence", document)
    if not isinstance(block, dict):
        raise ConfigError(f"{source}: 'persistence' must be a mapping")
    block, unset = _expand_block(block)
    try:
        config = PersistenceConfig.model_validate(block)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc, 'persistence')}") from None
    config._unset = unset
    return config


def load_config(path: str | Path | None) -> PersistenceConfig:
    """Read and validate a YAML file; ``None`` gives :func:`default_config`."""
    if path is None:
        return default_config()
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {file} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{file}:{where} is not valid YAML") from None
    return parse_config(document, source=str(file))
