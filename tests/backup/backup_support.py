"""Helpers of the backup tests: config files with a ``backup:`` block, the CLI in a child
process, keyspaces with the persistence schema, a migration that adds a table, and the
per-kind censuses (``copy``'s counts and checksums) that say two states hold the same data."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.copy import StoreReader, take_census
from persistence_cassandra.factory import open_store_bundle
from persistence_cassandra.schema_files import bundled_schema_dir

SHARDS = 4
CLI_TIMEOUT = 900
EXTRA_TABLE = "backup_test_extra"


@dataclass(frozen=True)
class BackupNodeHandle:
    """The private node: where it is and how a backup configuration names it."""

    tool: ModuleType
    settings: Any
    root: Path

    @property
    def host(self) -> str:
        return str(self.settings.host)

    @property
    def port(self) -> int:
        return int(self.settings.port)

    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = self.tool.backup_node_facts(self.settings)
        return facts

    def ensure_up(self) -> None:
        """Start it again if a test left it down (a failed restore)."""
        self.tool.start_node(self.settings)


@dataclass(frozen=True)
class CliRun:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return f"exit {self.exit_code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


async def run_cli(*args: str, env: dict[str, str] | None = None) -> CliRun:
    """``persistence-cassandra ARGS`` in a child process (the real entry point)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "persistence_cassandra",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "160", **(env or {})},
    )
    async with asyncio.timeout(CLI_TIMEOUT):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return CliRun(process.returncode, stdout.decode(), stderr.decode())


def cassandra_store(hosts: str, port: int, keyspace: str, **extra: Any) -> dict[str, Any]:
    return {"cassandra": {"hosts": hosts, "port": port, "keyspace": keyspace, **extra}}


def write_config(
    directory: Path,
    store: dict[str, Any],
    nodes: Sequence[dict[str, Any]] | None,
    *,
    storage: dict[str, Any] | None = None,
) -> Path:
    """A config file with datastore ``cass`` and, when ``nodes`` are given, its backup block
    (local storage and medusa's work files under ``directory``)."""
    document: dict[str, Any] = {
        "persistence": {
            "defaultStore": "cass",
            "numHistoryShards": SHARDS,
            "datastores": {"cass": store},
        }
    }
    if nodes is not None:
        document["backup"] = {
            "cass": {
                "storage": storage
                or {"provider": "local", "basePath": str(directory / "backups"), "bucket": "t"},
                "workDir": str(directory / "backup-work"),
                "nodes": list(nodes),
            }
        }
    path = directory / f"persistence-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def schema_args(hosts: str, port: int, keyspace: str) -> list[str]:
    return ["schema", "--ep", hosts, "-p", str(port), "-k", keyspace]


async def make_keyspace(hosts: str, port: int, keyspace: str, *, rf: int = 1, dc: str = "") -> None:
    """The keyspace at the bundled persistence schema's latest version."""
    target = schema_args(hosts, port, keyspace)
    create = ["create-keyspace", "--rf", str(rf)] + (["--dc", dc] if dc else [])
    for step in (
        create,
        ["setup-schema", "-v", "0.0"],
        ["update-schema", "-s", "cassandra/persistence"],
    ):
        run = await run_cli(*target, *step)
        assert run.exit_code == 0, run.output


def versions_plus_v9(directory: Path, description: str, statements: str) -> Path:
    """The bundled persistence versions plus a v9.0 of ``statements``, in ``directory``."""
    versions = directory / "versions"
    if versions.exists():
        shutil.rmtree(versions)
    shutil.copytree(bundled_schema_dir() / "cassandra" / "persistence" / "versioned", versions)
    step = versions / "v9.0"
    step.mkdir()
    manifest = {
        "CurrVersion": "9.0",
        "MinCompatibleVersion": "1.0",
        "Description": description,
        "SchemaUpdateCqlFiles": ["v9.cql"],
    }
    (step / "manifest.json").write_text(json.dumps(manifest) + "\n")
    (step / "v9.cql").write_text(statements)
    return versions


def migration_adding_a_table(directory: Path) -> Path:
    """v9.0 adds :data:`EXTRA_TABLE`, with a row."""
    return versions_plus_v9(
        directory,
        "adds a table (backup test)",
        f"CREATE TABLE {EXTRA_TABLE} (id int PRIMARY KEY, note text);\n"
        f"INSERT INTO {EXTRA_TABLE} (id, note) VALUES (1, 'after the backup');\n",
    )


async def census_of(store: dict[str, Any]) -> tuple[Any, ...]:
    """Per-kind counts and multiset checksums of everything the stores hold, plus the shard
    range ids and the namespace notification version."""
    bundle = await open_store_bundle(DatastoreConfig.model_validate(store))
    try:
        census = await take_census(StoreReader(bundle), range(1, SHARDS + 1))
    finally:
        await bundle.close()
    return (
        {kind: (t.count, t.total) for kind, t in census.tallies.items()},
        census.shard_ranges,
        census.notification_version,
    )


def query(hosts: str, port: int, cql: str) -> list[Any]:
    from cassandra.cluster import Cluster

    cluster = Cluster(hosts.split(","), port=port, connect_timeout=10)
    try:
        return list(cluster.connect().execute(cql, timeout=30))
    finally:
        cluster.shutdown()


def schema_state(hosts: str, port: int, keyspace: str) -> tuple[str, set[str]]:
    """The keyspace's recorded schema version and its tables."""
    version = query(
        hosts,
        port,
        f"SELECT curr_version FROM {keyspace}.schema_version WHERE keyspace_name = '{keyspace}'",
    )
    tables = query(
        hosts,
        port,
        f"SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{keyspace}'",
    )
    return str(version[0].curr_version), {row.table_name for row in tables}


def new_keyspace(prefix: str = "pc_bk") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"
