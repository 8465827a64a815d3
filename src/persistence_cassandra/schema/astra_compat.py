"""Astra DB adaptation: rewrite, statement by statement, what Astra refuses or ignores into
what it accepts with the same meaning (``--astra-compat``).

* ``CREATE INDEX`` (a legacy secondary index, or ``USING 'sai'``/``'legacy_local_table'``)
  becomes ``CREATE CUSTOM INDEX ... USING 'StorageAttachedIndex'``, the only index form
  Astra documents; name, target and ``IF NOT EXISTS`` are kept. Equality queries the index
  served are served by SAI too.
* Table options Astra ignores (``compaction``, ``caching``, ``gc_grace_seconds`` ...) are
  dropped from ``CREATE``/``ALTER TABLE``: Astra would drop them anyway, with a warning per
  statement. An ``ALTER TABLE ... WITH`` left without options has nothing to run.
* A ``CLUSTERING ORDER BY`` listing only the first clustering columns gets the others with
  ``ASC``, the order Cassandra gives an unlisted column: Astra wants every column listed.
* What has no equivalent (keyspace DDL, materialized views, functions, aggregates,
  triggers, custom index classes, ``FULL()`` targets, a clustering order out of key order)
  is left alone, so that the lint of the
  adapted statements finds it and the run is refused before anything executes.

The rewrite edits the statement's own tokens (the lossless lexer of :mod:`.statements`), never
regular expressions over its text: a ``WITH`` inside a string or a comment cannot be touched,
and everything not rewritten keeps its exact text. The original statement stays what is
checksummed and recorded; only what is sent to the database changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from persistence_cassandra.errors import SchemaToolError
from persistence_cassandra.schema.effects import identifier
from persistence_cassandra.schema.lint import (
    ASTRA_IGNORED_TABLE_OPTIONS,
    LintFinding,
    clustering_columns,
    lint_statements,
)
from persistence_cassandra.schema.plan import PlannedStatement, UpdatePlan, VersionStep
from persistence_cassandra.schema.statements import Statement, Token, tokenize

__all__ = [
    "SAI_CLASS",
    "Adaptation",
    "Rewrite",
    "adapt_plan",
    "adapt_statement",
    "check_plan_for_astra",
    "lint_with_adaptation",
]

SAI_CLASS = "StorageAttachedIndex"
_CONVERTIBLE_INDEX_CLASSES = {"sai", "legacy_local_table", "storageattachedindex"}
_SAI_TARGET_FUNCTIONS = {"KEYS", "VALUES", "ENTRIES"}


@dataclass(frozen=True, slots=True)
class Rewrite:
    """One change the adaptation made; ``rule`` is the lint rule it resolves."""

    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class Adaptation:
    """What runs on Astra instead of a statement."""

    statement: Statement | None
    """The statement to send; ``None`` when nothing is left to run (options only)."""
    rewrites: tuple[Rewrite, ...]

    @property
    def changed(self) -> bool:
        return bool(self.rewrites)

    def describe(self) -> str:
        return "; ".join(rewrite.detail for rewrite in self.rewrites)


def _significant(tokens: Sequence[Token]) -> list[int]:
    return [i for i, token in enumerate(tokens) if token.significant]


def _is_punct(token: Token, text: str) -> bool:
    return token.kind == "punct" and token.text == text


def _rebuilt(original: Statement, text: str) -> Statement:
    tokens = tuple(token for token in tokenize(text, source=original.source) if token.significant)
    return Statement(text=text.strip(), source=original.source, line=original.line, tokens=tokens)


# ------------------------------------------------------------------------------ indexes
def _matching_paren(tokens: Sequence[Token], sig: Sequence[int], at: int) -> int | None:
    """Position in ``sig`` of the ``)`` closing the ``(`` at ``sig[at]``."""
    depth = 0
    for position in range(at, len(sig)):
        token = tokens[sig[position]]
        if _is_punct(token, "("):
            depth += 1
        elif _is_punct(token, ")"):
            depth -= 1
            if depth == 0:
                return position
    return None


def _adapt_index(statement: Statement) -> Adaptation | None:
    tokens = tokenize(statement.text, source=statement.source)
    sig = _significant(tokens)
    words = [tokens[i] for i in sig]
    if len(words) < 2 or not words[0].is_word("CREATE") or not words[1].is_word("INDEX"):
        return None
    on = next((p for p in range(2, len(sig)) if words[p].is_word("ON")), None)
    if on is None:
        return None
    opener = next((p for p in range(on + 1, len(sig)) if _is_punct(words[p], "(")), None)
    if opener is None:
        return None
    closer = _matching_paren(tokens, sig, opener)
    if closer is None:
        return None
    target = words[opener + 1 : closer]
    function = len(target) > 1 and target[0].kind == "word" and _is_punct(target[1], "(")
    if function and target[0].upper not in _SAI_TARGET_FUNCTIONS:
        return None  # FULL(frozen collection): SAI has no such index
    rest = words[closer + 1 :]
    edits: dict[int, str] = {sig[1]: "CUSTOM INDEX"}
    if rest and rest[0].is_word("USING"):
        if len(rest) < 2 or rest[1].kind != "string":
            return None
        if rest[1].text[1:-1].lower() not in _CONVERTIBLE_INDEX_CLASSES:
            return None  # SASI or another custom class: no same-meaning SAI form
        edits[sig[closer + 2]] = f"'{SAI_CLASS}'"
    else:
        # USING comes right after the target and before any WITH OPTIONS.
        edits[sig[closer]] = f") USING '{SAI_CLASS}'"
    text = "".join(edits.get(i, token.text) for i, token in enumerate(tokens))
    rewrite = Rewrite(
        "non-sai-index", f"CREATE INDEX -> CREATE CUSTOM INDEX ... USING '{SAI_CLASS}'"
    )
    return Adaptation(_rebuilt(statement, text), (rewrite,))


# ------------------------------------------------------------------------------ table options
def _with_position(tokens: Sequence[Token], sig: Sequence[int]) -> int | None:
    """Position in ``sig`` of the top-level ``WITH`` of a CREATE/ALTER TABLE."""
    depth = 0
    for position, i in enumerate(sig):
        token = tokens[i]
        if _is_punct(token, "("):
            depth += 1
        elif _is_punct(token, ")"):
            depth -= 1
        elif depth == 0 and token.is_word("WITH"):
            return position
    return None


def _clauses(tokens: Sequence[Token], sig: Sequence[int], start: int) -> list[tuple[int, int]]:
    """(first, last) positions in ``sig`` of each ``AND``-separated clause after WITH."""
    clauses: list[tuple[int, int]] = []
    depth = 0
    first: int | None = None
    for position in range(start, len(sig)):
        token = tokens[sig[position]]
        if token.kind == "punct" and token.text in "({[":
            depth += 1
        elif token.kind == "punct" and token.text in ")}]":
            depth -= 1
        elif depth == 0 and token.is_word("AND"):
            if first is not None:
                clauses.append((first, position - 1))
            first = None
            continue
        if first is None:
            first = position
    if first is not None:
        clauses.append((first, len(sig) - 1))
    return clauses


def _adapt_table_options(statement: Statement) -> Adaptation | None:
    tokens = tokenize(statement.text, source=statement.source)
    sig = _significant(tokens)
    with_at = _with_position(tokens, sig)
    if with_at is None:
        return None
    kept: list[str] = []
    dropped: list[str] = []
    for first, last in _clauses(tokens, sig, with_at + 1):
        head = tokens[sig[first]]
        name = head.text.lower() if head.kind == "word" else ""
        if name in ASTRA_IGNORED_TABLE_OPTIONS:
            dropped.append(name)
            continue
        start, end = tokens[sig[first]].start, tokens[sig[last]].start + len(tokens[sig[last]].text)
        kept.append(statement.text[start:end])
    if not dropped:
        return None
    names = ", ".join(dropped)
    them = "it" if len(dropped) == 1 else "them"
    if not kept and statement.verb == "ALTER":
        detail = f"dropped {names} (Astra DB ignores {them}); nothing left to run"
        return Adaptation(None, (Rewrite("ignored-table-option", detail),))
    head_text = statement.text[: tokens[sig[with_at]].start].rstrip()
    text = head_text + (" WITH " + " AND ".join(kept) if kept else "")
    detail = f"dropped {names} (Astra DB ignores {them})"
    return Adaptation(_rebuilt(statement, text), (Rewrite("ignored-table-option", detail),))


# ------------------------------------------------------------------------------ clustering order
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _cql_name(name: str) -> str:
    return name if _PLAIN_NAME.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def _complete_clustering_order(statement: Statement) -> Adaptation | None:
    """``CLUSTERING ORDER BY (a DESC)`` over clustering columns ``(a, b)`` becomes
    ``(a DESC, b ASC)``: ASC is what Cassandra uses for an unlisted column, and Astra wants
    every column listed. A list out of key order has no such completion."""
    tokens = tokenize(statement.text, source=statement.source)
    sig = _significant(tokens)
    with_at = _with_position(tokens, sig)
    clustering = clustering_columns(statement.tokens)
    if with_at is None or not clustering:
        return None
    for first, last in _clauses(tokens, sig, with_at + 1):
        if not tokens[sig[first]].is_word("CLUSTERING"):
            continue
        opener = next((p for p in range(first, last + 1) if _is_punct(tokens[sig[p]], "(")), None)
        closer = None if opener is None else _matching_paren(tokens, sig, opener)
        if opener is None or closer is None:
            return None
        listed: list[str] = []
        for position in range(opener + 1, closer):
            token = tokens[sig[position]]
            previous = tokens[sig[position - 1]]
            if token.kind in ("word", "ident") and (
                position == opener + 1 or _is_punct(previous, ",")
            ):
                listed.append(identifier(token))
        missing = clustering[len(listed) :]
        if not missing or clustering[: len(listed)] != listed:
            return None
        added = "".join(f", {_cql_name(name)} ASC" for name in missing)
        text = "".join(
            added + token.text if i == sig[closer] else token.text for i, token in enumerate(tokens)
        )
        detail = (
            f"completed CLUSTERING ORDER BY with {', '.join(missing)} ASC (the order Cassandra "
            "gives an unlisted column)"
        )
        return Adaptation(_rebuilt(statement, text), (Rewrite("partial-clustering-order", detail),))
    return None


def _adapt_table(statement: Statement) -> Adaptation | None:
    options = _adapt_table_options(statement)
    current = statement if options is None else options.statement
    if current is None or statement.verb != "CREATE":
        return options
    order = _complete_clustering_order(current)
    if order is None:
        return options
    earlier = options.rewrites if options is not None else ()
    return Adaptation(order.statement, earlier + order.rewrites)


# ------------------------------------------------------------------------------ entry points
def adapt_statement(statement: Statement) -> Adaptation:
    """The Astra form of ``statement`` (unchanged, with no rewrites, when it needs none or
    has no equivalent: the lint of the result tells those apart)."""
    words = [t.upper for t in statement.tokens[:3] if t.kind == "word"]
    if words[:2] == ["CREATE", "INDEX"]:
        adapted = _adapt_index(statement)
    elif len(words) >= 2 and words[0] in ("CREATE", "ALTER") and words[1] == "TABLE":
        adapted = _adapt_table(statement)
    else:
        adapted = None
    return adapted or Adaptation(statement, ())


def _adapt_step(step: VersionStep) -> VersionStep:
    statements = []
    for planned in step.statements:
        adaptation = adapt_statement(planned.statement)
        statements.append(
            replace(planned, adaptation=adaptation) if adaptation.changed else planned
        )
    return replace(step, statements=tuple(statements))


def adapt_plan(plan: UpdatePlan) -> UpdatePlan:
    """``plan`` with every statement that needs it adapted for Astra DB."""
    return replace(plan, steps=tuple(_adapt_step(step) for step in plan.steps))


def _errors(statements: Iterable[Statement]) -> list[LintFinding]:
    return [f for f in lint_statements(statements) if f.severity == "error"]


def check_plan_for_astra(plan: UpdatePlan, *, adapted: bool) -> None:
    """Refuse, before anything runs, a plan with statements Astra DB rejects.

    ``adapted``: the plan went through :func:`adapt_plan`, and what remains has no
    equivalent. Otherwise the message is lint's, with the hint that ``--astra-compat`` would
    rewrite what it can.
    """
    planned: list[PlannedStatement] = [p for step in plan.steps for p in step.statements]
    runs = [p.runs for p in planned if p.runs is not None]
    errors = _errors(runs)
    if not errors:
        return
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if adapted:
        raise SchemaToolError(
            f"{first.source} line {first.line}: {first.message}; --astra-compat has no "
            f"equivalent for it{more}. Nothing was run"
        )
    fixable = sum(1 for f in errors if f.rule == "non-sai-index")
    hint = (
        f"; --astra-compat (the default with a secure connect bundle) rewrites {fixable} of them"
        if fixable
        else ""
    )
    raise SchemaToolError(
        f"lint found {len(errors)} error(s) Astra DB rejects, first {first.describe()}{more}"
        f"{hint}. Nothing was run"
    )


def lint_with_adaptation(statements: Sequence[Statement]) -> list[tuple[LintFinding, bool]]:
    """Lint's findings, each with whether ``--astra-compat`` resolves it: the adaptation
    rewrote its statement for that rule and the rewritten statement no longer has it.
    Findings across statements (a reused index name) are never resolved."""
    by_place = {(s.source, s.line): s for s in statements}
    verdicts: list[tuple[LintFinding, bool]] = []
    for finding in lint_statements(statements):
        statement = by_place.get((finding.source, finding.line))
        resolved = False
        if statement is not None and finding.rule != "index-name-reuse":
            adaptation = adapt_statement(statement)
            rewrote = any(r.rule == finding.rule for r in adaptation.rewrites)
            after = [] if adaptation.statement is None else lint_statements([adaptation.statement])
            resolved = rewrote and all(f.rule != finding.rule for f in after)
        verdicts.append((finding, resolved))
    return verdicts
