"""Guide 1 end to end: real notebooks run by papermill against the embedded sandbox."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml
from kubernetes import client as k8s, config as k8s_config
from oktalab_support import ROOT, kubectl, oktalab_cli, read_env, run_cli as run

pytestmark = pytest.mark.slow
PARAMS = ROOT / "parameters" / "sandbox.yaml"


def first_run_origin(first_run: dict) -> str:
    state = json.loads((first_run["out"] / "guide1-sandbox" / "state.json").read_text())
    return str(state["gateway_portal"]["origin"])


@pytest.fixture(scope="module")
def first_run(sandbox: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("run1")
    code, rows, text = run(sandbox, "run", str(PARAMS), "--out", str(out))
    return {"code": code, "rows": rows, "text": text, "out": out}


def test_first_run_passes_every_check(first_run: dict) -> None:
    failed = [r for r in first_run["rows"] if r["status"] == "failed"]
    assert first_run["code"] == 0 and not failed, first_run["text"][-4000:]
    stages = {r["stage"] for r in first_run["rows"]}
    assert stages == {"okta_app", "claims", "extauth", "portal_groups", "verify"}
    assert any(r["kind"] == "OktaApp" and r["action"] == "created" for r in first_run["rows"])


def test_reports_and_executed_notebooks(first_run: dict) -> None:
    out = first_run["out"]
    header = (out / "results.csv").read_text().splitlines()[0]
    assert header == "parameter_set,stage,step,kind,name,action,status,detail,seconds"
    assert "all checks passed" in (out / "report.html").read_text()
    for nb in ("01_okta_app", "02_claims", "03_extauth", "04_verify"):
        assert (out / "guide1-sandbox" / f"{nb}.ipynb").is_file()
    for r in first_run["rows"]:
        assert r["action"] in {"created", "updated", "unchanged", "deleted", "checked", "planned"}
        assert r["status"] in {"ok", "failed", "skipped"}


def test_gateway_checks_have_the_ext_auth_codes(first_run: dict) -> None:
    checks = {r["step"]: r for r in first_run["rows"] if r["kind"] == "GatewayCheck"}
    # each check names the cause as the gateway sees it (issue 15)
    assert checks["no token"]["detail"] == "expected 403, got 403: no token"
    assert checks["tampered token"]["detail"] == "expected 403, got 403: bad signature"
    assert checks["expired token"]["detail"].startswith("expected 401, got 401: expired ")
    assert checks["expired token"]["detail"].endswith("s ago")
    assert checks["valid token"]["detail"] == "expected 200, got 200: valid signature and times"
    assert checks["open route, no token"]["detail"] == "expected 200, got 200: open route"


def test_no_secret_in_outputs(first_run: dict, sandbox: dict[str, str]) -> None:
    secrets = [sandbox["OKTA_API_TOKEN"], sandbox["OKTALAB_TEST_PASSWORD"]]
    kubeconfig = yaml.safe_load(Path(sandbox["KUBECONFIG"]).read_text())
    secrets.append(kubeconfig["users"][0]["user"]["token"])
    for path in first_run["out"].rglob("*"):
        if path.is_file() and path.suffix in {".ipynb", ".json", ".csv", ".html"}:
            text = path.read_text(errors="replace")
            for s in secrets:
                assert s not in text, f"a secret leaked into {path.name}"
    for s in secrets:
        assert s not in first_run["text"]


def test_rerun_changes_nothing(first_run: dict, sandbox: dict[str, str], tmp_path: Path) -> None:
    code, rows, text = run(sandbox, "run", str(PARAMS), "--out", str(tmp_path))
    assert code == 0, text[-3000:]
    writes = [r for r in rows if r["action"] not in ("checked", "planned")]
    assert writes and all(r["action"] == "unchanged" for r in writes), [
        r for r in writes if r["action"] != "unchanged"
    ]


def test_rerun_sends_no_write_request(
    first_run: dict, sandbox: dict[str, str], tmp_path: Path
) -> None:
    """Counted by the servers, not by oktalab: a re-run of the configuring stages sends no
    write request to Okta's management API or to Kubernetes (dry runs are not writes), and
    reads each object about twice (the read, and a server-side dry run for Kubernetes)."""

    def counts() -> tuple[int, int]:
        h = {"Authorization": f"SSWS {sandbox['OKTA_API_TOKEN']}"}
        writes = httpx.get(sandbox["OKTA_ORG_URL"] + "/__sandbox/writes", headers=h).json()
        reads = httpx.get(sandbox["OKTA_ORG_URL"] + "/__sandbox/reads", headers=h).json()
        return (
            sum(writes.get(s, {}).get("writes", 0) for s in ("okta", "kube")),
            sum(reads.get(s, 0) for s in ("okta", "kube")),
        )

    w0, r0 = counts()
    stages = "okta_app,claims,extauth,portal_groups"
    code, rows, text = run(sandbox, "run", str(PARAMS), "--stages", stages, "--out", str(tmp_path))
    assert code == 0, text[-3000:]
    w1, r1 = counts()
    assert w1 - w0 == 0, "a re-run writes nothing"
    objects = [r for r in rows if r["action"] == "unchanged"]
    assert objects and r1 - r0 <= 3 * len(objects), (r1 - r0, len(objects))


def test_verify_alone_finds_what_an_earlier_run_made(
    first_run: dict, sandbox: dict[str, str], tmp_path: Path
) -> None:
    """``--stages verify`` in a folder without ``runs/`` (nothing carried): the app through the
    ledger, the portal frontend through the cluster; every row ok."""
    proc = oktalab_cli(
        "run",
        str(PARAMS),
        "--stages",
        "verify",
        "--state-dir",
        sandbox["OKTALAB_SANDBOX_DIR"],
        env={"OKTALAB_HOME": sandbox["OKTALAB_HOME"]},
        cwd=tmp_path,
    )
    out = tmp_path / "runs" / "latest"  # the only run folder: no earlier state.json to carry
    rows = json.loads((out / "results.json").read_text())
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    no_browser = shutil.which("chromium") is None  # then the browser rows say skipped
    not_ok = [
        r for r in rows if r["status"] != "ok" and not (no_browser and r["kind"] == "BrowserCheck")
    ]
    assert not not_ok, not_ok
    found = next(r for r in rows if r["step"] == "prerequisites")
    assert found["detail"].startswith("not in this run folder: found through the ledger")
    steps = [r["step"] for r in rows]
    assert "valid token" in steps and "portal frontend signed in" in steps


def test_verify_with_nothing_made_names_the_stages_to_run_first(
    sandbox: dict[str, str], tmp_path: Path
) -> None:
    files = []
    for src, name, label in (
        (PARAMS, "never-run-1", "never-made-spa"),
        (ROOT / "parameters" / "sandbox-portal.yaml", "never-run-2", "NeverMadePetstore"),
    ):
        data = yaml.safe_load(src.read_text())
        data["name"], data["app"]["label"] = name, label
        if "petstore" in str(data.get("portal", {}).get("name", "")):
            data["portal"]["name"] = "never-made-portal"
        files.append(tmp_path / f"{name}.yaml")
        files[-1].write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    proc = oktalab_cli(
        "run",
        *map(str, files),
        "--stages",
        "verify,portal_verify",
        "--out",
        str(out),
        "--state-dir",
        sandbox["OKTALAB_SANDBOX_DIR"],
        env={"OKTALAB_HOME": str(tmp_path / "home")},  # an empty ledger
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    rows = json.loads((out / "results.json").read_text())
    assert [(r["stage"], r["step"], r["status"]) for r in rows] == [
        ("verify", "prerequisites", "failed"),
        ("portal_verify", "prerequisites", "failed"),
    ]
    assert rows[0]["detail"].startswith("run okta_app, claims, extauth, portal_groups first")
    assert "no Okta app labelled 'never-made-spa'" in rows[0]["detail"]
    assert rows[1]["detail"].startswith("run okta_app, claims, registration, portal first")
    # the notebooks hand run_stage a loaded ParameterSet: the repair still names its file
    assert f"(oktalab run {files[0]} runs every stage" in rows[0]["detail"]
    # the console table cuts long details; each failed row follows it whole
    flat = " ".join(proc.stdout.split())
    assert "failed (2):" in proc.stdout and " ".join(rows[0]["detail"].split()) in flat
    assert "2 rows, 2 rows failed" in proc.stdout
    assert "no Portal default/never-made-portal" in rows[1]["detail"]


def test_kubectl_and_client_read_the_statuses(first_run: dict, sandbox: dict[str, str]) -> None:
    proc = kubectl(
        sandbox, "get", "extauthpolicy", "oauth-okta", "-n", "gloo-mesh-addons", "-o", "yaml"
    )
    assert proc.returncode == 0, proc.stderr
    policy = yaml.safe_load(proc.stdout)
    assert policy["status"]["common"]["State"]["approval"] == "ACCEPTED"
    assert json.loads(
        policy["spec"]["config"]["glooAuth"]["configs"][0]["oauth2"]["accessTokenValidation"][
            "jwt"
        ]["localJwks"]["inlineString"]
    )["keys"]
    proc = kubectl(sandbox, "get", "authconfig", "-n", "gloo-mesh-addons", "-o", "yaml")
    assert proc.returncode == 0 and "Accepted" in proc.stdout
    api = k8s_config.new_client_from_config(config_file=sandbox["KUBECONFIG"])
    server = k8s.CustomObjectsApi(api).get_namespaced_custom_object(
        "admin.gloo.solo.io", "v2", "gloo-mesh-addons", "extauthservers", "ext-auth-server"
    )
    assert server["status"]["common"]["State"]["approval"] == "ACCEPTED"
    assert server["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "oktalab"
    pods = kubectl(sandbox, "get", "pods", "-A", "-l", "app=ext-auth-service")
    assert "ext-auth-service" in pods.stdout


def test_sandbox_env_has_the_guides_names(first_run: dict, sandbox: dict[str, str]) -> None:
    envfile = Path(sandbox["OKTALAB_SANDBOX_DIR"]) / "sandbox.env"
    env = read_env(envfile)
    assert envfile.stat().st_mode & 0o077 == 0, "sandbox.env holds secrets: owner only"
    label = yaml.safe_load(PARAMS.read_text())["app"]["label"]
    apps = httpx.get(
        env["OKTA_ORG_URL"] + "/api/v1/apps",
        params={"q": label},
        headers={"Authorization": f"SSWS {env['OKTA_API_TOKEN']}"},
    ).json()
    live = [a["credentials"]["oauthClient"]["client_id"] for a in apps if a["label"] == label]
    assert live == [env["CLIENT_ID"]], "CLIENT_ID is the app guide 1 last ensured"
    assert env["CLUSTER_NAME"] == "cluster1"
    meta = httpx.get(env["OKTA_ORG_URL"] + "/oauth2/default/.well-known/openid-configuration")
    config = meta.json()
    assert env["TOKEN_ENDPOINT"] == config["token_endpoint"]
    assert env["AUTH_ENDPOINT"] == config["authorization_endpoint"]
    assert env["LOGOUT_ENDPOINT"] == config["end_session_endpoint"]


def test_token_command_gives_a_token_the_gateway_accepts(
    first_run: dict, sandbox: dict[str, str]
) -> None:
    proc = oktalab_cli(
        "token",
        str(PARAMS),
        "--state-dir",
        sandbox["OKTALAB_SANDBOX_DIR"],
        env={"OKTALAB_HOME": sandbox["OKTALAB_HOME"]},
    )
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    assert proc.stdout.count("\n") == 1 and token.count(".") == 2
    assert proc.stderr == "", "no warning when stdout is not a terminal"
    # The guide's own check, done by hand: curl -H "Authorization: Bearer $TOKEN" .../productpage
    gateway = sandbox["OKTALAB_GATEWAY_URL"]
    assert httpx.get(gateway + "/productpage").status_code == 403
    ok = httpx.get(gateway + "/productpage", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200, ok.text[:300]


def test_a_failing_check_fails_the_run(
    first_run: dict, sandbox: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    data = yaml.safe_load(PARAMS.read_text())
    data["name"] = "guide1-expect-open"
    data["app"]["label"] = "oktalab-expect-open"
    data["verify"]["expect_missing"] = 401  # the route answers 403, so this check must fail
    bad.write_text(yaml.safe_dump(data))
    code, rows, text = run(
        sandbox, "run", str(bad), "--out", str(tmp_path / "o"), "--stages", "okta_app,claims,verify"
    )
    assert code == 1
    failed = [r for r in rows if r["status"] == "failed"]
    assert [r["step"] for r in failed] == ["no token"], failed
    td = oktalab_cli(
        "teardown",
        str(bad),
        "--out",
        str(tmp_path / "td"),
        "--state-dir",
        sandbox["OKTALAB_SANDBOX_DIR"],
        env={"OKTALAB_HOME": sandbox["OKTALAB_HOME"]},
    )
    assert td.returncode == 0, td.stdout + td.stderr


def test_verify_signs_a_web_app_in_with_its_client_secret(
    first_run: dict, sandbox: dict[str, str], tmp_path: Path
) -> None:
    """A web app is a confidential client: the verify stage sends its client secret at the
    token endpoint, as the token preview does (the org refuses the exchange without it)."""
    web = tmp_path / "web.yaml"
    data = yaml.safe_load(PARAMS.read_text())
    data["name"] = "guide1-web-verify"
    data["app"].update(
        label="oktalab-web-verify",
        type="web",
        grant_types=["authorization_code"],
        redirect_uris=["http://localhost:7999/callback"],
        post_logout_redirect_uris=[],
    )
    data.pop("portal", None)
    web.write_text(yaml.safe_dump(data))
    try:
        code, rows, text = run(
            sandbox,
            "run",
            str(web),
            "--out",
            str(tmp_path / "o"),
            "--stages",
            "okta_app,claims,verify",
        )
        by_step = {(r["stage"], r["step"]): r for r in rows}
        assert code == 0, [r for r in rows if r["status"] != "ok"] or text[-2000:]
        assert by_step[("claims", "sign in")]["status"] == "ok"
        assert by_step[("verify", "valid token")]["status"] == "ok", rows
    finally:
        td = oktalab_cli(
            "teardown",
            str(web),
            "--out",
            str(tmp_path / "td"),
            "--state-dir",
            sandbox["OKTALAB_SANDBOX_DIR"],
            env={"OKTALAB_HOME": sandbox["OKTALAB_HOME"]},
        )
        assert td.returncode == 0, td.stdout + td.stderr


def test_bad_jwks_is_refused_before_applying(
    sandbox_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JWKS holding only encryption keys (the guide's second sample), published by the
    authorization server itself, is never applied. The stage reads the JWKS from the server
    at every run, so the server here is a small real one on loopback that publishes it."""
    from oktalab import load_parameters, run_stage

    bad = {
        "keys": [
            {"kid": "x", "kty": "RSA", "alg": "RSA-OAEP", "use": "enc", "n": "AQAB", "e": "AQAB"}
        ]
    }

    class Issuer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://127.0.0.1:{self.server.server_address[1]}/oauth2/default"
            docs = {
                "/oauth2/default/.well-known/openid-configuration": {
                    "issuer": base,
                    "authorization_endpoint": base + "/v1/authorize",
                    "token_endpoint": base + "/v1/token",
                    "jwks_uri": base + "/v1/keys",
                },
                "/oauth2/default/v1/keys": bad,
            }
            body = json.dumps(docs.get(self.path, {})).encode()
            self.send_response(200 if self.path in docs else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Issuer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("OKTA_ORG_URL", f"http://127.0.0.1:{server.server_address[1]}")
        # its issuer is its own URL, not the session sandbox's public one from sandbox.env
        monkeypatch.setenv(
            "OKTALAB_OKTA_PUBLIC_URL", f"http://127.0.0.1:{server.server_address[1]}"
        )
        ps = load_parameters(
            PARAMS, {"name": "guide1-badjwks", "extauth": {"policy_name": "oauth-badjwks"}}
        )
        result = run_stage("extauth", ps, run_dir=tmp_path / "r", raise_on_failure=False)
    finally:
        server.shutdown()
        server.server_close()
    failed = [r for r in result.rows if r.status == "failed"]
    assert failed and "no signing keys" in failed[0].detail
    assert not any(r.kind == "ExtAuthPolicy" for r in result.rows)
    assert (
        kubectl(
            sandbox_env, "get", "extauthpolicy", "oauth-badjwks", "-n", "gloo-mesh-addons"
        ).returncode
        != 0
    )


def test_a_second_policy_on_the_same_routes_fails_with_the_reason(
    first_run: dict, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    """Gloo accepts one ext-auth policy per route; the later one is FAILED and the stage says why."""
    from oktalab import load_parameters, run_stage

    ps = load_parameters(
        PARAMS,
        {"name": "guide1-second", "extauth": {"policy_name": "oauth-second", "wait_seconds": 10}},
    )
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "state.json").write_text(
        (first_run["out"] / "guide1-sandbox" / "state.json").read_text()
    )
    result = run_stage("extauth", ps, run_dir=run_dir, raise_on_failure=False)
    failed = [r for r in result.rows if r.status == "failed"]
    assert len(failed) == 1 and failed[0].kind == "ExtAuthPolicy", [
        r.as_dict() for r in result.rows
    ]
    assert "FAILED" in failed[0].detail and "oauth-okta" in failed[0].detail
    td = run_stage("teardown", ps, run_dir=run_dir, raise_on_failure=False)
    assert ("ExtAuthPolicy", "deleted") in {(r.kind, r.action) for r in td.rows}


def test_portal_groups_and_the_frontend_sign_in(first_run: dict, sandbox: dict[str, str]) -> None:
    rows = {(r["stage"], r["step"], r["name"]): r for r in first_run["rows"]}
    by_step = {r["step"]: r for r in first_run["rows"] if r["stage"] in ("portal_groups", "verify")}
    assert by_step["portal API without token"]["detail"] == "HTTP 403, expected 403"
    assert by_step["portal /apis by claims"]["detail"].endswith(
        "the claims grant ['ratings', 'reviews']"
    )
    assert rows[("okta_app", "CORS preflight", first_run_origin(first_run))]["status"] == "ok"
    for kind, name in [
        ("portals.apimanagement.gloo.solo.io", "developer-portal"),
        ("portalgroups", "oktalab-members"),
    ]:
        proc = kubectl(
            sandbox,
            "get",
            kind,
            name,
            "-n",
            "gloo-mesh",
            "-o",
            "jsonpath={.status.common.State.approval}",
        )
        assert proc.returncode == 0 and proc.stdout == "ACCEPTED", proc.stdout + proc.stderr
    browser = [r for r in first_run["rows"] if r["kind"] == "BrowserCheck"]
    assert len(browser) == 5
    if all(r["status"] == "skipped" for r in browser):
        pytest.skip("no Chromium: " + browser[0]["detail"])
    assert by_step["portal API list (browser)"]["detail"].startswith(
        "listed ['ratings', 'reviews']"
    )
    assert by_step["second user: no restricted product"]["detail"].startswith("listed ['ratings']")
    assert "/logout" in by_step["portal logout"]["detail"]
    shot = first_run["out"] / "guide1-sandbox" / "screenshots" / "portal-frontend-signed-in.png"
    assert shot.is_file() and shot.stat().st_size > 1000


def test_frontend_without_a_trusted_origin_fails_like_a_spa(
    first_run: dict, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    """Remove the app's Trusted Origin: the browser's token request is blocked by CORS, the
    frontend stays signed out; okta_app puts the origin back."""
    from oktalab import load_parameters, run_stage
    from oktalab.okta import OktaClient
    from oktalab.settings import Secret

    ps = load_parameters(PARAMS)
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "state.json").write_text(
        (first_run["out"] / "guide1-sandbox" / "state.json").read_text()
    )
    origin = json.loads((run_dir / "state.json").read_text())["gateway_portal"]["origin"]
    with OktaClient(sandbox_env["OKTA_ORG_URL"], Secret(sandbox_env["OKTA_API_TOKEN"])) as okta:
        for o in okta.trusted_origins():
            if o["origin"] == origin:
                okta.delete_trusted_origin(o["id"])
    try:
        result = run_stage("verify", ps, run_dir=run_dir, raise_on_failure=False)
        rows = {r.step: r for r in result.rows}
        signed_in = rows["portal frontend signed in"]
        if signed_in.status == "skipped":
            pytest.skip(signed_in.detail)
        assert signed_in.status == "failed" and "Failed to fetch" in signed_in.detail, signed_in
        assert rows["valid token"].status == "ok"  # the gateway checks do not depend on CORS
    finally:
        again = run_stage("okta_app", ps, run_dir=run_dir, raise_on_failure=False)
    origin_rows = [r for r in again.rows if r.kind == "TrustedOrigin"]
    assert origin_rows and origin_rows[0].action == "created"
    assert all(r.status == "ok" for r in again.rows), [r.as_dict() for r in again.rows]


def test_teardown_removes_only_what_it_made(
    first_run: dict, sandbox: dict[str, str], tmp_path: Path
) -> None:
    # something the user made by hand, with the same kind, must survive
    manual = kubectl(
        sandbox,
        "apply",
        "-f",
        "-",
        stdin=yaml.safe_dump(
            {
                "apiVersion": "admin.gloo.solo.io/v2",
                "kind": "ExtAuthServer",
                "metadata": {"name": "hand-made", "namespace": "gloo-mesh-addons"},
                "spec": {
                    "destinationServer": {
                        "ref": {"name": "ext-auth-service", "namespace": "gloo-mesh-addons"},
                        "port": {"name": "grpc"},
                    }
                },
            }
        ),
    )
    assert manual.returncode == 0, manual.stderr
    code, rows, text = run(sandbox, "teardown", str(PARAMS), "--out", str(tmp_path))
    assert code == 0, text[-3000:]
    deleted = {(r["kind"], r["name"]) for r in rows if r["action"] == "deleted"}
    assert ("ExtAuthPolicy", "gloo-mesh-addons/oauth-okta") in deleted
    assert ("OktaApp", "oktalab-portal-spa") in deleted
    assert ("Portal.apimanagement.gloo.solo.io", "gloo-mesh/developer-portal") in deleted
    assert ("TrustedOrigin", first_run_origin(first_run)) in deleted
    assert (
        kubectl(sandbox, "get", "extauthserver", "hand-made", "-n", "gloo-mesh-addons").returncode
        == 0
    )
    assert (
        kubectl(sandbox, "get", "extauthpolicy", "oauth-okta", "-n", "gloo-mesh-addons").returncode
        != 0
    )
    again = run(sandbox, "teardown", str(PARAMS), "--out", str(tmp_path / "again"))
    assert again[0] == 0 and not any(r["action"] == "deleted" for r in again[1])


@pytest.mark.browser
def test_report_reads_in_chromium_at_1280(first_run: dict, sandbox: dict[str, str]) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    from oktalab.web import CHROMIUM_FLAGS

    out = first_run["out"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto((out / "report.html").as_uri())
            header = page.inner_text("#header")
            assert sandbox["OKTA_ORG_URL"].split("//")[1] in header or "127.0.0.1" in header
            assert "cluster1" in header and "oktalab 0.1.0" in header and "Python 3." in header
            n = len({r["stage"] for r in first_run["rows"]})
            assert f"{n} ok" in page.inner_text("#counts")
            assert "None" in page.inner_text("#failures")
            assert page.locator("tr.stage-row").count() == n
            for link in page.locator("a.nb-html, a.nb-raw").all():
                assert (out / link.get_attribute("href")).is_file()
            assert page.locator("a.nb-html").count() == n
            claims = page.inner_text("table.claims[data-token=access_token]")
            assert "email" in claims and "iss" in claims
            assert "masked" in page.inner_text(
                "table.claims[data-token=id_token]"
            )  # nonce, at_hash
            assert page.locator("#flow svg.flow text").count() > 10
            assert "Okta" in page.inner_text("#flow")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 1280, f"the report scrolls sideways at 1280 px ({width})"
        finally:
            browser.close()
    text = (out / "report.html").read_text()
    assert "<script" not in text and 'src="http' not in text and "stylesheet" not in text
