"""The visibility query language: a documented subset of Temporal's list filter.

Grammar (keywords are case-insensitive, attribute names are not)::

    query      := [condition] [ORDER BY (StartTime | CloseTime) [ASC | DESC]]
    condition  := conjunct (OR conjunct)*
    conjunct   := primary (AND primary)*
    primary    := '(' condition ')' | predicate
    predicate  := name op literal | name IN '(' literal (',' literal)* ')'
                | name BETWEEN literal AND literal | name STARTS_WITH string
                | name IS [NOT] NULL
    op         := '=' | '!=' | '<>' | '<' | '<=' | '>' | '>='
    name       := identifier | `backquoted name`
    literal    := 'string' | "string" | number | TRUE | FALSE

Datetimes are written as RFC 3339 strings (``'2026-01-02T03:04:05Z'``); ``ExecutionStatus`` by
status name (``'Running'``). Every error is a :class:`QueryError` naming the position (1-based
character offset in the query) and, where there is one, the attribute.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from persistence_cassandra.errors import InvalidRequest
from persistence_cassandra.visibility.attributes import resolve_attribute
from persistence_cassandra.visibility.records import ExecutionStatus, SearchAttributeType
from persistence_cassandra.visibility.tree import (
    And,
    Attribute,
    Between,
    Compare,
    Expr,
    In,
    IsNull,
    Literal,
    Or,
    OrderBy,
    OrderField,
    Query,
    StartsWith,
)

__all__ = ["MAX_IN_VALUES", "QueryError", "parse_query"]

MAX_IN_VALUES = 100
MAX_QUERY_LENGTH = 8192


class QueryError(InvalidRequest):
    """A query that does not parse or does not type-check."""

    def __init__(self, message: str, *, position: int, attribute: str | None = None) -> None:
        self.position = position
        self.attribute = attribute
        where = f"at position {position}"
        if attribute is not None:
            where += f" (attribute {attribute!r})"
        super().__init__(f"query error {where}: {message}")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # name, string, number, op, punct, keyword, end
    text: str
    value: object
    position: int  # 1-based


_KEYWORDS = {
    "AND", "OR", "IN", "BETWEEN", "STARTS_WITH", "IS", "NOT", "NULL", "ORDER", "BY", "ASC",
    "DESC", "TRUE", "FALSE",
}  # fmt: skip
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<quoted>`[^`]*`)
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)


def _unquote(text: str) -> str:
    quote = text[0]
    body = text[1:-1].replace(quote * 2, quote)
    return re.sub(r"\\(.)", r"\1", body)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    offset = 0
    while offset < len(text):
        match = _TOKEN.match(text, offset)
        if match is None:
            snippet = text[offset : offset + 10]
            if text[offset] in "'\"":
                raise QueryError(f"unterminated string {snippet!r}", position=offset + 1)
            raise QueryError(f"unexpected character {text[offset]!r}", position=offset + 1)
        kind = match.lastgroup or ""
        raw = match.group()
        position = offset + 1
        offset = match.end()
        if kind == "space":
            continue
        if kind == "name" and raw.upper() in _KEYWORDS:
            tokens.append(_Token("keyword", raw.upper(), raw.upper(), position))
        elif kind == "name":
            tokens.append(_Token("name", raw, raw, position))
        elif kind == "quoted":
            tokens.append(_Token("name", raw, raw[1:-1], position))
        elif kind == "string":
            tokens.append(_Token("string", raw, _unquote(raw), position))
        elif kind == "number":
            number: int | float = float(raw) if any(c in raw for c in ".eE") else int(raw)
            tokens.append(_Token("number", raw, number, position))
        elif kind == "op":
            tokens.append(_Token("op", "!=" if raw == "<>" else raw, raw, position))
        else:
            tokens.append(_Token("punct", raw, raw, position))
    tokens.append(_Token("end", "end of query", None, len(text) + 1))
    return tokens


_ORDERED = {SearchAttributeType.KEYWORD, SearchAttributeType.INT, SearchAttributeType.DOUBLE}
_ORDERED.add(SearchAttributeType.DATETIME)


def _describe(token: _Token) -> str:
    return "end of query" if token.kind == "end" else repr(token.text)


class _Parser:
    def __init__(self, text: str, custom: Mapping[str, SearchAttributeType]) -> None:
        self._tokens = _tokenize(text)
        self._index = 0
        self._custom = custom

    # ------------------------------------------------------------------ token helpers
    @property
    def _peek(self) -> _Token:
        return self._tokens[self._index]

    def _next(self) -> _Token:
        token = self._tokens[self._index]
        self._index += 1
        return token

    def _at_keyword(self, *words: str) -> bool:
        return self._peek.kind == "keyword" and self._peek.text in words

    def _expect_keyword(self, word: str, attribute: str | None = None) -> _Token:
        token = self._next()
        if token.kind != "keyword" or token.text != word:
            raise QueryError(
                f"expected {word}, found {_describe(token)}",
                position=token.position,
                attribute=attribute,
            )
        return token

    def _expect_punct(self, text: str, attribute: str | None = None) -> _Token:
        token = self._next()
        if token.kind != "punct" or token.text != text:
            raise QueryError(
                f"expected {text!r}, found {_describe(token)}",
                position=token.position,
                attribute=attribute,
            )
        return token

    # ------------------------------------------------------------------ grammar
    def parse(self) -> Query:
        where: Expr | None = None
        if self._peek.kind != "end" and not self._at_keyword("ORDER"):
            where = self._condition()
        order = OrderBy()
        if self._at_keyword("ORDER"):
            order = self._order_by()
        token = self._peek
        if token.kind != "end":
            raise QueryError(
                f"unexpected {_describe(token)}; expected AND, OR, ORDER BY or the end",
                position=token.position,
            )
        return Query(where, order)

    def _order_by(self) -> OrderBy:
        self._next()
        self._expect_keyword("BY")
        token = self._next()
        fields = {field.value: field for field in OrderField}
        if token.kind != "name" or token.value not in fields:
            raise QueryError(
                f"ORDER BY takes StartTime or CloseTime, not {_describe(token)}",
                position=token.position,
                attribute=str(token.value) if token.kind == "name" else None,
            )
        descending = True
        if self._at_keyword("ASC", "DESC"):
            descending = self._next().text == "DESC"
        return OrderBy(fields[str(token.value)], descending)

    def _condition(self) -> Expr:
        items = [self._conjunct()]
        while self._at_keyword("OR"):
            self._next()
            items.append(self._conjunct())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def _conjunct(self) -> Expr:
        items = [self._primary()]
        while self._at_keyword("AND"):
            self._next()
            items.append(self._primary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def _primary(self) -> Expr:
        token = self._peek
        if token.kind == "punct" and token.text == "(":
            self._next()
            inner = self._condition()
            self._expect_punct(")")
            return inner
        return self._predicate()

    def _attribute(self) -> Attribute:
        token = self._next()
        if token.kind != "name":
            raise QueryError(
                f"expected a search attribute name, found {_describe(token)}",
                position=token.position,
            )
        name = str(token.value)
        attribute = resolve_attribute(name, self._custom)
        if attribute is None:
            raise QueryError(
                "unknown search attribute (not a system attribute and not registered in "
                "this namespace)",
                position=token.position,
                attribute=name,
            )
        return attribute

    def _predicate(self) -> Expr:
        attribute = self._attribute()
        name = attribute.name
        token = self._next()
        if token.kind == "op":
            self._check_operator(attribute, token.text, token.position)
            return Compare(attribute, token.text, self._literal(attribute))
        if token.kind == "keyword" and token.text == "IN":
            self._check_operator(attribute, "IN", token.position)
            self._expect_punct("(", name)
            values = [self._literal(attribute)]
            while self._peek.kind == "punct" and self._peek.text == ",":
                self._next()
                values.append(self._literal(attribute))
            self._expect_punct(")", name)
            if len(values) > MAX_IN_VALUES:
                raise QueryError(
                    f"IN takes at most {MAX_IN_VALUES} values",
                    position=token.position,
                    attribute=name,
                )
            return In(attribute, tuple(values))
        if token.kind == "keyword" and token.text == "BETWEEN":
            self._check_operator(attribute, "BETWEEN", token.position)
            low = self._literal(attribute)
            self._expect_keyword("AND", name)
            return Between(attribute, low, self._literal(attribute))
        if token.kind == "keyword" and token.text == "STARTS_WITH":
            self._check_operator(attribute, "STARTS_WITH", token.position)
            prefix = self._literal(attribute)
            assert isinstance(prefix, str)  # Keyword and Text literals are strings
            return StartsWith(attribute, prefix)
        if token.kind == "keyword" and token.text == "IS":
            self._check_operator(attribute, "IS NULL", token.position)
            negated = self._at_keyword("NOT")
            if negated:
                self._next()
            self._expect_keyword("NULL", name)
            return IsNull(attribute, negated)
        raise QueryError(
            f"expected an operator (=, !=, <, <=, >, >=, IN, BETWEEN, STARTS_WITH, IS) after "
            f"the attribute, found {_describe(token)}",
            position=token.position,
            attribute=name,
        )

    def _check_operator(self, attribute: Attribute, operator: str, position: int) -> None:
        type_ = attribute.type
        if attribute.is_status:
            allowed = {"=", "!=", "IN"}
        elif type_ in _ORDERED:
            allowed = {"=", "!=", "<", "<=", ">", ">=", "IN", "BETWEEN", "IS NULL"}
            if type_ is SearchAttributeType.KEYWORD:
                allowed.add("STARTS_WITH")
        elif type_ is SearchAttributeType.KEYWORD_LIST:
            allowed = {"=", "IN", "IS NULL"}
        elif type_ is SearchAttributeType.TEXT:
            allowed = {"=", "!=", "STARTS_WITH", "IS NULL"}
        else:  # Bool
            allowed = {"=", "!=", "IS NULL"}
        if operator not in allowed:
            kind = "ExecutionStatus" if attribute.is_status else type_.value
            raise QueryError(
                f"{operator} is not supported on a {kind} attribute "
                f"(supported: {', '.join(sorted(allowed))})",
                position=position,
                attribute=attribute.name,
            )

    def _literal(self, attribute: Attribute) -> Literal:
        token = self._next()
        name = attribute.name
        type_ = attribute.type

        def wrong(expected: str) -> QueryError:
            return QueryError(
                f"expected {expected}, found {_describe(token)}",
                position=token.position,
                attribute=name,
            )

        if token.kind not in ("string", "number", "keyword") or (
            token.kind == "keyword" and token.text not in ("TRUE", "FALSE")
        ):
            raise wrong("a value")
        if attribute.is_status:
            status = (
                ExecutionStatus.from_query_name(str(token.value))
                if token.kind == "string"
                else None
            )
            if status is None:
                known = ", ".join(s.query_name for s in ExecutionStatus)
                raise wrong(f"an execution status ({known})")
            return status
        if type_ in (
            SearchAttributeType.KEYWORD,
            SearchAttributeType.KEYWORD_LIST,
            SearchAttributeType.TEXT,
        ):
            if token.kind != "string":
                raise wrong("a quoted string")
            return str(token.value)
        if type_ is SearchAttributeType.INT:
            if token.kind != "number" or not isinstance(token.value, int):
                raise wrong("an integer")
            if not -(2**63) <= token.value < 2**63:
                raise wrong("an integer within 64 bits")
            return token.value
        if type_ is SearchAttributeType.DOUBLE:
            if token.kind != "number":
                raise wrong("a number")
            return float(token.value)  # type: ignore[arg-type]
        if type_ is SearchAttributeType.BOOL:
            if token.kind != "keyword":
                raise wrong("true or false")
            return token.text == "TRUE"
        # Datetime
        if token.kind != "string":
            raise wrong("an RFC 3339 datetime string such as '2026-01-02T03:04:05Z'")
        try:
            parsed = datetime.fromisoformat(str(token.value))
        except ValueError:
            raise wrong("an RFC 3339 datetime string such as '2026-01-02T03:04:05Z'") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        # Stored times have millisecond precision; literals are compared at the same precision.
        return parsed.astimezone(UTC).replace(microsecond=parsed.microsecond // 1000 * 1000)


def parse_query(text: str, custom: Mapping[str, SearchAttributeType]) -> Query:
    """The typed tree of ``text`` in a namespace whose custom attributes are ``custom``."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"query longer than {MAX_QUERY_LENGTH} characters", position=1)
    return _Parser(text, custom).parse()
