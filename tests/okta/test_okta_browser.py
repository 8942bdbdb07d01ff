"""Chromium (Playwright) on the hosted sign-in page, and self-service sign-up when SSR is mapped."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from okta_support import REDIRECT, Sandbox, create_spa, create_web

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) or shutil.which("chromium")), reason="chromium not installed"
    ),
]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _authorize(sandbox: Sandbox, client_id: str) -> str:
    params = {
        "client_id": client_id,
        "response_type": "code",
        "scope": "openid profile email",
        "redirect_uri": REDIRECT,
        "state": "browser-state",
        "nonce": "n",
    }
    return str(httpx.URL(f"{sandbox.url}/oauth2/default/v1/authorize", params=params))


def _capture_redirect(page: Any) -> dict[str, str]:
    """Record the query of the first request to the redirect URI (nothing listens there)."""
    captured: dict[str, str] = {}

    def on_request(request: Any) -> None:
        if request.url.startswith(REDIRECT) and not captured:
            captured.update({k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()})

    page.on("request", on_request)
    page.route(
        REDIRECT + "*",
        lambda route: route.fulfill(status=200, body="done", content_type="text/plain"),
    )
    return captured


def _goto(page: Any, url: str) -> None:
    """Navigate; a redirect to the (unserved) redirect URI may abort the navigation."""
    try:
        page.goto(url)
    except Exception as exc:
        if "ERR_NAME_NOT_RESOLVED" not in str(exc):
            raise


def test_hosted_sign_in(sandbox: Sandbox, browser: Any) -> None:
    with sandbox.client() as api:
        web = create_web(api, "Browser Web")
    context = browser.new_context()
    page = context.new_page()
    captured = _capture_redirect(page)
    page.goto(_authorize(sandbox, web["id"]))
    assert page.get_by_role("heading", name="Sign In").is_visible()
    assert page.get_by_role("link", name="Sign up").count() == 0
    page.get_by_label("Username").fill(sandbox.username)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign In").click()
    assert page.get_by_role("alert").inner_text() == "Unable to sign in"
    page.get_by_label("Password").fill(sandbox.password)
    with page.expect_request(lambda r: r.url.startswith(REDIRECT)):
        page.get_by_role("button", name="Sign In").click()
    assert captured["state"] == "browser-state" and captured["code"]
    cookie = next(c for c in context.cookies() if c["name"] == "sid")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    # the session now satisfies prompt=none
    captured.clear()
    _goto(page, _authorize(sandbox, web["id"]) + "&prompt=none")
    assert captured.get("code") and captured["state"] == "browser-state"
    context.close()


def test_self_service_sign_up(sandbox: Sandbox, browser: Any) -> None:
    with sandbox.client() as api:
        spa = create_spa(api, "Petstore SSR SPA", assign=False)
        group = api.post("/api/v1/groups", json={"profile": {"name": "PetstoreUsers"}}).json()
        api.put(f"/api/v1/apps/{spa['id']}/groups/{group['id']}", json={})
        policy = api.post(
            "/api/v1/policies",
            json={"type": "PROFILE_ENROLLMENT", "name": "Petstore SSR", "status": "ACTIVE"},
        ).json()
        rule = api.get(f"/api/v1/policies/{policy['id']}/rules").json()[0]
        rule["actions"]["profileEnrollment"].update(
            {
                "unknownUserAction": "REGISTER",
                "targetGroupIds": [group["id"]],
                "activationRequirements": {"emailVerification": False},
            }
        )
        r = api.put(f"/api/v1/policies/{policy['id']}/rules/{rule['id']}", json=rule)
        assert r.status_code == 200, r.text
        assert api.put(f"/api/v1/apps/{spa['id']}/policies/{policy['id']}").status_code == 204

    context = browser.new_context()
    page = context.new_page()
    captured = _capture_redirect(page)
    verifier = "s" * 50
    import base64
    import hashlib

    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )
    page.goto(
        _authorize(sandbox, spa["id"]) + f"&code_challenge={challenge}&code_challenge_method=S256"
    )
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Email").fill("new.pet.owner@example.com")
    page.get_by_label("First name").fill("New")
    page.get_by_label("Last name").fill("Owner")
    page.get_by_label("Password").fill("Petst0re-Owner!")
    with page.expect_request(lambda r: r.url.startswith(REDIRECT)):
        page.get_by_role("button", name="Sign up").click()
    assert captured.get("code")
    context.close()

    token = httpx.post(
        f"{sandbox.url}/oauth2/default/v1/token",
        data={
            "grant_type": "authorization_code",
            "code": captured["code"],
            "redirect_uri": REDIRECT,
            "client_id": spa["id"],
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    with sandbox.client() as api:
        user = api.get("/api/v1/users/new.pet.owner@example.com").json()
        assert (
            user["status"] == "ACTIVE" and user["profile"]["email"] == "new.pet.owner@example.com"
        )
        names = {g["profile"]["name"] for g in api.get(f"/api/v1/users/{user['id']}/groups").json()}
        assert names == {"Everyone", "PetstoreUsers"}
