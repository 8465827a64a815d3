"""Version planning (pure), manifests and versioned directories, and the bundled sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from schema_tool_support import TEMPORAL_STYLE

from persistence_cassandra.errors import SchemaToolError
from persistence_cassandra.schema import find_schema_set, lint_statements, read_schema_set
from persistence_cassandra.schema.plan import build_update_plan, load_version_step
from persistence_cassandra.schema.versions import (
    Version,
    compare_versions,
    parse_manifest,
    parse_version,
    plan_versions,
)

# Cassandra driver threads left running by other tests call `random`; hypothesis notices the
# global random state moving while it generates data and warns, though these tests never use it.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


def test_versions_compare_tolerantly() -> None:
    assert parse_version("1") == parse_version("1.0") == parse_version("v1.0.0")
    assert parse_version("1.10") > parse_version("1.9") > parse_version("1.0")
    assert parse_version(" v2.1 ").text == "2.1"
    assert compare_versions("0.0", "0.1") == -1 and compare_versions("1.0", "1") == 0
    for bad in ("", "x", "1.a", "1.2.3.4", "-1", "1..2"):
        with pytest.raises(SchemaToolError, match="invalid schema version"):
            parse_version(bad)


triples = st.tuples(*(st.integers(0, 30),) * 3)


def _version(parts: tuple[int, int, int]) -> Version:
    return parse_version(".".join(map(str, parts)))


@given(st.lists(triples, max_size=12), st.none() | triples, triples)
def test_plan_is_exactly_the_versions_after_current_up_to_target(
    available: list[tuple[int, int, int]],
    current: tuple[int, int, int] | None,
    target: tuple[int, int, int],
) -> None:
    versions = [_version(v) for v in available]
    low = _version(current) if current is not None else None
    high = _version(target)
    if low is not None and high < low:
        with pytest.raises(SchemaToolError, match="downgrades"):
            plan_versions(versions, low, high)
        return
    plan = plan_versions(versions, low, high)
    assert plan == sorted(set(plan)), "ascending, no repeats"
    expected = {v for v in versions if (low is None or v > low) and v <= high}
    assert set(plan) == expected


def _manifest(**fields: object) -> bytes:
    document: dict[str, object] = {
        "CurrVersion": "1.0",
        "MinCompatibleVersion": "1.0",
        "Description": "d",
        "SchemaUpdateCqlFiles": ["a.cql"],
    }
    document.update(fields)
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"CurrVersion": None}, "CurrVersion is required"),
        ({"MinCompatibleVersion": None}, "MinCompatibleVersion is required"),
        ({"SchemaUpdateCqlFiles": []}, "SchemaUpdateCqlFiles must be a non-empty list"),
        ({"SchemaUpdateCqlFiles": "a.cql"}, "SchemaUpdateCqlFiles must be a non-empty list"),
        ({"MinCompatibleVersion": "2.0"}, "MinCompatibleVersion 2.0 is newer than CurrVersion"),
        ({"Description": 3}, "Description must be a string"),
    ],
)
def test_bad_manifests_name_the_field(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(SchemaToolError) as raised:
        parse_manifest(_manifest(**fields), where="v1.0/manifest.json")
    assert str(raised.value).startswith("v1.0/manifest.json: ") and problem in str(raised.value)
    with pytest.raises(SchemaToolError, match="not valid JSON"):
        parse_manifest(b"{", where="m")


def _write_version(root: Path, directory: str, version: str, files: dict[str, str]) -> None:
    path = root / directory
    path.mkdir(parents=True)
    manifest = _manifest(
        CurrVersion=version, MinCompatibleVersion="0.1", SchemaUpdateCqlFiles=list(files)
    )
    (path / "manifest.json").write_bytes(manifest)
    for name, text in files.items():
        (path / name).write_text(text)


def test_directories_must_match_their_manifest(tmp_path: Path) -> None:
    _write_version(tmp_path / "a", "v1.0", "1.1", {"x.cql": "CREATE TABLE t (a int PRIMARY KEY);"})
    with pytest.raises(
        SchemaToolError, match=r"CurrVersion 1\.1 does not match the directory name v1\.0"
    ):
        read_schema_set(tmp_path / "a")
    _write_version(tmp_path / "b", "v1.0", "1.0", {})
    (tmp_path / "b" / "v1.0" / "manifest.json").write_bytes(
        _manifest(SchemaUpdateCqlFiles=["gone.cql"])
    )
    with pytest.raises(SchemaToolError, match=r"listed file gone\.cql does not exist"):
        read_schema_set(tmp_path / "b")
    _write_version(tmp_path / "c", "v1.0", "1.0", {"x.cql": "DROP TABLE t;"})
    _write_version(tmp_path / "c", "v1.0.0", "1.0.0", {"x.cql": "DROP TABLE t;"})
    with pytest.raises(SchemaToolError, match="are the same version"):
        read_schema_set(tmp_path / "c")
    (tmp_path / "d").mkdir()
    with pytest.raises(SchemaToolError, match=r"holds no vX\.Y version directories"):
        read_schema_set(tmp_path / "d")


def test_versions_sort_numerically_and_the_parent_directory_works(tmp_path: Path) -> None:
    root = tmp_path / "schema" / "versioned"
    for minor in (2, 10, 9):
        _write_version(root, f"v1.{minor}", f"1.{minor}", {"a.cql": "DROP TABLE t;"})
    (root / "notes").mkdir()
    schema_set = read_schema_set(tmp_path / "schema")
    assert [v.version.text for v in schema_set.versions] == ["1.2", "1.9", "1.10"]
    assert schema_set.latest.text == "1.10"
    plan = build_update_plan(schema_set, "1.2", schema_set.resolve_target("1.9"))
    assert [step.version.text for step in plan.steps] == ["1.9"]


def test_the_temporal_style_fixtures_load_and_lint_clean() -> None:
    for dialect in ("cassandra", "sqlite", "postgresql"):
        schema_set = read_schema_set(TEMPORAL_STYLE / dialect)
        assert [v.version.text for v in schema_set.versions] == ["0.1", "0.2", "1.0", "1.1"]
        steps = [load_version_step(entry) for entry in schema_set.versions]
        assert all(step.statements for step in steps)
        assert len(steps[-1].file_checksums) == 2  # v1.1 spans two files
    cql = [load_version_step(e) for e in read_schema_set(TEMPORAL_STYLE / "cassandra").versions]
    assert lint_statements(p.statement for step in cql for p in step.statements) == []


@pytest.mark.parametrize(
    "name", ["cassandra/persistence", "sqlite/persistence", "postgresql/persistence"]
)
def test_bundled_schema_sets_plan_cleanly(name: str) -> None:
    schema_set = find_schema_set(name=name)
    assert schema_set.versions[0].version.text == "1.0"
    plan = build_update_plan(schema_set, "0.0", schema_set.latest)
    assert plan.statement_count > 0
    if name.startswith("cassandra"):
        statements = [p.statement for step in plan.steps for p in step.statements]
        errors = [f.describe() for f in lint_statements(statements) if f.severity == "error"]
        assert errors == [], "the bundled Cassandra schema must be Astra-compatible"


def test_find_schema_set_needs_exactly_one_source() -> None:
    with pytest.raises(SchemaToolError, match="exactly one"):
        find_schema_set()
    with pytest.raises(SchemaToolError, match="exactly one"):
        find_schema_set(TEMPORAL_STYLE / "sqlite", "sqlite/persistence")
    with pytest.raises(SchemaToolError, match=r"known: .*cassandra/persistence"):
        find_schema_set(name="cassandra/nope")
    assert find_schema_set(name="sqlite/persistence/versioned").latest.text
