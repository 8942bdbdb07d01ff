"""Helpers shared by the top-level tests (a module with a unique name, so that the
sub-suites' own conftest.py files cannot shadow it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
ENV_PREFIXES = ("OKTA_", "OKTALAB_")


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


def run_cli(
    sandbox: dict[str, str], *args: str, env: dict[str, str] | None = None
) -> tuple[int, list[dict[str, Any]], str]:
    """`oktalab run|teardown ... --out DIR` against the session sandbox: (exit code, rows, output)."""
    out = Path(args[args.index("--out") + 1])
    proc = oktalab_cli(
        *args,
        "--state-dir",
        sandbox["OKTALAB_SANDBOX_DIR"],
        env={"OKTALAB_HOME": sandbox["OKTALAB_HOME"], **(env or {})},
    )
    rows = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else []
    return proc.returncode, rows, proc.stdout + proc.stderr


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


def tab_links(rendered: str) -> list[str]:
    """The href of every link in the tab's HTML."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.extend(v or "" for k, v in attrs if tag == "a" and k == "href")

    Links().feed(rendered)
    return found
