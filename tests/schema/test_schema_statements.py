"""The lexer and statement splitter: examples, and properties checked with hypothesis."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from persistence_cassandra.errors import SchemaToolError
from persistence_cassandra.schema.statements import (
    check_allowed_verbs,
    split_statements,
    tokenize,
)

# Cassandra driver threads left running by other tests call `random`; hypothesis notices the
# global random state moving while it generates data and warns, though these tests never use it.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

# ---------------------------------------------------------------------------- examples


def test_temporal_style_file() -> None:
    text = """-- header; with a semicolon
CREATE TABLE a (x int PRIMARY KEY, y text) -- trailing ; comment
  WITH comment = 'it''s; fine';
/* block ; */ INSERT INTO a (x, y) VALUES (1, '$$;');
// cql line comment
DROP TABLE "Quoted;""x"
"""
    found = split_statements(text, source="f.cql")
    assert [s.verb for s in found] == ["CREATE", "INSERT", "DROP"]
    assert [s.line for s in found] == [2, 4, 6]
    assert found[0].text.endswith("WITH comment = 'it''s; fine'")
    assert "--" not in found[0].text and "/*" not in found[1].text
    assert found[2].text == 'DROP TABLE "Quoted;""x"'


def test_dollar_blocks_keep_their_semicolons_and_comments() -> None:
    text = (
        "CREATE FUNCTION f() RETURNS int AS $body$ select 1; -- kept\n $body$ LANGUAGE sql;\n"
        "DO $$ BEGIN INSERT INTO t VALUES (1); END $$;\n"
    )
    first, second = split_statements(text)
    assert "select 1; -- kept" in first.text
    assert second.text == "DO $$ BEGIN INSERT INTO t VALUES (1); END $$"


def test_trigger_bodies_and_batches_are_one_statement() -> None:
    text = (
        "CREATE TRIGGER tr AFTER INSERT ON a BEGIN\n"
        "  UPDATE a SET y = CASE WHEN 1 THEN 'x' END; DELETE FROM b;\nEND;\n"
        "BEGIN UNLOGGED BATCH INSERT INTO a (x) VALUES (1); INSERT INTO a (x) VALUES (2); "
        "APPLY BATCH;\nBEGIN;\n"
    )
    trigger, batch, begin = split_statements(text)
    assert trigger.text.endswith("END") and "DELETE FROM b;" in trigger.text
    assert batch.verb == "BEGIN" and batch.text.endswith("APPLY BATCH")
    assert begin.text == "BEGIN"


def test_parentheses_keep_semicolons() -> None:
    (only,) = split_statements("INSERT INTO t (a) VALUES (';' , (1; 2))")
    assert only.text == "INSERT INTO t (a) VALUES (';' , (1; 2))"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("CREATE TABLE t (a text);\nINSERT INTO t VALUES ('open", "line 2: unterminated string"),
        ('DROP TABLE "x', "line 1: unterminated quoted identifier"),
        ("CREATE FUNCTION f() AS $$ body", "line 1: unterminated $$ block"),
        ("/* never closed", "line 1: unterminated /* comment"),
        ("CREATE TABLE t (a int;\n", "line 1: unbalanced '('"),
        ("\nDROP TABLE t)", "line 2: unbalanced ')'"),
        ("BEGIN BATCH INSERT INTO t (a) VALUES (1);", "BEGIN without its closing"),
    ],
)
def test_malformed_files_name_the_line(text: str, problem: str) -> None:
    with pytest.raises(SchemaToolError, match=r"f\.sql line"):
        split_statements(text, source="f.sql")
    with pytest.raises(SchemaToolError) as raised:
        split_statements(text, source="f.sql")
    assert problem in str(raised.value)


def test_only_schema_verbs_are_allowed() -> None:
    allowed = split_statements(
        "create table t (a int); ALTER TABLE t ADD b int; INSERT INTO t (a) VALUES (1); "
        "DROP TABLE t; DO $$ BEGIN END $$"
    )
    check_allowed_verbs(allowed)
    for bad in ("SELECT * FROM t", "UPDATE t SET a = 1", "TRUNCATE t", "USE ks", "BEGIN"):
        with pytest.raises(SchemaToolError, match="only ALTER, CREATE, DO, DROP, INSERT"):
            check_allowed_verbs(split_statements(f"CREATE TABLE t (a int);\n{bad};", source="x"))


def test_checksums_ignore_layout_and_comments() -> None:
    (a,) = split_statements("CREATE TABLE t (\n  a int  -- the key\n)")
    (b,) = split_statements("/* x */ CREATE   TABLE t (a int)")
    (c,) = split_statements("CREATE TABLE t (a bigint)")
    assert a.checksum == b.checksum != c.checksum


# ---------------------------------------------------------------------------- properties

_KEYWORDS = ("BEGIN", "END", "CASE", "BATCH", "APPLY", "TRIGGER", "FUNCTION", "PROCEDURE")
words = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True).filter(
    lambda w: w.upper() not in _KEYWORDS
)
numbers = st.from_regex(r"[0-9]{1,6}", fullmatch=True)
tricky = st.text(alphabet=";'\"$-/*\n ab()", max_size=12)
strings = tricky.map(lambda s: "'" + s.replace("'", "''") + "'")
idents = tricky.map(lambda s: '"' + s.replace('"', '""') + '"')
dollars = (
    st.tuples(st.sampled_from(["", "body", "x_1"]), tricky)
    .filter(lambda pair: f"${pair[0]}$" not in pair[1] + "$")
    .map(lambda pair: f"${pair[0]}${pair[1]}${pair[0]}$")
)
puncts = st.sampled_from([",", ".", "=", "<", ">", "+", "[", "]", "{", "}", ":"])
single = st.one_of(words, numbers, strings, idents, dollars, puncts)


def _group(inner: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    # Parentheses may hold ';' at any depth without ending the statement.
    return st.lists(st.one_of(inner, st.just([";"])), max_size=4).map(
        lambda parts: ["(", *[t for part in parts for t in part], ")"]
    )


plain = single.map(lambda t: [t])
nested_once = _group(plain)
fragments = st.one_of(plain, nested_once, _group(st.one_of(plain, nested_once)))
# A statement starts with a plain token (a leading "(" is no statement).
bodies = st.tuples(single, st.lists(fragments, max_size=5)).map(
    lambda pair: [pair[0], *[t for part in pair[1] for t in part]]
)
comments = st.one_of(
    st.text(alphabet="ab ;'$\"*", max_size=8).map(lambda s: f"-- {s}\n"),
    st.text(alphabet="ab ;'$\"", max_size=8).map(lambda s: f"// {s}\n"),
    st.text(alphabet="ab ;'$\"\n/", max_size=8)
    .filter(lambda s: "*/" not in s)
    .map(lambda s: f"/* {s} */"),
)
gaps = st.one_of(st.sampled_from([" ", "\n", "\t ", "\n\n"]), comments.map(lambda c: f" {c} "))


@settings(max_examples=200, deadline=None)
@given(statements=st.lists(bodies, min_size=1, max_size=5), data=st.data())
def test_split_recovers_every_statement(statements: list[list[str]], data: st.DataObject) -> None:
    pieces = []
    for tokens in statements:
        joined = ""
        for position, token in enumerate(tokens):
            joined += token if position == 0 else data.draw(gaps) + token
        pieces.append(joined)
    separator_text = "".join(data.draw(gaps) + piece + data.draw(gaps) + ";" for piece in pieces)
    found = split_statements(separator_text)
    assert [s.normalized for s in found] == [" ".join(tokens) for tokens in statements]
    # What is sent to the database splits back into the very same statement.
    for statement in found:
        (again,) = split_statements(statement.text)
        assert again.normalized == statement.normalized


@settings(max_examples=300)
@given(st.text(max_size=80))
@example("'it''s' $$ a ; $$ \"q\"\"\" -- c\n/* d */")
def test_the_lexer_is_lossless_and_splitting_never_crashes(text: str) -> None:
    try:
        tokens = tokenize(text)
    except SchemaToolError:
        return
    assert "".join(token.text for token in tokens) == text
    with contextlib.suppress(SchemaToolError):
        split_statements(text)
