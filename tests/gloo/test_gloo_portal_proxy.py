"""The portal behind jupyter-server-proxy: addressed by path, every URL under the public prefix.

A small stand-in for the proxy forwards ``http://jupyter.test:8888/proxy/<port>/…`` to the
gateway on loopback with the prefix stripped, Jupyter's Host and the ``X-Forwarded-*``
headers jupyter-server-proxy adds; a cookie jar honours ``Path``. Direct requests are
checked to be exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from test_gloo_portal import PORTAL_HOST, Env, env, put_secret

__all__ = ["env"]  # the module-scoped gateway + IdP fixture, shared with test_gloo_portal

JUPYTER = "jupyter.test:8888"


@pytest.fixture
def proxied(env: Env) -> Iterator[ProxiedBrowser]:
    browser = ProxiedBrowser(env)
    env.idp.redirect_uris.append(browser.base + "/callback")
    put_secret(env.store, env.idp.client_secret)
    yield browser
    env.idp.redirect_uris.remove(browser.base + "/callback")


@dataclass
class ProxiedBrowser:
    env: Env
    cookies: list[tuple[str, str, str]] = field(default_factory=list)  # (name, value, path)
    set_cookie_headers: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"/proxy/{self.env.gateway_port}"

    @property
    def base(self) -> str:
        return f"http://{JUPYTER}{self.prefix}/portals/default/petstore-portal"

    def _send(self, url: str) -> httpx.Response:
        parts = urlsplit(url)
        headers: dict[str, str] = {}
        target = url
        if parts.netloc == JUPYTER:
            assert parts.path.startswith(self.prefix + "/"), url
            target = f"http://127.0.0.1:{self.env.gateway_port}{parts.path[len(self.prefix) :]}"
            target += f"?{parts.query}" if parts.query else ""
            headers = {
                "Host": JUPYTER,
                "X-Forwarded-Prefix": self.prefix,
                "X-Forwarded-Context": self.prefix,
                "X-ProxyContextPath": self.prefix,
            }
            jar = [(n, v) for n, v, p in self.cookies if parts.path.startswith(p)]
            if jar:
                headers["Cookie"] = "; ".join(f"{n}={v}" for n, v in jar)
        resp = httpx.get(target, headers=headers, timeout=10)
        if parts.netloc == JUPYTER:
            for raw in resp.headers.get_list("set-cookie"):
                self.set_cookie_headers.append(raw)
                name, _, rest = raw.partition("=")
                attrs = {
                    k.strip().lower(): v for k, _, v in (a.partition("=") for a in raw.split(";"))
                }
                path = attrs.get("path", "/")
                self.cookies = [c for c in self.cookies if (c[0], c[2]) != (name, path)]
                if attrs.get("max-age") != "0":
                    self.cookies.append((name, rest.split(";")[0].strip('"'), path))
        return resp

    def get(self, url: str) -> httpx.Response:
        for _ in range(10):
            resp = self._send(url)
            if resp.status_code in (301, 302, 303, 307) and "location" in resp.headers:
                url = urljoin(url, resp.headers["location"])
                continue
            return resp
        raise AssertionError("too many redirects")


def test_direct_requests_are_unchanged(env: Env) -> None:
    gw = f"http://127.0.0.1:{env.gateway_port}"
    home = httpx.get(gw + "/", headers={"Host": f"{PORTAL_HOST}:{env.gateway_port}"})
    assert 'href="/login"' in home.text and 'href="/apis"' in home.text
    login = httpx.get(gw + "/login/oidc", headers={"Host": f"{PORTAL_HOST}:{env.gateway_port}"})
    assert httpx.URL(login.headers["location"]).params["redirect_uri"] == (
        f"{env.portal_origin}/callback"
    )
    assert "path=/;" in login.headers["set-cookie"].lower()
    # Without the proxy's headers the portal path means nothing: the mesh gateway answers.
    direct = httpx.get(gw + "/portals/default/petstore-portal/", headers={"Host": JUPYTER})
    assert direct.status_code == 404 and direct.headers["server"] == "istio-envoy"


def test_proxied_links_redirects_and_cookies_carry_the_prefix(proxied: ProxiedBrowser) -> None:
    home = proxied.get(proxied.base + "/")
    assert home.status_code == 200 and "Petstore Portal" in home.text
    for path in ("/login", "/apis", "/"):
        assert f'href="{proxied.base}{path}"' in home.text
    assert 'href="/' not in home.text
    card = proxied.get(proxied.base + "/login")
    assert f'href="{proxied.base}/login/oidc"' in card.text
    start = proxied._send(proxied.base + "/login/oidc")
    assert start.status_code == 302
    q = httpx.URL(start.headers["location"]).params
    assert q["redirect_uri"] == proxied.base + "/callback"
    state_cookie = start.headers["set-cookie"].lower()
    assert f"path={urlsplit(proxied.base).path.lower()}" in state_cookie
    # A portal that does not exist, or a path outside /portals/, is the mesh gateway's.
    assert (
        proxied._send(f"http://{JUPYTER}{proxied.prefix}/portals/default/nope/").status_code == 404
    )


def test_proxied_login_lands_on_the_prefixed_portal(proxied: ProxiedBrowser) -> None:
    page = proxied.get(proxied.base + "/login/oidc")
    assert page.status_code == 200, page.text
    assert "new.user@example.com" in page.text
    assert f'href="{proxied.base}/logout"' in page.text
    session = next(c for c in proxied.set_cookie_headers if c.startswith("gloo-portal-session="))
    assert f"Path={urlsplit(proxied.base).path}" in session
    apis = proxied.get(proxied.base + "/apis")
    assert f'href="{proxied.base}/apis/default/petstore-product"' in apis.text
    out = proxied.get(proxied.base + "/logout")
    assert ">Log in</a>" in out.text and "new.user@example.com" not in out.text
