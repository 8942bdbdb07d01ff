"""Both guides on the sandbox's Gloo 2.14 layout (the session sandbox presents 2.5, where the
other e2e tests run them), and a layout switch on the same state folder.

2.14 (gloo-platform-crds 2.14.0): AuthConfig in ``extauth.solo.io`` with a generated name and
only Gloo's parent labels, so oktalab must find the kind by discovery and the object by its
labels. The guide's own kubectl commands must answer as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from oktalab_support import ROOT, SHARED, kubectl, oktalab_cli, read_env, run_cli

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared")


def _start(state: Path, home: Path, version: str) -> dict[str, str]:
    proc = oktalab_cli("sandbox", "start", "--state-dir", str(state), "--gloo-version", version)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = read_env(state / "sandbox.env")
    env.update(
        OKTALAB_SANDBOX_DIR=str(state),
        OKTALAB_HOME=str(home),
        KUBECACHEDIR=str(home / f"kube-cache-{version}"),
    )
    assert env["OKTALAB_GLOO_VERSION"] == version
    return env


@pytest.fixture(scope="module")
def sandbox_214(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("oktalab-home-214")
    state = home / "sandbox"
    env = _start(state, home, "2.14")
    yield env
    oktalab_cli("sandbox", "stop", "--state-dir", str(state), timeout=60)


def test_both_guides_on_gloo_214(sandbox_214: dict[str, str], tmp_path: Path) -> None:
    params = [str(ROOT / "parameters" / f) for f in ("sandbox.yaml", "sandbox-portal.yaml")]
    code, rows, text = run_cli(sandbox_214, "run", *params, "--out", str(tmp_path / "run"))
    assert code == 0, text[-3000:]
    failed = [r for r in rows if r["status"] == "failed"]
    assert not failed, failed
    ac = [r for r in rows if r["kind"] == "AuthConfig"]
    assert ac and ac[0]["name"] == "gloo-mesh-addons/oauth-okta-gloo-mesh-addons-extauth"
    assert ac[0]["detail"] == "Accepted"
    assert {r["parameter_set"] for r in rows if r["stage"] == "portal_verify"} == {"guide2-sandbox"}

    # the guide's own commands (step 4.3 and prerequisites) answer as before
    got = kubectl(sandbox_214, "get", "authconfig", "-n", "gloo-mesh-addons", "-o", "yaml")
    assert got.returncode == 0, got.stderr
    listed = yaml.safe_load(got.stdout)["items"]
    assert [i["apiVersion"] for i in listed] == ["extauth.solo.io/v1"]
    assert listed[0]["status"]["statuses"]["gloo-mesh-addons"]["state"] == "Accepted"
    pol = kubectl(sandbox_214, "get", "extauthpolicy", "oauth-okta", "-n", "gloo-mesh-addons")
    assert pol.returncode == 0 and "ACCEPTED" in pol.stdout
    pods = kubectl(sandbox_214, "get", "pods", "-A", "-l", "app=ext-auth-service")
    assert pods.returncode == 0 and "Running" in pods.stdout


def test_switching_layout_on_the_same_state(tmp_path: Path) -> None:
    state, home = tmp_path / "sandbox", tmp_path
    env = _start(state, home, "2.14")
    try:
        assert kubectl(env, "get", "crd", "authconfigs.extauth.solo.io").returncode == 0
        assert kubectl(env, "get", "crd", "authconfigs.enterprise.gloo.solo.io").returncode != 0
        refused = oktalab_cli(
            "sandbox", "start", "--state-dir", str(state), "--gloo-version", "2.5"
        )
        assert refused.returncode == 1 and "sandbox stop" in refused.stderr
    finally:
        oktalab_cli("sandbox", "stop", "--state-dir", str(state), timeout=60)
    env = _start(state, home, "2.5")
    try:
        assert kubectl(env, "get", "crd", "authconfigs.enterprise.gloo.solo.io").returncode == 0
        assert kubectl(env, "get", "crd", "authconfigs.extauth.solo.io").returncode != 0
    finally:
        oktalab_cli("sandbox", "stop", "--state-dir", str(state), timeout=60)
    # without --gloo-version the state keeps its layout
    proc = oktalab_cli("sandbox", "start", "--state-dir", str(state))
    try:
        assert proc.returncode == 0
        assert read_env(state / "sandbox.env")["OKTALAB_GLOO_VERSION"] == "2.5"
    finally:
        oktalab_cli("sandbox", "stop", "--state-dir", str(state), timeout=60)
