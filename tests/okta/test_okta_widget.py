"""Okta's Sign-In Widget (npm ``@okta/okta-signin-widget``) on the sandbox's hosted page, driven
in Chromium by oktalab's own browser driver (``oktalab.web.BrowserDriver``, used by the portal
stage): sign-in and sign-up complete through the widget's IDX calls, as on a real org.

Needs Chromium, Playwright and ``npm ci`` in ``tests/js``; skips otherwise.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from okta_support import Sandbox
from test_okta_idx import create_idx_spa, enrollment_policy

from oktalab import oidc
from oktalab.web import BrowserDriver, browser_available, complete_steps, field_value

NODE_MODULES = Path(__file__).resolve().parent.parent / "js" / "node_modules"
WIDGET = NODE_MODULES / "@okta" / "okta-signin-widget" / "dist" / "js" / "okta-sign-in.min.js"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not browser_available(), reason="Chromium or Playwright missing"),
    pytest.mark.skipif(not WIDGET.is_file(), reason="run `npm ci` in tests/js for the widget"),
]


@pytest.fixture
def widget(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OKTALAB_SANDBOX_WIDGET_DIR", str(NODE_MODULES))
    yield


@pytest.fixture
def driver() -> Iterator[BrowserDriver]:
    d = BrowserDriver()
    try:
        yield d
    finally:
        d.close()


def web_app(sandbox: Sandbox, api: httpx.Client, label: str) -> tuple[dict, str]:
    """A browser app whose redirect URI is on the sandbox itself (any page will do)."""
    redirect = f"{sandbox.url}/app/callback"
    return create_idx_spa(api, label, grants=["authorization_code"], redirect=redirect), redirect


def sign_in_through_widget(
    sandbox: Sandbox,
    driver: BrowserDriver,
    app: dict,
    redirect: str,
    *,
    sign_up: dict | None,
    username: str,
    password: str,
) -> dict:
    verifier, challenge = oidc.pkce_pair()
    params = {
        "client_id": app["id"],
        "response_type": "code",
        "scope": "openid profile email",
        "redirect_uri": redirect,
        "state": "widget-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    driver.goto(f"{sandbox.url}/oauth2/default/v1/authorize?{urlencode(params)}")
    driver.page.wait_for_selector("#okta-sign-in-widget form")
    assert driver.page.locator("script[src*='okta-signin-widget']").count() == 1
    profile = sign_up or {"email": username}
    if sign_up is not None:
        driver.click("Sign up")
    steps = complete_steps(
        driver, field_value(profile, password), lambda: driver.url.startswith(redirect)
    )
    assert driver.url.startswith(redirect), (steps, driver.url, driver.text)
    query = parse_qs(urlsplit(driver.url).query)
    assert query["state"] == ["widget-state"]
    r = httpx.post(
        f"{sandbox.url}/oauth2/default/v1/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect,
            "code_verifier": verifier,
            "client_id": app["id"],
        },
    )
    assert r.status_code == 200, r.text
    return oidc.decode_unverified(r.json()["id_token"])


def test_widget_sign_in(
    sandbox: Sandbox, api: httpx.Client, widget: None, driver: BrowserDriver
) -> None:
    app, redirect = web_app(sandbox, api, "Widget sign-in")
    claims = sign_in_through_widget(
        sandbox,
        driver,
        app,
        redirect,
        sign_up=None,
        username=sandbox.username,
        password=sandbox.password,
    )
    assert claims["preferred_username"] == sandbox.username


def test_widget_sign_up_into_the_self_service_group(
    sandbox: Sandbox, api: httpx.Client, widget: None, driver: BrowserDriver
) -> None:
    app, redirect = web_app(sandbox, api, "Widget sign-up")
    group = api.post(
        "/api/v1/groups", json={"profile": {"name": f"Widget signups {secrets.token_hex(3)}"}}
    ).json()
    enrollment_policy(api, app["id"], group["id"], password_first=False)
    email = f"widget-{secrets.token_hex(3)}@example.com"
    claims = sign_in_through_widget(
        sandbox,
        driver,
        app,
        redirect,
        sign_up={"email": email, "firstName": "Wid", "lastName": "Get"},
        username=email,
        password="Widget-Passw0rd-7",
    )
    assert claims["preferred_username"] == email
    user = api.get(f"/api/v1/users/{email}").json()
    assert user["status"] == "ACTIVE"
    assert user["id"] in {u["id"] for u in api.get(f"/api/v1/groups/{group['id']}/users").json()}


def test_without_the_widget_the_hosted_page_is_a_form(
    sandbox: Sandbox, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OKTALAB_SANDBOX_WIDGET_DIR", raising=False)
    app, redirect = web_app(sandbox, api, "No widget")
    page = httpx.get(
        f"{sandbox.url}/login/login.htm",
        params={"fromURI": f"/oauth2/default/v1/authorize?client_id={app['id']}"},
    )
    assert page.status_code == 200 and 'id="okta-signin-username"' in page.text
    assert "okta-sign-in.min.js" not in page.text
