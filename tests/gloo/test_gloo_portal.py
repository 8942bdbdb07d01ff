"""Guide 2 over real HTTP: the petstore API per Environment and the portal's OIDC login."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from gloo_helpers import PORTAL, apply, serve_in_thread
from gloo_idp import IdP
from gloo_portal_manifests import api_doc, api_product, environment, group, portal

from oktalab.sandbox.gloo import GlooControllers, create_gateway_app, seed_cluster
from oktalab.sandbox.kube.store import ObjectStore
from oktalab.sandbox.store import Database

PORTAL_HOST = "petstore.example.com"


@dataclass
class Env:
    store: ObjectStore
    gateway_port: int
    idp: IdP

    @property
    def portal_origin(self) -> str:
        return f"http://{PORTAL_HOST}:{self.gateway_port}"


def secret(value: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "petstore-portaloidc-secret", "namespace": "default"},
        "type": "Opaque",
        "data": {"client_secret": base64.b64encode(value.encode()).decode()},
    }


def put_secret(store: ObjectStore, value: str) -> None:
    if store.get("", "secrets", "default", "petstore-portaloidc-secret"):
        store.delete("", "secrets", "default", "petstore-portaloidc-secret")
    store.create("", "secrets", "default", "petstore-portaloidc-secret", secret(value))


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    db = Database()
    store = ObjectStore(db)
    seed_cluster(store)
    ctl = GlooControllers(store)
    ctl.start()
    gw_server, gw_thread, gw_port = serve_in_thread(create_gateway_app(store))
    idp = IdP()
    idp_server, idp_thread, idp_port = serve_in_thread(idp.app())
    idp.issuer = f"http://127.0.0.1:{idp_port}/oauth2/default"
    idp.redirect_uris = [f"http://{PORTAL_HOST}:{gw_port}/callback"]
    product = api_product()
    product["metadata"]["labels"] = {"app": "petstore"}
    apply(store, PORTAL, "apidocs", api_doc())
    apply(store, PORTAL, "apiproducts", product)
    apply(store, PORTAL, "environments", environment())
    p = portal(issuer=idp.issuer, client_id=idp.client_id)
    apply(store, PORTAL, "portals", p)
    apply(store, PORTAL, "groups", group())
    put_secret(store, idp.client_secret)
    yield Env(store, gw_port, idp)
    for server, thread in ((gw_server, gw_thread), (idp_server, idp_thread)):
        server.should_exit = True
        thread.join(timeout=10)
    ctl.stop()


@dataclass
class Browser:
    """Follows redirects across the portal (reached via Host header) and the IdP, keeping cookies."""

    env: Env
    cookies: dict[str, dict[str, str]] = field(default_factory=dict)
    set_cookie_headers: list[str] = field(default_factory=list)

    def get(self, url: str, *, max_hops: int = 10) -> httpx.Response:
        for _ in range(max_hops):
            parts = urlsplit(url)
            host = parts.netloc
            target = url
            headers: dict[str, str] = {}
            if parts.hostname == PORTAL_HOST:
                target = url.replace(
                    f"{parts.scheme}://{host}", f"http://127.0.0.1:{parts.port}", 1
                )
                headers["Host"] = host
            jar = self.cookies.setdefault(parts.hostname or "", {})
            if jar:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
            resp = httpx.get(target, headers=headers, timeout=10)
            for raw in resp.headers.get_list("set-cookie"):
                self.set_cookie_headers.append(raw)
                name, _, rest = raw.partition("=")
                value = rest.split(";")[0]
                if "max-age=0" in raw.lower() or "expires=thu, 01 jan 1970" in raw.lower():
                    jar.pop(name, None)
                else:
                    jar[name] = value.strip('"')
            if resp.status_code in (301, 302, 303, 307) and "location" in resp.headers:
                url = urljoin(url, resp.headers["location"])
                continue
            return resp
        raise AssertionError("too many redirects")


def test_environment_serves_petstore(env: Env) -> None:
    base = f"http://127.0.0.1:{env.gateway_port}"
    r = httpx.get(f"{base}/api/pets", headers={"Host": f"api.example.com:{env.gateway_port}"})
    assert r.status_code == 200
    assert r.json() == [
        {"id": 1, "name": "Dog", "status": "available"},
        {"id": 2, "name": "Cat", "status": "pending"},
    ]
    assert (
        httpx.get(f"{base}/api/pets/2", headers={"Host": "api.example.com"}).json()["name"] == "Cat"
    )
    assert httpx.get(f"{base}/api/pets", headers={"Host": "unknown.example.com"}).status_code == 404


def test_home_and_login_card(env: Env) -> None:
    b = Browser(env)
    home = b.get(env.portal_origin + "/")
    assert home.status_code == 200 and "Petstore Portal" in home.text and ">Log in</a>" in home.text
    card = b.get(env.portal_origin + "/login")
    assert "Log in to the Portal" in card.text
    assert "Log in with OpenID Connect" in card.text and "Log in using credentials" in card.text
    apis = b.get(env.portal_origin + "/apis")
    assert "Log in to see the APIs" in apis.text


def test_oidc_login_logout(env: Env) -> None:
    put_secret(env.store, env.idp.client_secret)
    b = Browser(env)
    page = b.get(env.portal_origin + "/login/oidc")
    assert page.status_code == 200, page.text
    assert 'data-testid="user-email"' in page.text and "new.user@example.com" in page.text
    cookie = next(c for c in b.set_cookie_headers if c.startswith("gloo-portal-session="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    apis = b.get(env.portal_origin + "/apis")
    assert 'data-product="petstore-product"' in apis.text and "Petstore Product" in apis.text
    detail = b.get(env.portal_origin + "/apis/default/petstore-product")
    assert detail.status_code == 200 and "/api/pets" in detail.text
    out = b.get(env.portal_origin + "/logout")
    assert ">Log in</a>" in out.text and "new.user@example.com" not in out.text
    assert "Log in to see the APIs" in b.get(env.portal_origin + "/apis").text


def test_scopes_and_pkce_sent(env: Env) -> None:
    resp = httpx.get(
        f"http://127.0.0.1:{env.gateway_port}/login/oidc",
        headers={"Host": f"{PORTAL_HOST}:{env.gateway_port}"},
    )
    assert resp.status_code == 302
    q = httpx.URL(resp.headers["location"]).params
    assert q["scope"] == "openid profile email groups"
    assert q["redirect_uri"] == f"{env.portal_origin}/callback"
    assert q["code_challenge_method"] == "S256" and q["state"] and q["nonce"]
    assert q["client_id"] == env.idp.client_id


def test_user_without_group_sees_no_products(env: Env) -> None:
    put_secret(env.store, env.idp.client_secret)
    env.idp.user = {"sub": "00u2", "email": "outsider@example.com", "groups": ["Everyone"]}
    try:
        b = Browser(env)
        home = b.get(env.portal_origin + "/login/oidc")
        assert "outsider@example.com" in home.text
        apis = b.get(env.portal_origin + "/apis")
        assert 'id="no-apis"' in apis.text and "petstore-product" not in apis.text
    finally:
        env.idp.user = {"sub": "00u1", "email": "new.user@example.com", "groups": ["PetstoreUsers"]}


def test_secret_with_trailing_newline_is_used_as_is(env: Env) -> None:
    """`echo $CLIENT_SECRET | base64` stores a newline; the portal sends it, the IdP refuses."""
    put_secret(env.store, env.idp.client_secret + "\n")
    try:
        b = Browser(env)
        page = b.get(env.portal_origin + "/login/oidc")
        assert page.status_code == 401 and "invalid_client" in page.text
        assert env.idp.token_requests[-1]["secret_len"] == len(env.idp.client_secret) + 1
    finally:
        put_secret(env.store, env.idp.client_secret)


def test_state_is_checked(env: Env) -> None:
    b = Browser(env)
    page = b.get(env.portal_origin + "/callback?code=abc&state=forged")
    assert page.status_code == 400 and "login state" in page.text
    denied = b.get(
        env.portal_origin + "/callback?error=access_denied&error_description=User+not+assigned"
    )
    assert "access_denied" in denied.text


def test_environment_base_path(env: Env) -> None:
    base = f"http://127.0.0.1:{env.gateway_port}"
    current = env.store.get(PORTAL, "environments", "default", "dev")
    changed = dict(current, spec=dict(current["spec"], basePath="/ecommerce/{%version%}"))
    apply(env.store, PORTAL, "environments", changed)
    try:
        host = {"Host": "api.example.com"}
        assert httpx.get(f"{base}/ecommerce/v1/api/pets", headers=host).status_code == 200
        assert httpx.get(f"{base}/api/pets", headers=host).status_code == 404
    finally:
        apply(env.store, PORTAL, "environments", current)
    assert httpx.get(f"{base}/api/pets", headers={"Host": "api.example.com"}).status_code == 200
