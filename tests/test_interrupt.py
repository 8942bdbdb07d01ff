"""Ctrl-C (a real SIGINT to a real `oktalab run`): kernel and sandbox stopped, reports written,
the rest `skipped`, exit 130 with a one-line summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from oktalab_support import ENV_PREFIXES, ROOT

from oktalab.params import GUIDE_STAGES

pytestmark = pytest.mark.slow
PARAMS = ROOT / "parameters" / "sandbox.yaml"
# Reading the authorization server's claims takes 3 s (the sandbox's fault injection), so the
# claims stage is still running when the test presses Ctrl-C: a re-run's stage takes well
# under a second, and the interrupt has to land inside one.
SLOW_CLAIMS = json.dumps(
    {
        "rules": [
            {
                "path": "^/api/v1/authorizationServers/[^/]+/claims",
                "method": "GET",
                "latency_ms": 3000,
            }
        ]
    }
)


def _start(tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES) and k != "KUBECONFIG"
    }
    env["OKTALAB_HOME"] = str(tmp_path / "home")
    env["OKTALAB_SANDBOX_FAULTS"] = SLOW_CLAIMS
    return subprocess.Popen(
        [sys.executable, "-m", "oktalab", "run", str(PARAMS), "--state-dir", str(tmp_path / "sb")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state  # a zombie waiting for init has stopped


def _processes_with(marker: str) -> list[int]:
    """The run's stage kernels: processes whose environment holds ``marker`` (a kernel
    launched as its own process inherits OKTALAB_RUN_DIR), and the children of the run's
    fork server (:mod:`oktalab.forkserver`; /proc shows a forked process the server's
    environment, which holds the run's OKTALAB_HOME, the marker's folder)."""
    home = marker.partition("=")[2] + "/home"
    found: list[int] = []
    forked: dict[int, int] = {}  # pid: parent pid
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            environ = (d / "environ").read_bytes()
            if not _alive(int(d.name)):
                continue
            if marker.encode() in environ:
                found.append(int(d.name))
            elif (
                f"OKTALAB_HOME={home}".encode() in environ
                and b"oktalab.forkserver" in (d / "cmdline").read_bytes()
            ):
                status = (d / "status").read_text()
                ppid = int(status.split("\nPPid:\t", 1)[1].split()[0])
                forked[int(d.name)] = ppid
        except OSError:
            continue
    # a fork server's parent is the oktalab process; a kernel's parent is the fork server
    return found + [pid for pid, ppid in forked.items() if ppid in forked]


def _fork_servers(tmp_path: Path) -> list[int]:
    """Fork servers this run started (they must stop with it)."""
    home = f"OKTALAB_HOME={tmp_path}/home".encode()
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (
                    b"oktalab.forkserver" in (d / "cmdline").read_bytes()
                    and home in (d / "environ").read_bytes()
                    and _alive(int(d.name))
                ):
                    out.append(int(d.name))
            except OSError:
                continue
    return out


def _gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _finish(proc: subprocess.Popen[str], tmp_path: Path) -> tuple[str, list[dict], Path]:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: "), err
    run_dir = (tmp_path / "runs" / "latest").resolve()
    rows = json.loads((run_dir / "results.json").read_text())
    assert (run_dir / "report.html").is_file() and (run_dir / "run.json").is_file()
    return last, rows, run_dir


def test_ctrl_c_during_a_stage_stops_kernel_and_sandbox(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # progress lines (not a terminal: plain lines)
        seen.append(line)
        if "claims" in line and "started" in line:
            break
    else:
        pytest.fail("no progress line for the claims stage: " + "".join(seen))
    sandbox_pid = int((tmp_path / "sb" / "sandbox.pid").read_text())
    deadline = time.monotonic() + 60
    marker = f"OKTALAB_RUN_DIR={tmp_path}"
    while not _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)  # the claims kernel is starting
    assert _processes_with(marker), "the stage kernel never started"
    proc.send_signal(signal.SIGINT)
    last, rows, run_dir = _finish(proc, tmp_path)
    assert any("okta_app" in line and " ok " in line for line in seen), seen
    by_stage: dict[str, set[str]] = {}
    for r in rows:
        by_stage.setdefault(r["stage"], set()).add(r["status"])
    assert by_stage["okta_app"] == {"ok"}
    later = GUIDE_STAGES["oidc-gateway"][2:]  # after okta_app and claims
    assert all(by_stage[s] == {"skipped"} for s in later), by_stage
    assert "failed" not in by_stage["claims"]
    assert "1 stage(s) passed" in last and f"{len(later) + 1} skipped" in last, last
    assert _gone(sandbox_pid), "the sandbox this run started is still running"
    assert not _processes_with(marker), "a stage kernel outlived the run"
    assert not _fork_servers(tmp_path), "the run's fork server outlived it"
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["interrupted"] is True and meta["counts"]["skipped"] == len(later) + 1


def test_ctrl_c_while_the_sandbox_starts_stops_it(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    pidfile = tmp_path / "sb" / "sandbox.pid"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = pidfile.read_text().strip() if pidfile.is_file() else ""
        if text.isdigit():
            break
        time.sleep(0.01)
    pid = int(text)
    proc.send_signal(signal.SIGINT)
    _, rows, _ = _finish(proc, tmp_path)
    assert rows and all(r["status"] == "skipped" for r in rows)
    assert _gone(pid), "the sandbox started by the interrupted run is orphaned"


def test_ctrl_c_with_two_sets_at_once_stops_every_kernel(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES) and k != "KUBECONFIG"
    }
    env["OKTALAB_HOME"] = str(tmp_path / "home")
    env["OKTALAB_SANDBOX_FAULTS"] = SLOW_CLAIMS
    portal = ROOT / "parameters" / "sandbox-portal.yaml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "oktalab", "run", str(PARAMS), str(portal), "--jobs", "2"]
        + ["--state-dir", str(tmp_path / "sb")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    started: set[str] = set()
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.rstrip().endswith("started"):
            started.add(line.split()[0])
        if len(started) == 2:
            break
    else:
        pytest.fail("both sets never had a stage running: " + "".join(seen))
    sandbox_pid = int((tmp_path / "sb" / "sandbox.pid").read_text())
    marker = f"OKTALAB_RUN_DIR={tmp_path}"
    assert len(_processes_with(marker)) >= 2, "two sets running, yet fewer than two kernels"
    proc.send_signal(signal.SIGINT)
    _, rows, run_dir = _finish(proc, tmp_path)
    assert {r["parameter_set"] for r in rows} == {"guide1-sandbox", "guide2-sandbox"}
    assert not [r for r in rows if r["status"] == "failed"], rows  # interrupted, not failed
    assert any(r["status"] == "skipped" and "interrupted" in r["detail"] for r in rows), rows
    assert _gone(sandbox_pid), "the sandbox this run started is still running"
    deadline = time.monotonic() + 15
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _processes_with(marker), "a stage kernel outlived the run"
    assert not _fork_servers(tmp_path), "the run's fork server outlived it"
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["interrupted"] is True
