"""The bundled SQL schema sets, as the schema engine reads them (its own parsing of versions,
manifests and statements is tested in ``tests/schema``)."""

from __future__ import annotations

import json

import pytest

from persistence_cassandra.backends.sql import EXPECTED_SCHEMA_VERSION
from persistence_cassandra.schema import (
    Statement,
    lint_statements,
    parse_version,
    split_statements,
)
from persistence_cassandra.schema.bundled import bundled_schema_set


def _statements(backend: str) -> list[Statement]:
    return [
        statement
        for entry in bundled_schema_set(backend).versions
        for name in entry.manifest.files
        for statement in split_statements(
            entry.file_path(name).read_text(encoding="utf-8"), source=name
        )
    ]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_bundled_sets_are_in_temporal_layout_and_end_at_the_expected_version(
    backend: str,
) -> None:
    schema_set = bundled_schema_set(backend)
    assert schema_set.latest == parse_version(EXPECTED_SCHEMA_VERSION)
    for entry in schema_set.versions:
        manifest = json.loads((entry.path / "manifest.json").read_text())
        assert set(manifest) == {
            "CurrVersion",
            "MinCompatibleVersion",
            "Description",
            "SchemaUpdateCqlFiles",
        }
        for name in entry.manifest.files:
            assert entry.file_path(name).is_file()


def test_both_dialects_create_the_same_tables() -> None:
    def tables(backend: str) -> set[str]:
        return {
            statement.text.split()[2]
            for statement in _statements(backend)
            if statement.normalized.upper().startswith("CREATE TABLE")
        }

    assert tables("sqlite") == tables("postgres")
    assert {"shards", "executions", "current_executions", "history_node", "tasks"} <= tables(
        "sqlite"
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_bundled_statements_use_only_verbs_the_engine_allows(backend: str) -> None:
    statements = _statements(backend)
    assert statements
    assert lint_statements(statements, astra_rules=False) == []
