"""Schema files → statements: a lossless lexer, a splitter, and the allowed-verb check.

The lexer knows every construct that may hide a ``;`` that does not end a statement:
``'strings'`` (``''`` escapes a quote), ``"identifiers"`` (``""`` escapes), ``$$ ... $$`` and
PostgreSQL ``$tag$ ... $tag$`` blocks, ``--`` / ``//`` line comments and ``/* */`` block
comments. The splitter additionally keeps ``;`` inside parentheses, inside
``BEGIN BATCH ... APPLY BATCH`` and inside the ``BEGIN ... END`` body of a trigger or
SQL-standard function. Comments outside statements are dropped (PostgreSQL and SQLite do not
understand ``//``); comments inside ``$$`` bodies are part of the body and kept.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from persistence_cassandra.errors import SchemaToolError

__all__ = [
    "ALLOWED_VERBS",
    "Statement",
    "Token",
    "check_allowed_verbs",
    "split_statements",
    "tokenize",
]

ALLOWED_VERBS = frozenset({"CREATE", "ALTER", "INSERT", "DROP", "DO"})
"""First words a version file's statements may start with, as in Temporal's tool: schema
changes and seed rows only, never reads, updates, deletes or session commands."""

TokenKind = Literal["space", "comment", "word", "ident", "string", "dollar", "number", "punct"]

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9][0-9A-Za-z_.]*")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    start: int
    """Offset in the source text."""

    @property
    def significant(self) -> bool:
        return self.kind not in ("space", "comment")

    @property
    def upper(self) -> str:
        return self.text.upper()

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


class _Lines:
    """Offset → 1-based line number."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [i + 1 for i, char in enumerate(text) if char == "\n"]

    def line(self, offset: int) -> int:
        return bisect_right(self._starts, offset)


def _closing(text: str, start: int, quote: str) -> int:
    """End offset (exclusive) of a quoted token opened at ``start``; -1 when unterminated."""
    i = start + 1
    while True:
        j = text.find(quote, i)
        if j < 0:
            return -1
        if j + 1 < len(text) and text[j + 1] == quote:
            i = j + 2
            continue
        return j + 1


def tokenize(text: str, *, source: str = "<text>") -> list[Token]:
    """Every token of ``text``, whitespace and comments included: ``"".join`` gives it back.

    An unterminated string, identifier, ``$$`` block or block comment is a
    :class:`SchemaToolError` naming ``source`` and the line where it opens.
    """
    tokens: list[Token] = []
    lines: _Lines | None = None
    i, n = 0, len(text)

    def fail(what: str, at: int) -> SchemaToolError:
        nonlocal lines
        lines = lines or _Lines(text)
        return SchemaToolError(f"{source} line {lines.line(at)}: unterminated {what}")

    while i < n:
        char = text[i]
        two = text[i : i + 2]
        if char.isspace():
            match = _SPACE.match(text, i)
            assert match is not None
            end = match.end()
            kind: TokenKind = "space"
        elif two in ("--", "//"):
            newline = text.find("\n", i)
            end = n if newline < 0 else newline
            kind = "comment"
        elif two == "/*":
            close = text.find("*/", i + 2)
            if close < 0:
                raise fail("/* comment", i)
            end = close + 2
            kind = "comment"
        elif char in "'\"":
            end = _closing(text, i, char)
            if end < 0:
                raise fail("string" if char == "'" else "quoted identifier", i)
            kind = "string" if char == "'" else "ident"
        elif char == "$" and (tag := _DOLLAR_TAG.match(text, i)) is not None:
            close = text.find(tag.group(0), tag.end())
            if close < 0:
                raise fail(f"{tag.group(0)} block", i)
            end = close + len(tag.group(0))
            kind = "dollar"
        elif (word := _WORD.match(text, i)) is not None:
            end, kind = word.end(), "word"
        elif (number := _NUMBER.match(text, i)) is not None:
            end, kind = number.end(), "number"
        else:
            end, kind = i + 1, "punct"
        tokens.append(Token(kind, text[i:end], i))
        i = end
    return tokens


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a schema file, without its ``;`` and without comments."""

    text: str
    """What is sent to the database."""
    source: str
    """The file it came from (for messages)."""
    line: int
    """1-based line of its first token."""
    tokens: tuple[Token, ...]
    """Its significant tokens (no whitespace, no comments)."""

    @property
    def verb(self) -> str:
        """The first word, upper-cased (``""`` when the statement does not start with one)."""
        first = self.tokens[0] if self.tokens else None
        return first.upper if first is not None and first.kind == "word" else ""

    @property
    def normalized(self) -> str:
        """Tokens joined by single spaces: the same for any layout or commenting of the text."""
        return " ".join(token.text for token in self.tokens)

    @property
    def checksum(self) -> str:
        """SHA-256 of :attr:`normalized`: survives reformatting, changes with any token."""
        return hashlib.sha256(self.normalized.encode("utf-8")).hexdigest()

    def excerpt(self, width: int = 72) -> str:
        flat = self.normalized
        return flat if len(flat) <= width else flat[: width - 1] + "…"


def _leading_words(tokens: Sequence[Token], count: int) -> list[str]:
    return [t.upper for t in tokens[:count] if t.kind == "word"]


def _opens_body_block(significant: Sequence[Token]) -> bool:
    """Whether the statement is one whose body is a ``BEGIN ... END`` block with inner ``;``."""
    words = _leading_words(significant, 6)
    if not words or words[0] != "CREATE":
        return False
    rest = [w for w in words[1:] if w not in ("OR", "REPLACE", "TEMP", "TEMPORARY")]
    return bool(rest) and rest[0] in ("TRIGGER", "FUNCTION", "PROCEDURE")


class _StatementBuilder:
    """Accumulates the tokens of one statement and knows whether a ``;`` ends it."""

    def __init__(self) -> None:
        self.tokens: list[Token] = []
        self.significant: list[Token] = []
        self.parens = 0
        self.in_batch = False
        self.block_depth = 0

    def add(self, token: Token, fail: _Fail) -> None:
        self.tokens.append(token)
        if not token.significant:
            return
        self.significant.append(token)
        if token.text == "(" and token.kind == "punct":
            self.parens += 1
        elif token.text == ")" and token.kind == "punct":
            if self.parens == 0:
                raise fail("unbalanced ')'", token.start)
            self.parens -= 1
        elif token.kind == "word":
            self._track_blocks(token)

    def _track_blocks(self, token: Token) -> None:
        word = token.upper
        if word == "BATCH" and len(self.significant) <= 3 and self.significant[0].is_word("BEGIN"):
            self.in_batch = True  # BEGIN [UNLOGGED|COUNTER] BATCH ... APPLY BATCH
            return
        if self.in_batch:
            previous = self.significant[-2] if len(self.significant) > 1 else None
            if word == "BATCH" and previous is not None and previous.is_word("APPLY"):
                self.in_batch = False
            return
        opens_body = word == "BEGIN" and _opens_body_block(self.significant)
        if opens_body or (word == "CASE" and self.block_depth):
            self.block_depth += 1
        elif word == "END" and self.block_depth:
            self.block_depth -= 1

    @property
    def semicolon_ends(self) -> bool:
        return self.parens == 0 and not self.in_batch and self.block_depth == 0

    def build(self, source: str, lines: _Lines) -> Statement | None:
        if not self.significant:
            return None
        first = self.significant[0].start
        last = self.significant[-1]
        body: list[str] = []
        for token in self.tokens:
            if token.start < first or token.start > last.start:
                continue
            # A comment becomes a space so the tokens around it stay apart.
            body.append(" " if token.kind == "comment" else token.text)
        return Statement(
            text="".join(body).strip(),
            source=source,
            line=lines.line(first),
            tokens=tuple(self.significant),
        )


class _Fail:
    def __init__(self, source: str, lines: _Lines) -> None:
        self._source, self._lines = source, lines

    def __call__(self, problem: str, at: int) -> SchemaToolError:
        return SchemaToolError(f"{self._source} line {self._lines.line(at)}: {problem}")


def split_statements(text: str, *, source: str = "<text>") -> list[Statement]:
    """The statements of a schema file, in order. A final statement may omit its ``;``."""
    lines = _Lines(text)
    fail = _Fail(source, lines)
    statements: list[Statement] = []
    builder = _StatementBuilder()
    for token in tokenize(text, source=source):
        if token.kind == "punct" and token.text == ";" and builder.semicolon_ends:
            built = builder.build(source, lines)
            if built is not None:
                statements.append(built)
            builder = _StatementBuilder()
            continue
        builder.add(token, fail)
    if builder.parens:
        raise fail("unbalanced '(' (statement never closed)", builder.significant[0].start)
    if builder.in_batch or builder.block_depth:
        raise fail("BEGIN without its closing APPLY BATCH / END", builder.significant[0].start)
    built = builder.build(source, lines)
    if built is not None:
        statements.append(built)
    return statements


def check_allowed_verbs(statements: Iterable[Statement]) -> None:
    """Refuse, before anything runs, statements that do not start with an allowed verb."""
    bad = [s for s in statements if s.verb not in ALLOWED_VERBS]
    if not bad:
        return
    first = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    allowed = ", ".join(sorted(ALLOWED_VERBS))
    raise SchemaToolError(
        f"{first.source} line {first.line}: statement '{first.excerpt(48)}' is not allowed in a "
        f"schema file; only {allowed} statements are{more}"
    )
