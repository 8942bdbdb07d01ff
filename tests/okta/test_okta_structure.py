"""The sandbox Okta org's shape: no import cycle, every declared resource is one of Okta's.

The import check reads the modules with ``ast`` (as ``tests/test_public_api.py`` does for the
client room), counting imports inside functions too: a deferred import is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml
from oktalab_support import SHARED

import oktalab.sandbox.okta as okta_pkg
from oktalab.sandbox.okta import server as _server  # noqa: F401  (imports every resource)
from oktalab.sandbox.okta.rest import REGISTRY

SPEC = SHARED / "specs" / "okta" / "management-minimal.yaml"
PACKAGE = "oktalab.sandbox.okta"


def _import_graph() -> dict[str, set[str]]:
    """Module → sandbox Okta modules it imports (at any depth of its code)."""
    root = Path(okta_pkg.__file__).parent
    modules = {p.stem for p in root.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in root.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    names = [node.module.split(".")[0]]
                else:
                    names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
                names = [(node.module or "")[len(PACKAGE) + 1 :].split(".")[0]]
            elif isinstance(node, ast.Import):
                names = [
                    a.name[len(PACKAGE) + 1 :].split(".")[0]
                    for a in node.names
                    if a.name.startswith(PACKAGE + ".")
                ]
            found.update(n for n in names if n in modules and n != path.stem)
        graph[path.stem] = found
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_sandbox_okta_imports_have_no_cycle() -> None:
    graph = _import_graph()
    assert "org" in graph and "rest" in graph
    assert _cycle(graph) is None, " → ".join(_cycle(graph) or [])
    # seeding sits above the resources: only the package and the app assembly import it
    assert {m for m, deps in graph.items() if "org" in deps} <= {"__init__", "server"}
    # and the generic handler sits below them
    assert not graph["rest"] & {"apps", "authz", "groups", "policies", "origins", "users"}


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip("Okta management spec not available")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC.open() as fh:
        return yaml.load(fh, Loader=loader)


def test_declared_resources_are_okta_resources(spec: dict[str, Any]) -> None:
    """Each declaration's paths, methods and schema are in Okta's published management spec."""
    kinds = [r.kind for r in REGISTRY]
    assert len(kinds) == len(set(kinds)) >= 12
    missing = []
    for res in REGISTRY:
        if res.schema not in spec["components"]["schemas"]:
            missing.append(f"{res.kind}: schema {res.schema}")
        wanted = {
            ("list", res.path, "get"),
            ("create", res.path, "post"),
            ("get", res.item, "get"),
            ("replace", res.item, "put"),
            ("delete", res.item, "delete"),
        }
        for op, path, method in wanted:
            if op in res.ops and method not in spec["paths"].get(path, {}):
                missing.append(f"{res.kind}: {method.upper()} {path}")
        if res.lifecycle is not None:
            for action in ("activate", "deactivate"):
                if f"{res.item}/lifecycle/{action}" not in spec["paths"]:
                    missing.append(f"{res.kind}: lifecycle/{action}")
    assert missing == []
