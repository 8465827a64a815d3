"""What a schema statement leaves behind, so that a resumed run can ask the catalog.

A run that died right after the database applied a statement, but before its progress was
recorded, must not apply it twice (``CREATE TABLE`` would fail, ``ALTER TABLE ... ADD`` too).
Instead of matching the error text of a second attempt, the runner asks the catalog
(``system_schema`` on Cassandra, ``sqlite_master`` / ``information_schema`` on SQL) whether
the statement's :class:`Effect` is already in place. Statements whose effect cannot be told
from their text (``INSERT``, ``DO`` blocks, functions, ``ALTER ... WITH``) yield ``None``: they
are idempotent or are re-run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from persistence_cassandra.schema.statements import Statement, Token

__all__ = ["Effect", "ObjectKind", "SchemaObject", "describe_effect", "identifier"]

ObjectKind = Literal["table", "type", "index", "view", "trigger", "sequence", "column", "field"]


@dataclass(frozen=True, slots=True)
class SchemaObject:
    kind: ObjectKind
    name: str
    """Normalized: unquoted names lower-cased, quoted names as written."""
    parent: str | None = None
    """The table of a column, the type of a field."""

    def describe(self) -> str:
        return (
            f"{self.kind} {self.parent}.{self.name}" if self.parent else f"{self.kind} {self.name}"
        )


@dataclass(frozen=True, slots=True)
class Effect:
    objects: tuple[SchemaObject, ...]
    present_after: bool
    """True when the statement creates the objects, False when it removes them."""
    transactional: bool = True
    """False for statements PostgreSQL refuses inside a transaction (``... CONCURRENTLY``)."""


def identifier(token: Token) -> str:
    """The name a word or quoted-identifier token denotes (CQL and SQL folding rules)."""
    if token.kind == "ident":
        return token.text[1:-1].replace('""', '"')
    return token.text.lower()


class _Cursor:
    """Walks a statement's significant tokens."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take_words(self, *words: str) -> bool:
        """Consume the exact word sequence if it comes next."""
        for offset, word in enumerate(words):
            token = self.peek(offset)
            if token is None or not token.is_word(word):
                return False
        self.i += len(words)
        return True

    def skip_any(self, *words: str) -> None:
        while (token := self.peek()) is not None and token.is_word(*words):
            self.i += 1

    def name(self) -> str | None:
        """A possibly qualified name (``ks.t``, ``schema.t``): the last part."""
        token = self.peek()
        if token is None or token.kind not in ("word", "ident"):
            return None
        self.i += 1
        result = identifier(token)
        while (dot := self.peek()) is not None and dot.text == "." and dot.kind == "punct":
            part = self.peek(1)
            if part is None or part.kind not in ("word", "ident"):
                return None
            result = identifier(part)
            self.i += 2
        return result


_CREATABLE: dict[str, ObjectKind] = {
    "TABLE": "table",
    "TYPE": "type",
    "VIEW": "view",
    "TRIGGER": "trigger",
    "SEQUENCE": "sequence",
}


def describe_effect(statement: Statement) -> Effect | None:
    """The objects ``statement`` creates or removes, or ``None`` when that cannot be told."""
    cursor = _Cursor(statement.tokens)
    if cursor.take_words("CREATE"):
        return _create(cursor)
    if cursor.take_words("DROP"):
        return _drop(cursor)
    if cursor.take_words("ALTER", "TABLE"):
        return _alter_table(cursor)
    if cursor.take_words("ALTER", "TYPE"):
        return _alter_type(cursor)
    return None


def _create(cursor: _Cursor) -> Effect | None:
    cursor.skip_any("OR", "REPLACE", "TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL")
    if cursor.take_words("MATERIALIZED", "VIEW"):
        kind: ObjectKind = "view"
    elif (token := cursor.peek()) is not None and token.is_word("UNIQUE", "CUSTOM", "INDEX"):
        cursor.skip_any("UNIQUE", "CUSTOM")
        if not cursor.take_words("INDEX"):
            return None
        concurrently = cursor.take_words("CONCURRENTLY")
        cursor.take_words("IF", "NOT", "EXISTS")
        following = cursor.peek()
        if following is None or following.is_word("ON"):
            return None  # an unnamed index: the database picks the name
        name = cursor.name()
        if name is None:
            return None
        return Effect((SchemaObject("index", name),), True, transactional=not concurrently)
    elif token is not None and token.kind == "word" and token.upper in _CREATABLE:
        kind = _CREATABLE[token.upper]
        cursor.i += 1
    else:
        return None
    cursor.take_words("IF", "NOT", "EXISTS")
    name = cursor.name()
    return None if name is None else Effect((SchemaObject(kind, name),), True)


def _drop(cursor: _Cursor) -> Effect | None:
    if cursor.take_words("MATERIALIZED", "VIEW"):
        kind: ObjectKind = "view"
    elif (
        (token := cursor.peek()) is not None
        and token.kind == "word"
        and (token.upper in _CREATABLE or token.upper == "INDEX")
    ):
        kind = "index" if token.upper == "INDEX" else _CREATABLE[token.upper]
        cursor.i += 1
    else:
        return None
    transactional = not cursor.take_words("CONCURRENTLY")
    cursor.take_words("IF", "EXISTS")
    names: list[SchemaObject] = []
    while True:
        name = cursor.name()
        if name is None:
            return None
        names.append(SchemaObject(kind, name))
        following = cursor.peek()
        if following is None or not (following.kind == "punct" and following.text == ","):
            break
        cursor.i += 1
    return Effect(tuple(names), False, transactional=transactional)


def _top_level_parts(tokens: Sequence[Token]) -> list[list[Token]]:
    """Split at commas outside parentheses and outside ``<...>`` (CQL collection types)."""
    parts: list[list[Token]] = [[]]
    parens = angles = 0
    for token in tokens:
        punct = token.text if token.kind == "punct" else ""
        if punct == "(":
            parens += 1
        elif punct == ")":
            parens -= 1
        elif punct == "<" and parens == 0:
            angles += 1
        elif punct == ">" and parens == 0 and angles > 0:
            angles -= 1
        elif punct == "," and parens == 0 and angles == 0:
            parts.append([])
            continue
        parts[-1].append(token)
    return [part for part in parts if part]


def _alter_table(cursor: _Cursor) -> Effect | None:
    cursor.take_words("IF", "EXISTS")
    cursor.take_words("ONLY")
    table = cursor.name()
    if table is None:
        return None
    rest = list(cursor.tokens[cursor.i :])
    if not rest:
        return None
    # CQL: ADD (a int, b text) / DROP (a, b): the parenthesized list is the action's target.
    head = _Cursor(rest)
    if head.take_words("ADD") or head.take_words("DROP"):
        opener = head.peek()
        if opener is not None and opener.text == "(" and rest[-1].text == ")":
            verb = rest[0].upper
            inner = rest[head.i + 1 : -1]
            rest = []
            for part in _top_level_parts(inner):
                rest += [Token("word", verb, part[0].start), *part]
                rest.append(Token("punct", ",", part[-1].start))
            rest = rest[:-1]
    columns: list[SchemaObject] = []
    present: bool | None = None
    for part in _top_level_parts(rest):
        action = _Cursor(part)
        if action.take_words("ADD"):
            adds = True
        elif action.take_words("DROP"):
            adds = False
        elif columns and present is True and part[0].kind in ("word", "ident"):
            adds = True  # CQL: ADD a int, b text (the verb is not repeated)
            action.i = 0
        elif columns and present is False and part[0].kind in ("word", "ident"):
            adds = False
            action.i = 0
        else:
            return None
        if present is not None and present != adds:
            return None  # mixing ADD and DROP: no single answer
        present = adds
        action.take_words("COLUMN")
        action.take_words("IF", "NOT", "EXISTS") or action.take_words("IF", "EXISTS")
        following = action.peek()
        if following is None or following.is_word("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK"):
            return None
        name = action.name()
        if name is None:
            return None
        columns.append(SchemaObject("column", name, parent=table))
    if not columns or present is None:
        return None
    return Effect(tuple(columns), present)


def _alter_type(cursor: _Cursor) -> Effect | None:
    type_name = cursor.name()
    if type_name is None or not cursor.take_words("ADD"):
        return None
    cursor.take_words("IF", "NOT", "EXISTS")
    field = cursor.name()
    if field is None:
        return None
    return Effect((SchemaObject("field", field, parent=type_name),), True)
