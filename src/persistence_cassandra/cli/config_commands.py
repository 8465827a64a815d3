"""``config show`` and ``config validate``."""

from __future__ import annotations

from typing import Any

import click
import yaml
from pydantic import SecretStr

from persistence_cassandra.cli.context import CliContext
from persistence_cassandra.config import PersistenceConfig
from persistence_cassandra.errors import ConfigError
from persistence_cassandra.factory import available_backends

__all__ = ["config_group", "describe_config", "render_config"]

MASK = "****"


def _masked(value: Any, where: str, unset: dict[str, str]) -> Any:
    if where in unset:
        # Not a value at all: say so, rather than mask the reference's text as a secret.
        return f"${{{unset[where]}}} (not set)"
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, dict):
        return {key: _masked(item, f"{where}.{key}", unset) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item, f"{where}[{i}]", unset) for i, item in enumerate(value)]
    return value


def render_config(config: PersistenceConfig, *, source: str = "") -> str:
    """The effective configuration (defaults filled in) as YAML, every secret shown as ****
    and every ``${VAR}`` that is not set as ``${VAR} (not set)``."""
    unset = {
        where: variable
        for found in config.unset_references().values()
        for where, variable in found.items()
    }
    dumped = config.model_dump(by_alias=True, exclude_none=True)
    document = {"persistence": _masked(dumped, "persistence", unset)}
    header = f"# source: {source}\n" if source else ""
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def describe_config(config: PersistenceConfig, store: str | None = None) -> str:
    """A one-line summary of a valid configuration; ``ConfigError`` for an unknown backend."""
    known = set(available_backends())
    unknown = [
        f"persistence.datastores.{name}.backend: unknown backend {datastore.backend_name!r}"
        for name, datastore in config.datastores.items()
        if datastore.backend_name not in known
    ]
    if unknown:
        raise ConfigError(f"{'; '.join(unknown)} (known: {', '.join(sorted(known))})")
    chosen = store or config.default_store
    backend = config.datastore(chosen).backend_name
    count = len(config.datastores)
    unset = {
        name: sorted(set(found.values()))
        for name, found in config.unset_references().items()
        if name != chosen
    }
    note = "".join(
        f"; datastore {name!r} needs {', '.join(names)} set before use"
        for name, names in sorted(unset.items())
    )
    return (
        f"valid: {count} datastore(s); using {chosen!r} ({backend}); "
        f"numHistoryShards={config.num_history_shards}{note}"
    )


@click.group("config")
def config_group() -> None:
    """Show or check the configuration."""


@config_group.command("show")
@click.pass_obj
def show_command(context: CliContext) -> None:
    """Print the effective configuration as YAML, with secrets masked."""
    click.echo(render_config(context.load_config(), source=context.config_source), nl=False)


@config_group.command("validate")
@click.pass_obj
def validate_command(context: CliContext) -> None:
    """Check the configuration file without connecting to any store."""
    summary = describe_config(context.load_config(), context.store)
    click.echo(f"{context.config_source}: {summary}")
