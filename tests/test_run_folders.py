"""Run folders, the console table, and CLI answers that need no sandbox."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from oktalab_support import ROOT, oktalab_cli

from oktalab.errors import ParameterError
from oktalab.results import TABLE_WIDTH, format_failures, format_table, plural
from oktalab.runner import clear_out_dir, latest_run, new_run_dir, point_latest


def test_each_run_gets_its_own_folder_and_latest_follows(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    when = dt.datetime(2026, 11, 30, 5, 30, 12, tzinfo=dt.UTC)
    first = new_run_dir(root, "run", when)
    assert first.name == "20261130T053012Z-run"
    second = new_run_dir(root, "run", when)  # same second: a new folder, never the old one
    assert second.name == "20261130T053012Z-run-2"
    point_latest(root, first)
    assert latest_run(root) == first.resolve()
    link = point_latest(root, second)
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert latest_run(root) == second.resolve()
    assert sorted(p.name for p in root.iterdir()) == [
        "20261130T053012Z-run",
        "20261130T053012Z-run-2",
        "latest",
    ]


def test_an_old_latest_folder_is_kept_not_overwritten(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    (root / "latest").mkdir(parents=True)
    (root / "latest" / "results.json").write_text("[]")
    new = new_run_dir(root, "teardown")
    point_latest(root, new)
    kept = [p for p in root.iterdir() if p.name.endswith("-earlier")]
    assert len(kept) == 1 and (kept[0] / "results.json").read_text() == "[]"
    assert latest_run(root) == new.resolve()


def test_out_folder_of_an_earlier_run_is_emptied_but_state_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "guide1-sandbox" / "rows").mkdir(parents=True)
    (out / "results.json").write_text("[]")
    (out / "report.html").write_text("old")
    (out / "guide1-sandbox" / "04_verify.ipynb").write_text("{}")
    (out / "guide1-sandbox" / "state.json").write_text('{"app": {"client_id": "x"}}')
    clear_out_dir(out)
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert left == ["guide1-sandbox", "guide1-sandbox/state.json"]

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(ParameterError, match="holds no oktalab run"):
        clear_out_dir(foreign)
    assert (foreign / "notes.txt").read_text() == "keep"


def test_console_table_fits_120_columns() -> None:
    row = {
        "parameter_set": "guide2-sandbox",
        "stage": "portal_verify",
        "step": "outsider not granted",
        "kind": "APIProduct",
        "name": "oktalab-outsider-2026113005222460c5@example.com -> PetstoreUsers",
        "action": "checked",
        "status": "failed",
        "seconds": 12.345,
        "detail": "sign-in refused (Okta refused: not assigned to the app); no product " * 3,
    }
    text = format_table([row, {**row, "status": "ok", "detail": "short"}])
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= TABLE_WIDTH
    assert "failed" in lines[2] and "…" in lines[2] and "guide2-sandbox" in lines[2]


def test_failed_rows_are_printed_whole_under_the_table() -> None:
    repair = "run okta_app, claims, extauth first (oktalab run parameters/sandbox.yaml)"
    row = {
        "parameter_set": "guide1-sandbox",
        "stage": "verify",
        "name": "a-rather-long-object-name-" * 3,
        "status": "failed",
        "detail": "no Okta app labelled oktalab-guide1 in this org; " * 4 + repair,
    }
    text = format_failures([row, {**row, "status": "ok", "detail": "fine"}])
    lines = text.splitlines()
    assert lines[0] == "failed (1):"
    assert max(len(line) for line in lines) <= TABLE_WIDTH
    # every word of the detail is there (wrapping only), the repair command last
    assert " ".join(text.split()).endswith(repair)
    assert "fine" not in text
    assert "…" in format_table([row])  # the table alone cuts it
    assert format_failures([{**row, "status": "ok"}]) == ""
    assert (plural(1, "row"), plural(2, "row"), plural(0, "row")) == ("1 row", "2 rows", "0 rows")


def test_run_help_lists_each_guides_stages() -> None:
    proc = oktalab_cli("run", "--help")
    assert proc.returncode == 0
    from oktalab.params import GUIDE_STAGES

    for guide, stages in GUIDE_STAGES.items():
        assert f"{guide}: {', '.join(stages)}" in proc.stdout


def test_stage_of_the_other_guide_is_one_clear_line(tmp_path: Path) -> None:
    proc = oktalab_cli(
        "run",
        str(ROOT / "parameters" / "sandbox.yaml"),
        "--stages",
        "portal",
        "--state-dir",
        str(tmp_path / "state"),
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "'portal' is a stage of guide portal-ssr, not of oidc-gateway" in lines[0]
    assert not (tmp_path / "runs").exists() and not (tmp_path / "state").exists()


def test_sandbox_status_says_how_to_start_one(tmp_path: Path) -> None:
    proc = oktalab_cli("sandbox", "status", "--state-dir", str(tmp_path / "none"))
    assert proc.returncode == 3
    assert "oktalab sandbox start --state-dir" in proc.stdout


def test_info_lists_chromium_and_kubectl() -> None:
    proc = oktalab_cli("info")
    assert proc.returncode == 0
    lines = {line.split(" ", 1)[0]: line for line in proc.stdout.splitlines()}
    assert "chromium" in lines and "kubectl" in lines
    import shutil

    if shutil.which("kubectl"):
        assert lines["kubectl"].split()[1].startswith("v"), lines["kubectl"]
    if shutil.which("chromium"):
        assert "Chromium" in lines["chromium"], lines["chromium"]


def test_run_json_is_written_with_the_reports(tmp_path: Path) -> None:
    from oktalab.results import write_reports

    rows = [
        {
            "parameter_set": "s",
            "stage": "okta_app",
            "step": "app",
            "kind": "OktaApp",
            "name": "x",
            "action": "created",
            "status": "ok",
            "detail": "",
            "seconds": 0.1,
        }
    ]
    stages = [
        {
            "parameter_set": "s",
            "stage": "okta_app",
            "notebook": "01_okta_app.ipynb",
            "status": "ok",
            "seconds": 2.5,
            "detail": "",
        }
    ]
    paths = write_reports(
        tmp_path, rows, meta={"command": "run", "counts": {"ok": 1}}, stages=stages
    )
    meta = json.loads(paths["run"].read_text())
    assert meta["stages"][0]["seconds"] == 2.5 and meta["command"] == "run"
    assert "okta_app" in paths["html"].read_text()


def test_report_puts_failures_first_with_cause_and_repair(tmp_path: Path) -> None:
    from oktalab.results import write_reports

    def row(stage: str, status: str, detail: str = "") -> dict[str, object]:
        return {
            "parameter_set": "guide1-sandbox",
            "stage": stage,
            "step": "apply",
            "kind": "ExtAuthPolicy",
            "name": "oauth-okta",
            "action": "checked",
            "status": status,
            "detail": detail,
            "seconds": 0.2,
        }

    stages = [
        {"parameter_set": "guide1-sandbox", "stage": s, "notebook": f"{s}.ipynb", "status": st}
        | {"seconds": 1.0, "detail": ""}
        for s, st in (("okta_app", "ok"), ("extauth", "failed"), ("verify", "skipped"))
    ]
    meta = {
        "sets": [{"name": "guide1-sandbox", "file": "/p/sandbox.yaml", "guide": "oidc-gateway"}],
        "counts": {"ok": 1, "failed": 1, "skipped": 1},
    }
    rows = [row("okta_app", "ok"), row("extauth", "failed", "approval INVALID: <route> taken")]
    html = write_reports(tmp_path, rows, meta=meta, stages=stages)["html"].read_text()
    failures, summary = html.index('id="failures"'), html.index('id="summary"')
    assert failures < summary
    section = html[failures:summary]
    assert "approval INVALID: &lt;route&gt; taken" in section  # escaped by the template
    assert "oktalab run /p/sandbox.yaml --stages extauth,verify" in section
    assert "1 row(s) failed" in html
