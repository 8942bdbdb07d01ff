"""Binder without Docker: the public-URL sandbox, and a venv built from ``binder/`` alone.

repo2docker copies the repository, installs ``binder/requirements.txt`` and runs
``binder/start <command>``. The slow test does the same in a fresh venv (a copy of the
tracked files, pip from PyPI with pip's cache) and runs the start notebook's batch path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from oktalab_support import ENV_PREFIXES, ROOT, oktalab_cli, read_env


def repo_copy(dest: Path) -> Path:
    """The files repo2docker would see: tracked and new (not ignored) files of the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        rel = raw.decode()
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(ENV_PREFIXES) and k not in ("KUBECONFIG", "VIRTUAL_ENV")
    }
    env.update(extra)
    return env


@pytest.fixture
def public_sandbox(tmp_path: Path) -> Iterator[dict[str, str]]:
    state = tmp_path / "sandbox"
    public = "http://127.0.0.1:9/user/someone/proxy/{port}"
    proc = oktalab_cli(
        "sandbox",
        "start",
        "--state-dir",
        str(state),
        env={"OKTALAB_SANDBOX_PUBLIC_URL": public},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    try:
        yield read_env(state / "sandbox.env")
    finally:
        oktalab_cli("sandbox", "stop", "--state-dir", str(state), timeout=60)


def test_public_url_is_the_issuer_and_loopback_stays_for_servers(
    public_sandbox: dict[str, str],
) -> None:
    loopback = public_sandbox["OKTA_ORG_URL"]
    port = loopback.rsplit(":", 1)[1]
    public = public_sandbox["OKTALAB_SANDBOX_PUBLIC_URL"]
    assert loopback.startswith("http://127.0.0.1:")
    assert public == f"http://127.0.0.1:9/user/someone/proxy/{port}"
    well_known = "/oauth2/default/.well-known/openid-configuration"
    direct = httpx.get(loopback + well_known).json()
    proxied = httpx.get(
        loopback + well_known, headers={"X-Forwarded-Prefix": f"/user/someone/proxy/{port}"}
    ).json()
    # One issuer for everybody; endpoints per audience.
    assert direct["issuer"] == proxied["issuer"] == public + "/oauth2/default"
    assert direct["token_endpoint"] == loopback + "/oauth2/default/v1/token"
    assert direct["jwks_uri"].startswith(loopback)
    assert proxied["authorization_endpoint"] == public + "/oauth2/default/v1/authorize"
    page = httpx.get(loopback + "/login/login.htm?fromURI=/x").text
    assert f'action="{loopback}/login/login.htm"' in page and public not in page
    page = httpx.get(
        loopback + "/login/login.htm?fromURI=/x", headers={"X-Forwarded-Context": "/p"}
    ).text
    assert f'action="{public}/login/login.htm"' in page


def test_session_cookie_is_scoped_to_the_public_path(public_sandbox: dict[str, str]) -> None:
    """Behind the proxy ``sid`` must not reach Jupyter; loopback callers still get ``/``."""
    loopback = public_sandbox["OKTA_ORG_URL"]
    prefix = f"/user/someone/proxy/{loopback.rsplit(':', 1)[1]}"
    cookies = {}
    for headers in ({}, {"X-Forwarded-Prefix": prefix}):
        authn = httpx.post(
            loopback + "/api/v1/authn",
            json={
                "username": public_sandbox["OKTALAB_TEST_USERNAME"],
                "password": public_sandbox["OKTALAB_TEST_PASSWORD"],
            },
        ).json()
        resp = httpx.get(
            loopback + "/login/sessionCookieRedirect",
            params={"token": authn["sessionToken"]},
            headers=headers,
        )
        assert resp.status_code == 302, resp.text[:300]
        cookies[bool(headers)] = resp.headers["set-cookie"]
    assert "Path=/;" in cookies[False] or cookies[False].endswith("Path=/")
    assert f"Path={prefix}" in cookies[True]


@pytest.mark.slow
def test_both_guides_pass_behind_a_public_url(
    public_sandbox: dict[str, str], tmp_path: Path
) -> None:
    state = Path(public_sandbox["KUBECONFIG"]).parent
    proc = oktalab_cli(
        "run",
        "parameters/sandbox.yaml",
        "parameters/sandbox-portal.yaml",
        "--out",
        str(tmp_path / "out"),
        "--state-dir",
        str(state),
        env={"OKTALAB_HOME": str(tmp_path / "home")},
        timeout=300,
    )
    rows = json.loads((tmp_path / "out" / "results.json").read_text())
    failed = [r for r in rows if r["status"] == "failed"]
    assert proc.returncode == 0 and not failed, (proc.stdout + proc.stderr)[-3000:]
    issuers = {r["detail"] for r in rows if r["step"] == "metadata"}
    assert issuers == {f"issuer={public_sandbox['OKTALAB_SANDBOX_PUBLIC_URL']}/oauth2/default"}


@pytest.mark.slow
# a fresh venv's pip install (600 s cap) + the start notebook (300 s cap)
@pytest.mark.timeout(1200)
def test_fresh_venv_from_binder_files_runs_the_start_notebook(tmp_path: Path) -> None:
    t0 = time.monotonic()
    repo = repo_copy(tmp_path / "repo")
    venv = tmp_path / "venv"
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base), "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    env = clean_env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    pip = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    installed = subprocess.run(
        [str(py), "-c", "import oktalab, jupyter_server_proxy, uvicorn; print(oktalab.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0 and str(venv) in installed.stdout, installed.stderr
    built = time.monotonic() - t0

    state = repo / ".oktalab" / "sandbox"
    out = tmp_path / "00_start.out.ipynb"
    start = subprocess.run(
        [
            str(repo / "binder" / "start"),
            "python",
            "-m",
            "papermill",
            "--no-progress-bar",
            "--cwd",
            "notebooks",
            "notebooks/00_start.ipynb",
            str(out),
            "-p",
            "interactive",
            "False",
        ],
        cwd=repo,
        env={**env, "REPO_DIR": str(repo)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        assert start.returncode == 0, (start.stdout + start.stderr)[-4000:]
        sandbox = read_env(state / "sandbox.env")
        answer = httpx.get(
            sandbox["OKTA_ORG_URL"] + "/oauth2/default/.well-known/openid-configuration"
        )
        assert answer.status_code == 200
        assert not (state / "starting").exists()
        rows = json.loads(
            (repo / "runs" / "interactive" / "guide1-sandbox" / "rows" / "verify.json").read_text()
        )
        # Binder installs no browser extra: the portal frontend's Chromium rows are skipped
        # (with the reason); every gateway check passes
        assert rows and all(
            r["status"] == "ok" or (r["kind"] == "BrowserCheck" and r["status"] == "skipped")
            for r in rows
        ), rows
        assert any(r["kind"] == "GatewayCheck" and r["status"] == "ok" for r in rows), rows
        text = out.read_text()
        assert "all checks passed" in text or '"status": "failed"' not in text
        for secret in ("OKTA_API_TOKEN", "OKTALAB_TEST_PASSWORD"):
            assert sandbox[secret] not in text, f"{secret} leaked into the executed notebook"
    finally:
        subprocess.run(
            [str(py), "-m", "oktalab", "sandbox", "stop", "--state-dir", str(state)],
            env=env,
            capture_output=True,
            timeout=60,
        )
    print(f"venv built in {built:.0f}s, total {time.monotonic() - t0:.0f}s")


def as_root() -> list[str]:
    """A command prefix under which ``id -u`` is 0: none when this is root, else a new user
    namespace mapping this user to root (``unshare -r``, unprivileged); skip without either."""
    if os.geteuid() == 0:
        return []
    unshare = shutil.which("unshare")
    if unshare:
        probe = subprocess.run([unshare, "-r", "id", "-u"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == "0":
            return [unshare, "-r"]
    pytest.skip("not root, and no unprivileged user namespace here (unshare -r) to be root in")


def test_binder_start_as_root_says_how_to_proceed(tmp_path: Path) -> None:
    """Run as root locally, ``binder/start`` says what to do in one line and starts nothing
    (before: Jupyter's own refusal after a page of log lines, and a sandbox left running)."""
    state = tmp_path / "sandbox"
    env = clean_env(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        OKTALAB_SANDBOX_DIR=str(state),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    proc = subprocess.run(
        [*as_root(), str(ROOT / "binder" / "start"), "jupyter", "lab", "--no-browser"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
    assert "running as root" in proc.stderr and "Traceback" not in proc.stderr
    assert "binder/start jupyter lab --no-browser --allow-root" in proc.stderr
    assert not state.exists(), "nothing was started"
