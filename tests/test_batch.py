"""Batch runs (`oktalab run --jobs N`): parameter sets at once against the session sandbox.

Real papermill runs of the stage notebooks, no mocks. Ordering, not timing, is asserted:
``run.json`` records when each stage started and how long it took, so the tests can tell
that two sets' stages overlapped and that two stages writing one shared object did not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from oktalab_support import run_cli

from oktalab.params import load_parameters
from oktalab.shared import shared_keys

pytestmark = pytest.mark.slow

TEMPLATE = """\
name: {name}
guide: oidc-gateway
target: sandbox
authorization_server: {server}
stages: [okta_app, claims]
app:
  label: {name}-spa
  type: browser
  redirect_uris: ["http://{name}.localhost/callback"]
claims:
  - {{name: email, value: user.email}}
token_preview:
  scopes: [openid, profile, email]
"""


def _write(tmp_path: Path, name: str, server: str = "default") -> Path:
    f = tmp_path / f"{name}.yaml"
    f.write_text(TEMPLATE.format(name=name, server=server))
    return f


def _spans(run_dir: Path) -> dict[tuple[str, str], tuple[float, float]]:
    meta = json.loads((run_dir / "run.json").read_text())
    return {
        (s["parameter_set"], s["stage"]): (s["started"], s["started"] + s["seconds"])
        for s in meta["stages"]
        if s["started"] is not None
    }


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _outcome(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    return sorted((r["parameter_set"], r["stage"], r["step"], r["name"], r["status"]) for r in rows)


def test_jobs_run_sets_at_once_and_a_failed_set_stops_only_itself(
    sandbox: dict[str, str], tmp_path: Path
) -> None:
    files = [
        _write(tmp_path, "batch-a"),
        _write(tmp_path, "batch-b"),
        _write(tmp_path, "batch-bad", server="aus0nosuchserver0000"),  # valid, but the org has none
    ]
    keys = shared_keys((load_parameters(f), ["okta_app", "claims"]) for f in files)
    assert keys == {
        ("batch-a", "claims"): ["okta/authorization-server/default"],
        ("batch-b", "claims"): ["okta/authorization-server/default"],
    }

    out = tmp_path / "jobs3"
    code, rows, output = run_cli(sandbox, "run", *map(str, files), "--out", str(out), "-j", "3")
    assert code == 1, output
    assert "Traceback" not in output
    by_set: dict[str, set[str]] = {}
    for r in rows:
        by_set.setdefault(r["parameter_set"], set()).add(r["status"])
    assert by_set["batch-a"] == {"ok"} and by_set["batch-b"] == {"ok"}, output
    bad = [r for r in rows if r["parameter_set"] == "batch-bad"]
    assert any(r["stage"] == "okta_app" and r["status"] == "failed" for r in bad), bad
    assert [r["status"] for r in bad if r["stage"] == "claims"] == ["skipped"], bad
    # grouped by set, in the order the sets were given
    order = list(dict.fromkeys(r["parameter_set"] for r in rows))
    assert order == ["batch-a", "batch-b", "batch-bad"]

    spans = _spans(out)
    firsts = [spans[(s, "okta_app")] for s in ("batch-a", "batch-b", "batch-bad")]
    assert any(_overlap(x, y) for i, x in enumerate(firsts) for y in firsts[i + 1 :]), spans
    # both write the claims of the default authorization server: never at the same time
    assert not _overlap(spans[("batch-a", "claims")], spans[("batch-b", "claims")]), spans

    one = tmp_path / "jobs1"
    code1, rows1, output1 = run_cli(sandbox, "run", *map(str, files), "--out", str(one), "-j", "1")
    assert code1 == 1, output1
    assert _outcome(rows1) == _outcome(rows)  # the same rows and statuses, one set at a time
    spans1 = _spans(one)
    ordered = sorted(spans1.values())
    assert all(a[1] <= b[0] for a, b in zip(ordered, ordered[1:], strict=False)), spans1
    budget = out / ".ratelimit"
    assert budget.is_dir() and budget.stat().st_mode & 0o777 == 0o700
