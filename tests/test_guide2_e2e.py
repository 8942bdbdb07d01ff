"""Guide 2 end to end: self-service registration into the portal, on the embedded sandbox."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client as k8s, config as k8s_config
from oktalab_support import ROOT, kubectl, run_cli as run

pytestmark = pytest.mark.slow
GUIDE1 = ROOT / "parameters" / "sandbox.yaml"
GUIDE2 = ROOT / "parameters" / "sandbox-portal.yaml"


@pytest.fixture(scope="module")
def both(sandbox: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Guide 1 and guide 2 parameter files in one `oktalab run`."""
    out = tmp_path_factory.mktemp("both")
    g1 = out / "g1.yaml"
    data = yaml.safe_load(GUIDE1.read_text())
    data["name"] = "guide1-beside-portal"
    data["app"]["label"] = "oktalab-spa-beside-portal"
    data["extauth"]["policy_name"] = "oauth-okta-beside"
    data["extauth"]["server_name"] = "ext-auth-server-beside"
    data["extauth"]["route_labels"] = {"oauth": "true"}
    g1.write_text(yaml.safe_dump(data))
    code, rows, text = run(sandbox, "run", str(g1), str(GUIDE2), "--out", str(out / "run"))
    return {"code": code, "rows": rows, "text": text, "out": out / "run", "g1": g1}


def test_both_guides_pass_in_one_run(both: dict) -> None:
    failed = [r for r in both["rows"] if r["status"] == "failed"]
    assert both["code"] == 0 and not failed, (failed, both["text"][-4000:])
    assert {r["parameter_set"] for r in both["rows"]} == {"guide1-beside-portal", "guide2-sandbox"}
    g2 = [r for r in both["rows"] if r["parameter_set"] == "guide2-sandbox"]
    assert {r["stage"] for r in g2} == {
        "okta_app",
        "claims",
        "registration",
        "portal",
        "portal_verify",
    }
    steps = {r["step"]: r for r in g2}
    shots = list(both["out"].rglob("portal-signed-in.png"))
    if shots:  # Chromium was available: keep the signed-in portal as a test artifact
        artifacts = ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        shutil.copy(shots[0], artifacts / "portal-signed-in.png")
        assert steps["screenshot"]["status"] == "ok"
    assert steps["signed in to portal"]["status"] == "ok"
    assert steps["user in group"]["status"] == "ok"
    assert steps["outsider not granted"]["status"] == "ok"
    # the web app leaves PKCE off (as the guide does); the portal row says what the portal sends
    assert steps["portal PKCE"]["status"] == "ok"
    assert steps["portal PKCE"]["detail"] == (
        "the portal sends PKCE (S256); the app does not require PKCE"
    )


def test_secret_holds_the_client_secret_byte_for_byte(both: dict, sandbox: dict[str, str]) -> None:
    """Okta shows a secret only once, so the org itself judges the stored bytes (introspection)."""
    from oktalab import Secret
    from oktalab.oidc import client_credentials_valid, discover
    from oktalab.okta import OktaClient

    api = k8s_config.new_client_from_config(config_file=sandbox["KUBECONFIG"])
    secret = k8s.CoreV1Api(api).read_namespaced_secret("petstore-portaloidc-secret", "default")
    stored = base64.b64decode(secret.data["client_secret"])
    assert not stored.endswith(b"\n")
    app = OktaClient(sandbox["OKTA_ORG_URL"], Secret(sandbox["OKTA_API_TOKEN"])).find_app(
        "Petstore"
    )
    assert app is not None
    client_id = app["credentials"]["oauthClient"]["client_id"]
    meta = discover(sandbox["OKTA_ORG_URL"])
    assert client_credentials_valid(meta, client_id, Secret(stored.decode()))
    # the guide's `echo $CLIENT_SECRET | base64` stores a trailing newline: the org refuses that
    assert not client_credentials_valid(meta, client_id, Secret(stored.decode() + "\n"))


def test_portal_kinds_report_succeeded(both: dict, sandbox: dict[str, str]) -> None:
    for kind, name in [
        ("portals.portal.gloo.solo.io", "petstore-portal"),
        ("groups.portal.gloo.solo.io", "oidc-group"),
    ]:
        proc = kubectl(
            sandbox, "get", kind, name, "-n", "default", "-o", "jsonpath={.status.state}"
        )
        assert proc.returncode == 0 and proc.stdout == "Succeeded", proc.stdout + proc.stderr


def test_rerun_of_guide2_is_unchanged(both: dict, sandbox: dict[str, str], tmp_path: Path) -> None:
    code, rows, text = run(
        sandbox,
        "run",
        str(GUIDE2),
        "--out",
        str(tmp_path),
        "--stages",
        "okta_app,claims,registration,portal",
    )
    assert code == 0, text[-3000:]
    writes = [r for r in rows if r["action"] not in ("checked", "planned")]
    assert writes and all(r["action"] == "unchanged" for r in writes), [
        r for r in writes if r["action"] != "unchanged"
    ]


def _okta(sandbox: dict[str, str], path: str) -> Any:
    resp = httpx.get(
        sandbox["OKTA_ORG_URL"] + path,
        headers={"Authorization": f"SSWS {sandbox['OKTA_API_TOKEN']}"},
        timeout=15,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def _files(home: Path) -> dict[str, str]:
    """sha256 of every file under the oktalab home except the sandbox's own state."""
    return {
        str(f.relative_to(home)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(home.rglob("*"))
        if f.is_file() and f.relative_to(home).parts[0] not in ("sandbox", "kube-cache")
    }


def _mode(
    sandbox: dict[str, str], mode: str, out: Path, *files: Path, frm: Path, stages: str = ""
) -> tuple[int, list[dict[str, Any]], str]:
    extra = ("--stages", stages) if stages else ()
    return run(sandbox, mode, *map(str, files), "--from", str(frm), "--out", str(out), *extra)


def test_plan_and_check_write_nothing_for_both_guides(
    both: dict, sandbox: dict[str, str], tmp_path: Path
) -> None:
    """After the run, plan has nothing to change and check finds no drift, in every stage of
    both guides; neither sends a write to Okta's Management API or to Kubernetes (the
    sandbox's write counter), signs anyone up (the user list), or changes a file outside its
    own results folder (ledgers byte for byte)."""
    home = Path(sandbox["OKTALAB_HOME"])
    files, writes = _files(home), _okta(sandbox, "/__sandbox/writes")
    users = sorted(u["id"] for u in _okta(sandbox, "/api/v1/users?limit=200"))
    code, plan, text = _mode(sandbox, "plan", tmp_path / "p", both["g1"], GUIDE2, frm=both["out"])
    assert code == 0, text[-4000:]
    stages = {(r["parameter_set"], r["stage"]) for r in plan if r["action"] == "planned"}
    for stage in ("okta_app", "claims", "extauth", "portal_groups"):
        assert ("guide1-beside-portal", stage) in stages, stage
    for stage in ("okta_app", "claims", "registration", "portal"):
        assert ("guide2-sandbox", stage) in stages, stage
    assert not any("no plan mode" in r["detail"] or "no check mode" in r["detail"] for r in plan)
    secret_row = next(r for r in plan if r["kind"] == "ClientSecret")
    assert secret_row["detail"].startswith("unchanged (would read"), secret_row
    signup = next(r for r in plan if r["stage"] == "portal_verify")
    assert (
        signup["status"] == "skipped"
        and "would" not in signup["detail"]
        or "a run signs up" in signup["detail"]
    )

    code, check, text = _mode(sandbox, "check", tmp_path / "c", both["g1"], GUIDE2, frm=both["out"])
    assert code == 0, text[-4000:]
    by_stage = {(r["parameter_set"], r["stage"]) for r in check if r["status"] == "ok"}
    for stage in ("registration", "portal", "portal_verify", "portal_groups"):
        assert any(s == stage for _, s in by_stage), stage
    steps = {r["step"]: r for r in check if r["parameter_set"] == "guide2-sandbox"}
    assert steps["signed-up user"]["status"] == "ok", steps["signed-up user"]
    assert steps["portal login"]["status"] == "ok", steps["portal login"]
    assert (
        steps["sign up"]["status"] == "skipped"
        and "creates an Okta user" in steps["sign up"]["detail"]
    )
    assert {
        r["detail"] for r in check if r["kind"] in ("Portal", "Group") and r["step"] == "status"
    } == {
        "Succeeded",
        "ACCEPTED",
    }

    after = _okta(sandbox, "/__sandbox/writes")
    for server in ("okta", "kube"):
        assert after.get(server) == writes.get(server), (server, after.get(server))
    assert after["okta-signin"]["writes"] > writes["okta-signin"]["writes"]  # check signed in
    assert sorted(u["id"] for u in _okta(sandbox, "/api/v1/users?limit=200")) == users
    assert _files(home) == files


def test_plan_and_check_see_drift_in_the_portal_stages(
    both: dict, sandbox: dict[str, str], tmp_path: Path
) -> None:
    """Drift in guide 2's Kubernetes objects and Okta settings: plan shows the field diff
    (the Secret's value masked), check fails naming the repair, the run repairs it."""
    app = _okta(sandbox, "/api/v1/apps?q=Petstore")[0]
    body = {k: v for k, v in app.items() if k not in ("_links", "_embedded")}
    body["accessibility"] = {**(body.get("accessibility") or {}), "selfService": False}
    body["credentials"]["oauthClient"].pop("client_secret", None)
    resp = httpx.put(
        f"{sandbox['OKTA_ORG_URL']}/api/v1/apps/{app['id']}",
        json=body,
        headers={"Authorization": f"SSWS {sandbox['OKTA_API_TOKEN']}"},
        timeout=15,
    )
    assert resp.status_code == 200, resp.text
    # the client secret rotated in Okta (a new one, the old one deactivated and deleted):
    # the portal's Secret still holds the old value
    secrets = _okta(sandbox, f"/api/v1/apps/{app['id']}/credentials/secrets")
    base = f"{sandbox['OKTA_ORG_URL']}/api/v1/apps/{app['id']}/credentials/secrets"
    auth = {"Authorization": f"SSWS {sandbox['OKTA_API_TOKEN']}"}
    new = httpx.post(base, json={}, headers=auth, timeout=15)
    assert new.status_code == 201, new.text
    for old in secrets:
        for method, path in (("POST", "/lifecycle/deactivate"), ("DELETE", "")):
            resp = httpx.request(method, f"{base}/{old['id']}{path}", headers=auth, timeout=15)
            assert resp.status_code in (200, 204), resp.text
    stale = secrets[0]["client_secret"]
    proc = kubectl(sandbox, "delete", "groups.portal.gloo.solo.io", "oidc-group", "-n", "default")
    assert proc.returncode == 0, proc.stderr
    writes = _okta(sandbox, "/__sandbox/writes")
    stages = "registration,portal"
    code, plan, text = _mode(
        sandbox, "plan", tmp_path / "p", GUIDE2, frm=both["out"], stages=stages
    )
    assert code == 2, text[-4000:]
    planned = {(r["kind"], r["name"]): r["detail"] for r in plan if r["action"] == "planned"}
    assert planned[("OktaApp", "Petstore")] == "update: accessibility.selfService: False -> True"
    secret = planned[("Secret", "default/petstore-portaloidc-secret")]
    assert secret.startswith("update: ") and "(masked) -> (masked)" in secret, secret
    assert planned[("Group", "default/oidc-group")] == "create", planned
    assert "create" not in planned[("ClientSecret", "Petstore")]  # the new one is readable
    code, check, text = _mode(
        sandbox, "check", tmp_path / "c", GUIDE2, frm=both["out"], stages=stages
    )
    assert code == 1, text[-4000:]
    failed = {(r["kind"], r["name"]): r["detail"] for r in check if r["status"] == "failed"}
    assert "repair: oktalab run" in failed[("OktaApp", "Petstore")], failed
    group = failed[("Group", "default/oidc-group")]
    assert group.startswith("missing; repair: oktalab run") and "--stages portal" in group, failed
    assert "stored value differs" in failed[("Secret", "default/petstore-portaloidc-secret")]
    after = _okta(sandbox, "/__sandbox/writes")
    assert (after["okta"], after["kube"]) == (writes["okta"], writes["kube"])
    assert len(_okta(sandbox, f"/api/v1/apps/{app['id']}/credentials/secrets")) == 1
    for f in [*(tmp_path / "p").rglob("*"), *(tmp_path / "c").rglob("*")]:
        if f.is_file():  # neither the old nor the new client secret in any output
            text = f.read_text(errors="replace")
            assert stale not in text and new.json()["client_secret"] not in text, f

    code, rows, text = run(
        sandbox, "run", str(GUIDE2), "--stages", stages, "--out", str(tmp_path / "r")
    )
    assert code == 0, text[-4000:]
    code, check, text = _mode(
        sandbox, "check", tmp_path / "c2", GUIDE2, frm=both["out"], stages=stages
    )
    assert code == 0, text[-4000:]


def test_plan_and_check_leave_the_ledger_as_they_found_it(
    sandbox: dict[str, str], tmp_path: Path
) -> None:
    """A recorded app that Okta no longer has (404 by id): a run forgets it in the ledger;
    plan and check only say `create` / missing, and the ledger file keeps every byte."""
    params = tmp_path / "gone.yaml"
    data = yaml.safe_load(GUIDE2.read_text())
    data["name"] = "modes-gone"
    data["app"]["label"] = "modes-gone-app"
    params.write_text(yaml.safe_dump(data))
    ledger = Path(sandbox["OKTALAB_HOME"]) / "ledger" / "modes-gone.json"
    ledger.parent.mkdir(parents=True, exist_ok=True)
    entry = {"kind": "okta_app", "key": "0oa0000gonegone00000", "name": "modes-gone-app"}
    ledger.write_text(json.dumps([{**entry, "status": "created"}], indent=1))
    before = ledger.read_bytes()
    code, plan, text = _mode(
        sandbox, "plan", tmp_path / "p", params, frm=tmp_path, stages="okta_app"
    )
    assert code == 2, text[-3000:]
    assert [r["detail"] for r in plan if r["kind"] == "OktaApp"] == ["create"]
    code, check, text = _mode(
        sandbox, "check", tmp_path / "c", params, frm=tmp_path, stages="okta_app"
    )
    app_rows = [r for r in check if r["kind"] == "OktaApp"]
    assert code == 1 and app_rows[0]["detail"].startswith("missing"), text[-3000:]
    assert ledger.read_bytes() == before
    ledger.unlink()


def test_sign_up_without_a_browser(both: dict, sandbox_env: dict[str, str], tmp_path: Path) -> None:
    """The form-driving HTTP driver (used where no Chromium exists, e.g. Binder) signs up too."""
    from oktalab import load_parameters, run_stage

    ps = load_parameters(GUIDE2, {"portal_verify": {"driver": "http"}})
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "state.json").write_text((both["out"] / "guide2-sandbox" / "state.json").read_text())
    result = run_stage("portal_verify", ps, run_dir=run_dir, raise_on_failure=False)
    rows = {r.step: r for r in result.rows}
    assert result.ok, [r.as_dict() for r in result.rows if r.status != "ok"]
    assert "via http" in rows["sign up"].detail
    assert rows["signed in to portal"].status == "ok" and rows["API product visible"].status == "ok"
    assert (
        "refused" in rows["outsider not granted"].detail
        or "not granted" in rows["outsider not granted"].detail
    )


WIDGET = ROOT / "tests" / "js" / "node_modules" / "@okta" / "okta-signin-widget" / "dist"


def test_sign_up_through_okta_sign_in_widget(
    both: dict, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    """portal_verify's browser driver against Okta's Sign-In Widget on the hosted page, as on an
    Identity Engine org: username then password, and sign-up's profile, "Set up", new password."""
    import json

    import httpx

    from oktalab import load_parameters, run_stage
    from oktalab.web import browser_available

    if not browser_available() or not (WIDGET / "js" / "okta-sign-in.min.js").is_file():
        pytest.skip("needs Chromium, Playwright and `npm ci` in tests/js")
    control = f"{sandbox_env['OKTA_ORG_URL']}/__sandbox/widget"
    auth = {"Authorization": f"SSWS {sandbox_env['OKTA_API_TOKEN']}"}
    assert httpx.post(control, json={"dir": str(WIDGET)}, headers=auth).status_code == 200
    try:
        ps = load_parameters(GUIDE2, {"portal_verify": {"driver": "browser"}})
        run_dir = tmp_path / "r"
        run_dir.mkdir()
        state = (both["out"] / "guide2-sandbox" / "state.json").read_text()
        (run_dir / "state.json").write_text(state)
        client_id = json.loads(state)["app"]["client_id"]
        hosted = httpx.get(
            f"{sandbox_env['OKTA_ORG_URL']}/login/login.htm",
            params={"fromURI": f"/oauth2/default/v1/authorize?client_id={client_id}"},
        )
        assert "okta-sign-in.min.js" in hosted.text  # the stage meets Okta's widget
        result = run_stage("portal_verify", ps, run_dir=run_dir, raise_on_failure=False)
    finally:
        httpx.post(control, json={"dir": ""}, headers=auth)
    rows = {r.step: r for r in result.rows}
    assert result.ok, [r.as_dict() for r in result.rows if r.status != "ok"]
    assert "via chromium" in rows["sign up"].detail
    assert rows["signed in to portal"].status == "ok" and rows["user in group"].status == "ok"


def test_each_teardown_leaves_the_other_guide_intact(
    both: dict, sandbox: dict[str, str], tmp_path: Path
) -> None:
    code, rows, text = run(sandbox, "teardown", str(GUIDE2), "--out", str(tmp_path / "t2"))
    assert code == 0, text[-3000:]
    deleted = {r["kind"] for r in rows if r["action"] == "deleted"}
    assert {"Portal", "Group", "Secret", "OktaApp", "OktaUser"} <= deleted, deleted
    assert (
        kubectl(
            sandbox, "get", "extauthpolicy", "oauth-okta-beside", "-n", "gloo-mesh-addons"
        ).returncode
        == 0
    )
    assert (
        kubectl(
            sandbox, "get", "portals.portal.gloo.solo.io", "petstore-portal", "-n", "default"
        ).returncode
        != 0
    )
    code, rows, text = run(sandbox, "teardown", str(both["g1"]), "--out", str(tmp_path / "t1"))
    assert code == 0, text[-3000:]
    assert (
        kubectl(
            sandbox, "get", "extauthpolicy", "oauth-okta-beside", "-n", "gloo-mesh-addons"
        ).returncode
        != 0
    )
