"""The bundled SQL schema files and the minimal loader that applies them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from persistence_cassandra.backends.sql import EXPECTED_SCHEMA_VERSION
from persistence_cassandra.backends.sql.schema_loader import (
    parse_version,
    read_version_dirs,
    split_statements,
)
from persistence_cassandra.schema_files import bundled_schema_dir


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_bundled_versions_are_in_temporal_layout(database: str) -> None:
    root = bundled_schema_dir() / database / "persistence" / "versioned"
    versions = read_version_dirs(root)
    assert versions, f"no versions under {root}"
    assert versions[-1].version == EXPECTED_SCHEMA_VERSION
    for directory in root.iterdir():
        manifest = json.loads((directory / "manifest.json").read_text())
        assert set(manifest) == {
            "CurrVersion",
            "MinCompatibleVersion",
            "Description",
            "SchemaUpdateCqlFiles",
        }
        for name in manifest["SchemaUpdateCqlFiles"]:
            assert (directory / name).is_file()


def test_both_dialects_create_the_same_tables() -> None:
    def tables(database: str) -> set[str]:
        root = bundled_schema_dir() / database / "persistence" / "versioned"
        return {
            statement.split()[2]
            for version in read_version_dirs(root)
            for statement in version.statements
            if statement.startswith("CREATE TABLE")
        }

    assert tables("sqlite") == tables("postgresql")
    assert {"shards", "executions", "current_executions", "history_node", "tasks"} <= tables(
        "sqlite"
    )


def test_split_statements_drops_comments_and_splits_at_line_ends() -> None:
    text = "-- header\nCREATE TABLE a (\n  x INT -- inline stays\n);\n\nINSERT INTO a VALUES (1);\n"
    assert split_statements(text) == [
        "CREATE TABLE a (\n  x INT -- inline stays\n)",
        "INSERT INTO a VALUES (1)",
    ]


def test_versions_compare_numerically() -> None:
    assert parse_version("1.10") > parse_version("1.9")
    assert parse_version("v2.0") == (2, 0)
    with pytest.raises(ValueError):
        parse_version("one")


def test_version_dirs_are_read_in_order(tmp_path: Path) -> None:
    for version in ("1.10", "1.2", "1.0"):
        directory = tmp_path / f"v{version}"
        directory.mkdir()
        (directory / "manifest.json").write_text(
            json.dumps(
                {
                    "CurrVersion": version,
                    "MinCompatibleVersion": "1.0",
                    "Description": f"v{version}",
                    "SchemaUpdateCqlFiles": ["s.sql"],
                }
            )
        )
        (directory / "s.sql").write_text(f"CREATE TABLE t{version.replace('.', '_')} (x INT);\n")
    assert [v.version for v in read_version_dirs(tmp_path)] == ["1.0", "1.2", "1.10"]


def test_a_manifest_must_match_its_directory(tmp_path: Path) -> None:
    directory = tmp_path / "v1.1"
    directory.mkdir()
    (directory / "manifest.json").write_text(
        json.dumps({"CurrVersion": "1.2", "MinCompatibleVersion": "1.0"})
    )
    with pytest.raises(ValueError, match="CurrVersion"):
        read_version_dirs(tmp_path)
