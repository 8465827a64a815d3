"""Offline checks of a CQL schema set against what Astra DB rejects or silently ignores.

Astra refuses keyspace DDL, materialized views, user-defined functions and aggregates,
triggers and indexes other than SAI, and wants a full ``CLUSTERING ORDER BY`` list; it accepts
but ignores a list of table properties (compaction, caching, ``gc_grace_seconds`` ...) with
only a client warning. Index names are unique per keyspace and ``CREATE INDEX IF NOT EXISTS``
silently does nothing when the name is taken by another table's index, so a set that reuses
a name is flagged too. Rules are pure functions of the statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from persistence_cassandra.schema.definitions import parenthesized
from persistence_cassandra.schema.effects import identifier
from persistence_cassandra.schema.statements import ALLOWED_VERBS, Statement, Token

__all__ = [
    "ASTRA_IGNORED_TABLE_OPTIONS",
    "LintFinding",
    "Severity",
    "clustering_columns",
    "lint_statements",
]

Severity = Literal["error", "warning"]

ASTRA_IGNORED_TABLE_OPTIONS = frozenset(
    {
        "additional_write_policy",
        "bloom_filter_fp_chance",
        "caching",
        "cdc",
        "compaction",
        "compression",
        "crc_check_chance",
        "dse_edge_label_property",
        "dse_vertex_label_property",
        "gc_grace_seconds",
        "id",
        "max_index_interval",
        "memtable",
        "memtable_flush_period_in_ms",
        "min_index_interval",
        "nodesync",
        "read_repair",
        "speculative_retry",
    }
)
"""Table properties Astra DB accepts and ignores with a warning (Astra guardrail docs)."""

_SAI_CLASSES = {
    "storageattachedindex",
    "sai",
    "org.apache.cassandra.index.sai.storageattachedindex",
}


@dataclass(frozen=True, slots=True)
class LintFinding:
    severity: Severity
    rule: str
    message: str
    source: str
    line: int
    excerpt: str

    def describe(self) -> str:
        return f"{self.source}:{self.line}: {self.severity} [{self.rule}] {self.message}"


def _words(tokens: Sequence[Token], count: int) -> list[str]:
    return [t.upper if t.kind == "word" else t.text for t in tokens[:count]]


def _finding(statement: Statement, severity: Severity, rule: str, message: str) -> LintFinding:
    return LintFinding(
        severity, rule, message, statement.source, statement.line, statement.excerpt()
    )


def lint_statements(
    statements: Iterable[Statement], *, astra_rules: bool = True
) -> list[LintFinding]:
    """Every problem of ``statements``, in statement order. Without ``astra_rules`` (SQL
    files) only the allowed-verb rule applies."""
    findings: list[LintFinding] = []
    index_tables: dict[str, tuple[str, Statement]] = {}
    for statement in statements:
        if not astra_rules:
            if statement.verb not in ALLOWED_VERBS:
                findings.append(_disallowed(statement))
            continue
        findings += _lint_one(statement)
        index = _index_name_and_table(statement)
        if index is not None:
            name, table = index
            seen = index_tables.get(name)
            if seen is not None and seen[0] != table:
                findings.append(
                    _finding(
                        statement,
                        "warning",
                        "index-name-reuse",
                        f"index name {name} is already used for table {seen[0]} "
                        f"({seen[1].source}:{seen[1].line}); names are unique per keyspace and "
                        "CREATE INDEX IF NOT EXISTS would silently do nothing",
                    )
                )
            else:
                index_tables[name] = (table, statement)
    return findings


def _disallowed(statement: Statement) -> LintFinding:
    return _finding(
        statement,
        "error",
        "disallowed-verb",
        f"{statement.verb or 'this statement'} is not allowed in a schema file "
        f"(only {', '.join(sorted(ALLOWED_VERBS))})",
    )


def _lint_one(statement: Statement) -> list[LintFinding]:
    tokens = statement.tokens
    head = [w for w in _words(tokens, 6) if w not in ("OR", "REPLACE")]
    verb = statement.verb
    if verb not in ALLOWED_VERBS:
        return [_disallowed(statement)]
    target = head[1] if len(head) > 1 else ""
    if verb in ("CREATE", "ALTER", "DROP") and target == "KEYSPACE":
        return [
            _finding(
                statement,
                "error",
                "keyspace-ddl",
                "Astra DB forbids keyspace DDL: create keyspaces in the Astra portal or the "
                "DevOps API",
            )
        ]
    if target == "MATERIALIZED":
        return [
            _finding(statement, "error", "materialized-view", "Astra DB has no materialized views")
        ]
    if target in ("FUNCTION", "AGGREGATE"):
        return [
            _finding(
                statement,
                "error",
                "udf-uda",
                f"Astra DB does not support user-defined {target.lower()}s",
            )
        ]
    if target == "TRIGGER":
        return [_finding(statement, "error", "trigger", "Astra DB does not support triggers")]
    findings: list[LintFinding] = []
    if verb == "CREATE" and target in ("INDEX", "CUSTOM"):
        problem = _non_sai_index(tokens)
        if problem:
            findings.append(_finding(statement, "error", "non-sai-index", problem))
    if verb in ("CREATE", "ALTER") and target == "TABLE":
        findings += _table_options(statement)
    if verb == "CREATE" and target == "TABLE":
        problem = _clustering_order_problem(tokens)
        if problem:
            findings.append(_finding(statement, "error", "partial-clustering-order", problem))
    return findings


def _non_sai_index(tokens: Sequence[Token]) -> str | None:
    using = next((i for i, t in enumerate(tokens) if t.is_word("USING")), None)
    if using is None or using + 1 >= len(tokens) or tokens[using + 1].kind != "string":
        return (
            "Astra DB supports only Storage-Attached Indexes: write "
            "CREATE CUSTOM INDEX ... USING 'StorageAttachedIndex'"
        )
    index_class = tokens[using + 1].text[1:-1].lower()
    if index_class not in _SAI_CLASSES:
        return f"index class {tokens[using + 1].text} is not SAI; Astra DB supports only SAI"
    return None


def _with_clauses(tokens: Sequence[Token]) -> list[list[Token]]:
    """The ``WITH a = b AND c = d ...`` clauses after a table definition (top level only)."""
    depth = 0
    start: int | None = None
    for i, token in enumerate(tokens):
        if token.kind == "punct" and token.text == "(":
            depth += 1
        elif token.kind == "punct" and token.text == ")":
            depth -= 1
        elif depth == 0 and token.is_word("WITH"):
            start = i + 1
            break
    if start is None:
        return []
    clauses: list[list[Token]] = [[]]
    depth = 0
    for token in tokens[start:]:
        if token.kind == "punct" and token.text in "({[":
            depth += 1
        elif token.kind == "punct" and token.text in ")}]":
            depth -= 1
        elif depth == 0 and token.is_word("AND"):
            clauses.append([])
            continue
        clauses[-1].append(token)
    return [clause for clause in clauses if clause]


def _table_options(statement: Statement) -> list[LintFinding]:
    findings = []
    for clause in _with_clauses(statement.tokens):
        name = clause[0].text.lower() if clause[0].kind == "word" else ""
        if name in ASTRA_IGNORED_TABLE_OPTIONS:
            findings.append(
                _finding(
                    statement,
                    "warning",
                    "ignored-table-option",
                    f"Astra DB ignores the table option {name} (accepted with a warning only)",
                )
            )
    return findings


def _definition_body(tokens: Sequence[Token]) -> list[Token]:
    """Tokens inside the outermost parentheses of a CREATE TABLE."""
    opener = next((i for i, t in enumerate(tokens) if t.kind == "punct" and t.text == "("), None)
    return [] if opener is None else parenthesized(tokens, opener)[0]


def _clustering_columns(body: Sequence[Token]) -> list[str] | None:
    """Clustering columns of ``PRIMARY KEY ((p...), c1, c2)``; None when not determinable."""
    for i in range(len(body) - 2):
        if body[i].is_word("PRIMARY") and body[i + 1].is_word("KEY"):
            if body[i + 2].text != "(":
                return []  # `col type PRIMARY KEY`: a single-column key, no clustering
            inner: list[Token] = []
            depth = 0
            for token in body[i + 2 :]:
                if token.text == "(" and token.kind == "punct":
                    depth += 1
                    if depth == 1:
                        continue
                elif token.text == ")" and token.kind == "punct":
                    depth -= 1
                    if depth == 0:
                        break
                inner.append(token)
            parts = _comma_parts(inner)
            return [identifier(part[0]) for part in parts[1:] if part]
    return None


def clustering_columns(tokens: Sequence[Token]) -> list[str] | None:
    """The clustering columns of a CREATE TABLE, in key order; None when not determinable."""
    return _clustering_columns(_definition_body(tokens))


def _comma_parts(tokens: Sequence[Token]) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.kind == "punct" and token.text == "(":
            depth += 1
        elif token.kind == "punct" and token.text == ")":
            depth -= 1
        elif token.kind == "punct" and token.text == "," and depth == 0:
            parts.append([])
            continue
        parts[-1].append(token)
    return parts


def _clustering_order_problem(tokens: Sequence[Token]) -> str | None:
    for clause in _with_clauses(tokens):
        if len(clause) < 4 or not (clause[0].is_word("CLUSTERING") and clause[1].is_word("ORDER")):
            continue
        start = 3 if clause[2].is_word("BY") else 2
        listed = [
            identifier(part[0])
            for part in _comma_parts([t for t in clause[start:] if t.text not in "()"])
            if part
        ]
        clustering = _clustering_columns(_definition_body(tokens))
        if clustering is None:
            return None
        if listed != clustering:
            return (
                f"CLUSTERING ORDER BY lists ({', '.join(listed)}) but the clustering columns are "
                f"({', '.join(clustering)}); Astra DB needs every clustering column, in key order"
            )
    return None


def _index_name_and_table(statement: Statement) -> tuple[str, str] | None:
    tokens = statement.tokens
    if statement.verb != "CREATE":
        return None
    i = 1
    while i < len(tokens) and tokens[i].is_word("CUSTOM", "UNIQUE"):
        i += 1
    if i >= len(tokens) or not tokens[i].is_word("INDEX"):
        return None
    i += 1
    if i + 2 < len(tokens) and tokens[i].is_word("IF"):
        i += 3
    if i >= len(tokens) or tokens[i].is_word("ON"):
        return None
    name = identifier(tokens[i])
    on = next((j for j in range(i, len(tokens)) if tokens[j].is_word("ON")), None)
    if on is None or on + 1 >= len(tokens):
        return None
    table_tokens = [t for t in tokens[on + 1 :] if t.text != "(" or t.kind != "punct"]
    table = identifier(table_tokens[0])
    if len(table_tokens) > 2 and table_tokens[1].text == ".":
        table = identifier(table_tokens[2])
    return name, table
