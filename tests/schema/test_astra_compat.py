"""The Astra adaptation, offline: what it rewrites, what it refuses, and properties that hold
for any layout of the statements it meets (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from persistence_cassandra.errors import SchemaToolError
from persistence_cassandra.schema.astra_compat import (
    adapt_plan,
    adapt_statement,
    check_plan_for_astra,
    lint_with_adaptation,
)
from persistence_cassandra.schema.definitions import declared
from persistence_cassandra.schema.effects import describe_effect
from persistence_cassandra.schema.lint import ASTRA_IGNORED_TABLE_OPTIONS, lint_statements
from persistence_cassandra.schema.plan import PlannedStatement, UpdatePlan, VersionStep
from persistence_cassandra.schema.statements import Statement, split_statements
from persistence_cassandra.schema.versions import parse_version


def one(text: str) -> Statement:
    (statement,) = split_statements(text, source="v0.1/x.cql")
    return statement


def rules(statement: Statement) -> set[str]:
    return {finding.rule for finding in lint_statements([statement])}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "CREATE INDEX IF NOT EXISTS by_name ON t (name)",
            "CREATE CUSTOM INDEX IF NOT EXISTS by_name ON t (name) USING 'StorageAttachedIndex'",
        ),
        (
            "create index on ks.t(keys(m)) ",
            "create CUSTOM INDEX on ks.t(keys(m)) USING 'StorageAttachedIndex'",
        ),
        (
            "CREATE INDEX i ON t (c) USING 'legacy_local_table' WITH OPTIONS = {'a': 'b'}",
            "CREATE CUSTOM INDEX i ON t (c) USING 'StorageAttachedIndex' WITH OPTIONS = {'a': 'b'}",
        ),
        (
            "CREATE TABLE x (k int PRIMARY KEY) WITH compaction = {'class': 'LCS'}\n"
            "  AND comment = 'AND gc_grace_seconds = 1; WITH caching' AND gc_grace_seconds = 10",
            "CREATE TABLE x (k int PRIMARY KEY) WITH comment = 'AND gc_grace_seconds = 1; WITH "
            "caching'",
        ),
        (
            "CREATE TABLE y (k int, c int, PRIMARY KEY (k, c)) WITH caching = {'keys': 'ALL'} "
            "AND CLUSTERING ORDER BY (c DESC)",
            "CREATE TABLE y (k int, c int, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (c DESC)",
        ),
        ("CREATE TABLE z (k int PRIMARY KEY) WITH gc_grace_seconds = 5", None),
        (
            # Temporal's old visibility tables: only the first clustering column listed.
            "CREATE TABLE v (ns uuid, st timestamp, run_id uuid, PRIMARY KEY ((ns), st, run_id))"
            " WITH CLUSTERING ORDER BY (st DESC) AND compaction = {'class': 'LCS'}",
            "CREATE TABLE v (ns uuid, st timestamp, run_id uuid, PRIMARY KEY ((ns), st, run_id))"
            " WITH CLUSTERING ORDER BY (st DESC, run_id ASC)",
        ),
    ],
)
def test_rewrites(text: str, expected: str | None) -> None:
    adaptation = adapt_statement(one(text))
    assert adaptation.changed
    assert adaptation.statement is not None
    if expected is not None:
        assert adaptation.statement.text == expected
    assert not rules(adaptation.statement) & {
        "non-sai-index",
        "ignored-table-option",
        "partial-clustering-order",
    }


def test_an_alter_of_ignored_options_only_leaves_nothing_to_run() -> None:
    adaptation = adapt_statement(one("ALTER TABLE t WITH compaction = {'class': 'LCS'}"))
    assert adaptation.statement is None
    assert "nothing left to run" in adaptation.describe()


@pytest.mark.parametrize(
    "text",
    [
        "CREATE TABLE t (k int PRIMARY KEY) WITH comment = 'compaction'",
        "CREATE CUSTOM INDEX i ON t (c) USING 'StorageAttachedIndex'",
        "CREATE INDEX i ON t (full(f))",
        "CREATE TABLE t (a int, b int, c int, PRIMARY KEY (a, b, c)) WITH CLUSTERING ORDER BY "
        "(c DESC)",
        "CREATE INDEX i ON t (c) USING 'org.apache.cassandra.index.sasi.SASIIndex'",
        "CREATE MATERIALIZED VIEW v AS SELECT * FROM t WHERE k IS NOT NULL PRIMARY KEY (k)",
        "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy'}",
        "INSERT INTO t (k) VALUES (1)",
    ],
)
def test_statements_left_alone(text: str) -> None:
    statement = one(text)
    adaptation = adapt_statement(statement)
    assert not adaptation.changed and adaptation.statement == statement


def _plan(text: str) -> UpdatePlan:
    statements = tuple(
        PlannedStatement(i, "x.cql", s)
        for i, s in enumerate(split_statements(text, source="v0.1/x.cql"))
    )
    version = parse_version("0.1")
    step = VersionStep(version, version, "d", "md5", {"x.cql": "sha"}, statements)
    return UpdatePlan("0.0", version, (step,))


def test_what_has_no_equivalent_is_refused_naming_file_and_line() -> None:
    plan = adapt_plan(
        _plan(
            "CREATE INDEX i ON t (c);\n\nCREATE FUNCTION f (a int) RETURNS NULL ON NULL INPUT "
            "RETURNS int LANGUAGE java AS 'return a;';\nCREATE TRIGGER tr ON t USING 'x';"
        )
    )
    with pytest.raises(SchemaToolError) as raised:
        check_plan_for_astra(plan, adapted=True)
    message = str(raised.value)
    assert message.startswith("v0.1/x.cql line 3: Astra DB does not support user-defined")
    assert "no equivalent" in message and "(and 1 more)" in message


def test_without_adaptation_the_refusal_is_lints_message() -> None:
    plan = _plan("CREATE TABLE t (k int PRIMARY KEY);\nCREATE INDEX i ON t (c);")
    with pytest.raises(SchemaToolError) as raised:
        check_plan_for_astra(plan, adapted=False)
    message = str(raised.value)
    assert "v0.1/x.cql:2: error [non-sai-index]" in message
    assert "--astra-compat" in message and "Nothing was run" in message
    check_plan_for_astra(adapt_plan(plan), adapted=True)  # adapted: nothing left to refuse


def test_lint_says_what_the_adaptation_resolves() -> None:
    statements = split_statements(
        "CREATE TABLE t (k int PRIMARY KEY) WITH compaction = {'class': 'LCS'};\n"
        "CREATE INDEX i ON t (c);\n"
        "CREATE MATERIALIZED VIEW v AS SELECT * FROM t WHERE k IS NOT NULL PRIMARY KEY (k);\n"
        "CREATE INDEX i ON u (c);\n"
        "CREATE TABLE w (a int, b int, c int, PRIMARY KEY (a, b, c)) "
        "WITH CLUSTERING ORDER BY (b DESC);\n",
        source="x.cql",
    )
    verdicts = {(f.rule, f.line): resolved for f, resolved in lint_with_adaptation(statements)}
    assert verdicts == {
        ("ignored-table-option", 1): True,
        ("non-sai-index", 2): True,
        ("materialized-view", 3): False,
        ("non-sai-index", 4): True,
        ("index-name-reuse", 4): False,
        ("partial-clustering-order", 5): True,
    }


# ------------------------------------------------------------------------------ properties
_SPACES = st.sampled_from([" ", "  ", "\n  ", " /* a comment; WITH */ ", " -- note\n  "])
_IGNORED_VALUES = {
    "compaction": "{'class': 'SizeTieredCompactionStrategy', 'max_threshold': 32}",
    "caching": "{'keys': 'ALL', 'rows_per_partition': 'NONE'}",
    "gc_grace_seconds": "864000",
    "bloom_filter_fp_chance": "0.01",
    "speculative_retry": "'99p'",
    "memtable_flush_period_in_ms": "0",
    "compression": "{'class': 'LZ4Compressor'}",
    "read_repair": "'BLOCKING'",
}
assert set(_IGNORED_VALUES) <= ASTRA_IGNORED_TABLE_OPTIONS
_KEPT = [
    "default_time_to_live = 3600",
    "comment = 'AND compaction = {} WITH caching; it''s kept'",
    "CLUSTERING ORDER BY (c DESC)",
]


@st.composite
def table_statements(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    """A CREATE/ALTER TABLE with a random mix of ignored and kept options, in any order and
    layout; returns (text, ignored option names, kept clauses)."""
    ignored = draw(st.lists(st.sampled_from(sorted(_IGNORED_VALUES)), unique=True, max_size=4))
    alter = draw(st.booleans())
    kept = draw(st.lists(st.sampled_from(_KEPT[:2] if alter else _KEPT), unique=True))
    clauses = [f"{name} = {_IGNORED_VALUES[name]}" for name in ignored] + kept
    clauses = draw(st.permutations(clauses))
    space = draw(_SPACES)
    head = (
        "ALTER TABLE ks.t"
        if alter
        else f"CREATE TABLE IF NOT EXISTS t ({space}k int,{space}c int, v map<text, text>,"
        f"{space}PRIMARY KEY ((k), c))"
    )
    if not clauses:
        return head + (" ADD w int" if alter else ""), ignored, kept
    joiner = draw(_SPACES) + draw(st.sampled_from(["AND", "and"])) + draw(_SPACES)
    with_word = draw(st.sampled_from(["WITH", "with"]))
    return f"{head}{space}{with_word} {joiner.join(clauses)}", ignored, kept


@settings(max_examples=200, deadline=None)
@given(table_statements())
def test_table_options_astra_ignores_are_dropped_and_nothing_else(
    case: tuple[str, list[str], list[str]],
) -> None:
    text, ignored, kept = case
    statement = one(text)
    adaptation = adapt_statement(statement)
    assert adaptation.changed == bool(ignored)
    if not ignored:
        assert adaptation.statement == statement
        return
    adapted = adaptation.statement
    if adapted is None:
        assert statement.verb == "ALTER" and not kept
        return
    assert "ignored-table-option" not in rules(adapted)
    assert rules(adapted) <= rules(statement)
    for clause in kept:
        assert clause in adapted.text
    for name in ignored:
        assert all(t.text.lower() != name for t in adapted.tokens)
    # Up to WITH, the statement is token for token what it was.
    cut = next(i for i, t in enumerate(statement.tokens) if t.is_word("WITH"))
    assert [t.text for t in adapted.tokens[:cut]] == [t.text for t in statement.tokens[:cut]]
    assert describe_effect(adapted) == describe_effect(statement)
    assert not adapt_statement(adapted).changed, "adapting twice changes nothing more"


@st.composite
def index_statements(draw: st.DrawFn) -> tuple[str, str | None, bool, str]:
    word = draw(st.sampled_from([str.upper, str.lower, str.title]))
    space = draw(_SPACES)
    name = draw(st.sampled_from([None, "by_name", '"ByName"']))
    if_not_exists = draw(st.booleans())
    table = draw(st.sampled_from(["t", "ks.t", '"T"']))
    target = draw(st.sampled_from(["name", "keys(m)", "values(m)", "entries(m)", '"Col"']))
    using = draw(st.sampled_from(["", " USING 'sai'", " USING 'legacy_local_table'"]))
    parts = [word("create"), word("index")]
    if if_not_exists:
        parts += [word("if"), word("not"), word("exists")]
    if name:
        parts.append(name)
    parts += [word("on"), table, f"({target}){using}"]
    return space.join(parts), name, if_not_exists, target


@settings(max_examples=200, deadline=None)
@given(index_statements())
def test_every_plain_index_becomes_sai_with_its_name_target_and_if_not_exists(
    case: tuple[str, str | None, bool, str],
) -> None:
    text, name, if_not_exists, _target = case
    statement = one(text)
    adaptation = adapt_statement(statement)
    adapted = adaptation.statement
    assert adapted is not None and adaptation.changed
    assert "non-sai-index" not in rules(adapted)
    words = [t.upper for t in adapted.tokens if t.kind == "word"]
    assert words[:3] == ["CREATE", "CUSTOM", "INDEX"]
    assert ("EXISTS" in words) == if_not_exists
    assert describe_effect(adapted) == describe_effect(statement)
    effect = describe_effect(adapted)
    if name is not None:
        assert effect is not None
        (obj,) = effect.objects
        before, after = declared(statement, obj), declared(adapted, obj)
        assert before is not None and after is not None
        assert before.target == after.target and after.index_class == "storageattachedindex"
    assert not adapt_statement(adapted).changed, "adapting twice changes nothing more"


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=4).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.sampled_from(["ASC", "DESC", "asc", "desc"]), min_size=1, max_size=n),
        )
    ),
    _SPACES,
)
def test_a_clustering_order_prefix_is_completed_with_asc(
    case: tuple[int, list[str]], space: str
) -> None:
    count, directions = case
    columns = [f"c{i}" for i in range(count)]
    listed = ",".join(f"{space}{c} {d}" for c, d in zip(columns, directions, strict=False))
    statement = one(
        f"CREATE TABLE t (p int,{space}{', '.join(f'{c} int' for c in columns)}, "
        f"PRIMARY KEY ((p), {', '.join(columns)})) WITH CLUSTERING ORDER BY ({listed})"
    )
    adaptation = adapt_statement(statement)
    complete = len(directions) == count
    assert adaptation.changed != complete
    adapted = adaptation.statement
    assert adapted is not None and "partial-clustering-order" not in rules(adapted)
    order = adapted.text[adapted.text.index("ORDER BY") :]
    expected = [*directions, *["ASC"] * (count - len(directions))]
    assert [
        w for w in order.replace(",", " ").replace(")", " ").split() if w.upper() in ("ASC", "DESC")
    ] == expected
    assert not adapt_statement(adapted).changed
