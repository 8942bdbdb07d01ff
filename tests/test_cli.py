from pathlib import Path

from oktalab_support import ROOT, oktalab_cli


def test_params_names_the_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (ROOT / "parameters" / "sandbox.yaml").read_text().replace("type: browser", "type: spa")
    )
    proc = oktalab_cli("params", str(bad))
    assert proc.returncode == 2
    assert "app.type" in proc.stderr and "'browser' or 'web'" in proc.stderr


def test_run_refuses_bad_input_before_any_call(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (ROOT / "parameters" / "sandbox.yaml")
        .read_text()
        .replace("name: guide1-sandbox", "name: Bad_Name")
    )
    state = tmp_path / "state"
    proc = oktalab_cli(
        "run",
        str(ROOT / "parameters" / "sandbox.yaml"),
        str(bad),
        "--out",
        str(tmp_path / "out"),
        "--state-dir",
        str(state),
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "name:" in proc.stderr and "parameter-set name" in proc.stderr
    assert not state.exists(), "no sandbox may be started for an invalid run"
    assert not (tmp_path / "out").exists()


def test_unknown_stage_is_refused(tmp_path: Path) -> None:
    proc = oktalab_cli(
        "run",
        "--stages",
        "okta_app,deploy",
        "--state-dir",
        str(tmp_path / "s"),
        "--out",
        str(tmp_path / "o"),
    )
    assert proc.returncode == 2 and "deploy" in proc.stderr


def test_info_and_version() -> None:
    proc = oktalab_cli("info")
    assert proc.returncode == 0 and "oktalab 0.1.0" in proc.stdout and "Python" in proc.stdout


def test_sandbox_status_when_none_runs(tmp_path: Path) -> None:
    proc = oktalab_cli("sandbox", "status", "--state-dir", str(tmp_path / "none"))
    assert proc.returncode == 3 and "no sandbox running" in proc.stdout


def test_a_closed_pipe_ends_quietly() -> None:
    """``oktalab info | head -1``: the reader has gone, so no ``error: Broken pipe`` line."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # the reader left before the first line
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "oktalab", "info"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
    finally:
        os.close(write)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr
