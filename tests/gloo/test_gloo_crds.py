"""Our hand-written CRDs against the real ones (ExtAuthServer, AuthConfig) and the GMG 2.5 protos."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from oktalab_support import SHARED

from oktalab.sandbox.gloo.seed import load_crds

SPECS = SHARED / "specs" / "gloo"  # ../shared beside the repository; tests skip without it
REAL_CRDS = SPECS / "crds"
PROTOS = SPECS / "gloo-mesh-v2.5-protos" / "api"

Schema = dict[str, Any]


def ours(kind: str, group: str = "", version: str = "2.5") -> Schema:
    crd = next(
        c
        for c in load_crds(version)
        if c["spec"]["names"]["kind"] == kind and (not group or c["spec"]["group"] == group)
    )
    return crd


def schema_paths(node: Schema, path: str = "") -> dict[str, str]:
    """Every field path (``a.b[].c``, ``m{}``) with its type, not descending into preserve-unknown leaves."""
    out: dict[str, str] = {}
    for name, child in (node.get("properties") or {}).items():
        p = f"{path}.{name}" if path else name
        out[p] = child.get("type", "")
        out.update(schema_paths(child, p))
    if isinstance(node.get("items"), dict):
        p = f"{path}[]"
        out[p] = node["items"].get("type", "")
        out.update(schema_paths(node["items"], p))
    if isinstance(node.get("additionalProperties"), dict):
        p = f"{path}{{}}"
        out[p] = node["additionalProperties"].get("type", "")
        out.update(schema_paths(node["additionalProperties"], p))
    return out


@pytest.mark.parametrize(
    ("kind", "real_file"),
    [
        ("ExtAuthServer", "admin.gloo.solo.io_v2_ExtAuthServer.crd.yaml"),
        ("AuthConfig", "enterprise.gloo.solo.io_v1_AuthConfig.crd.yaml"),
    ],
)
def test_fields_match_real_crd(kind: str, real_file: str) -> None:
    path = REAL_CRDS / real_file
    if not path.exists():
        pytest.skip(f"{path} absent")
    real = yaml.safe_load(path.read_text())
    # the real ExtAuthServer CRD is gloo-platform-crds 2.14.0: the sandbox's 2.14 layout
    mine = ours(kind, version="2.14" if kind == "ExtAuthServer" else "2.5")
    assert mine["metadata"]["name"] == real["metadata"]["name"]
    assert mine["spec"]["names"] == real["spec"]["names"]
    assert mine["spec"]["scope"] == real["spec"]["scope"]
    rv, mv = real["spec"]["versions"][0], mine["spec"]["versions"][0]
    assert mv["name"] == rv["name"]
    assert mv.get("subresources") == rv.get("subresources")
    assert mv.get("additionalPrinterColumns") == rv.get("additionalPrinterColumns")
    real_paths = schema_paths(rv["schema"]["openAPIV3Schema"])
    my_paths = schema_paths(mv["schema"]["openAPIV3Schema"])
    missing = sorted(set(my_paths) - set(real_paths))
    assert not missing, f"fields not in the real CRD: {missing}"
    wrong = {p: (t, real_paths[p]) for p, t in my_paths.items() if t != real_paths[p]}
    assert not wrong, f"type mismatches (ours, real): {wrong}"
    if kind == "ExtAuthServer":  # small enough to define completely
        assert set(my_paths) == set(real_paths)


# -- protos ----------------------------------------------------------------------------------
_FIELD = re.compile(r"^\s*(repeated\s+)?(map\s*<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*\d+")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def parse_protos() -> dict[str, dict[str, str]]:
    """message full name (nested with dots) -> {camelCase field: type}."""
    messages: dict[str, dict[str, str]] = {}
    for file in PROTOS.rglob("*.proto"):
        stack: list[str] = []
        kinds: list[str] = []
        text = "\n".join(line.split("//")[0] for line in file.read_text().splitlines())
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        for line in text.splitlines():
            m = re.match(r"^\s*(message|enum|oneof)\s+(\w+)\s*\{", line)
            if m:
                kinds.append(m.group(1))
                if m.group(1) == "message":
                    stack.append(m.group(2))
                    messages.setdefault(".".join(stack), {})
                if "}" in line[m.end() :]:
                    kinds.pop()
                    if m.group(1) == "message":
                        stack.pop()
                continue
            if re.match(r"^\s*\}", line):
                if kinds:
                    if kinds.pop() == "message":
                        stack.pop()
                continue
            f = _FIELD.match(line)
            if (
                f
                and stack
                and (not kinds or kinds[-1] != "enum")
                and f.group(2) not in ("option", "reserved")
            ):
                messages[".".join(stack)][camel(f.group(3))] = f.group(2)
    return messages


def resolve(messages: dict[str, dict[str, str]], scope: str, type_name: str) -> str | None:
    short = type_name.split(".")[-1]
    parts = scope.split(".")
    while parts:
        cand = ".".join([*parts, short])
        if cand in messages:
            return cand
        parts.pop()
    return short if short in messages else None


def check_against(
    messages: dict[str, dict[str, str]], node: Schema, message: str, path: str, problems: list[str]
) -> None:
    fields = messages[message]
    for name, child in (node.get("properties") or {}).items():
        p = f"{path}.{name}"
        if name not in fields:
            problems.append(f"{p} not in proto message {message}")
            continue
        ftype = fields[name]
        if ftype.startswith("map"):
            continue
        target = child.get("items", child) if child.get("type") == "array" else child
        sub = resolve(messages, message, ftype)
        if sub and target.get("properties"):
            check_against(messages, target, sub, p, problems)


@pytest.mark.parametrize(
    "kind",
    [
        "ExtAuthServer",
        "ExtAuthPolicy",
        "RouteTable",
        "VirtualGateway",
        "Workspace",
        "WorkspaceSettings",
        "Portal@apimanagement.gloo.solo.io",
        "PortalGroup",
    ],
)
def test_fields_match_protos(kind: str) -> None:
    if not PROTOS.exists():
        pytest.skip("protos absent")
    messages = parse_protos()
    kind, _, group = kind.partition("@")
    if f"{kind}Spec" not in messages:
        pytest.skip(f"{kind}Spec not in the protos")
    schema = ours(kind, group)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    problems: list[str] = []
    for part, suffix in (("spec", "Spec"), ("status", "Status")):
        check_against(messages, schema[part], f"{kind}{suffix}", part, problems)
        top = set(schema[part].get("properties") or {})
        assert top == set(messages[f"{kind}{suffix}"]), (
            f"{part} top-level fields differ from {kind}{suffix}"
        )
    assert not problems, problems


def test_status_shape_is_common_state() -> None:
    for crd in load_crds():
        if (
            crd["spec"]["group"].endswith(".gloo.solo.io")
            and crd["spec"]["versions"][0]["name"] == "v2"
        ):
            status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
            assert set(status["properties"]["common"]["properties"]["State"]["properties"]) == {
                "approval",
                "message",
                "observedGeneration",
            }
