"""JupyterLab as on Binder: ``binder/start`` + JupyterLab + jupyter-server-proxy + Chromium.

The start notebook runs in a real JupyterLab (widgets rendered by the frontend, stages run
from the "Run all" button), then the browser signs in on the Okta hosted page *through*
``/proxy/<okta port>/`` and the code is redeemed on loopback: the issuer the browser saw is
the issuer of the token. Then guide 2 runs with ``portal.public_url`` set to the proxied
portal, and a new user signs up from the portal opened *through the proxy* and lands back
there signed in. Screenshots go to ``test-artifacts/``. Skipped without Debian's
chromium or the playwright package.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from oktalab_support import ENV_PREFIXES, ROOT, oktalab_cli, read_env, tab_links

from oktalab import interactive as ui, oidc

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SENTINEL = "00-never-in-the-notebook-" + uuid.uuid4().hex[:8]


def widget_button(page: Any, text: str) -> Any:
    """An ipywidgets button (its icon glyph is part of the accessible name, so match text)."""
    return page.locator("button.widget-button", has_text=text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """JupyterLab started through ``binder/start`` on the copies ``oktalab init`` writes."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    pytest.importorskip("jupyter_server_proxy")
    home = tmp_path_factory.mktemp("lab")
    repo = home / "repo"
    init = oktalab_cli("init", str(repo), cwd=home)
    assert init.returncode == 0, init.stderr
    port, token = free_port(), uuid.uuid4().hex
    state = home / "oktalab" / "sandbox"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES) and k != "KUBECONFIG"
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        REPO_DIR=str(repo),
        OKTALAB_SANDBOX_DIR=str(state),
        OKTALAB_HOME=str(home / "oktalab"),
        OKTALAB_PUBLIC_ORIGIN=f"http://127.0.0.1:{port}",
        JUPYTER_CONFIG_DIR=str(home / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
    )
    # Save widget state into the notebook (off by default): the strictest case for secrets.
    # And no news toast over the page.
    settings = {
        "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
    }
    for name, value in settings.items():
        f = home / "lab-settings" / f"{name}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))
    log = (home / "jupyter.log").open("wb")
    proc = subprocess.Popen(
        [
            str(ROOT / "binder" / "start"),
            "jupyter",
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={repo}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.port_retries=0",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        cwd=repo,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (home / "jupyter.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "JupyterLab did not start in 90 s"
            try:
                ok = httpx.get(f"{base}/api/status", headers={"Authorization": f"token {token}"})
                if ok.status_code == 200 and (state / "sandbox.env").is_file():
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        yield {"base": base, "token": token, "repo": str(repo), "state": str(state)}
    finally:
        with_token = {"Authorization": f"token {token}"}
        try:
            httpx.post(f"{base}/api/shutdown", headers=with_token, timeout=10)
            proc.wait(timeout=20)
        except (httpx.HTTPError, subprocess.TimeoutExpired):
            proc.terminate()
            proc.wait(timeout=10)
        log.close()
        subprocess.run(
            [sys.executable, "-m", "oktalab", "sandbox", "stop", "--state-dir", str(state)],
            capture_output=True,
            timeout=60,
        )


def through_jupyter(lab: dict[str, str], url: str) -> int:
    """The status ``url`` answers with through JupyterLab (jupyter-server-proxy), signed in."""
    jupyter = {"Authorization": f"token {lab['token']}"}
    return httpx.get(url, headers=jupyter, timeout=30).status_code


def test_sandbox_pages_tab_before_any_run(lab: dict[str, str]) -> None:
    """Behind jupyter-server-proxy every link of the tab answers through the proxy, and each
    portal that is not there yet says what to set first (its proxied portal.public_url)."""
    state = Path(lab["state"])
    pages = {p.title: p for p in ui.sandbox_pages(state)}
    links = tab_links(ui.pages._links_html(state))
    assert len(links) == 4, links
    for url in links:
        assert url.startswith(lab["base"] + "/proxy/"), url
        status = through_jupyter(lab, url)
        refusals = next(p.refusals for p in pages.values() if p.url == url)
        assert status < 400 or status in refusals, (url, status)
    gateway = ui.sandbox_links(state)["gateway: open route /reviews"].removesuffix("/reviews")
    for guide, portal, file in (
        ("guide 1's portal frontend", "gloo-mesh/developer-portal", "sandbox.yaml"),
        ("guide 2's Gloo Portal", "default/petstore-portal", "sandbox-portal.yaml"),
    ):
        page = pages[guide]
        assert not page.ready and page.url not in links
        assert page.note.startswith(
            f"not there yet: set portal.public_url: {gateway}/portals/{portal} in "
            f"parameters/{file}, then run"
        ), page.note


def test_start_notebook_and_proxied_sign_in(
    lab: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    sandbox = read_env(Path(lab["state"]) / "sandbox.env")
    loopback, public = sandbox["OKTA_ORG_URL"], sandbox["OKTALAB_SANDBOX_PUBLIC_URL"]
    okta_port = loopback.rsplit(":", 1)[1]
    assert public == f"{lab['base']}/proxy/{okta_port}"
    notebook = Path(lab["repo"]) / "notebooks" / "00_start.ipynb"

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            # 1. JupyterLab opens the start notebook; run every cell; run the stages from the form.
            page.goto(f"{lab['base']}/lab/tree/notebooks/00_start.ipynb?token={lab['token']}")
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
            )
            # The flow diagram is mermaid in markdown: rendered by JupyterLab itself, offline.
            diagram = page.locator(".jp-RenderedMermaid img")
            diagram.first.wait_for()
            diagram.first.screenshot(path=str(ARTIFACTS / "jupyterlab-flow-diagram.png"))
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            # The form: a bad field gets its message beside it, then the file is valid again.
            page.get_by_role("tab", name="1. parameters").click()
            page.locator(".jupyter-widget-Collapse-header", has_text="app").first.click()
            uris = page.locator(".widget-text", has=page.get_by_text("redirect_uris", exact=True))
            uris.locator("input").fill("localhost:4000/callback")
            widget_button(page, "Validate").click()
            page.get_by_text("expected an absolute http(s) URL").first.wait_for()
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-parameter-form.png"))
            # back to empty, as the file has it: derived from the portal frontend (step 3 signs in there)
            uris.locator("input").fill("")
            widget_button(page, "Validate").click()
            page.get_by_text("valid: guide1-sandbox").wait_for()
            # tab 3 says who to sign in as and where the password is; it never shows it
            page.get_by_role("tab", name="3. sandbox pages").click()
            page.get_by_text(f"sign in as {sandbox['OKTALAB_TEST_USERNAME']}").wait_for()
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-sandbox-pages.png"))
            page.get_by_role("tab", name="4. run").click()
            widget_button(page, "Run all").click()
            page.get_by_text("all stages: all checks passed").wait_for(timeout=120_000)
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-start-notebook.png"), full_page=True)

            # 2. A secret typed into the credentials tab never reaches the saved notebook.
            page.get_by_role("tab", name="2. credentials").click()
            field = page.locator("input[type=password]").first
            field.fill(SENTINEL)
            widget_button(page, "Apply").click()
            page.get_by_text("applied: OKTA_API_TOKEN").wait_for()
            assert field.input_value() == ""
            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-credentials.png"))
            saved = notebook.read_text()
            assert "application/vnd.jupyter.widget-state+json" in saved  # state was saved
            for secret in (SENTINEL, sandbox["OKTA_API_TOKEN"], sandbox["OKTALAB_TEST_PASSWORD"]):
                assert secret not in saved

            # 3. The hosted sign-in page through jupyter-server-proxy; the code comes back.
            monkeypatch.setenv("OKTALAB_SANDBOX_DIR", lab["state"])
            ps = ui.validate(yaml.safe_load((ROOT / "parameters" / "sandbox.yaml").read_text()))[0]
            assert ps is not None
            run_dir = Path(lab["repo"]) / "runs" / "interactive" / ps.name
            url, verifier = ui.sign_in_url(ps, run_dir)
            assert url.startswith(public + "/oauth2/default/v1/authorize?")
            redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
            page.goto(url)
            assert page.url.startswith(f"{public}/login/login.htm"), page.url
            page.fill("#okta-signin-username", sandbox["OKTALAB_TEST_USERNAME"])
            page.fill("#okta-signin-password", sandbox["OKTALAB_TEST_PASSWORD"])
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-proxied-okta-sign-in.png"))
            # Nothing listens on the app's redirect URI: the request the browser makes is enough.
            with page.expect_request(lambda r: r.url.startswith(redirect + "?")) as landed:
                page.click("#okta-signin-submit")
            code = parse_qs(urlsplit(landed.value.url).query)["code"][0]

            # 4. Redeemed server-to-server on loopback: the token's issuer is the public one.
            state = json.loads((run_dir / "state.json").read_text())
            tokens = httpx.post(
                f"{loopback}/oauth2/default/v1/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect,
                    "client_id": state["app"]["client_id"],
                    "code_verifier": verifier,
                },
            )
            assert tokens.status_code == 200, tokens.text[:300]
            jwks = httpx.get(f"{loopback}/oauth2/default/v1/keys").json()
            claims = oidc.verify_token(
                tokens.json()["access_token"], jwks, issuer=f"{public}/oauth2/default"
            )
            assert claims["sub"] == sandbox["OKTALAB_TEST_USERNAME"]

        finally:
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-last.png"))
            browser.close()


def test_portal_and_gateway_through_the_proxy(lab: dict[str, str], tmp_path: Path) -> None:
    """Guide 2's sign-up, every page through jupyter-server-proxy; the sample routes too."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    sandbox = read_env(Path(lab["state"]) / "sandbox.env")
    okta_port = sandbox["OKTA_ORG_URL"].rsplit(":", 1)[1]
    gateway = f"{lab['base']}/proxy/{sandbox['OKTALAB_GATEWAY_URL'].rsplit(':', 1)[1]}"
    portal = ui.sandbox_links(lab["state"])["Gloo Portal (guide 2, via the proxy)"]
    assert portal == ui.portal_public_url(gateway)
    jupyter = {"Authorization": f"token {lab['token']}"}

    # Guide 1 (the sample routes) and guide 2 with the proxied portal's callback registered.
    params = yaml.safe_load((Path(lab["repo"]) / "parameters" / "sandbox-portal.yaml").read_text())
    params["portal"]["public_url"] = portal
    (tmp_path / "portal.yaml").write_text(yaml.safe_dump(params))
    env = {"OKTALAB_HOME": str(Path(lab["state"]).parent)}
    for args in (
        ["parameters/sandbox.yaml"],
        [str(tmp_path / "portal.yaml"), "--stages", "okta_app,claims,registration,portal"],
    ):
        out = tmp_path / f"out{len(args)}"
        proc = oktalab_cli(
            "run", *args, "--out", str(out), "--state-dir", lab["state"], env=env, timeout=300
        )
        rows = json.loads((out / "results.json").read_text())
        failed = [r for r in rows if r["status"] == "failed"]
        assert proc.returncode == 0 and not failed, (proc.stdout + proc.stderr)[-3000:]

    # The gateway's sample routes: the proxy strips its prefix, the route tables see /reviews.
    assert httpx.get(f"{gateway}/reviews", headers=jupyter).status_code == 200
    assert httpx.get(f"{gateway}/productpage", headers=jupyter).status_code == 403

    email = f"proxied-{uuid.uuid4().hex[:8]}@example.com"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_extra_http_headers(jupyter)  # Jupyter's auth, as a signed-in tab has
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            page.goto(portal + "/")
            page.get_by_role("link", name="Log in", exact=True).click()
            page.get_by_role("link", name="Log in with OpenID Connect").click()
            page.wait_for_url(f"{lab['base']}/proxy/{okta_port}/**")
            page.get_by_role("link", name="Sign up").click()
            page.fill("#signup-email", email)
            page.fill("#signup-firstName", "Proxied")
            page.fill("#signup-lastName", "User")
            page.fill("#signup-password", "Proxied-" + uuid.uuid4().hex[:10] + "!9")
            page.get_by_role("button", name="Sign up").click()
            page.wait_for_url(portal + "/")
            assert page.get_by_test_id("user-email").inner_text() == email
            page.screenshot(path=str(ARTIFACTS / "portal-through-proxy.png"))
            page.get_by_role("link", name="APIs", exact=True).click()
            page.get_by_text("Petstore Product").first.wait_for()  # the group grants it
            cookies = {c["name"]: c for c in context.cookies()}
            assert cookies["gloo-portal-session"]["path"] == urlsplit(portal).path
            assert cookies["sid"]["path"] == f"/proxy/{okta_port}"
        finally:
            page.screenshot(path=str(ARTIFACTS / "portal-through-proxy-last.png"))
            browser.close()


def test_sandbox_pages_tab_after_the_guides_ran(lab: dict[str, str], tmp_path: Path) -> None:
    """Guide 2 ran with its proxied portal.public_url: its entry is a link that answers.
    Guide 1 ran without one: its entry says to set it; done as it says, its frontend opened
    through the proxy signs the test user in (Okta's pages through the proxy too)."""
    from playwright.sync_api import sync_playwright

    state = Path(lab["state"])
    sandbox = read_env(state / "sandbox.env")
    pages = {p.title: p for p in ui.sandbox_pages(state)}
    portal = pages["guide 2's Gloo Portal default/petstore-portal"]
    assert portal.ready and portal.url in tab_links(ui.pages._links_html(state))
    assert through_jupyter(lab, portal.url) == 200
    frontend = pages["guide 1's portal frontend gloo-mesh/developer-portal"]
    assert not frontend.ready and frontend.note.startswith(
        f"its sign-in cannot come back here yet: set portal.public_url: {frontend.url} in "
        "parameters/sandbox.yaml"
    ), frontend.note

    params = yaml.safe_load((Path(lab["repo"]) / "parameters" / "sandbox.yaml").read_text())
    params["portal"]["public_url"] = frontend.url
    (tmp_path / "guide1.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "out"
    proc = oktalab_cli(
        "run",
        str(tmp_path / "guide1.yaml"),
        "--stages",
        "okta_app,claims,extauth,portal_groups",
        "--out",
        str(out),
        "--state-dir",
        lab["state"],
        env={"OKTALAB_HOME": str(state.parent)},
        timeout=300,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    pages = {p.title: p for p in ui.sandbox_pages(state)}
    frontend = pages["guide 1's portal frontend gloo-mesh/developer-portal"]
    assert frontend.ready, frontend.note
    okta = sandbox["OKTALAB_SANDBOX_PUBLIC_URL"]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            # signed in to Jupyter by its cookie, as a user's tab is (an Authorization header
            # of our own would replace the frontend's Bearer token on its portal API calls)
            page.goto(f"{lab['base']}/api/status?token={lab['token']}")
            page.goto(frontend.url)
            page.wait_for_url(lambda u: u.startswith(okta + "/"))
            page.fill("#okta-signin-username", sandbox["OKTALAB_TEST_USERNAME"])
            page.fill("#okta-signin-password", sandbox["OKTALAB_TEST_PASSWORD"])
            page.click("#okta-signin-submit")
            page.wait_for_selector("body[data-ready]")
            assert page.get_attribute("body", "data-ready") == "signed-in", page.inner_text(
                "#error"
            )
            assert page.url.startswith(frontend.url.rstrip("/"))
            assert page.inner_text("#user").strip() == sandbox["OKTALAB_TEST_USERNAME"]
            page.screenshot(path=str(ARTIFACTS / "guide1-frontend-through-proxy.png"))
        finally:
            browser.close()
