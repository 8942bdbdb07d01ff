"""The Gloo Portal 1.x web app: home page, OIDC login against ``Portal.spec.oidcAuth``, APIs.

The login is a standard authorization-code flow run by the portal server (a confidential
client): discovery at ``<issuer>/.well-known/openid-configuration``, ``state`` + ``nonce`` +
PKCE (S256), token exchange with client_secret_basic using the Kubernetes Secret's value
exactly as stored (``echo $CLIENT_SECRET | base64`` keeps a trailing newline, and so do we),
ID token checked (signature via the IdP's JWKS, ``iss``, ``aud``, ``nonce``, ``exp``). The
groups come from the claim named ``groupClaimKey`` and are matched to portal Groups'
``oidcGroup`` names to decide which API products the user sees.

Sessions live in memory (a restart signs everybody out, as a portal pod restart would with
in-memory sessions); the cookie is HttpOnly, SameSite=Lax, Path=/.

Behind jupyter-server-proxy the gateway passes the portal's public base URL
(``<proto>://<host><X-Forwarded-Prefix>/portals/<ns>/<name>``): links, form actions,
redirects and the OIDC ``redirect_uri`` are built on it and cookies are scoped to its path,
so the browser never leaves the proxied prefix and Jupyter never sees the portal's cookies.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import secrets
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import jwt
from jwt import PyJWK
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from ..kube.store import ObjectStore
from .access import environment_products, groups_for_user, products_for_user
from .apps import PETSTORE_OPENAPI
from .model import PORTAL, Snapshot, meta, name_of, ns_of

log = logging.getLogger(__name__)

Obj = dict[str, Any]
SESSION_COOKIE = "gloo-portal-session"
STATE_COOKIE = "gloo-portal-oidc-state"
SESSION_TTL = 8 * 3600
STATE_TTL = 600
DISCOVERY_TTL = 300
SERVER_HEADER = "envoy"
#: An inline icon: browsers without an emoji font would draw a box for U+1F464.
USER_ICON = (
    '<svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true" fill="currentColor">'
    '<circle cx="12" cy="8" r="4"/><path d="M4 21c0-4.4 3.6-7 8-7s8 2.6 8 7z"/></svg>'
)


#: The public base URL of the request being served ("" = direct access, root-relative links).
#: A context variable so the page helpers need no extra argument; each request is its own task.
PUBLIC_BASE: ContextVar[str] = ContextVar("portal_public_base", default="")


def url(path: str) -> str:
    """``path`` (root-relative) as the browser must see it: under the public base if proxied."""
    return PUBLIC_BASE.get() + path


def cookie_path() -> str:
    return urlsplit(PUBLIC_BASE.get()).path or "/"


class LoginError(Exception):
    """A failed login, shown to the user on the portal's error page."""


@dataclass
class PendingLogin:
    portal_uid: str
    nonce: str
    verifier: str
    redirect_uri: str
    created: float = field(default_factory=time.time)


@dataclass
class Session:
    portal_uid: str
    email: str
    name: str
    subject: str
    groups: list[str]
    created: float = field(default_factory=time.time)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def client_secret(snap: Snapshot, portal: Obj) -> str:
    """The Secret's ``data[key]`` base64-decoded as is (no trimming)."""
    ref = ((portal.get("spec") or {}).get("oidcAuth") or {}).get("clientSecret") or {}
    secret = snap.get("", "secrets", ref.get("namespace") or ns_of(portal), ref.get("name", ""))
    if secret is None:
        raise LoginError("the portal's OIDC client secret is missing")
    key = ref.get("key", "")
    if key in (secret.get("data") or {}):
        return base64.b64decode(secret["data"][key]).decode("utf-8", "replace")
    if key in (secret.get("stringData") or {}):
        return str(secret["stringData"][key])
    raise LoginError("the portal's OIDC client secret is missing")


class OIDCClient:
    """Discovery and JWKS fetched server-side (cached), token exchange, ID-token checks."""

    def __init__(self) -> None:
        self._discovery: dict[str, tuple[float, Obj]] = {}
        self._jwks: dict[str, tuple[float, Obj]] = {}

    async def discovery(self, issuer: str) -> Obj:
        hit = self._discovery.get(issuer)
        if hit and time.monotonic() - hit[0] < DISCOVERY_TTL:
            return hit[1]
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                resp = await client.get(url)
            resp.raise_for_status()
            doc = resp.json()
        except (httpx.HTTPError, ValueError) as err:
            raise LoginError(f"could not fetch the OpenID configuration from {url}: {err}") from err
        self._discovery[issuer] = (time.monotonic(), doc)
        return doc

    async def jwks(self, uri: str, *, refresh: bool = False) -> Obj:
        hit = self._jwks.get(uri)
        if hit and not refresh and time.monotonic() - hit[0] < DISCOVERY_TTL:
            return hit[1]
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                resp = await client.get(uri)
            resp.raise_for_status()
            doc = resp.json()
        except (httpx.HTTPError, ValueError) as err:
            raise LoginError(f"could not fetch the signing keys from {uri}: {err}") from err
        self._jwks[uri] = (time.monotonic(), doc)
        return doc

    async def exchange(
        self,
        disco: Obj,
        *,
        code: str,
        verifier: str,
        redirect_uri: str,
        client_id: str,
        secret: str,
    ) -> Obj:
        token_endpoint = disco.get("token_endpoint")
        if not token_endpoint:
            raise LoginError("the OpenID configuration has no token_endpoint")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                resp = await client.post(
                    token_endpoint,
                    data=form,
                    auth=(client_id, secret),
                    headers={"Accept": "application/json"},
                )
        except httpx.HTTPError as err:
            raise LoginError(f"token request failed: {err}") from err
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200 or "id_token" not in body:
            error = body.get("error") or f"HTTP {resp.status_code}"
            desc = body.get("error_description") or ""
            raise LoginError(
                f"the identity provider refused the token request: {error} {desc}".strip()
            )
        return body

    async def verify_id_token(
        self, disco: Obj, token: str, *, issuer: str, client_id: str, nonce: str
    ) -> Obj:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as err:
            raise LoginError("the ID token is malformed") from err
        uri = disco.get("jwks_uri")
        if not uri:
            raise LoginError("the OpenID configuration has no jwks_uri")
        key_data = None
        for refresh in (False, True):
            keys = (await self.jwks(uri, refresh=refresh)).get("keys") or []
            key_data = next((k for k in keys if k.get("kid") == header.get("kid")), None)
            if key_data:
                break
        if key_data is None:
            raise LoginError("the ID token is signed with an unknown key")
        alg = header.get("alg", "RS256")
        if alg not in ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256"):
            raise LoginError(f"unsupported ID token algorithm {alg}")
        try:
            claims = jwt.decode(
                token,
                key=PyJWK(key_data, algorithm=alg),
                algorithms=[alg],
                audience=client_id,
                issuer=issuer,
                leeway=30,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as err:
            raise LoginError(f"the ID token is not valid: {err}") from err
        if claims.get("nonce") != nonce:
            raise LoginError("the ID token nonce does not match the login request")
        return claims


def _page(
    portal: Obj, title: str, body: str, session: Session | None, *, status: int = 200
) -> HTMLResponse:
    spec = portal.get("spec") or {}
    name = html.escape(spec.get("displayName") or name_of(portal))
    if session:
        right = (
            f'<span class="user">{USER_ICON}<span data-testid="user-email">'
            f"{html.escape(session.email)}</span> &#9662;</span>"
            f'<a class="button" href="{url("/logout")}">Logout</a>'
        )
    else:
        right = f'<a class="button login" href="{url("/login")}">Log in</a>'
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} | {name}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:0;background:#f6f8fb;color:#253e58}}
header{{display:flex;align-items:center;gap:24px;padding:12px 32px;background:#fff;border-bottom:1px solid #dde3ea}}
header .brand{{font-weight:600;font-size:1.2em}} header nav a{{margin-right:16px;color:#2196c9;text-decoration:none}}
header .right{{margin-left:auto;display:flex;gap:12px;align-items:center}}
header .user{{display:flex;gap:6px;align-items:center}}
.button{{background:#2196c9;color:#fff;padding:8px 16px;border-radius:4px;text-decoration:none;border:0;cursor:pointer;font-size:1em}}
main{{max-width:900px;margin:32px auto;padding:0 16px}}
.card{{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:24px;margin-bottom:16px}}
.note{{color:#6b7b8c}} .error{{color:#b00020}} code{{background:#eef2f6;padding:2px 4px}}
</style></head>
<body><header><span class="brand">{name}</span>
<nav><a href="{url("/")}">Home</a><a href="{url("/apis")}">APIs</a></nav>
<div class="right">{right}</div></header>
<main>{body}</main></body></html>"""
    return HTMLResponse(
        doc, status_code=status, headers={"server": SERVER_HEADER, "cache-control": "no-store"}
    )


class PortalWebApp:
    """One instance serves every Portal; the gateway passes the Portal the Host selected."""

    def __init__(
        self,
        store: ObjectStore,
        snapshot: Callable[[], Snapshot],
        browser_urls: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        #: loopback URL -> public URL of the IdP, for authorize redirects of proxied requests
        #: (the portal's own discovery call is answered with loopback endpoints).
        self.browser_urls = {k.rstrip("/"): v.rstrip("/") for k, v in (browser_urls or {}).items()}
        self.snapshot = snapshot
        self.oidc = OIDCClient()
        self.pending: dict[str, PendingLogin] = {}
        self.sessions: dict[str, Session] = {}

    async def __call__(
        self, portal: Obj, scope: Scope, receive: Receive, send: Send, *, public: str = ""
    ) -> None:
        """Serve one request; ``public`` is the portal's base URL behind a proxy ("" = direct)."""
        token = PUBLIC_BASE.set(public.rstrip("/"))
        try:
            request = Request(scope, receive)
            response = await self.dispatch(portal, request)
            await response(scope, receive, send)
        finally:
            PUBLIC_BASE.reset(token)

    def browser_url(self, endpoint: str) -> str:
        """The IdP endpoint as a proxied browser must reach it (public instead of loopback)."""
        if not PUBLIC_BASE.get():
            return endpoint
        for loopback, public in self.browser_urls.items():
            if endpoint == loopback or endpoint.startswith(loopback + "/"):
                return public + endpoint[len(loopback) :]
        return endpoint

    # -- helpers ----------------------------------------------------------------------------
    def session(self, portal: Obj, request: Request) -> Session | None:
        sid = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(sid or "")
        if session is None:
            return None
        if (
            session.portal_uid != meta(portal).get("uid")
            or time.time() - session.created > SESSION_TTL
        ):
            self.sessions.pop(sid or "", None)
            return None
        return session

    @staticmethod
    def redirect_uri(portal: Obj, request: Request) -> str:
        if PUBLIC_BASE.get():  # proxied: the browser can only come back through the proxy
            return url("/callback")
        prefix = ((portal.get("spec") or {}).get("oidcAuth") or {}).get("callbackUrlPrefix")
        if prefix:
            return prefix.rstrip("/") + "/callback"
        scheme = request.headers.get("x-forwarded-proto") or request.url.scheme
        return f"{scheme}://{request.headers.get('host', '')}/callback"

    def published_products(self, portal: Obj, snap: Snapshot) -> list[Obj]:
        out: list[Obj] = []
        for ref in (portal.get("spec") or {}).get("publishedEnvironments") or []:
            env = snap.get(
                PORTAL, "environments", ref.get("namespace") or ns_of(portal), ref.get("name", "")
            )
            if env:
                out.extend(p for p in environment_products(snap, env) if p not in out)
        return out

    def visible_products(
        self, portal: Obj, snap: Snapshot, session: Session | None
    ) -> list[tuple[Obj, list[Obj]]]:
        if session is None:
            if (portal.get("spec") or {}).get("allApisPublicViewable"):
                return [(p, []) for p in self.published_products(portal, snap)]
            return []
        return products_for_user(portal, session.groups, snap)

    # -- pages ------------------------------------------------------------------------------
    async def dispatch(self, portal: Obj, request: Request) -> Response:
        path = request.url.path.rstrip("/") or "/"
        if (portal.get("status") or {}).get("state") != "Succeeded":
            return _page(
                portal,
                "Unavailable",
                '<div class="card"><h2>This portal is not available</h2></div>',
                None,
                status=503,
            )
        if request.method not in ("GET", "HEAD", "POST"):
            return Response(status_code=405, headers={"server": SERVER_HEADER})
        session = self.session(portal, request)
        if path == "/":
            return self.home(portal, session)
        if path == "/login":
            return self.login_page(portal, session)
        if path == "/login/oidc":
            return await self.start_login(portal, request)
        if path == "/login/credentials":
            return self.credentials_page(portal, request)
        if path == "/callback":
            return await self.callback(portal, request)
        if path == "/logout":
            return self.logout(request)
        if path == "/apis":
            return self.apis(portal, session)
        if path.startswith("/apis/"):
            return self.api_detail(portal, session, path[len("/apis/") :])
        return _page(
            portal,
            "Not found",
            '<div class="card"><h2>Page not found</h2></div>',
            session,
            status=404,
        )

    def home(self, portal: Obj, session: Session | None) -> Response:
        spec = portal.get("spec") or {}
        title = html.escape(spec.get("displayName") or name_of(portal))
        desc = html.escape(spec.get("description") or "")
        greeting = (
            f"<p>Signed in as <strong>{html.escape(session.email)}</strong>.</p>"
            if session
            else '<p class="note">Log in to see the APIs available to you.</p>'
        )
        body = f'<div class="card"><h1>{title}</h1><p>{desc}</p>{greeting}<a href="{url("/apis")}">Browse APIs</a></div>'
        return _page(portal, "Home", body, session)

    def login_page(self, portal: Obj, session: Session | None) -> Response:
        if session:
            return RedirectResponse(url("/"), status_code=302)
        has_oidc = bool((portal.get("spec") or {}).get("oidcAuth"))
        oidc = (
            f'<p><a class="button" id="oidc-login" href="{url("/login/oidc")}">Log in with OpenID Connect</a></p>'
            if has_oidc
            else ""
        )
        body = (
            '<div class="card" id="login-card"><h2>Log in to the Portal</h2>'
            f'{oidc}<p><a href="{url("/login/credentials")}">Log in using credentials</a></p></div>'
        )
        return _page(portal, "Log in", body, None)

    def credentials_page(self, portal: Obj, request: Request) -> Response:
        error = ""
        if request.method == "POST":
            error = '<p class="error">Invalid username or password.</p>'
        body = (
            '<div class="card"><h2>Log in to the Portal</h2>'
            f'<form method="post" action="{url("/login/credentials")}">'
            '<p><label>Username <input name="username" autocomplete="username"></label></p>'
            '<p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>'
            f'{error}<p><button class="button" type="submit">Log in</button></p></form>'
            f'<p><a href="{url("/login")}">Back</a></p></div>'
        )
        return _page(portal, "Log in", body, None, status=401 if error else 200)

    def error_page(self, portal: Obj, message: str, *, status: int = 400) -> Response:
        body = (
            '<div class="card"><h2>Login failed</h2>'
            f'<p class="error" id="login-error">{html.escape(message)}</p><p><a href="{url("/login")}">Try again</a></p></div>'
        )
        return _page(portal, "Login failed", body, None, status=status)

    async def start_login(self, portal: Obj, request: Request) -> Response:
        oidc = (portal.get("spec") or {}).get("oidcAuth")
        if not oidc:
            return self.error_page(
                portal, "OpenID Connect is not configured for this portal", status=404
            )
        try:
            disco = await self.oidc.discovery(oidc.get("issuer", ""))
        except LoginError as err:
            return self.error_page(portal, str(err), status=502)
        endpoint = self.browser_url(disco.get("authorization_endpoint") or "")
        if not endpoint:
            return self.error_page(
                portal, "the OpenID configuration has no authorization_endpoint", status=502
            )
        self._expire()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        challenge = _b64url(hashlib.sha256(verifier.encode()).digest())
        redirect_uri = self.redirect_uri(portal, request)
        self.pending[state] = PendingLogin(
            meta(portal).get("uid", ""), nonce, verifier, redirect_uri
        )
        scopes = ["openid", "profile", "email"]
        for extra in oidc.get("additionalScopes") or []:
            if extra not in scopes:
                scopes.append(extra)
        query = urlencode(
            {
                "client_id": oidc.get("clientId", ""),
                "response_type": "code",
                "scope": " ".join(scopes),
                "redirect_uri": redirect_uri,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        sep = "&" if "?" in endpoint else "?"
        resp = RedirectResponse(
            f"{endpoint}{sep}{query}", status_code=302, headers={"server": SERVER_HEADER}
        )
        resp.set_cookie(
            STATE_COOKIE,
            state,
            max_age=STATE_TTL,
            path=cookie_path(),
            httponly=True,
            samesite="lax",
        )
        return resp

    async def callback(self, portal: Obj, request: Request) -> Response:
        params = request.query_params
        if params.get("error"):
            desc = params.get("error_description") or ""
            return self.error_page(
                portal, f"the identity provider returned {params['error']}: {desc}".strip(": ")
            )
        state, code = params.get("state", ""), params.get("code", "")
        pending = self.pending.pop(state, None)
        if not state or pending is None or request.cookies.get(STATE_COOKIE) != state:
            return self.error_page(portal, "unknown or expired login state; start the login again")
        if time.time() - pending.created > STATE_TTL or pending.portal_uid != meta(portal).get(
            "uid"
        ):
            return self.error_page(portal, "unknown or expired login state; start the login again")
        if not code:
            return self.error_page(portal, "the identity provider returned no authorization code")
        oidc = (portal.get("spec") or {}).get("oidcAuth") or {}
        snap = self.snapshot()
        try:
            secret = client_secret(snap, portal)
            disco = await self.oidc.discovery(oidc.get("issuer", ""))
            tokens = await self.oidc.exchange(
                disco,
                code=code,
                verifier=pending.verifier,
                redirect_uri=pending.redirect_uri,
                client_id=oidc.get("clientId", ""),
                secret=secret,
            )
            claims = await self.oidc.verify_id_token(
                disco,
                tokens["id_token"],
                issuer=oidc.get("issuer", ""),
                client_id=oidc.get("clientId", ""),
                nonce=pending.nonce,
            )
        except LoginError as err:
            log.info("portal %s/%s login failed: %s", ns_of(portal), name_of(portal), err)
            return self.error_page(portal, str(err), status=401)
        raw_groups = claims.get(oidc.get("groupClaimKey") or "groups")
        if isinstance(raw_groups, str):
            groups = [raw_groups]
        elif isinstance(raw_groups, list):
            groups = [str(g) for g in raw_groups]
        else:
            groups = []
        email = str(claims.get("email") or claims.get("preferred_username") or claims.get("sub"))
        session = Session(
            portal_uid=meta(portal).get("uid", ""),
            email=email,
            name=str(claims.get("name") or email),
            subject=str(claims.get("sub")),
            groups=groups,
        )
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = session
        resp = RedirectResponse(url("/"), status_code=302, headers={"server": SERVER_HEADER})
        resp.set_cookie(
            SESSION_COOKIE,
            sid,
            max_age=SESSION_TTL,
            path=cookie_path(),
            httponly=True,
            samesite="lax",
        )
        resp.delete_cookie(STATE_COOKIE, path=cookie_path())
        return resp

    def logout(self, request: Request) -> Response:
        self.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        resp = RedirectResponse(url("/"), status_code=302, headers={"server": SERVER_HEADER})
        resp.delete_cookie(SESSION_COOKIE, path=cookie_path(), httponly=True, samesite="lax")
        return resp

    def apis(self, portal: Obj, session: Session | None) -> Response:
        snap = self.snapshot()
        products = self.visible_products(portal, snap, session)
        cards = []
        for product, envs in products:
            info = (product.get("spec") or {}).get("displayInfo") or {}
            title = html.escape(info.get("title") or name_of(product))
            desc = html.escape(info.get("description") or "")
            env_names = ", ".join(
                html.escape(
                    ((e.get("spec") or {}).get("displayInfo") or {}).get("displayName")
                    or name_of(e)
                )
                for e in envs
            )
            envs_html = f'<p class="note">Environments: {env_names}</p>' if env_names else ""
            cards.append(
                f'<div class="card api-product" data-product="{html.escape(name_of(product))}">'
                f'<h3><a href="{url("/apis/")}{html.escape(ns_of(product))}/{html.escape(name_of(product))}">{title}</a></h3>'
                f"<p>{desc}</p>{envs_html}</div>"
            )
        if cards:
            body = "<h1>APIs</h1>" + "".join(cards)
        elif session is None:
            body = '<h1>APIs</h1><div class="card"><p class="note">Log in to see the APIs available to you.</p></div>'
        else:
            groups = groups_for_user(portal, session.groups, snap)
            why = (
                "Your account is not in any group that has access to this portal's APIs."
                if not groups
                else "Your groups do not grant access to any API product yet."
            )
            body = f'<h1>APIs</h1><div class="card"><p class="note" id="no-apis">No APIs available. {why}</p></div>'
        return _page(portal, "APIs", body, session)

    def api_detail(self, portal: Obj, session: Session | None, ref: str) -> Response:
        snap = self.snapshot()
        ns, _, name = ref.partition("/")
        match = next(
            (
                (p, envs)
                for p, envs in self.visible_products(portal, snap, session)
                if (ns_of(p), name_of(p)) == (ns, name)
            ),
            None,
        )
        if match is None:
            return _page(
                portal,
                "Not found",
                '<div class="card"><h2>API not found</h2></div>',
                session,
                status=404,
            )
        product, envs = match
        info = (product.get("spec") or {}).get("displayInfo") or {}
        rows = []
        for path, ops in PETSTORE_OPENAPI["paths"].items():
            for verb, op in ops.items():
                rows.append(
                    f"<tr><td><code>{verb.upper()}</code></td><td><code>/api{html.escape(path)}</code></td>"
                    f"<td>{html.escape(op['summary'])}</td></tr>"
                )
        domains = [d for e in envs for d in (e.get("spec") or {}).get("domains") or []]
        curl = (
            f"<p>Try it: <code>curl http://{html.escape(domains[-1])}/api/pets</code></p>"
            if domains
            else ""
        )
        versions = ", ".join(
            html.escape(v.get("name", ""))
            for v in (product.get("spec") or {}).get("versions") or []
        )
        body = (
            f'<div class="card"><h1>{html.escape(info.get("title") or name_of(product))}</h1>'
            f'<p>{html.escape(info.get("description") or "")}</p><p class="note">Versions: {versions}</p>{curl}'
            f"<table>{''.join(rows)}</table></div>"
        )
        return _page(portal, info.get("title") or name_of(product), body, session)

    def _expire(self) -> None:
        now = time.time()
        for state in [s for s, p in self.pending.items() if now - p.created > STATE_TTL]:
            self.pending.pop(state, None)
        for sid in [s for s, v in self.sessions.items() if now - v.created > SESSION_TTL]:
            self.sessions.pop(sid, None)
