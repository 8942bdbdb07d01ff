"""Okta's SCIM-like ``filter``/``search`` expressions: ``profile.login eq "a@b" and status eq "ACTIVE"``.

Parsed once into a predicate over the JSON document as the API renders it, so the same code
serves users, groups, apps and policies. Unsupported syntax raises ``ValueError`` (→ E0000031).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<str>"(?:[^"\\]|\\.)*")|(?P<word>[A-Za-z0-9_.\-:$/]+))'
)
_OPS = {"eq", "ne", "sw", "co", "ew", "gt", "ge", "lt", "le", "pr"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unexpected input at {pos}: {text[pos : pos + 10]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def resolve(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _literal(kind: str, raw: str) -> Any:
    if kind == "str":
        return raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    low = raw.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if low == "null":
        return None
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            return raw


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "pr":
        return actual is not None and actual != ""
    if isinstance(actual, list):
        return any(_compare(op, item, expected) for item in actual)
    if isinstance(actual, str) and isinstance(expected, str):
        a, e = actual.lower(), expected.lower()
    else:
        a, e = actual, expected
    if op == "eq":
        return a == e
    if op == "ne":
        return a != e
    if a is None:
        return False
    try:
        if op == "sw":
            return str(a).startswith(str(e))
        if op == "co":
            return str(e) in str(a)
        if op == "ew":
            return str(a).endswith(str(e))
        if op == "gt":
            return a > e
        if op == "ge":
            return a >= e
        if op == "lt":
            return a < e
        if op == "le":
            return a <= e
    except TypeError:
        return False
    raise ValueError(f"unknown operator {op}")


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], allowed: set[str] | None) -> None:
        self.tokens = tokens
        self.pos = 0
        self.allowed = allowed

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ValueError("unexpected end of filter")
        self.pos += 1
        return tok

    def word_is(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() == word

    def expr(self) -> Predicate:
        left = self.term()
        while self.word_is("or"):
            self.next()
            right = self.term()
            left = (lambda a, b: lambda d: a(d) or b(d))(left, right)
        return left

    def term(self) -> Predicate:
        left = self.factor()
        while self.word_is("and"):
            self.next()
            right = self.factor()
            left = (lambda a, b: lambda d: a(d) and b(d))(left, right)
        return left

    def factor(self) -> Predicate:
        if self.word_is("not"):
            self.next()
            inner = self.factor()
            return lambda d: not inner(d)
        tok = self.next()
        if tok[0] == "lp":
            inner = self.expr()
            if self.next()[0] != "rp":
                raise ValueError("missing )")
            return inner
        if tok[0] != "word":
            raise ValueError(f"expected attribute, got {tok[1]!r}")
        attr = tok[1]
        if self.allowed is not None and attr not in self.allowed:
            raise ValueError(f"filtering on {attr} is not supported")
        op_tok = self.next()
        op = op_tok[1].lower()
        if op_tok[0] != "word" or op not in _OPS:
            raise ValueError(f"unknown operator {op_tok[1]!r}")
        if op == "pr":
            return lambda d: _compare("pr", resolve(d, attr), None)
        kind, raw = self.next()
        if kind not in ("str", "word"):
            raise ValueError("expected a value")
        value = _literal(kind, raw)
        return lambda d: _compare(op, resolve(d, attr), value)


def compile_filter(text: str, allowed: set[str] | None = None) -> Predicate:
    parser = _Parser(_tokens(text), allowed)
    predicate = parser.expr()
    if parser.peek() is not None:
        raise ValueError(f"unexpected {parser.peek()!r}")
    return predicate
