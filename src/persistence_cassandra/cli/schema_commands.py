"""Placeholder: the schema-tool engineer replaces this module with the ``schema`` commands."""

from __future__ import annotations

import click

__all__ = ["schema_group"]

schema_group = click.Group("schema", help="Create and migrate schemas (see the schema tool docs).")
