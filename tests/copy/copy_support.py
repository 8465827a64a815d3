"""Helpers of the copy tests: config files, opening datastores, running the CLI."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.factory import OpenOptions, open_store_bundle
from persistence_cassandra.stores import StoreBundle

SHARDS = 4
CLI_TIMEOUT = 300


def sqlite_store(path: Path) -> dict[str, Any]:
    return {"sql": {"pluginName": "sqlite", "databaseName": str(path)}}


def write_config(
    directory: Path, datastores: dict[str, dict[str, Any]], *, default: str | None = None
) -> Path:
    path = directory / f"persistence-{uuid.uuid4().hex[:8]}.yaml"
    document = {
        "persistence": {
            "defaultStore": default or next(iter(datastores)),
            "numHistoryShards": SHARDS,
            "datastores": datastores,
        }
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@asynccontextmanager
async def open_stores(
    datastore: dict[str, Any], *, create: bool = False
) -> AsyncIterator[StoreBundle]:
    config = DatastoreConfig.model_validate(datastore)
    bundle = await open_store_bundle(config, options=OpenOptions(create_schema=create))
    try:
        yield bundle
    finally:
        await bundle.close()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class CliRun:
    exit_code: int
    stdout: str
    stderr: str


WORKLOAD_CATEGORY = "951:COPY_WORKLOAD_CALLBACK:immediate"
"""The category copy_workload registers at run time; a copy of its stores must be told."""


async def run_cli(*args: str, task_categories: bool = True) -> CliRun:
    """``persistence-cassandra ARGS`` in a child process (the real entry point); a ``copy``
    is given the workload's run-time task category unless ``task_categories`` is false."""
    if args and args[0] == "copy" and task_categories:
        args = (*args, "--task-category", WORKLOAD_CATEGORY)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "persistence_cassandra",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "160"},
    )
    async with asyncio.timeout(CLI_TIMEOUT):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return CliRun(process.returncode, stdout.decode(), stderr.decode())
