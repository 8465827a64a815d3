"""What a ``CREATE`` statement defines, in a form the catalog can be compared with.

Operators sometimes set a keyspace up from a full ``schema.cql`` and then run the versioned
directory over it (a hand-off). The versioned files then create objects that already exist.
The runner asks the catalog how the object is defined (:meth:`SchemaAdmin.existing_definition`)
and compares it with what the statement declares (:func:`declared`): the same definition is
recorded as applied without running the statement; another one is an error naming both.
Error texts are never read.

"The same" allows what later versions add: a table may have more columns than its first
``CREATE TABLE`` declares, a type more fields; keys, clustering order, declared column and
field types and an index's table, target and class must be equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from persistence_cassandra.schema.effects import ObjectKind, SchemaObject, identifier
from persistence_cassandra.schema.statements import Statement, Token

__all__ = [
    "Definition",
    "added_type_text",
    "declared",
    "member_definition",
    "normalize_type",
    "parenthesized",
    "same_definition",
]

_TYPE_ALIASES = {"varchar": "text"}
_TABLE_CONSTRAINTS = ("CONSTRAINT", "UNIQUE", "FOREIGN", "CHECK", "EXCLUDE")
_COLUMN_STOPS = {"STATIC", "PRIMARY"}
_SQL_STOPS = {
    "NOT",
    "NULL",
    "DEFAULT",
    "PRIMARY",
    "REFERENCES",
    "CHECK",
    "UNIQUE",
    "COLLATE",
    "GENERATED",
    "CONSTRAINT",
    "AUTOINCREMENT",
}


def normalize_type(text: str) -> str:
    """``map<text, text>`` and ``MAP< TEXT,TEXT >`` alike: lower case, no spaces, aliases."""
    flat = "".join(text.split()).lower()
    return _TYPE_ALIASES.get(flat, flat)


@dataclass(frozen=True, slots=True)
class Definition:
    kind: ObjectKind
    name: str
    columns: tuple[tuple[str, str], ...] = ()
    """Table columns / type fields, in order, or the one column / field, with their types."""
    partition_key: tuple[str, ...] = ()
    clustering: tuple[str, ...] = ()
    """``column asc|desc`` in key order."""
    target: str = ""
    """An index's ``table(target)``."""
    index_class: str = ""
    """An index's class, lower case, last dotted part; ``""``: the server's default."""

    def describe(self) -> str:
        columns = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        if self.kind == "table":
            key = ", ".join(self.partition_key)
            clustering = f", clustering ({', '.join(self.clustering)})" if self.clustering else ""
            return f"({columns}) partition key ({key}){clustering}"
        if self.kind == "index":
            return f"on {self.target} using {self.index_class or 'the default index'}"
        return f"({columns})" if self.kind == "type" else columns


def member_definition(whole: Definition | None, obj: SchemaObject) -> Definition | None:
    """``obj`` itself when it is the table or type ``whole``; else its column or field."""
    if whole is None or obj.kind == whole.kind:
        return whole
    found = tuple(column for column in whole.columns if column[0] == obj.name)
    return Definition(obj.kind, obj.name, found) if found else None


def same_definition(wanted: Definition, existing: Definition) -> bool:
    """Whether ``existing`` is what ``wanted`` declares, allowing later additions."""
    if wanted.kind != existing.kind:
        return False
    if wanted.kind == "table":
        have = dict(existing.columns)
        return (
            wanted.partition_key == existing.partition_key
            and wanted.clustering == existing.clustering
            and all(have.get(name) == kind for name, kind in wanted.columns)
        )
    if wanted.kind == "type":
        return existing.columns[: len(wanted.columns)] == wanted.columns
    if wanted.kind == "index":
        classes_agree = not wanted.index_class or wanted.index_class == existing.index_class
        return wanted.target == existing.target and classes_agree
    return wanted.columns == existing.columns


def _parts(tokens: Sequence[Token]) -> list[list[Token]]:
    """Split at commas outside ``()`` and ``<>``."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        punct = token.text if token.kind == "punct" else ""
        if punct in ("(", "<"):
            depth += 1
        elif punct in (")", ">"):
            depth -= 1
        elif punct == "," and depth == 0:
            parts.append([])
            continue
        parts[-1].append(token)
    return [part for part in parts if part]


def parenthesized(tokens: Sequence[Token], opener: int) -> tuple[list[Token], int]:
    """Tokens inside the parentheses opened at ``opener``, and the index after the ``)``."""
    depth = 0
    for i in range(opener, len(tokens)):
        if tokens[i].kind == "punct" and tokens[i].text == "(":
            depth += 1
        elif tokens[i].kind == "punct" and tokens[i].text == ")":
            depth -= 1
            if depth == 0:
                return list(tokens[opener + 1 : i]), i + 1
    return list(tokens[opener + 1 :]), len(tokens)


def _type_text(tokens: Sequence[Token], stops: set[str]) -> str:
    kept: list[str] = []
    for token in tokens:
        if token.kind == "word" and token.upper in stops and kept:
            break
        kept.append(token.text)
    return normalize_type("".join(kept))


def _names(tokens: Sequence[Token]) -> list[str]:
    return [identifier(t) for t in tokens if t.kind in ("word", "ident")]


def _primary_key(
    part: Sequence[Token],
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """``PRIMARY KEY ((a, b), c)`` → ((a, b), (c,))."""
    if len(part) < 3 or not (part[0].is_word("PRIMARY") and part[1].is_word("KEY")):
        return None
    inner, _ = parenthesized(part, 2)
    groups = _parts(inner)
    if not groups:
        return (), ()
    first = groups[0]
    partition = _names(parenthesized(first, 0)[0]) if first[0].text == "(" else _names(first)
    return tuple(partition), tuple(n for group in groups[1:] for n in _names(group))


def _clustering_orders(after: Sequence[Token]) -> dict[str, str]:
    orders: dict[str, str] = {}
    for i in range(len(after) - 2):
        if after[i].is_word("CLUSTERING") and after[i + 1].is_word("ORDER"):
            start = i + 3 if after[i + 2].is_word("BY") else i + 2
            inner, _ = parenthesized(after, start)
            for part in _parts(inner):
                direction = part[1].upper.lower() if len(part) > 1 else "asc"
                orders[identifier(part[0])] = direction
    return orders


def _table(statement: Statement, name: str, sql: bool) -> Definition | None:
    tokens = statement.tokens
    opener = next((i for i, t in enumerate(tokens) if t.kind == "punct" and t.text == "("), None)
    if opener is None:
        return None
    inner, after = parenthesized(tokens, opener)
    columns: list[tuple[str, str]] = []
    partition: tuple[str, ...] = ()
    clustering: tuple[str, ...] = ()
    stops = _SQL_STOPS if sql else _COLUMN_STOPS
    for part in _parts(inner):
        key = _primary_key(part)
        if key is not None:
            partition, clustering = key
            continue
        if part[0].kind not in ("word", "ident") or part[0].is_word(*_TABLE_CONSTRAINTS):
            continue
        columns.append((identifier(part[0]), _type_text(part[1:], stops)))
        words = [t.upper for t in part if t.kind == "word"]
        if "PRIMARY" in words and not sql:
            partition = (identifier(part[0]),)
    if sql:
        return Definition("table", name, tuple(columns))
    orders = _clustering_orders(tokens[after:])
    ordered = tuple(f"{c} {orders.get(c, 'asc')}" for c in clustering)
    return Definition("table", name, tuple(columns), partition, ordered)


def _type(statement: Statement, name: str) -> Definition | None:
    tokens = statement.tokens
    opener = next((i for i, t in enumerate(tokens) if t.kind == "punct" and t.text == "("), None)
    if opener is None:
        return None
    inner, _ = parenthesized(tokens, opener)
    fields = tuple((identifier(p[0]), _type_text(p[1:], set())) for p in _parts(inner))
    return Definition("type", name, fields)


def index_class_name(text: str) -> str:
    """``'org.apache.cassandra.index.sai.StorageAttachedIndex'``, ``'sai'`` → one name."""
    short = text.strip("'").rsplit(".", 1)[-1].lower()
    return "storageattachedindex" if short == "sai" else short


def _index(statement: Statement, name: str) -> Definition | None:
    tokens = statement.tokens
    on = next((i for i, t in enumerate(tokens) if t.is_word("ON")), None)
    if on is None or on + 1 >= len(tokens):
        return None
    opener = next((i for i in range(on, len(tokens)) if tokens[i].text == "("), None)
    if opener is None:
        return None
    table = _names(tokens[on + 1 : opener])[-1:]
    inner, after = parenthesized(tokens, opener)
    target = "".join(
        identifier(t) if t.kind in ("word", "ident") else t.text for t in inner
    ).lower()
    using = [t for t in tokens[after:] if t.kind == "string"]
    custom = any(t.is_word("USING") for t in tokens[after:])
    index_class = index_class_name(using[0].text) if custom and using else ""
    if not table:
        return None
    return Definition("index", name, target=f"{table[0]}({target})", index_class=index_class)


def _added_parts(statement: Statement) -> list[list[Token]]:
    """The column or field definitions of ``ALTER TABLE ... ADD`` / ``ALTER TYPE ... ADD``."""
    tokens = statement.tokens
    add = next((i for i, t in enumerate(tokens) if t.is_word("ADD")), None)
    if add is None:
        return []
    rest = [t for t in tokens[add + 1 :] if not t.is_word("COLUMN", "IF", "NOT", "EXISTS")]
    if rest and rest[0].text == "(":
        rest = parenthesized(rest, 0)[0]
    return _parts([t for t in rest if not t.is_word("ADD")])


def added_type_text(statement: Statement, name: str, *, sql: bool = True) -> str | None:
    """The type of column ``name`` as written in an ``ALTER TABLE ... ADD`` (for a database
    that canonicalizes it itself)."""
    stops = _SQL_STOPS if sql else _COLUMN_STOPS
    for part in _added_parts(statement):
        if part[0].kind in ("word", "ident") and identifier(part[0]) == name:
            kept: list[str] = []
            for token in part[1:]:
                if token.kind == "word" and token.upper in stops and kept:
                    break
                kept.append(token.text)
            return " ".join(kept) or None
    return None


def _added(statement: Statement, obj: SchemaObject, sql: bool) -> Definition | None:
    """The type of one column of ``ALTER TABLE ... ADD`` or field of ``ALTER TYPE ... ADD``."""
    text = added_type_text(statement, obj.name, sql=sql)
    if text is None:
        return None
    return Definition(obj.kind, obj.name, ((obj.name, normalize_type(text)),))


def declared(statement: Statement, obj: SchemaObject, *, sql: bool = False) -> Definition | None:
    """What ``statement`` declares for ``obj`` (one of the objects it creates)."""
    if obj.kind == "table":
        return _table(statement, obj.name, sql)
    if obj.kind == "type":
        return _type(statement, obj.name)
    if obj.kind == "index":
        return _index(statement, obj.name)
    if obj.kind in ("column", "field"):
        return _added(statement, obj, sql)
    return None
