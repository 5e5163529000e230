"""Key globs (`*`, `**`, `?`, `[abc]`) matched in linear time, in Python and in SQL.

A glob reaches the server from any search request, so it must never cost more than the
length of the key times the length of the pattern. Translated to a backtracking regular
expression, `**a**a**a**a**!` takes seconds on one 56-character key; here a glob is
simulated as a set of pattern positions (Thompson's construction), one step per character.
SQLite calls the Python matcher as the SQL function `pixseek_glob`; PostgreSQL's regular
expression engine does not backtrack on these patterns, so it gets the equivalent regex.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

SQLITE_FUNCTION = "pixseek_glob"


@dataclass(frozen=True)
class _Token:
    kind: str  # "char", "one" (?), "class" ([...]), "star" (*), "any" (**), "dirs" (**/)
    ranges: tuple[tuple[str, str], ...] = ()  # a literal char is one range of itself
    negate: bool = False

    def accepts(self, ch: str) -> bool:
        if ch == "/":
            return self.kind == "char" and self.ranges[0][0] == "/"  # only a literal `/`
        if self.kind == "one":
            return True
        return any(lo <= ch <= hi for lo, hi in self.ranges) != self.negate


def _class_ranges(body: str) -> tuple[tuple[str, str], ...]:
    """`a-z0_` as ranges; a `-` first or last is literal, `/` never belongs to a class."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            out.append((body[i], body[i + 2]))
            i += 3
        else:
            out.append((body[i], body[i]))
            i += 1
    return tuple(r for r in out if r != ("/", "/"))


@functools.lru_cache(maxsize=256)
def parse_glob(pattern: str) -> tuple[_Token, ...]:
    """The tokens of a glob; a `[` without a closing `]` (or around nothing but `/`) is literal."""
    out: list[_Token] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append(_Token("dirs"))
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(_Token("any"))
            i += 2
            continue
        if ch == "*":
            out.append(_Token("star"))
        elif ch == "?":
            out.append(_Token("one"))
        elif ch == "[" and (end := pattern.find("]", i + 2)) != -1 and pattern[i + 1 : end].strip("!/"):
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            out.append(_Token("class", _class_ranges(body[1:] if negate else body), negate))
            i = end
        else:
            out.append(_Token("char", ((ch, ch),)))
        i += 1
    return tuple(out)


# A matcher state is a pattern position; inside a `**/` that has read characters but not yet
# the `/` ending its last folder, the state is marked INSIDE (it may not skip ahead).
INSIDE = -1


def _closure(tokens: tuple[_Token, ...], states: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Add the positions reachable without reading: past any star, `**` or `**/` not yet entered."""
    todo = list(states)
    while todo:
        i, mode = todo.pop()
        if mode == 0 and i < len(tokens) and tokens[i].kind in ("star", "any", "dirs"):
            nxt = (i + 1, 0)
            if nxt not in states:
                states.add(nxt)
                todo.append(nxt)
    return states


def glob_match(pattern: str, key: str) -> bool:
    """True when the whole `key` matches `pattern` (`*` and `?` stay within a folder)."""
    tokens = parse_glob(pattern)
    end = len(tokens)
    states = _closure(tokens, {(0, 0)})
    for ch in key:
        nxt: set[tuple[int, int]] = set()
        for i, _mode in states:
            if i == end:
                continue
            token = tokens[i]
            if token.kind == "dirs":
                nxt.add((i, INSIDE))  # reading the folders
                if ch == "/":
                    nxt.add((i + 1, 0))  # ...and this `/` may end the last of them
            elif token.kind == "any" or (token.kind == "star" and ch != "/"):
                nxt.add((i, 0))
            elif token.kind != "star" and token.accepts(ch):
                nxt.add((i + 1, 0))
        if not nxt:
            return False
        states = _closure(tokens, nxt)
    return (end, 0) in states


def glob_to_regex(pattern: str) -> str:
    """The same glob as an anchored POSIX-compatible regular expression (for PostgreSQL)."""
    parts: list[str] = ["^"]
    for token in parse_glob(pattern):
        if token.kind == "dirs":
            parts.append("(.*/)?")
        elif token.kind == "any":
            parts.append(".*")
        elif token.kind == "star":
            parts.append("[^/]*")
        elif token.kind == "one":
            parts.append("[^/]")
        elif token.kind == "class":
            body = "".join(
                _class_char(lo) if lo == hi else f"{_class_char(lo)}-{_class_char(hi)}"
                for lo, hi in token.ranges
            )
            parts.append(f"[^/{body}]" if token.negate else f"[{body}]")
        else:
            parts.append(re.escape(token.ranges[0][0]))
    parts.append("$")
    return "".join(parts)


def _class_char(ch: str) -> str:
    return "\\" + ch if ch in "\\^[]-" else ch


class GlobMatch(FunctionElement[bool]):
    """`key` matches a glob: `pixseek_glob(glob, key)` on SQLite, `key ~ regex` elsewhere.

    Both the glob and its regex are bound when the expression is built, so a compiled
    statement taken from SQLAlchemy's cache never carries another query's pattern.
    """

    type = Boolean()
    inherit_cache = True
    name = "glob_match"


def key_matches(column: ColumnElement[str] | InstrumentedAttribute[str], pattern: str) -> ColumnElement[bool]:
    """An SQL condition: `column` matches the glob `pattern` in its entirety."""
    return GlobMatch(column, literal(pattern), literal(glob_to_regex(pattern)))


@compiles(GlobMatch, "sqlite")
def _glob_sqlite(element: GlobMatch, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern, _regex = list(element.clauses)
    return f"{SQLITE_FUNCTION}({compiler.process(pattern, **kw)}, {compiler.process(column, **kw)})"


@compiles(GlobMatch)
def _glob_regex(element: GlobMatch, compiler: SQLCompiler, **kw: Any) -> str:
    column, _pattern, regex = list(element.clauses)
    return f"({compiler.process(column, **kw)} ~ {compiler.process(regex, **kw)})"


def register_sqlite(dbapi_conn: Any) -> None:
    """Make `pixseek_glob(pattern, key)` available on a new SQLite connection."""
    dbapi_conn.create_function(
        SQLITE_FUNCTION, 2, lambda p, k: int(k is not None and glob_match(p, k)), deterministic=True
    )
