"""Trusted Origins and CORS (issue 18 item 10): the org answers a browser's cross-origin calls to
its OAuth endpoints only for trusted origins with the CORS scope; oktalab's preflight check and
Chromium's own CORS enforcement agree."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from okta_support import Sandbox, ServerThread
from starlette.responses import HTMLResponse

from oktalab.okta import OktaClient
from oktalab.settings import Secret
from oktalab.stages.trusted_origins import origin_of, preflight

ORIGIN = "http://spa.localhost:5173"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def okta(sandbox: Sandbox) -> Iterator[OktaClient]:
    with OktaClient(sandbox.url, Secret(sandbox.token)) as client:
        yield client


@pytest.fixture
def trusted(okta: OktaClient) -> Iterator[dict[str, Any]]:
    made = okta.create_trusted_origin(
        {"name": "spa under test", "origin": ORIGIN, "scopes": [{"type": "CORS"}]}
    )
    yield made
    okta.delete_trusted_origin(made["id"])


def test_origin_of() -> None:
    assert origin_of("http://portal.localhost:8080/callback?x=1") == "http://portal.localhost:8080"
    assert origin_of("https://Portal.example.com:443/cb") == "https://portal.example.com"


def test_preflight_refused_until_trusted(sandbox: Sandbox, okta: OktaClient) -> None:
    token = f"{sandbox.url}/oauth2/default/v1/token"
    ok, detail = preflight(token, ORIGIN)
    assert not ok and "without Access-Control-Allow-Origin" in detail
    made = okta.create_trusted_origin(
        {"name": "redirect only", "origin": ORIGIN, "scopes": [{"type": "REDIRECT"}]}
    )
    try:
        assert not preflight(token, ORIGIN)[0]  # REDIRECT alone grants no CORS
        okta.replace_trusted_origin(
            made["id"],
            {"name": "redirect only", "origin": ORIGIN, "scopes": [{"type": "CORS"}]},
        )
        ok, detail = preflight(token, ORIGIN)
        assert ok, detail
        assert not preflight(token, "http://other.localhost:5173")[0]
        keys = httpx.get(f"{sandbox.url}/oauth2/default/v1/keys", headers={"Origin": ORIGIN})
        assert keys.headers["access-control-allow-origin"] == ORIGIN
    finally:
        okta.delete_trusted_origin(made["id"])
    assert not preflight(token, ORIGIN)[0]
    keys = httpx.get(f"{sandbox.url}/oauth2/default/v1/keys", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in keys.headers


@pytest.fixture(scope="module")
def spa_origin() -> Iterator[str]:
    """A page server on loopback: ``http://spa.localhost:<port>`` (Chromium resolves
    ``*.localhost`` to loopback, so its local-network rules see no address-space change)."""

    async def page(scope: Any, receive: Any, send: Any) -> None:
        await HTMLResponse("<html><body>spa</body></html>")(scope, receive, send)

    server = ServerThread(page)
    server.start()
    yield f"http://spa.localhost:{server.port}"
    server.stop()


def _browser_fetch(sandbox: Sandbox, origin: str) -> dict[str, Any]:
    """Chromium on a page of ``origin`` POSTs a form to the token endpoint, as a SPA does."""
    sync_api = pytest.importorskip("playwright.sync_api")
    token = f"{sandbox.url}/oauth2/default/v1/token"
    script = f"""async () => {{
      try {{
        const r = await fetch({json.dumps(token)}, {{method: "POST",
          headers: {{"Content-Type": "application/x-www-form-urlencoded", Accept: "application/json"}},
          body: "grant_type=authorization_code&client_id=nope&code=nope&code_verifier=x&redirect_uri=x"}});
        return {{status: r.status, body: await r.json()}};
      }} catch (e) {{ return {{error: String(e)}}; }}
    }}"""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{origin}/")  # the SPA's own origin; the org is a different one
            result: dict[str, Any] = page.evaluate(script)
            return result
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) or shutil.which("chromium")), reason="chromium not installed"
)
def test_chromium_token_request_needs_a_trusted_origin(
    sandbox: Sandbox, okta: OktaClient, spa_origin: str
) -> None:
    blocked = _browser_fetch(sandbox, spa_origin)
    assert blocked.get("error", "").startswith("TypeError: Failed to fetch"), blocked
    made = okta.create_trusted_origin(
        {"name": "spa", "origin": spa_origin, "scopes": [{"type": "CORS"}, {"type": "REDIRECT"}]}
    )
    try:
        answered = _browser_fetch(sandbox, spa_origin)
    finally:
        okta.delete_trusted_origin(made["id"])
    # through CORS the page reads the org's OAuth error: the request itself reached the org
    assert answered.get("status") == 401 or answered.get("status") == 400, answered
    assert answered["body"]["error"] in ("invalid_client", "invalid_grant"), answered
