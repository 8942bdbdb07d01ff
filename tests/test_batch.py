"""Batch runs (`oktalab run --jobs N`): parameter sets at once against the session sandbox.

Real papermill runs of the stage notebooks, no mocks. Ordering, not timing, is asserted:
``run.json`` records when each stage started and how long it took, and each set's
``locks.json`` when a stage held its shared-object locks, so the tests can tell that two
sets' stages overlapped and that two stages writing one shared object did not write at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from oktalab_support import ROOT, oktalab_cli, run_cli

from oktalab.batch import expand
from oktalab.shared import shared_keys

TEMPLATE = """\
name: batch-template
guide: oidc-gateway
target: sandbox
authorization_server: default
stages: [okta_app, claims]
app:
  label: batch-template-spa
  type: browser
  redirect_uris: ["http://template.localhost/callback"]
claims:
  - {name: email, value: user.email}
token_preview:
  scopes: [openid, profile, email]
"""


def _batch(tmp_path: Path) -> Path:
    """A batch file: the template plus inline rows, one of them on a server the org lacks."""
    (tmp_path / "team.template.yaml").write_text(TEMPLATE)
    rows = [
        {"name": n, "app.label": f"{n}-spa", "app.redirect_uris.0": f"http://{n}.localhost/cb"}
        for n in ("batch-a", "batch-b", "batch-bad")
    ]
    rows[2]["authorization_server"] = "aus0nosuchserver0000"  # valid, but the org has none
    f = tmp_path / "teams.yaml"
    f.write_text(yaml.safe_dump({"template": "team.template.yaml", "rows": rows}))
    return f


def _spans(run_dir: Path) -> dict[tuple[str, str], tuple[float, float]]:
    meta = json.loads((run_dir / "run.json").read_text())
    return {
        (s["parameter_set"], s["stage"]): (s["started"], s["started"] + s["seconds"])
        for s in meta["stages"]
        if s["started"] is not None
    }


def _held(set_dir: Path, stage: str) -> tuple[float, float]:
    """When the stage held its shared-object locks (epoch seconds, from its kernel)."""
    (entry,) = [e for e in json.loads((set_dir / "locks.json").read_text()) if e["stage"] == stage]
    return entry["acquired"], entry["released"]


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _outcome(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    return sorted((r["parameter_set"], r["stage"], r["step"], r["name"], r["status"]) for r in rows)


@pytest.mark.slow
def test_jobs_run_sets_at_once_and_a_failed_set_stops_only_itself(
    sandbox: dict[str, str], tmp_path: Path
) -> None:
    batch = _batch(tmp_path)
    sets = expand([batch])
    keys = shared_keys((si.params, ["okta_app", "claims"]) for si in sets)
    assert keys == {
        ("batch-a", "claims"): ["okta/authorization-server/default"],
        ("batch-b", "claims"): ["okta/authorization-server/default"],
    }

    out = tmp_path / "jobs3"
    code, rows, output = run_cli(sandbox, "run", str(batch), "--out", str(out), "-j", "3")
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
    held = {n: _held(out / n, "claims") for n in ("batch-a", "batch-b")}
    assert not _overlap(held["batch-a"], held["batch-b"]), held
    locks = [r for r in rows if r["kind"] == "Lock"]
    assert [(r["parameter_set"], r["stage"]) for r in locks] == [
        ("batch-a", "claims"),
        ("batch-b", "claims"),
    ]
    assert all(r["name"] == "okta/authorization-server/default" for r in locks)
    # new sets: each records the claim in its ledger, so each stage wrote, under the lock
    assert all("to write (" in r["detail"] and "held" in r["detail"] for r in locks), locks
    kernels = json.loads((out / "run.json").read_text())["kernels"]
    assert kernels["forked"] >= 5 and kernels["spawned"] == 0, kernels  # oktalab.forkserver

    # one set at a time, and every kernel its own process (no fork server): the same outcome
    one = tmp_path / "jobs1"
    code1, rows1, output1 = run_cli(
        sandbox, "run", str(batch), "--out", str(one), "-j", "1", env={"OKTALAB_FORK_KERNELS": "0"}
    )
    assert code1 == 1, output1
    assert _outcome(rows1) == _outcome(rows)
    kernels1 = json.loads((one / "run.json").read_text())["kernels"]
    assert kernels1["forked"] == 0 and kernels1["spawned"] >= 5, kernels1
    # a re-run has nothing to write: the stage ran without the lock (oktalab.writegate)
    relocks = [r for r in rows1 if r["kind"] == "Lock"]
    assert len(relocks) == 2 and all("no lock taken" in r["detail"] for r in relocks), relocks
    assert not (one / "batch-a" / "locks.json").exists()
    spans1 = _spans(one)
    ordered = sorted(spans1.values())
    assert all(a[1] <= b[0] for a, b in zip(ordered, ordered[1:], strict=False)), spans1
    generated = (out / "batch-a" / "parameters.yaml").read_text()  # what ran, for a re-run
    assert "generated by oktalab from" in generated and "batch-a-spa" in generated
    budget = out / ".ratelimit"
    assert budget.is_dir() and budget.stat().st_mode & 0o777 == 0o700


def test_folder_batch_file_and_template_table_name_the_same_sets(tmp_path: Path) -> None:
    example = ROOT / "parameters" / "batch"
    by_cli = expand([], template=example / "team.template.yaml", table=example / "tenants.csv")
    by_file = expand([example / "tenants.yaml"])
    by_folder = expand([example])  # the template itself is left to the batch file
    names = [si.params.name for si in by_cli]
    assert names == ["team-red", "team-green", "team-blue"]
    assert [si.params for si in by_file] == [si.params for si in by_cli]
    assert [si.params for si in by_folder] == [si.params for si in by_cli]
    red = by_cli[0].params
    assert red.app.label == "Team Red"
    assert red.app.redirect_uris == ["http://red.localhost/callback"]
    assert red.claims == load_template(example).claims  # what the table does not name stays
    assert "row 1 (line 2)" in by_cli[0].source

    # a YAML table: typed values, nested or dotted keys; a CSV cell where the template has
    # a number is read as YAML; sets listed by file and inline in one batch file
    (tmp_path / "t.yaml").write_text(TEMPLATE)
    (tmp_path / "rows.yaml").write_text(
        yaml.safe_dump([{"name": "y1", "app": {"label": "Y1"}, "clock_skew_seconds": 30}])
    )
    (tmp_path / "rows.csv").write_text("name,clock_skew_seconds\nc1,45\n")
    (tmp_path / "b.yaml").write_text(
        yaml.safe_dump(
            {
                "sets": ["t.yaml", {**yaml.safe_load(TEMPLATE), "name": "inline-1"}],
                "template": "t.yaml",
                "table": "rows.yaml",
            }
        )
    )
    sets = expand([tmp_path / "b.yaml"], template=tmp_path / "t.yaml", table=tmp_path / "rows.csv")
    got = {si.params.name: si for si in sets}
    assert list(got) == ["batch-template", "inline-1", "y1", "c1"]
    assert got["batch-template"].path == tmp_path / "t.yaml"
    assert got["inline-1"].path is None and got["inline-1"].data is not None
    assert got["y1"].params.app.label == "Y1" and got["y1"].params.clock_skew_seconds == 30
    assert got["c1"].params.clock_skew_seconds == 45


def load_template(example: Path) -> Any:
    from oktalab.params import load_parameters

    return load_parameters(example / "team.template.yaml")


@pytest.mark.parametrize(
    ("table", "words"),
    [
        (
            "name,app.redirect_uris.0\nok-1,http://a.localhost/cb\nok-2,not a url\n",
            ["rows.csv row 2 (line 3)", "app.redirect_uris", "absolute http(s) URL"],
        ),
        ("name,app.label\nok-1,A\n,B\n", ["rows.csv row 2 (line 3)", "name: required column"]),
        ("name,app.colour\nok-1,blue\n", ["rows.csv row 1 (line 2)", "app.colour", "unknown"]),
        ("name,app.redirect_uris.3\nok-1,http://x/cb\n", ["list of 1 item", "0..0"]),
        ("name,app.label\nok-1,A\nok-1,B\n", ["unique", "'ok-1'", "row 1", "row 2"]),
        ("name,app.label\nok-1,A,extra\n", ["row 1 (line 2)", "3 cells for 2 columns"]),
    ],
)
def test_a_bad_row_is_refused_before_any_call(
    sandbox: dict[str, str], tmp_path: Path, table: str, words: list[str]
) -> None:
    (tmp_path / "t.yaml").write_text(TEMPLATE)
    (tmp_path / "rows.csv").write_text(table)

    def writes() -> Any:
        resp = httpx.get(
            sandbox["OKTA_ORG_URL"] + "/__sandbox/writes",
            headers={"Authorization": f"SSWS {sandbox['OKTA_API_TOKEN']}"},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    before = writes()
    proc = oktalab_cli(
        "run",
        "--template",
        "t.yaml",
        "--table",
        "rows.csv",
        "--state-dir",
        sandbox["OKTALAB_SANDBOX_DIR"],
        env={"OKTALAB_HOME": sandbox["OKTALAB_HOME"]},
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in proc.stderr, proc.stderr
    assert writes() == before
    assert not (tmp_path / "runs").exists()  # a refused run leaves nothing behind
