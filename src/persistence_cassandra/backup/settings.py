"""The ``backup:`` block of the configuration file: where medusa keeps backups of a datastore
and how it reaches each of its nodes.

It sits beside ``persistence:`` (not inside it) because it describes the servers, not the
client: each node's ``cassandra.yaml``, its ``nodetool`` and the commands that stop and start
it, which a client never needs. One entry per Cassandra datastore, under its name::

    backup:
      cass:
        storage: {provider: local, basePath: /var/backups/pc, bucket: persistence}
        nodes:
          - {address: 10.0.0.5, cassandraYaml: /etc/cassandra/cassandra.yaml,
             startCmd: /usr/local/bin/start-cassandra, stopCmd: /usr/local/bin/stop-cassandra,
             nodetool: /usr/bin/nodetool, jmxPort: 7199}

``tools/cassandra_local.py backup-node`` and ``tools/cassandra_cluster.py backup-nodes`` print
the ``nodes`` entries of the local node and cluster.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from persistence_cassandra.config import default_data_dir, expand_env
from persistence_cassandra.errors import ConfigError

__all__ = [
    "MEDUSA_CASSANDRA_KEYS",
    "MEDUSA_STORAGE_KEYS",
    "BackupNode",
    "BackupSettings",
    "BackupStorage",
    "load_backup_settings",
]

# medusa 0.31.0's [storage] and [cassandra] keys (medusa/config.py): it silently ignores any
# other key, so a misspelt pass-through option is refused here instead.
MEDUSA_STORAGE_KEYS = frozenset(
    [
        "bucket_name",
        "key_file",
        "prefix",
        "fqdn",
        "host_file_separator",
        "storage_provider",
        "storage_class",
        "base_path",
        "max_backup_age",
        "max_backup_count",
        "api_profile",
        "transfer_max_bandwidth",
        "concurrent_transfers",
        "multi_part_upload_threshold",
        "multipart_chunksize",
        "multipart_max_concurrency",
        "host",
        "region",
        "port",
        "secure",
        "ssl_verify",
        "aws_cli_path",
        "kms_id",
        "sse_c_key",
        "backup_grace_period_in_days",
        "use_sudo_for_restore",
        "k8s_mode",
        "read_timeout",
        "s3_addressing_style",
    ]
)
MEDUSA_CASSANDRA_KEYS = frozenset(
    [
        "start_cmd",
        "stop_cmd",
        "config_file",
        "cql_username",
        "cql_password",
        "check_running",
        "is_ccm",
        "sstableloader_bin",
        "nodetool_username",
        "nodetool_password",
        "nodetool_password_file_path",
        "nodetool_host",
        "nodetool_executable",
        "nodetool_port",
        "certfile",
        "usercert",
        "userkey",
        "sstableloader_ts",
        "sstableloader_tspw",
        "sstableloader_ks",
        "sstableloader_kspw",
        "nodetool_ssl",
        "resolve_ip_addresses",
        "use_sudo",
        "nodetool_flags",
        "cql_k8s_secrets_path",
        "nodetool_k8s_secrets_path",
    ]
)
# Keys this block sets itself from named settings; passing them again would be ambiguous.
_OWN_STORAGE_KEYS = frozenset({"bucket_name", "prefix", "fqdn", "storage_provider", "base_path"})
_OWN_CASSANDRA_KEYS = frozenset(
    {"start_cmd", "stop_cmd", "config_file", "nodetool_executable", "nodetool_host"}
    | {"nodetool_port", "cql_username", "cql_password"}
)
_NAME_PART = re.compile(r"[A-Za-z0-9_.-]+")


def _check_options(options: dict[str, str], known: frozenset[str], own: frozenset[str]) -> None:
    for key in options:
        if key in own:
            raise ValueError(f"{key!r} is set by this block's own keys; remove it from options")
        if key not in known:
            raise ValueError(f"{key!r} is not a medusa 0.31.0 setting of this section")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class BackupStorage(_Model):
    """medusa's ``[storage]``: ``local`` keeps backups in a directory of this machine; the
    cloud providers (``s3``, ``s3_compatible``, ``google_storage``, ``azure_blobs``...) take
    their settings (``region``, ``key_file``, ``host``, ``port``, ``secure``...) in
    ``options``, passed through as written."""

    provider: str = "local"
    base_path: str | None = Field(default=None, alias="basePath")
    """``local`` only: the directory holding the bucket; default ``$PC_DATA_DIR/backups``."""
    bucket: str = "persistence-backups"
    prefix: str | None = None
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("bucket", "prefix")
    @classmethod
    def _no_slash(cls, value: str | None) -> str | None:
        if value is not None and not _NAME_PART.fullmatch(value):
            raise ValueError("must be letters, digits, '_', '.' or '-' (medusa refuses '/')")
        return value

    @field_validator("options")
    @classmethod
    def _known_options(cls, value: dict[str, str]) -> dict[str, str]:
        _check_options(value, MEDUSA_STORAGE_KEYS, _OWN_STORAGE_KEYS)
        return value

    @property
    def is_local(self) -> bool:
        return self.provider == "local"

    def local_root(self, store: str) -> Path:
        """Where a ``local`` backup's files live (the base path and the bucket)."""
        base = Path(self.base_path) if self.base_path else default_data_dir() / "backups" / store
        return base.expanduser() / self.bucket


class BackupNode(_Model):
    """One Cassandra node, as seen from the machine that runs medusa beside it."""

    address: str
    """The node's broadcast address: medusa files the node's backups under it (its fqdn)."""
    cassandra_yaml: str = Field(alias="cassandraYaml")
    start_cmd: str = Field(alias="startCmd")
    """Starts the node and returns (medusa waits for it: a foreground process would hang)."""
    stop_cmd: str = Field(alias="stopCmd")
    nodetool: str = "nodetool"
    jmx_host: str | None = Field(default=None, alias="jmxHost")
    jmx_port: int | None = Field(default=None, alias="jmxPort", ge=1, le=65535)
    options: dict[str, str] = Field(default_factory=dict)
    """Other keys of medusa's ``[cassandra]`` section (``nodetool_username``...)."""

    @field_validator("options")
    @classmethod
    def _known_options(cls, value: dict[str, str]) -> dict[str, str]:
        _check_options(value, MEDUSA_CASSANDRA_KEYS, _OWN_CASSANDRA_KEYS)
        return value


class BackupSettings(_Model):
    store: str = ""
    """The datastore's name (filled in when loaded)."""
    storage: BackupStorage = BackupStorage()
    nodes: list[BackupNode] = Field(min_length=1)
    mode: Literal["full", "differential"] = "full"
    """``full`` keeps each backup self-contained (deleting one never touches another)."""
    work_dir: str | None = Field(default=None, alias="workDir")
    """medusa.ini files, logs and restore downloads; default ``$PC_DATA_DIR/backup-work``."""

    @field_validator("nodes")
    @classmethod
    def _distinct(cls, value: list[BackupNode]) -> list[BackupNode]:
        addresses = [node.address for node in value]
        if len(set(addresses)) != len(addresses):
            raise ValueError("two nodes have the same address")
        return value

    @property
    def work_root(self) -> Path:
        base = Path(self.work_dir) if self.work_dir else default_data_dir() / "backup-work"
        return base.expanduser() / self.store


def _describe(error: ValidationError, root: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    problem = {
        "missing": "is required but missing",
        "extra_forbidden": "is not a known key",
    }.get(first["type"], first["msg"].removeprefix("Value error, "))
    return f"{root}.{where}: {problem}" if where else f"{root}: {problem}"


def load_backup_settings(config_path: Path | None, store: str) -> BackupSettings:
    """The ``backup.<store>`` block of the configuration file; ``ConfigError`` names what is
    missing or wrong."""
    if config_path is None:
        raise ConfigError(
            "backups need a configuration file (--config) with a Cassandra datastore and a "
            f"'backup: {{{store}: ...}}' block (see docs/backup.md)"
        )
    try:
        document: Any = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {config_path}: {exc}") from None
    block = document.get("backup") if isinstance(document, dict) else None
    if not isinstance(block, dict) or store not in block:
        raise ConfigError(
            f"{config_path}: no 'backup: {{{store}: ...}}' block: say where medusa keeps the "
            f"backups of datastore {store!r} and how it reaches its nodes (see docs/backup.md)"
        )
    entry = expand_env(block[store], f"backup.{store}")
    if not isinstance(entry, dict):
        raise ConfigError(f"{config_path}: backup.{store} must be a mapping")
    try:
        return BackupSettings.model_validate({**entry, "store": store})
    except ValidationError as exc:
        raise ConfigError(f"{config_path}: {_describe(exc, f'backup.{store}')}") from None
