"""Shared fixtures: a clean environment per test and one embedded sandbox per session.

The sandbox is started the way a user starts it (``oktalab sandbox start`` in a child
process) on a private state dir, and stopped at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
ENV_PREFIXES = ("OKTA_", "OKTALAB_")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets come from the environment, so no test may see another's (or the developer's)."""
    for key in list(os.environ):
        if key.startswith(ENV_PREFIXES) or key == "KUBECONFIG":
            monkeypatch.delenv(key)


def oktalab_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES) and k != "KUBECONFIG"
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "oktalab", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


def read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        k, _, v = line.partition("=")
        out[k] = v
    return out


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A running sandbox: its sandbox.env values plus OKTALAB_SANDBOX_DIR and OKTALAB_HOME."""
    home = tmp_path_factory.mktemp("oktalab-home")
    state = home / "sandbox"
    proc = oktalab_cli("sandbox", "start", "--state-dir", str(state), timeout=120)
    if proc.returncode != 0:
        log = (state / "sandbox.log").read_text() if (state / "sandbox.log").exists() else ""
        pytest.fail(f"sandbox did not start:\n{proc.stdout}\n{proc.stderr}\n{log[-3000:]}")
    env = read_env(state / "sandbox.env")
    env["OKTALAB_SANDBOX_DIR"] = str(state)
    env["OKTALAB_HOME"] = str(home)
    kube_cache = home / "kube-cache"
    env["KUBECACHEDIR"] = str(kube_cache)
    yield env
    oktalab_cli("sandbox", "stop", "--state-dir", str(state), timeout=60)


@pytest.fixture
def sandbox_env(sandbox: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sandbox's variables set in this process's environment for one test."""
    for k, v in sandbox.items():
        monkeypatch.setenv(k, v)
    return sandbox


def kubectl(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    full = dict(os.environ)
    full.update({"KUBECONFIG": env["KUBECONFIG"], "HOME": str(Path(env["KUBECACHEDIR"]).parent)})
    return subprocess.run(
        ["kubectl", "--cache-dir", env["KUBECACHEDIR"], *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full,
        timeout=60,
    )
