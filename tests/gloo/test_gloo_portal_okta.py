"""Guide 2 end to end against the sandbox Okta org: Okta app + group + groups claim, portal login.

The user signs in on the Okta-hosted page (a plain form post, as the sign-in widget does),
Okta redirects back to the portal's /callback, the portal exchanges the code with the
client secret from the Kubernetes Secret and shows the user's email and the petstore API.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from gloo_helpers import PORTAL, apply, bound_socket, serve_in_thread
from gloo_portal_manifests import api_doc, api_product, environment, group, portal

from oktalab.sandbox.gloo import GlooControllers, create_gateway_app, seed_cluster
from oktalab.sandbox.kube.store import ObjectStore
from oktalab.sandbox.store import Database

okta = pytest.importorskip("oktalab.sandbox.okta")
PORTAL_HOST = "petstore.example.com"
USERNAME = "pet.lover@example.com"
PASSWORD = "Pet-Lover-2024!"


@dataclass
class World:
    store: ObjectStore
    gateway_port: int
    org_url: str
    client_id: str
    client_secret: str
    api_token: str
    app_id: str

    @property
    def portal_origin(self) -> str:
        return f"http://{PORTAL_HOST}:{self.gateway_port}"


@dataclass
class Browser:
    """Redirect-following client that reaches the portal by Host header and keeps cookies per host."""

    cookies: dict[str, dict[str, str]] = field(default_factory=dict)

    def request(self, method: str, url: str, data: dict[str, str] | None = None) -> httpx.Response:
        for _ in range(12):
            parts = urlsplit(url)
            headers: dict[str, str] = {}
            target = url
            if parts.hostname == PORTAL_HOST:
                target = url.replace(
                    f"{parts.scheme}://{parts.netloc}", f"http://127.0.0.1:{parts.port}", 1
                )
                headers["Host"] = parts.netloc
            jar = self.cookies.setdefault(parts.hostname or "", {})
            if jar:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
            resp = httpx.request(method, target, headers=headers, data=data, timeout=15)
            for raw in resp.headers.get_list("set-cookie"):
                name, _, rest = raw.partition("=")
                if "max-age=0" in raw.lower():
                    jar.pop(name, None)
                else:
                    jar[name] = rest.split(";")[0].strip('"')
            if resp.status_code in (301, 302, 303) and "location" in resp.headers:
                url, method, data = urljoin(url, resp.headers["location"]), "GET", None
                continue
            resp.extensions["final_url"] = url
            return resp
        raise AssertionError("too many redirects")


def _okta(client: httpx.Client, method: str, path: str, json: object | None = None) -> dict:
    resp = client.request(method, path, json=json)
    assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else {}


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    db = Database()
    okta_sock = bound_socket()
    org_url = f"http://127.0.0.1:{okta_sock.getsockname()[1]}"
    org = okta.OktaOrg(db, org_url=org_url)
    api_token = "00" + secrets.token_urlsafe(30)
    org.seed(
        api_token=api_token,
        test_username="oktalab.tester@example.com",
        test_password="Okt-Test-Pass-1!",
    )
    okta_server, okta_thread, _ = serve_in_thread(okta.create_okta_app(org), okta_sock)
    store = ObjectStore(db)
    seed_cluster(store)
    ctl = GlooControllers(store)
    ctl.start()
    gw_server, gw_thread, gw_port = serve_in_thread(create_gateway_app(store))
    redirect_uri = f"http://{PORTAL_HOST}:{gw_port}/callback"
    with httpx.Client(
        base_url=org_url, headers={"Authorization": f"SSWS {api_token}"}, timeout=15
    ) as c:
        grp = _okta(
            c,
            "POST",
            "/api/v1/groups",
            {"profile": {"name": "PetstoreUsers", "description": "Petstore API users"}},
        )
        user = _okta(
            c,
            "POST",
            "/api/v1/users?activate=true",
            {
                "profile": {
                    "firstName": "Pet",
                    "lastName": "Lover",
                    "email": USERNAME,
                    "login": USERNAME,
                },
                "credentials": {"password": {"value": PASSWORD}},
                "groupIds": [grp["id"]],
            },
        )
        assert user["status"] == "ACTIVE"
        app = _okta(
            c,
            "POST",
            "/api/v1/apps",
            {
                "name": "oidc_client",
                "label": "Petstore",
                "signOnMode": "OPENID_CONNECT",
                "credentials": {
                    "oauthClient": {"token_endpoint_auth_method": "client_secret_basic"}
                },
                "settings": {
                    "oauthClient": {
                        "redirect_uris": [redirect_uri],
                        "response_types": ["code"],
                        "grant_types": ["authorization_code"],
                        "application_type": "web",
                    }
                },
            },
        )
        _okta(c, "PUT", f"/api/v1/apps/{app['id']}/groups/{grp['id']}", {})
        _okta(
            c,
            "POST",
            "/api/v1/authorizationServers/default/scopes",
            {"name": "groups", "description": "groups"},
        )
        _okta(
            c,
            "POST",
            "/api/v1/authorizationServers/default/claims",
            {
                "name": "groups",
                "status": "ACTIVE",
                "claimType": "IDENTITY",
                "valueType": "GROUPS",
                "group_filter_type": "STARTS_WITH",
                "value": "Petstore",
                "alwaysIncludeInToken": True,
                "conditions": {"scopes": []},
            },
        )
    oauth = app["credentials"]["oauthClient"]
    product = api_product()
    product["metadata"]["labels"] = {"app": "petstore"}
    apply(store, PORTAL, "apidocs", api_doc())
    apply(store, PORTAL, "apiproducts", product)
    apply(store, PORTAL, "environments", environment())
    apply(
        store,
        PORTAL,
        "portals",
        portal(issuer=f"{org_url}/oauth2/default", client_id=oauth["client_id"]),
    )
    apply(store, PORTAL, "groups", group())
    store.create(
        "",
        "secrets",
        "default",
        "petstore-portaloidc-secret",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "petstore-portaloidc-secret", "namespace": "default"},
            "data": {"client_secret": base64.b64encode(oauth["client_secret"].encode()).decode()},
        },
    )
    yield World(
        store, gw_port, org_url, oauth["client_id"], oauth["client_secret"], api_token, app["id"]
    )
    for server, thread in ((gw_server, gw_thread), (okta_server, okta_thread)):
        server.should_exit = True
        thread.join(timeout=10)
    ctl.stop()


def test_portal_login_with_okta(world: World) -> None:
    assert (
        world.store.get(PORTAL, "portals", "default", "petstore-portal")["status"]["state"]
        == "Succeeded"
    )
    b = Browser()
    card = b.request("GET", world.portal_origin + "/login")
    assert "Log in with OpenID Connect" in card.text
    signin = b.request("GET", world.portal_origin + "/login/oidc")
    assert signin.status_code == 200, signin.text
    assert urlsplit(signin.extensions["final_url"]).netloc == urlsplit(world.org_url).netloc
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', signin.text).group(1))
    hidden = dict(
        (unescape(n), unescape(v))
        for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', signin.text)
    )
    home = b.request(
        "POST",
        urljoin(world.org_url, action),
        {**hidden, "username": USERNAME, "password": PASSWORD},
    )
    assert home.status_code == 200, home.text
    assert urlsplit(home.extensions["final_url"]).hostname == PORTAL_HOST
    assert USERNAME in home.text and 'data-testid="user-email"' in home.text
    apis = b.request("GET", world.portal_origin + "/apis")
    assert 'data-product="petstore-product"' in apis.text


def _sign_in(world: World, username: str, password: str) -> httpx.Response:
    b = Browser()
    signin = b.request("GET", world.portal_origin + "/login/oidc")
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', signin.text).group(1))
    hidden = dict(
        (unescape(n), unescape(v))
        for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', signin.text)
    )
    page = b.request(
        "POST",
        urljoin(world.org_url, action),
        {**hidden, "username": username, "password": password},
    )
    assert urlsplit(page.extensions["final_url"]).hostname == PORTAL_HOST
    page.extensions["browser"] = b
    return page


def test_okta_user_outside_group(world: World) -> None:
    """The seeded test user is only in Everyone."""
    # not assigned to the Petstore app: Okta answers access_denied, the portal shows it
    page = _sign_in(world, "oktalab.tester@example.com", "Okt-Test-Pass-1!")
    assert "Login failed" in page.text and "access_denied" in page.text, page.text
    # assigned through Everyone: signed in, but the groups claim has no Petstore* group
    with httpx.Client(
        base_url=world.org_url, headers={"Authorization": f"SSWS {world.api_token}"}
    ) as c:
        everyone = next(
            g
            for g in _okta_list(c, "/api/v1/groups?q=Everyone")
            if g["profile"]["name"] == "Everyone"
        )
        _okta(c, "PUT", f"/api/v1/apps/{world.app_id}/groups/{everyone['id']}", {})
    page = _sign_in(world, "oktalab.tester@example.com", "Okt-Test-Pass-1!")
    assert "oktalab.tester@example.com" in page.text
    apis = page.extensions["browser"].request("GET", world.portal_origin + "/apis")
    assert 'id="no-apis"' in apis.text and "petstore-product" not in apis.text


def _okta_list(client: httpx.Client, path: str) -> list[dict]:
    resp = client.get(path)
    assert resp.status_code == 200, resp.text
    return resp.json()


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.browser
def test_self_service_registration_in_browser(world: World) -> None:
    """The guide's test: Log in -> Log in with OpenID Connect -> Okta 'Sign up' -> back, signed in."""
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with httpx.Client(
        base_url=world.org_url, headers={"Authorization": f"SSWS {world.api_token}"}
    ) as c:
        petstore_group = next(g for g in _okta_list(c, "/api/v1/groups?q=PetstoreUsers"))
        policy = _okta(
            c,
            "POST",
            "/api/v1/policies",
            {"type": "PROFILE_ENROLLMENT", "name": "Petstore SSR", "status": "ACTIVE"},
        )
        rule = _okta_list(c, f"/api/v1/policies/{policy['id']}/rules")[0]
        rule["actions"]["profileEnrollment"].update(
            {
                "access": "ALLOW",
                "unknownUserAction": "REGISTER",
                "targetGroupIds": [petstore_group["id"]],
                "activationRequirements": {"emailVerification": False},
            }
        )
        _okta(c, "PUT", f"/api/v1/policies/{policy['id']}/rules/{rule['id']}", rule)
        _okta(c, "PUT", f"/api/v1/apps/{world.app_id}/policies/{policy['id']}", {})
    email = f"new.{secrets.token_hex(3)}@example.com"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=[f"--host-resolver-rules=MAP {PORTAL_HOST} 127.0.0.1"]
        )
        try:
            page = browser.new_context().new_page()
            page.goto(world.portal_origin + "/")
            page.get_by_role("link", name="Log in", exact=True).click()
            page.get_by_text("Log in to the Portal").wait_for()
            page.get_by_role("link", name="Log in with OpenID Connect").click()
            page.get_by_role("link", name="Sign up").click()
            page.fill("#signup-email", email)
            page.fill("#signup-firstName", "New")
            page.fill("#signup-lastName", "User")
            page.fill("#signup-password", "Brand-New-Pass-42!")
            page.get_by_role("button", name="Sign up").click()
            page.wait_for_url(f"{world.portal_origin}/")
            assert page.get_by_test_id("user-email").inner_text().strip() == email
            page.get_by_role("link", name="APIs", exact=True).click()
            assert page.locator('[data-product="petstore-product"]').count() == 1
            page.get_by_role("link", name="Logout").click()
            page.get_by_role("link", name="Log in", exact=True).wait_for()
        finally:
            browser.close()
