"""Assemble and run the embedded sandbox: Okta org, Kubernetes API and gateway on one loop.

One process, one asyncio loop, one SQLite file. Each server gets a loopback socket bound
before anything starts (port 0 = any free port, or ``OKTALAB_SANDBOX_{OKTA,KUBE,GATEWAY}_PORT``),
so the URLs are known when the org and the kubeconfig are written. Credentials are made
fresh at every start and written only to ``sandbox.env`` and ``kubeconfig`` (mode 0600).

Behind a proxy (Binder's jupyter-server-proxy) the browser reaches the Okta org at a public
URL (``--public-url`` or ``OKTALAB_SANDBOX_PUBLIC_URL``; ``{port}`` there is the Okta port).
That URL is the org URL, hence the one issuer, for everybody. Server-to-server callers keep
using loopback: :class:`LoopbackURLs` rewrites the public URLs in answers to direct (not
proxied) requests to the loopback URL, except issuer and audience values, and sets their
cookies' ``Path`` back to ``/``. The gateway gets the loopback -> public map too, so a portal
opened through the proxy sends the browser to the public authorize endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .gloo import GlooControllers, create_gateway_app, seed_cluster
from .kube.api import create_kube_app
from .kube.store import ObjectStore
from .kube.tls import ensure_serving_cert, kubeconfig as render_kubeconfig
from .okta import OktaOrg, create_okta_app
from .ports import bind_stable
from .store import Database
from .testhooks import with_test_hooks
from .writes import WriteCounter, WriteCounts

log = logging.getLogger("oktalab.sandbox")

TEST_USERNAME = "oktalab.tester@example.com"
CLUSTER_NAME = "cluster1"


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the sandbox owns SIGTERM for all servers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(port: int = 0) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only then,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


# Headers jupyter-server-proxy adds to every proxied request (absolute_url=False).
PROXY_HEADERS = (b"x-forwarded-prefix", b"x-forwarded-context", b"x-proxycontextpath")
# JSON keys whose value is the issuer or an audience: one string for every caller, never rewritten.
KEEP_KEYS = frozenset({"issuer", "iss", "aud", "audience", "audiences"})


class LoopbackURLs:
    """Answer direct (loopback) requests with loopback URLs where the org emits its public URL.

    The org derives every absolute URL from its public org URL. A browser going through the
    proxy needs exactly those; the kernel, the gateway and kubectl-like callers on this host
    cannot pass the proxy's authentication, so discovery documents, ``_links``, redirects and
    page forms they read must point at loopback. Issuer and audience values stay public so a
    token validates the same way for both.
    """

    def __init__(self, app: ASGIApp, *, public: str, loopback: str) -> None:
        self.app = app
        self.public = public.rstrip("/")
        self.loopback = loopback.rstrip("/")
        # Cookies are scoped to the public URL's path; a loopback caller needs them at "/".
        path = urlsplit(self.public).path.rstrip("/")
        self.cookie_path = f"path={path}".encode() if path else b""

    def _url(self, value: str) -> str:
        p = self.public
        if value == p or value.startswith((p + "/", p + "?", p + "#")):
            return self.loopback + value[len(p) :]
        return value

    def _json(self, data: Any, key: str = "") -> Any:
        if isinstance(data, dict):
            return {k: self._json(v, k) for k, v in data.items()}
        if isinstance(data, list):
            return [self._json(v, key) for v in data]
        if isinstance(data, str) and key not in KEEP_KEYS:
            return self._url(data)
        return data

    def _body(self, body: bytes, content_type: str) -> bytes:
        if "json" in content_type:
            try:
                return json.dumps(self._json(json.loads(body)), separators=(",", ":")).encode()
            except ValueError:
                return body
        if content_type.startswith("text/"):
            return body.replace(self.public.encode(), self.loopback.encode())
        return body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        proxied = any(k in PROXY_HEADERS for k, _ in scope.get("headers", []))
        if scope["type"] != "http" or proxied:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            assert start is not None
            headers = dict.fromkeys(["content-type"], "")
            out: list[tuple[bytes, bytes]] = []
            for k, v in start.get("headers", []):
                name = k.lower()
                if name == b"content-type":
                    headers["content-type"] = v.decode("latin-1")
                if name in (b"location", b"link"):
                    v = v.replace(self.public.encode(), self.loopback.encode())
                if name == b"set-cookie" and self.cookie_path:
                    v = _cookie_path_to_root(v, self.cookie_path)
                if name != b"content-length":
                    out.append((k, v))
            body = self._body(b"".join(chunks), headers["content-type"])
            out.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": out})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffer)


def _cookie_path_to_root(header: bytes, path_attr: bytes) -> bytes:
    """``Set-Cookie`` with ``Path=<public path>`` turned into ``Path=/`` (case-insensitive)."""
    parts = header.split(b";")
    out = [b" Path=/" if p.strip().lower() == path_attr.lower() else p for p in parts]
    return b";".join(out)


def route_public_to_loopback(public: str, loopback: str) -> None:
    """Send this process's own httpx calls to the org's public URL to loopback instead.

    The gateway and the portal (``gloo/``) fetch discovery, JWKS and tokens from the issuer
    URL they are configured with, which is the public one; behind jupyter-server-proxy that
    URL asks for Jupyter's login. Only the sandbox process is patched, and only URLs under
    ``public``. A ``backchannel`` URL map in ``gloo/portal.py`` would make this unnecessary.
    """
    public, loopback = public.rstrip("/"), loopback.rstrip("/")
    target = httpx.URL(loopback)
    original = httpx.AsyncHTTPTransport.handle_async_request
    if getattr(original, "oktalab_public", None) == public:
        return

    async def handle(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url == public or url.startswith((public + "/", public + "?")):
            request.url = httpx.URL(loopback + url[len(public) :])
            request.headers["Host"] = target.netloc.decode()
        return await original(self, request)

    handle.oktalab_public = public  # type: ignore[attr-defined]
    httpx.AsyncHTTPTransport.handle_async_request = handle  # type: ignore[method-assign]


def public_url_for(template: str | None, okta_port: int) -> str | None:
    """The org's public URL: ``template`` (``{port}`` = the Okta port), else the environment."""
    value = template or os.environ.get("OKTALAB_SANDBOX_PUBLIC_URL") or ""
    value = value.strip().replace("{port}", str(okta_port)).rstrip("/")
    return value or None


@dataclass
class SandboxInfo:
    okta_url: str
    kube_url: str
    gateway_url: str
    env_file: Path
    kubeconfig: Path


def private_state_db(state_dir: Path) -> Path:
    """The state folder (0700) and its SQLite file (0600): the file holds the org's signing
    keys and client secrets, so only the owner may read either. SQLite creates the -wal and
    -shm files with the database file's permissions. Returns the database path."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state_dir, 0o700)
    path = state_dir / "sandbox.db"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for p in (path, path.with_name("sandbox.db-wal"), path.with_name("sandbox.db-shm")):
        if p.exists():
            os.chmod(p, 0o600)
    return path


class RequestCounter:
    """Counts the requests each sandbox server received; ``GET /__sandbox/requests`` on the
    Okta port answers ``{"okta": n, "kube": n, "gateway": n}`` (that request not counted), so
    tests can prove that bad input reached no server."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.inner: dict[str, Any] = {}

    def wrap(self, name: str, app: ASGIApp) -> ASGIApp:
        self.counts[name] = 0
        self.inner[name] = app

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            if (
                scope["type"] == "http"
                and name == "okta"
                and scope["path"] == "/__sandbox/requests"
            ):
                body = json.dumps(self.counts).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
            if scope["type"] in ("http", "websocket"):
                self.counts[name] += 1
            await app(scope, receive, send)

        return counted


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


async def serve(
    state_dir: Path,
    *,
    public_url: str | None = None,
    stop: asyncio.Event | None = None,
    gloo_version: str | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGTERM/SIGINT when run from the CLI).

    ``gloo_version``: the Gloo layout (``2.5``/``2.14``); None keeps the state's, else 2.5.
    """
    state_dir = state_dir.resolve()
    db = Database(private_state_db(state_dir))
    socks = bind_stable(state_dir, bind)
    url = {name: f"http://127.0.0.1:{s.getsockname()[1]}" for name, s in socks.items()}
    # kubectl never sends a bearer token over plain http, so the API server speaks TLS.
    cert = ensure_serving_cert(state_dir / "pki")
    url["kube"] = url["kube"].replace("http://", "https://")
    public = public_url_for(public_url, socks["okta"].getsockname()[1])
    okta_url = public or url["okta"]

    api_token = "00" + secrets.token_urlsafe(30)
    kube_token = secrets.token_urlsafe(32)
    password = "Okt" + secrets.token_urlsafe(12) + "!9"

    org = OktaOrg(db, org_url=okta_url)
    org.seed(api_token=api_token, test_username=TEST_USERNAME, test_password=password)
    store = ObjectStore(db)
    gloo = seed_cluster(
        store,
        cluster_name=CLUSTER_NAME,
        gateway_port=socks["gateway"].getsockname()[1],
        gloo_version=gloo_version,
    )
    controllers = GlooControllers(store)
    controllers.start()

    writes = WriteCounts()
    okta_app = with_test_hooks(org, WriteCounter(create_okta_app(org), writes, "okta"), writes)
    browser_urls: dict[str, str] = {}
    if public and public != url["okta"]:
        browser_urls[url["okta"]] = public
        okta_app = LoopbackURLs(okta_app, public=public, loopback=url["okta"])
        route_public_to_loopback(public, url["okta"])
    counter = RequestCounter()
    apps = {
        "okta": counter.wrap("okta", okta_app),
        # outside the request counter, which keeps the bare app (its watches close at stop)
        "kube": WriteCounter(
            counter.wrap("kube", create_kube_app(store, token=kube_token)), writes, "kube"
        ),
        "gateway": counter.wrap("gateway", create_gateway_app(store, browser_urls)),
    }
    servers = {
        name: _Server(
            uvicorn.Config(
                app,
                log_level=os.environ.get("OKTALAB_SANDBOX_LOG_LEVEL", "warning"),
                lifespan="off",
                access_log=False,
                timeout_graceful_shutdown=2,  # idle keep-alives must not hold a stop for 30 s
                server_header=name != "gateway",  # the gateway answers as istio-envoy itself
                **(
                    {"ssl_certfile": str(cert.cert_file), "ssl_keyfile": str(cert.key_file)}
                    if name == "kube"
                    else {}
                ),
            )
        )
        for name, app in apps.items()
    }
    tasks = [asyncio.create_task(servers[name].serve(sockets=[socks[name]])) for name in servers]
    while not all(s.started for s in servers.values()):
        if any(t.done() for t in tasks):
            for t in tasks:
                if t.done() and t.exception():
                    raise t.exception()  # type: ignore[misc]
        await asyncio.sleep(0.02)

    kubeconfig = state_dir / "kubeconfig"
    _write_private(kubeconfig, render_kubeconfig(url["kube"], kube_token, cert.ca_data))
    env_file = state_dir / "sandbox.env"
    # OKTA_ORG_URL is for API calls, so it is loopback; browsers use the public URL.
    lines = {
        "OKTA_ORG_URL": url["okta"],
        "OKTA_API_TOKEN": api_token,
        "KUBECONFIG": str(kubeconfig),
        "OKTALAB_GATEWAY_URL": url["gateway"],
        "OKTALAB_TEST_USERNAME": TEST_USERNAME,
        "OKTALAB_TEST_PASSWORD": password,
        "OKTALAB_SANDBOX_PID": str(os.getpid()),
        "OKTALAB_CLUSTER_NAME": CLUSTER_NAME,
        "OKTALAB_GLOO_VERSION": gloo,
        "OKTALAB_SANDBOX_PUBLIC_URL": okta_url,
        # The guides' own names, so their commands paste as they are (CLIENT_ID is added by
        # `oktalab run` once guide 1 created the app).
        "CLUSTER_NAME": CLUSTER_NAME,
        "TOKEN_ENDPOINT": url["okta"] + "/oauth2/default/v1/token",
        "AUTH_ENDPOINT": okta_url + "/oauth2/default/v1/authorize",
        "LOGOUT_ENDPOINT": okta_url + "/oauth2/default/v1/logout",
    }
    _write_private(env_file, "".join(f"{k}={v}\n" for k, v in lines.items()))
    log.warning("sandbox ready: okta %s kube %s gateway %s", okta_url, url["kube"], url["gateway"])

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for s in servers.values():
            s.should_exit = True
        # An open `kubectl get -w` would otherwise hold the shutdown until it times out.
        counter.inner["kube"].state.kube.close_watches()  # type: ignore[attr-defined]
        await asyncio.gather(*tasks, return_exceptions=True)
        controllers.stop()
        with contextlib.suppress(FileNotFoundError):
            env_file.unlink()
        db.close()
