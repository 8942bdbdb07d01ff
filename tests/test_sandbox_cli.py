"""The `oktalab sandbox` command-line contract, on a private state dir."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
from oktalab_support import oktalab_cli, read_env

REQUIRED = [
    "OKTA_ORG_URL",
    "OKTA_API_TOKEN",
    "KUBECONFIG",
    "OKTALAB_GATEWAY_URL",
    "OKTALAB_TEST_USERNAME",
    "OKTALAB_TEST_PASSWORD",
]


def test_start_status_restart_stop(tmp_path: Path) -> None:
    state = tmp_path / "sb"
    first = oktalab_cli("sandbox", "start", "--state-dir", str(state), timeout=120)
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        env = read_env(state / "sandbox.env")
        assert all(env.get(k) for k in REQUIRED), env.keys()
        assert stat.S_IMODE((state / "sandbox.env").stat().st_mode) == 0o600
        assert Path(env["KUBECONFIG"]).parent == state
        for secret in (env["OKTA_API_TOKEN"], env["OKTALAB_TEST_PASSWORD"]):
            assert secret not in first.stdout, "start prints no secret"
        again = oktalab_cli("sandbox", "start", "--state-dir", str(state), timeout=60)
        assert again.returncode == 0 and again.stdout == first.stdout, (
            "a second start is a no-op that prints the same"
        )
        assert oktalab_cli("sandbox", "status", "--state-dir", str(state)).returncode == 0
        assert (
            httpx.get(
                env["OKTA_ORG_URL"] + "/oauth2/default/.well-known/openid-configuration"
            ).status_code
            == 200
        )

        assert oktalab_cli("sandbox", "stop", "--state-dir", str(state)).returncode == 0
        assert oktalab_cli("sandbox", "status", "--state-dir", str(state)).returncode == 3
        assert not (state / "sandbox.env").exists()

        restarted = oktalab_cli("sandbox", "start", "--state-dir", str(state), timeout=120)
        assert restarted.returncode == 0, restarted.stderr
        env2 = read_env(state / "sandbox.env")
        same = ("OKTA_ORG_URL", "OKTALAB_GATEWAY_URL")
        assert {k: env2[k] for k in same} == {k: env[k] for k in same}, "URLs survive a restart"
        assert env2["OKTA_API_TOKEN"] != env["OKTA_API_TOKEN"], (
            "credentials are fresh at every start"
        )
        old = httpx.get(
            env2["OKTA_ORG_URL"] + "/api/v1/groups",
            headers={"Authorization": f"SSWS {env['OKTA_API_TOKEN']}"},
        )
        assert old.status_code == 401, "the previous token no longer works"
    finally:
        oktalab_cli("sandbox", "stop", "--state-dir", str(state))


def test_start_with_oktas_published_rate_limits(tmp_path: Path) -> None:
    """`--rate-limits okta-developer`: the org answers with the limits Okta publishes for a
    free Developer org (rl-global-mgmt: 20 a minute for /api/v1/apps, 100 for an app by id)."""
    state = tmp_path / "sb"
    started = oktalab_cli(
        "sandbox", "start", "--state-dir", str(state), "--rate-limits", "okta-developer"
    )
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        env = read_env(state / "sandbox.env")
        admin = {"Authorization": f"SSWS {env['OKTA_API_TOKEN']}"}
        apps = httpx.get(env["OKTA_ORG_URL"] + "/api/v1/apps", headers=admin)
        assert apps.headers["x-rate-limit-limit"] == "20"
        one = httpx.get(env["OKTA_ORG_URL"] + "/api/v1/apps/0oaNone", headers=admin)
        assert one.headers["x-rate-limit-limit"] == "100"
    finally:
        oktalab_cli("sandbox", "stop", "--state-dir", str(state))
    bad = oktalab_cli("sandbox", "start", "--state-dir", str(state), "--rate-limits", "fast")
    assert bad.returncode == 2 and "okta-defaults" in bad.stderr
