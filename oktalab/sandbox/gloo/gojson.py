"""A JSON syntax checker that words its errors like Go's ``encoding/json``.

Gloo's ext-auth-service is written in Go: when an AuthConfig carries a badly pasted JWKS the
user sees Go's scanner message (the guide quotes ``invalid character 'k' looking for beginning
of object key string``). Python's json module words errors differently, so the sandbox walks
the text with the same state machine as Go's ``encoding/json/scanner.go``.
"""

from __future__ import annotations

import json
from typing import Any

_WS = " \t\r\n"


class GoJSONError(ValueError):
    """A syntax error with Go's message (``str(err)``) and byte offset."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def quote_char(c: str) -> str:
    """Go's ``quoteChar``: the character in single quotes, escaped like strconv.Quote."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    if c.isprintable():
        return "'" + c + "'"
    named = {
        "\a": "\\a",
        "\b": "\\b",
        "\f": "\\f",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\v": "\\v",
    }
    if c in named:
        return "'" + named[c] + "'"
    code = ord(c)
    return "'" + (f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}") + "'"


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def err(self, what: str) -> GoJSONError:
        if self.i >= len(self.s):
            return GoJSONError("unexpected end of JSON input", self.i)
        return GoJSONError(f"invalid character {quote_char(self.s[self.i])} {what}", self.i)

    def skip_ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in _WS:
            self.i += 1

    def peek(self) -> str | None:
        return self.s[self.i] if self.i < len(self.s) else None

    def value(self) -> None:
        self.skip_ws()
        c = self.peek()
        if c == "{":
            self.i += 1
            self.obj()
        elif c == "[":
            self.i += 1
            self.arr()
        elif c == '"':
            self.string()
        elif c == "-" or (c is not None and c.isdigit() and c.isascii()):
            self.number()
        elif c in ("t", "f", "n"):
            self.literal({"t": "true", "f": "false", "n": "null"}[c])
        else:
            raise self.err("looking for beginning of value")

    def obj(self) -> None:
        self.skip_ws()
        if self.peek() == "}":
            self.i += 1
            return
        while True:
            self.skip_ws()
            if self.peek() != '"':
                raise self.err("looking for beginning of object key string")
            self.string()
            self.skip_ws()
            if self.peek() != ":":
                raise self.err("after object key")
            self.i += 1
            self.value()
            self.skip_ws()
            c = self.peek()
            if c == ",":
                self.i += 1
                continue
            if c == "}":
                self.i += 1
                return
            raise self.err("after object key:value pair")

    def arr(self) -> None:
        self.skip_ws()
        if self.peek() == "]":
            self.i += 1
            return
        while True:
            self.value()
            self.skip_ws()
            c = self.peek()
            if c == ",":
                self.i += 1
                continue
            if c == "]":
                self.i += 1
                return
            raise self.err("after array element")

    def string(self) -> None:
        self.i += 1  # opening quote
        while True:
            c = self.peek()
            if c is None:
                raise self.err("")
            if c == '"':
                self.i += 1
                return
            if c == "\\":
                self.i += 1
                e = self.peek()
                if e is None:
                    raise self.err("")
                if e in '"\\/bfnrt':
                    self.i += 1
                elif e == "u":
                    self.i += 1
                    for _ in range(4):
                        h = self.peek()
                        if h is None:
                            raise self.err("")
                        if h not in "0123456789abcdefABCDEF":
                            raise self.err("in \\u hexadecimal character escape")
                        self.i += 1
                else:
                    raise self.err("in string escape code")
            elif ord(c) < 0x20:
                raise self.err("in string literal")
            else:
                self.i += 1

    def digits(self) -> int:
        start = self.i
        while (c := self.peek()) is not None and c in "0123456789":
            self.i += 1
        return self.i - start

    def number(self) -> None:
        if self.peek() == "-":
            self.i += 1
            c = self.peek()
            if c is None or c not in "0123456789":
                raise self.err("in numeric literal")
        if self.peek() == "0":
            self.i += 1
        else:
            self.digits()
        if self.peek() == ".":
            self.i += 1
            if self.digits() == 0:
                raise self.err("after decimal point in numeric literal")
        if self.peek() in ("e", "E"):
            self.i += 1
            if self.peek() in ("+", "-"):
                self.i += 1
            if self.digits() == 0:
                raise self.err("in exponent of numeric literal")

    def literal(self, word: str) -> None:
        self.i += 1
        for expected in word[1:]:
            c = self.peek()
            if c is None:
                raise self.err("")
            if c != expected:
                raise self.err(f"in literal {word} (expecting {quote_char(expected)})")
            self.i += 1


def check_valid(text: str) -> None:
    """Raise :class:`GoJSONError` with Go's wording when ``text`` is not valid JSON."""
    sc = _Scanner(text)
    sc.value()
    sc.skip_ws()
    if sc.i < len(sc.s):
        raise sc.err("after top-level value")


def go_type_name(value: Any) -> str:
    """The JSON type name Go uses in UnmarshalTypeError (``cannot unmarshal <this> into ...``)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def loads(text: str) -> Any:
    """Parse JSON, raising Go-worded :class:`GoJSONError` on syntax errors."""
    check_valid(text)
    return json.loads(text)
