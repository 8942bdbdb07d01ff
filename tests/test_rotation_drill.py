"""Key rotation drill (issue 15): rotate the authorization server's keys under a running
guide 1 and see ``oktalab check`` catch it, ``oktalab run`` repair it, ``plan`` write nothing.

The drill runs on its own sandbox: rotating the session sandbox's default authorization
server would make the other guide-1 tests' policies stale. Stages run in this process (as
the notebooks call them) where the drill only needs their effect; the commands under test
(``check``, ``plan``, ``run --stages extauth``) run as a user runs them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from oktalab_support import ROOT, oktalab_cli, read_env

from oktalab import oidc
from oktalab.settings import Environment, Secret
from oktalab.stages import run_stage

pytestmark = pytest.mark.slow
PARAMS = ROOT / "parameters" / "sandbox.yaml"
SET = "guide1-sandbox"


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("drill-home")
    state = home / "sandbox"
    proc = oktalab_cli("sandbox", "start", "--state-dir", str(state), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = read_env(state / "sandbox.env")
    env.update(OKTALAB_SANDBOX_DIR=str(state), OKTALAB_HOME=str(home))
    try:
        yield {"env": env, "home": home, "latest": home / "latest"}
    finally:
        oktalab_cli("sandbox", "stop", "--state-dir", str(state), timeout=60)


@pytest.fixture
def drill_env(drill: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for k, v in drill["env"].items():
        monkeypatch.setenv(k, v)
    return drill


def stage(d: dict[str, Any], name: str, mode: str = "apply", **overrides: Any) -> list[Any]:
    result = run_stage(
        name,
        PARAMS,
        run_dir=d["latest"] / SET,
        env=Environment.load(target="sandbox"),
        overrides=overrides or None,
        raise_on_failure=False,
        mode=mode,  # type: ignore[arg-type]
    )
    return result.rows


#: What the drill runs of guide 1: the portal objects (portal_groups) are not part of it.
DRILL_STAGES = "okta_app,claims,extauth,verify"


def cli(
    d: dict[str, Any], *args: str, params: Path = PARAMS, stages: str = DRILL_STAGES
) -> tuple[int, list[dict], str]:
    out = d["home"] / f"out-{args[0]}"
    if stages and "--stages" not in args:
        args = (*args, "--stages", stages)
    proc = oktalab_cli(
        *args,
        str(params),
        "--out",
        str(out),
        *(() if args[0] == "run" else ("--from", str(d["latest"]))),
        "--state-dir",
        d["env"]["OKTALAB_SANDBOX_DIR"],
        env={"OKTALAB_HOME": d["env"]["OKTALAB_HOME"]},
        cwd=d["home"],
    )
    rows = json.loads((out / "results.json").read_text())
    return proc.returncode, rows, proc.stdout + proc.stderr


def api(d: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    env = d["env"]
    resp = httpx.request(
        method,
        env["OKTA_ORG_URL"] + path,
        json=body,
        headers={"Authorization": f"SSWS {env['OKTA_API_TOKEN']}"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def rotate(d: dict[str, Any]) -> list[dict[str, Any]]:
    return api(
        d,
        "POST",
        "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate",
        {"use": "sig"},
    )


def failed(rows: list[dict]) -> dict[str, str]:
    return {r["step"]: r["detail"] for r in rows if r["status"] == "failed"}


def token(d: dict[str, Any]) -> str:
    env = d["env"]
    state = json.loads((d["latest"] / SET / "state.json").read_text())
    meta = oidc.discover(env["OKTA_ORG_URL"], "default")
    tokens = oidc.headless_login(
        org_url=env["OKTA_ORG_URL"],
        metadata=meta,
        client_id=state["app"]["client_id"],
        redirect_uri=api(d, "GET", f"/api/v1/apps/{state['app']['id']}")["settings"]["oauthClient"][
            "redirect_uris"
        ][0],
        username=env["OKTALAB_TEST_USERNAME"],
        password=Secret(env["OKTALAB_TEST_PASSWORD"]),
        scopes=["openid", "profile", "email"],
    )
    return tokens.access_token.reveal()


def gateway(d: dict[str, Any], access_token: str) -> int:
    resp = httpx.get(
        d["env"]["OKTALAB_GATEWAY_URL"] + "/productpage",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )
    return resp.status_code


def test_plan_on_an_empty_org_writes_nothing(drill_env: dict[str, Any]) -> None:
    """Before any run (the drill's sandbox is new): both guides plan `create` everywhere,
    no row fails (stages after okta_app say they follow the app), nothing is written."""
    before = api(drill_env, "GET", "/__sandbox/writes")
    guide2 = ROOT / "parameters" / "sandbox-portal.yaml"
    code, rows, text = cli(drill_env, "plan", str(guide2), stages="")
    assert code == 2, text[-3000:]
    assert not failed(rows), failed(rows)
    planned = [r for r in rows if r["action"] == "planned"]
    assert planned and all(r["detail"].startswith("create") for r in planned), planned
    assert {r["stage"] for r in planned} >= {"okta_app", "claims", "registration", "portal"}
    assert api(drill_env, "GET", "/__sandbox/writes") == before
    assert not (drill_env["home"] / "ledger").exists()  # plan records nothing


def test_guide1_runs(drill_env: dict[str, Any]) -> None:
    rows = [r for s in DRILL_STAGES.split(",") for r in stage(drill_env, s)]
    assert all(r.status != "failed" for r in rows), [r for r in rows if r.status == "failed"]
    code, rows, text = cli(drill_env, "check")
    assert code == 0, text[-3000:]
    drift = [r for r in rows if r["step"] == "drift"]
    assert {r["kind"] for r in drift} >= {"OktaApp", "AuthorizationServerClaim", "ExtAuthPolicy"}
    code, rows, text = cli(drill_env, "plan")
    assert code == 0, text[-3000:]
    planned = [r for r in rows if r["action"] == "planned"]
    assert planned and all(r["detail"] == "unchanged" for r in planned), planned


def test_check_reports_okta_drift(drill_env: dict[str, Any]) -> None:
    """Someone edits the app in the Admin Console: check names the field, a run repairs it."""
    state = json.loads((drill_env["latest"] / SET / "state.json").read_text())
    app = api(drill_env, "GET", f"/api/v1/apps/{state['app']['id']}")
    app["settings"]["oauthClient"]["redirect_uris"].append("http://localhost:9999/callback")
    app["credentials"]["oauthClient"].pop("client_secret", None)
    api(drill_env, "PUT", f"/api/v1/apps/{app['id']}", app)
    rows = [r.as_dict() for r in stage(drill_env, "okta_app", "check")]
    bad = failed(rows)
    assert set(bad) == {"drift"}, bad
    assert bad["drift"].startswith(
        "differs from the parameters (settings.oauthClient.redirect_uris"
    )
    assert "localhost:9999" in bad["drift"] and "--stages okta_app" in bad["drift"]
    rows = [r.as_dict() for r in stage(drill_env, "okta_app", "plan")]
    app_row = next(r for r in rows if r["kind"] == "OktaApp")
    assert app_row["action"] == "planned" and app_row["detail"].startswith("update: ")
    assert all(r.status != "failed" for r in stage(drill_env, "okta_app"))
    assert not failed([r.as_dict() for r in stage(drill_env, "okta_app", "check")])


def test_rotation_follows_okta(drill_env: dict[str, Any]) -> None:
    """keyRotate: ACTIVE -> EXPIRED, a new key ACTIVE; the JWKS keeps the EXPIRED key, so a
    token signed before the rotation still verifies; a second rotation drops it."""
    before = api(drill_env, "GET", "/api/v1/authorizationServers/default/credentials/keys")
    assert [k["status"] for k in before] == ["ACTIVE"]
    old = token(drill_env)
    keys = rotate(drill_env)
    assert [k["status"] for k in keys] == ["ACTIVE", "EXPIRED"]
    assert keys[1]["kid"] == before[0]["kid"] == jwt.get_unverified_header(old)["kid"]
    jwks = oidc.fetch_jwks(drill_env["env"]["OKTA_ORG_URL"] + "/oauth2/default/v1/keys")
    assert [k["kid"] for k in jwks["keys"]] == [keys[0]["kid"], keys[1]["kid"]]
    oidc.verify_token(old, jwks)  # still published: still verifies
    assert jwt.get_unverified_header(token(drill_env))["kid"] == keys[0]["kid"]


def test_check_reports_the_stale_policy_and_run_repairs_it(drill_env: dict[str, Any]) -> None:
    code, rows, text = cli(drill_env, "check")
    assert code == 1, text[-3000:]
    bad = failed(rows)
    assert bad["signing keys"].startswith("stale keys: the policy inlines ["), bad
    assert "--stages extauth" in bad["signing keys"]
    assert bad["valid token"].startswith("expected 200, got 403: unknown kid "), bad
    assert "the org still publishes it" in bad["valid token"]
    assert "drift" not in bad  # the keys are judged by the signing-keys row, not as drift

    code, rows, text = cli(drill_env, "plan")
    assert code == 2, text[-3000:]
    planned = {r["kind"]: r["detail"] for r in rows if r["action"] == "planned"}
    assert planned["ExtAuthServer"] == "unchanged"
    assert planned["ExtAuthPolicy"].startswith("update: .spec.config.glooAuth.configs[0]")

    code, rows, text = cli(drill_env, "run", "--stages", "extauth")
    assert code == 0, text[-3000:]
    policy = next(r for r in rows if r["kind"] == "ExtAuthPolicy" and r["step"] == "apply")
    assert policy["action"] == "updated"
    code, rows, text = cli(drill_env, "check")
    assert code == 0 and not failed(rows), text[-3000:]


def test_check_reports_a_policy_without_the_next_key(drill_env: dict[str, Any]) -> None:
    api(drill_env, "POST", "/__sandbox/next-key", {"authorizationServer": "default"})
    keys = api(drill_env, "GET", "/api/v1/authorizationServers/default/credentials/keys")
    assert [k["status"] for k in keys] == ["ACTIVE", "NEXT", "EXPIRED"]
    rows = [r.as_dict() for s in ("extauth", "verify") for r in stage(drill_env, s, "check")]
    assert set(failed(rows)) == {"signing keys"}, failed(rows)  # the ACTIVE key is still there
    assert failed(rows)["signing keys"].startswith(
        f"the policy lacks the NEXT key {keys[1]['kid']}"
    )
    assert all(r.status != "failed" for r in stage(drill_env, "extauth"))
    # The NEXT key is inlined now, so the policy survives the rotation that activates it.
    rotate(drill_env)
    assert gateway(drill_env, token(drill_env)) == 200
    rows = [r.as_dict() for s in ("extauth", "verify") for r in stage(drill_env, s, "check")]
    assert not failed(rows)


def test_plan_writes_nothing(drill_env: dict[str, Any]) -> None:
    rotate(drill_env)  # something to plan
    before = api(drill_env, "GET", "/__sandbox/writes")
    code, rows, text = cli(drill_env, "plan")
    assert code == 2, text[-3000:]
    assert api(drill_env, "GET", "/__sandbox/writes") == before
    # and the counter does count: the repairing run writes the policy
    code, rows, text = cli(drill_env, "run", "--stages", "extauth")
    assert code == 0
    after = api(drill_env, "GET", "/__sandbox/writes")
    assert after["kube"]["writes"] > before["kube"]["writes"]
    assert any("/extauthpolicies/oauth-okta" in w for w in after["kube"]["recent"])


def test_remote_jwks_survives_rotation(drill_env: dict[str, Any]) -> None:
    rows = stage(drill_env, "extauth", extauth={"jwks": "remote"})
    assert all(r.status != "failed" for r in rows), rows
    old = token(drill_env)
    assert gateway(drill_env, old) == 200
    rotate(drill_env)
    fresh = token(drill_env)
    assert jwt.get_unverified_header(fresh)["kid"] != jwt.get_unverified_header(old)["kid"]
    assert gateway(drill_env, fresh) == 200  # unknown kid: the gateway refetched the JWKS
    assert gateway(drill_env, old) == 200  # its key is still published (EXPIRED)
    rows = stage(drill_env, "extauth", "check", extauth={"jwks": "remote"})
    keys = next(r for r in rows if r.step == "signing keys")
    assert keys.status == "ok" and keys.detail.startswith("remoteJwks http")
    rows = stage(drill_env, "verify", "check", extauth={"jwks": "remote"})
    assert all(r.status != "failed" for r in rows), rows


def test_verify_names_a_route_no_policy_selects(drill_env: dict[str, Any]) -> None:
    """The policy selects no route: the unprotected route lets a request without a token
    through, and the row says why."""
    elsewhere = {"route_labels": {"oauth": "elsewhere"}}
    rows = stage(drill_env, "extauth", extauth=elsewhere)
    assert any(r.step == "selected routes" and r.status == "failed" for r in rows)
    rows = [r.as_dict() for r in stage(drill_env, "verify", "check", extauth=elsewhere)]
    assert failed(rows)["no token"] == (
        "expected 403, got 200: route not selected by any policy "
        "(no route carries {'oauth': 'elsewhere'}); token: no token"
    )
    assert all(r.status != "failed" for r in stage(drill_env, "extauth"))
