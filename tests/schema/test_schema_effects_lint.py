"""What a statement creates or removes (for catalog checks on resume), and the Astra lint."""

from __future__ import annotations

import pytest

from persistence_cassandra.schema.effects import Effect, SchemaObject, describe_effect
from persistence_cassandra.schema.lint import lint_statements
from persistence_cassandra.schema.statements import split_statements


def effect(text: str) -> Effect | None:
    (statement,) = split_statements(text)
    return describe_effect(statement)


def objects(text: str) -> list[tuple[str, str, str | None]]:
    found = effect(text)
    assert found is not None, text
    return [(o.kind, o.name, o.parent) for o in found.objects]


@pytest.mark.parametrize(
    ("text", "expected", "present"),
    [
        (
            'CREATE TABLE IF NOT EXISTS ks."Mixed" (a int PRIMARY KEY)',
            [("table", "Mixed", None)],
            True,
        ),
        ("CREATE TABLE Events (a int PRIMARY KEY)", [("table", "events", None)], True),
        ("CREATE TYPE addr (street text)", [("type", "addr", None)], True),
        ("CREATE CUSTOM INDEX IF NOT EXISTS i ON t (c) USING 'sai'", [("index", "i", None)], True),
        ("CREATE UNIQUE INDEX i2 ON t (c)", [("index", "i2", None)], True),
        ("CREATE MATERIALIZED VIEW mv AS SELECT * FROM t", [("view", "mv", None)], True),
        (
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
            [("trigger", "tr", None)],
            True,
        ),
        ("ALTER TABLE t ADD c map<text, int>", [("column", "c", "t")], True),
        (
            "ALTER TABLE t ADD (a int, b map<text, int>)",
            [("column", "a", "t"), ("column", "b", "t")],
            True,
        ),
        ("ALTER TABLE t ADD a int, b text", [("column", "a", "t"), ("column", "b", "t")], True),
        (
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS a int, ADD COLUMN b text CHECK (b > 'a')",
            [("column", "a", "t"), ("column", "b", "t")],
            True,
        ),
        ("ALTER TABLE t DROP (a, b)", [("column", "a", "t"), ("column", "b", "t")], False),
        ("ALTER TABLE t DROP COLUMN IF EXISTS a", [("column", "a", "t")], False),
        ("ALTER TYPE addr ADD zip text", [("field", "zip", "addr")], True),
        ("DROP TABLE IF EXISTS a, b", [("table", "a", None), ("table", "b", None)], False),
        ("DROP INDEX ks.idx", [("index", "idx", None)], False),
        ("DROP MATERIALIZED VIEW mv", [("view", "mv", None)], False),
    ],
)
def test_effects(text: str, expected: list[tuple[str, str, str | None]], present: bool) -> None:
    found = effect(text)
    assert found is not None and found.present_after is present
    assert objects(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "INSERT INTO t (a) VALUES (1)",
        "DO $$ BEGIN END $$",
        "CREATE INDEX ON t (c)",
        "ALTER TABLE t WITH comment = 'x'",
        "ALTER TABLE t ADD a int, DROP b",
        "ALTER TABLE t ADD CONSTRAINT c UNIQUE (a)",
        "CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ select 1 $$ LANGUAGE sql",
        "CREATE EXTENSION pgcrypto",
    ],
)
def test_statements_whose_effect_cannot_be_told(text: str) -> None:
    assert effect(text) is None


def test_concurrently_cannot_run_in_a_transaction() -> None:
    created = effect("CREATE INDEX CONCURRENTLY i ON t (c)")
    assert created is not None and not created.transactional
    assert created.objects == (SchemaObject("index", "i"),)
    dropped = effect("DROP INDEX CONCURRENTLY IF EXISTS i")
    assert dropped is not None and not dropped.transactional and not dropped.present_after


def rules(text: str) -> list[tuple[str, str, int]]:
    return [
        (f.rule, f.severity, f.line)
        for f in lint_statements(split_statements(text, source="x.cql"))
    ]


def test_lint_flags_what_astra_rejects_or_ignores() -> None:
    text = """CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'rf': 1};
CREATE TABLE a (p int, c1 int, c2 text, PRIMARY KEY ((p), c1, c2))
  WITH CLUSTERING ORDER BY (c1 DESC) AND compaction = {'class': 'LCS'} AND comment = 'ok';
CREATE TABLE b (p int, c1 int, c2 text, PRIMARY KEY (p, c1, c2))
  WITH CLUSTERING ORDER BY (c1 DESC, c2 ASC) AND default_time_to_live = 10;
CREATE TABLE c (p int PRIMARY KEY, v text) WITH CLUSTERING ORDER BY (v ASC);
CREATE INDEX i1 ON a (c2);
CREATE CUSTOM INDEX i1 ON b (c2) USING 'StorageAttachedIndex';
CREATE CUSTOM INDEX i3 ON b (c2) USING 'org.apache.cassandra.index.sasi.SASIIndex';
CREATE MATERIALIZED VIEW mv AS SELECT * FROM a WHERE p IS NOT NULL PRIMARY KEY (p);
CREATE FUNCTION f (x int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS 'return x;';
CREATE AGGREGATE g (int) SFUNC f STYPE int;
CREATE TRIGGER tr ON a USING 'org.example.Trigger';
ALTER TABLE b WITH caching = {'keys': 'ALL'} AND gc_grace_seconds = 0;
ALTER KEYSPACE k WITH durable_writes = true;
SELECT * FROM a;
"""
    assert rules(text) == [
        ("keyspace-ddl", "error", 1),
        ("ignored-table-option", "warning", 2),
        ("partial-clustering-order", "error", 2),
        ("partial-clustering-order", "error", 6),
        ("non-sai-index", "error", 7),
        ("index-name-reuse", "warning", 8),
        ("non-sai-index", "error", 9),
        ("materialized-view", "error", 10),
        ("udf-uda", "error", 11),
        ("udf-uda", "error", 12),
        ("trigger", "error", 13),
        ("ignored-table-option", "warning", 14),
        ("ignored-table-option", "warning", 14),
        ("keyspace-ddl", "error", 15),
        ("disallowed-verb", "error", 16),
    ]


def test_a_full_clustering_order_and_sai_indexes_are_clean() -> None:
    text = """CREATE TABLE h (tree_id uuid, branch_id uuid, node_id bigint, txn_id bigint,
  data blob, PRIMARY KEY ((tree_id), branch_id, node_id, txn_id))
  WITH CLUSTERING ORDER BY (branch_id ASC, node_id ASC, txn_id DESC) AND comment = 'x';
CREATE CUSTOM INDEX IF NOT EXISTS h_data ON h (data) USING 'sai';
"""
    assert rules(text) == []


def test_sql_files_get_only_the_verb_rule() -> None:
    text = "CREATE INDEX i ON t (c);\nCREATE TRIGGER tr BEFORE INSERT ON t BEGIN SELECT 1; END;\n"
    statements = split_statements(text + "SELECT 1;", source="x.sql")
    findings = lint_statements(statements, astra_rules=False)
    assert [(f.rule, f.line) for f in findings] == [("disallowed-verb", 3)]
