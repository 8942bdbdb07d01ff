"""Label and field selectors, as ``kubectl -l`` and ``kubectl delete``'s wait send them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import bad_request

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]

_SET_RE = re.compile(r"^\s*(!?)([A-Za-z0-9._/-]+)\s+(in|notin)\s*\(([^)]*)\)\s*$")
_CMP_RE = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|!=|=)\s*([A-Za-z0-9._-]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside ``( ... )``."""
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    return [t for t in terms if t.strip()]


def _in_set(key: str, values: set[str], *, negate: bool) -> Callable[[dict[str, str]], bool]:
    return lambda labels: (labels.get(key) in values) != negate


def _equals(key: str, value: str, *, negate: bool) -> Callable[[dict[str, str]], bool]:
    return lambda labels: (labels.get(key) == value) != negate


def _exists(key: str, *, negate: bool) -> Callable[[dict[str, str]], bool]:
    return lambda labels: (key in labels) != negate


def label_selector(text: str | None) -> Predicate:
    """Compile ``a=b,c!=d,e in (f,g),h notin (i),j,!k``."""
    if not text or not text.strip():
        return lambda obj: True
    checks: list[Callable[[dict[str, str]], bool]] = []
    for term in _split_terms(text):
        if m := _SET_RE.match(term):
            values = {v.strip() for v in m.group(4).split(",") if v.strip()}
            checks.append(_in_set(m.group(2), values, negate=m.group(3) == "notin"))
        elif m := _CMP_RE.match(term):
            key, op, value = m.groups()
            checks.append(_equals(key, value, negate=op == "!="))
        elif m := _EXISTS_RE.match(term):
            neg, key = m.groups()
            checks.append(_exists(key, negate=bool(neg)))
        else:
            raise bad_request(f"unable to parse requirement: {term.strip()!r}")

    def match(obj: Obj) -> bool:
        labels = ((obj.get("metadata") or {}).get("labels")) or {}
        return all(check(labels) for check in checks)

    return match


def _field_value(obj: Obj, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def _field_equals(path: str, value: str, *, negate: bool) -> Predicate:
    return lambda obj: (_field_value(obj, path) == value) != negate


def field_selector(text: str | None, supported: set[str] | None = None) -> Predicate:
    """Compile ``metadata.name=x,involvedObject.kind!=y`` (only =, ==, !=, like the apiserver)."""
    if not text or not text.strip():
        return lambda obj: True
    checks: list[Callable[[Obj], bool]] = []
    for term in _split_terms(text):
        m = re.match(r"^\s*([A-Za-z0-9._-]+)\s*(==|!=|=)\s*(.*?)\s*$", term)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term.strip()}'")
        path, op, value = m.groups()
        if supported is not None and path not in supported:
            raise bad_request(f"field label not supported: {path}")
        checks.append(_field_equals(path, value, negate=op == "!="))
    return lambda obj: all(check(obj) for check in checks)


BASE_FIELDS = {"metadata.name", "metadata.namespace"}
EXTRA_FIELDS: dict[tuple[str, str], set[str]] = {
    (
        "",
        "events",
    ): {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    ("", "pods"): {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    },
    ("", "secrets"): {"type"},
    ("", "namespaces"): {"status.phase"},
}


def supported_fields(group: str, plural: str) -> set[str]:
    return BASE_FIELDS | EXTRA_FIELDS.get((group, plural), set())
