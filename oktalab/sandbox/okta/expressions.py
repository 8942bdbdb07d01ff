"""A small interpreter for the part of the Okta Expression Language that token claims use.

Covers attribute paths (``user.email``, ``user.organization``, ``appuser.userName``,
``app.clientId``), string/number/boolean/null literals, ``+`` concatenation, ``==``/``!=``,
``AND``/``OR``/``!``, the ternary ``? :`` (as in the system ``sub`` claim), and the common
functions (``isMemberOfGroupName``, ``String.toLowerCase``, ``Groups.startsWith``, …).
Anything else fails to parse, so a claim Okta would reject as invalid EL is rejected here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<num>\d+(?:\.\d+)?)
    | (?P<op>==|!=|&&|\|\||[?:()+,!.\[\]])
    | (?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)
    )""",
    re.VERBOSE,
)


class ExpressionError(ValueError):
    pass


@dataclass
class Context:
    """What an expression may reference when a token is minted."""

    user: dict[str, Any] | None = None  # the user document (id, status, profile…)
    group_names: list[str] = field(default_factory=list)
    group_ids: list[str] = field(default_factory=list)
    client_id: str | None = None
    app_id: str | None = None


def _tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"Invalid expression near {text[pos : pos + 12]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


Node = Callable[[Context], Any]


def _user_attr(ctx: Context, name: str) -> Any:
    if ctx.user is None:
        return None
    if name in ("id", "status", "created", "lastUpdated"):
        return ctx.user.get(name)
    return ctx.user.get("profile", {}).get(name)


def _groups_filter(kind: str) -> Callable[..., Any]:
    def fn(ctx: Context, _source: Any, value: Any, limit: Any = 100) -> list[str]:
        names = ctx.group_names
        value = str(value)
        if kind == "startsWith":
            hits = [n for n in names if n.startswith(value)]
        elif kind == "contains":
            hits = [n for n in names if value in n]
        else:  # endsWith
            hits = [n for n in names if n.endswith(value)]
        return hits[: int(limit)]

    return fn


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "isMemberOfGroupName": lambda ctx, name: name in ctx.group_names,
    "isMemberOfGroup": lambda ctx, gid: gid in ctx.group_ids,
    "isMemberOfAnyGroup": lambda ctx, *ids: any(g in ctx.group_ids for g in ids),
    "isMemberOfGroupNameStartsWith": lambda ctx, p: any(n.startswith(p) for n in ctx.group_names),
    "isMemberOfGroupNameContains": lambda ctx, p: any(p in n for n in ctx.group_names),
    "isMemberOfGroupNameRegex": lambda ctx, p: any(re.fullmatch(p, n) for n in ctx.group_names),
    "String.toUpperCase": lambda ctx, s: None if s is None else str(s).upper(),
    "String.toLowerCase": lambda ctx, s: None if s is None else str(s).lower(),
    "String.substringBefore": lambda ctx, s, sep: None if s is None else str(s).split(sep)[0],
    "String.substringAfter": lambda ctx, s, sep: (
        None if s is None else (str(s).split(sep, 1)[1] if sep in str(s) else "")
    ),
    "String.stringContains": lambda ctx, s, sub: s is not None and sub in str(s),
    "String.startsWith": lambda ctx, s, p: s is not None and str(s).startswith(p),
    "String.len": lambda ctx, s: 0 if s is None else len(str(s)),
    "String.append": lambda ctx, a, b: f"{a or ''}{b or ''}",
    "String.join": lambda ctx, sep, *parts: str(sep).join(str(p) for p in parts if p is not None),
    "Arrays.contains": lambda ctx, arr, v: v in (arr or []),
    "Arrays.isEmpty": lambda ctx, arr: not arr,
    "Arrays.size": lambda ctx, arr: len(arr or []),
    "Arrays.flatten": lambda ctx, *items: [
        x for i in items for x in (i if isinstance(i, list) else [i]) if x is not None
    ],
    "Groups.startsWith": _groups_filter("startsWith"),
    "Groups.contains": _groups_filter("contains"),
    "Groups.endsWith": _groups_filter("endsWith"),
    "user.getInternalProperty": lambda ctx, name: (ctx.user or {}).get(name),
    "user.isMemberOf": lambda ctx, spec: False,
}
ROOTS = {"user", "appuser", "app", "org"}


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def accept(self, value: str) -> bool:
        tok = self.peek()
        if tok and tok[1] == value and tok[0] in ("op", "ident"):
            self.i += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            raise ExpressionError(f"Invalid expression: expected {value!r}")

    def parse(self) -> Node:
        node = self.ternary()
        if self.peek() is not None:
            raise ExpressionError(f"Invalid expression: unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def ternary(self) -> Node:
        cond = self.or_()
        if self.accept("?"):
            a = self.ternary()
            self.expect(":")
            b = self.ternary()
            return lambda ctx: a(ctx) if cond(ctx) else b(ctx)
        return cond

    def or_(self) -> Node:
        left = self.and_()
        while self.accept("||") or self.accept("OR") or self.accept("or"):
            right = self.and_()
            left = (lambda x, y: lambda ctx: bool(x(ctx)) or bool(y(ctx)))(left, right)
        return left

    def and_(self) -> Node:
        left = self.cmp()
        while self.accept("&&") or self.accept("AND") or self.accept("and"):
            right = self.cmp()
            left = (lambda x, y: lambda ctx: bool(x(ctx)) and bool(y(ctx)))(left, right)
        return left

    def cmp(self) -> Node:
        left = self.add()
        if self.accept("=="):
            right = self.add()
            return lambda ctx: left(ctx) == right(ctx)
        if self.accept("!="):
            right = self.add()
            return lambda ctx: left(ctx) != right(ctx)
        return left

    def add(self) -> Node:
        left = self.unary()
        while self.accept("+"):
            right = self.unary()

            def concat(ctx: Context, x: Node = left, y: Node = right) -> Any:
                a, b = x(ctx), y(ctx)
                if isinstance(a, (int, float)) and isinstance(b, (int, float)):
                    return a + b
                return f"{'' if a is None else a}{'' if b is None else b}"

            left = concat
        return left

    def unary(self) -> Node:
        if self.accept("!"):
            inner = self.unary()
            return lambda ctx: not inner(ctx)
        return self.primary()

    def primary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise ExpressionError("Invalid expression: unexpected end")
        kind, raw = tok
        self.i += 1
        if kind == "str":
            value = raw[1:-1].replace('\\"', '"').replace("\\'", "'")
            return lambda ctx: value
        if kind == "num":
            number = float(raw) if "." in raw else int(raw)
            return lambda ctx: number
        if kind == "op" and raw == "(":
            inner = self.ternary()
            self.expect(")")
            return inner
        if kind == "op" and raw == "[":
            items: list[Node] = []
            if not self.accept("]"):
                items.append(self.ternary())
                while self.accept(","):
                    items.append(self.ternary())
                self.expect("]")
            return lambda ctx: [n(ctx) for n in items]
        if kind != "ident":
            raise ExpressionError(f"Invalid expression: unexpected {raw!r}")
        if raw in ("true", "false"):
            return lambda ctx: raw == "true"
        if raw == "null":
            return lambda ctx: None
        path = [raw]
        while self.accept("."):
            nxt = self.peek()
            if nxt is None or nxt[0] != "ident":
                raise ExpressionError("Invalid expression: expected a property name")
            self.i += 1
            path.append(nxt[1])
        name = ".".join(path)
        if self.accept("("):
            args: list[Node] = []
            if not self.accept(")"):
                args.append(self.ternary())
                while self.accept(","):
                    args.append(self.ternary())
                self.expect(")")
            fn = FUNCTIONS.get(name)
            if fn is None:
                raise ExpressionError(f"Invalid expression: unknown function {name}")
            return lambda ctx: fn(ctx, *[a(ctx) for a in args])
        return self._path(path)

    @staticmethod
    def _path(path: list[str]) -> Node:
        root = path[0]
        if len(path) == 1 and root not in ROOTS and root not in ("appuser", "user"):
            # real Okta created an EXPRESSION claim whose value is the bare word ``cool``
            # (201, terraform-provider-okta TestAccResourceOktaAuthServerClaim_create,
            # Identity Engine): an unknown bare name is accepted and evaluates to null,
            # so the claim is left out of tokens
            return lambda ctx: None
        if root not in ROOTS and not (len(path) == 1 and root in ("appuser", "user")):
            raise ExpressionError(f"Invalid expression: unknown variable {root}")
        if root == "user":
            if len(path) == 1:
                return lambda ctx: ctx.user
            if len(path) != 2:
                raise ExpressionError("Invalid expression: nested user attribute")
            attr = path[1]
            return lambda ctx: _user_attr(ctx, attr)
        if root == "appuser":
            if len(path) == 1:
                return lambda ctx: ctx.user
            attr = path[1]
            if attr == "userName":
                return lambda ctx: (ctx.user or {}).get("profile", {}).get("login")
            return lambda ctx: _user_attr(ctx, attr)
        if root == "app":
            if len(path) == 1:
                return lambda ctx: {"clientId": ctx.client_id}
            attr = path[1]
            if attr == "clientId":
                return lambda ctx: ctx.client_id
            if attr == "id":
                return lambda ctx: ctx.app_id
            return lambda ctx: None
        return lambda ctx: None


def compile_expression(text: str) -> Node:
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("Invalid expression: empty")
    return _Parser(_tokenize(text)).parse()


def evaluate(text: str, ctx: Context) -> Any:
    return compile_expression(text)(ctx)
