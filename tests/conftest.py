"""Shared fixtures: a clean environment per test and one embedded sandbox per session.

The sandbox is started the way a user starts it (``oktalab sandbox start`` in a child
process) on a private state dir, and stopped at the end of the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from oktalab_support import ENV_PREFIXES, oktalab_cli, read_env


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets come from the environment, so no test may see another's (or the developer's)."""
    for key in list(os.environ):
        if key.startswith(ENV_PREFIXES) or key == "KUBECONFIG":
            monkeypatch.delenv(key)


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
