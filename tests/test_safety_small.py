"""Smaller safety rules: owner-only sandbox state, one Authorization header, exact redirect
matching, and client secrets as real Okta lists them."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
import yaml
from oktalab_support import ROOT

from oktalab.oidc import redirect_matches
from oktalab.okta import OktaClient
from oktalab.settings import Secret
from oktalab.stages import run_stage


def test_sandbox_state_is_owner_only(sandbox: dict[str, str]) -> None:
    state = Path(sandbox["OKTALAB_SANDBOX_DIR"])
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("sandbox.db", "sandbox.db-wal", "sandbox.db-shm"):
        f = state / name
        if f.exists():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, name


def test_two_authorization_headers_are_refused(sandbox: dict[str, str]) -> None:
    with httpx.Client(base_url=sandbox["OKTALAB_GATEWAY_URL"]) as client:
        headers = [("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer d.e.f")]
        for path in ("/productpage", "/reviews"):
            resp = client.get(path, headers=headers)
            assert resp.status_code in (400, 403), (path, resp.status_code)
        one = client.get("/reviews")
        assert one.status_code not in (400,), "a single request must not be refused as malformed"


@pytest.mark.parametrize(
    ("location", "ok"),
    [
        ("http://localhost:4000/callback?code=x&state=y", True),
        ("http://LOCALHOST:4000/callback?code=x", True),
        ("http://localhost:4000/callback.evil.example/?code=x", False),
        ("http://localhost:4000/callback/more?code=x", False),
        ("http://localhost:4000/callbackx?code=x", False),
        ("http://localhost:4000@evil.example/callback?code=x", False),
        ("https://localhost:4000/callback?code=x", False),
        ("http://localhost:4001/callback?code=x", False),
        ("http://localhost/callback?code=x", False),
        ("http://localhost:99999/callback?code=x", False),
    ],
)
def test_login_client_accepts_only_the_registered_redirect(location: str, ok: bool) -> None:
    assert redirect_matches(location, "http://localhost:4000/callback") is ok


def test_default_ports_are_the_same_endpoint() -> None:
    assert redirect_matches("https://a.example:443/cb?code=1", "https://a.example/cb")


def test_secret_list_returns_the_value_and_runs_make_no_second_secret(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    """Recorded Okta traffic (terraform-provider-okta VCR, Identity Engine org) lists secrets
    with their value; the okta_app stage records the one made with the app, and reading it
    back never creates another one."""
    data = yaml.safe_load((ROOT / "parameters" / "sandbox-portal.yaml").read_text())
    data.update(name="secret-once")
    data["app"]["label"] = "Secret once"
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump(data))
    run_dir = tmp_path / "run"
    run_stage("okta_app", params, run_dir=run_dir)
    run_stage("okta_app", params, run_dir=run_dir)
    with OktaClient(sandbox_env["OKTA_ORG_URL"], Secret(sandbox_env["OKTA_API_TOKEN"])) as okta:
        app = okta.find_app("Secret once")
        assert app is not None
        secrets = okta.client_secrets(app["id"])
        assert len(secrets) == 1 and secrets[0]["status"] == "ACTIVE"
        value = secrets[0]["client_secret"]
        assert len(value) >= 14 and "*" not in value
    from oktalab.params import load_parameters
    from oktalab.settings import Environment
    from oktalab.stages.context import Context
    from oktalab.stages.okta_app import client_secret

    ps = load_parameters(params)
    ctx = Context(params=ps, run_dir=run_dir, env=Environment.load(target="sandbox"))
    try:
        found = client_secret(ctx)
        assert found is not None and found.reveal() == value
    finally:
        ctx.close()
    with OktaClient(sandbox_env["OKTA_ORG_URL"], Secret(sandbox_env["OKTA_API_TOKEN"])) as okta:
        assert len(okta.client_secrets(app["id"])) == 1
    run_stage("teardown", params, run_dir=run_dir)
