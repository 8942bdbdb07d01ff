"""The data plane: an ingress gateway that enforces what is applied to the cluster.

One ASGI app plays three proxies, chosen by the Host header like Envoy's virtual hosts:
a Host listed in a Gloo Portal ``Portal.spec.domains`` gets the portal web app, one in an
``Environment.spec.domains`` gets the published petstore API (Gloo Edge's gateway-proxy),
anything else goes through the Gloo Mesh VirtualGateway + RouteTables (the Istio ingress
gateway), with ExtAuthPolicies enforced per route. The routing state is rebuilt from the
store whenever its resourceVersion moves, so changes apply on the next request.

Behind jupyter-server-proxy the Host is Jupyter's, so no portal domain can match. A proxied
request (it carries ``X-Forwarded-Prefix``/``-Context``) whose Host matches nothing may then
name its portal by path, ``/portals/<namespace>/<name>/...``; everything else is unchanged.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..kube.store import ObjectStore
from . import apim, apps
from .access import environment_products
from .extauth import Decision, JwksCache, authorize
from .model import (
    ADMIN,
    APIM,
    NETWORKING,
    PORTAL,
    SECURITY,
    Snapshot,
    approval,
    authconfig_state,
    generated_authconfig_name,
    labels_match,
    meta,
    name_of,
    ns_of,
    order_key,
    policy_applies_to_route,
    policy_server_ref,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
MESH_SERVER = "istio-envoy"
EDGE_SERVER = "envoy"
MAX_DELEGATION_DEPTH = 5


def split_host(host: str) -> tuple[str, str]:
    """(hostname, port) of a Host header value; port '' when absent."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1], host[end + 2 :] if end + 1 < len(host) else ""
    name, _, port = host.partition(":")
    return name, port


def host_matches(pattern: str, host: str) -> bool:
    """Envoy-style domain match: exact, '*', '*.suffix'; with or without the port."""
    pattern = pattern.strip().lower()
    name, port = split_host(host)
    if pattern == "*":
        return True
    pname, pport = split_host(pattern)
    if pport and pport != port:
        return False
    if pname.startswith("*"):
        return name.endswith(pname[1:])
    return pname == name


@dataclass
class Candidate:
    """One HTTP route reachable from the gateway, with its parents' matchers."""

    table: Obj
    route: Obj
    chain: list[list[Obj]]
    order: int


def _uri_score(matcher: Obj, path: str) -> tuple[int, int] | None:
    """(kind rank, length) when the matcher's uri matches the path, else None."""
    uri = matcher.get("uri")
    if not uri:
        return (1, 1) if path.startswith("/") else None
    ignore = bool(uri.get("ignoreCase"))
    p = path.lower() if ignore else path
    if "exact" in uri:
        value = uri["exact"].lower() if ignore else uri["exact"]
        return (4, len(value)) if p == value else None
    if "prefix" in uri:
        value = uri["prefix"].lower() if ignore else uri["prefix"]
        return (1, len(value)) if p.startswith(value) else None
    if "regex" in uri:
        flags = re.IGNORECASE if ignore else 0
        try:
            return (3, len(uri["regex"])) if re.fullmatch(uri["regex"], path, flags) else None
        except re.error:
            return None
    if "suffix" in uri:
        value = uri["suffix"].lower() if ignore else uri["suffix"]
        return (2, len(value)) if p.endswith(value) else None
    return (1, 1)


def _matcher_score(matcher: Obj, request: Request) -> tuple[int, int] | None:
    score = _uri_score(matcher, request.url.path)
    if score is None:
        return None
    if matcher.get("method") and matcher["method"].upper() != request.method:
        return None
    for hm in matcher.get("headers") or []:
        value = request.headers.get(hm.get("name", ""))
        if hm.get("value") in (None, ""):
            ok = value is not None
        elif hm.get("regex"):
            ok = value is not None and re.fullmatch(hm["value"], value) is not None
        else:
            ok = value == hm["value"]
        if ok == bool(hm.get("invertMatch")):
            return None
    for qm in matcher.get("queryParameters") or []:
        value = request.query_params.get(qm.get("name", ""))
        if value is None:
            return None
        if qm.get("value"):
            if qm.get("regex"):
                if re.fullmatch(qm["value"], value) is None:
                    return None
            elif value != qm["value"]:
                return None
    return score


def _best_score(matchers: list[Obj], request: Request) -> tuple[int, int] | None:
    if not matchers:
        return (1, 1) if request.url.path.startswith("/") else None
    scores = [s for s in (_matcher_score(m, request) for m in matchers) if s is not None]
    return max(scores) if scores else None


class MeshGateway:
    """VirtualGateway + RouteTables + ExtAuthPolicies, as the Istio ingress gateway runs them."""

    def __init__(self, jwks: JwksCache, store: ObjectStore | None = None) -> None:
        self.jwks = jwks
        self.store = store

    # -- routing ----------------------------------------------------------------------------
    def candidates(self, snap: Snapshot, host: str) -> list[Candidate]:
        gateways = {(ns_of(g), name_of(g)) for g in snap.all(NETWORKING, "virtualgateways")}
        tables = sorted(
            snap.all(NETWORKING, "routetables"),
            key=lambda t: (-int((t.get("spec") or {}).get("weight") or 0), order_key(t)),
        )
        out: list[Candidate] = []
        for rt in tables:
            spec = rt.get("spec") or {}
            refs = spec.get("virtualGateways") or []
            if not any(
                (r.get("namespace") or ns_of(rt), r.get("name", "")) in gateways for r in refs
            ):
                continue
            if not snap.cluster_known(
                next((r.get("cluster") for r in refs if r.get("cluster")), None)
            ):
                continue
            hosts = spec.get("hosts") or []
            if not any(host_matches(h, host) for h in hosts):
                continue
            self._expand(snap, rt, [], out, 0)
        return out

    def _expand(
        self, snap: Snapshot, rt: Obj, chain: list[list[Obj]], out: list[Candidate], depth: int
    ) -> None:
        for route in (rt.get("spec") or {}).get("http") or []:
            matchers = route.get("matchers") or []
            delegate = route.get("delegate")
            if delegate is not None:
                if depth >= MAX_DELEGATION_DEPTH:
                    continue
                for child in self._delegates(snap, rt, delegate):
                    self._expand(snap, child, [*chain, matchers], out, depth + 1)
                continue
            out.append(Candidate(rt, route, [*chain, matchers], len(out)))

    @staticmethod
    def _delegates(snap: Snapshot, parent: Obj, delegate: Obj) -> list[Obj]:
        children = []
        for sel in delegate.get("routeTables") or []:
            for child in sorted(snap.all(NETWORKING, "routetables"), key=order_key):
                if child is parent or child in children:
                    continue
                if sel.get("name") and sel["name"] != name_of(child):
                    continue
                want_ns = sel.get("namespace") or (None if sel.get("labels") else ns_of(parent))
                if want_ns and want_ns != ns_of(child):
                    continue
                if labels_match(sel.get("labels"), meta(child).get("labels")):
                    children.append(child)
        return children

    @staticmethod
    def pick(cands: list[Candidate], request: Request) -> Candidate | None:
        best: tuple[tuple[int, int], int, Candidate] | None = None
        for cand in cands:
            score: tuple[int, int] | None = None
            for matchers in cand.chain:
                score = _best_score(matchers, request)
                if score is None:
                    break
            if score is None:
                continue
            if best is None or score > best[0] or (score == best[0] and cand.order < best[1]):
                best = (score, cand.order, cand)
        return best[2] if best else None

    # -- ext auth ---------------------------------------------------------------------------
    async def ext_auth(self, snap: Snapshot, cand: Candidate, request: Request) -> Decision:
        """Whether the route's ExtAuthPolicy (if any) lets the request through."""
        selecting = sorted(
            (
                p
                for p in snap.all(SECURITY, "extauthpolicies")
                if policy_applies_to_route(p, cand.table, cand.route, snap)
            ),
            key=order_key,
        )
        if not selecting:
            return Decision(200, "no policy")
        policy = next((p for p in selecting if approval(p) == "ACCEPTED"), None)
        if policy is None:
            return Decision(403, "ext auth policy not accepted")
        config = (policy.get("spec") or {}).get("config") or {}
        if config.get("disable"):
            return Decision(200, "ext auth disabled")
        status_on_error = 403
        ref = policy_server_ref(policy)
        if ref is not None:
            server = snap.get(ADMIN, "extauthservers", ref[0], ref[1])
            if server is None or approval(server) != "ACCEPTED":
                return Decision(403, "ext auth server not accepted")
            status_on_error = int((server.get("spec") or {}).get("statusOnError") or 403)
        if "glooAuth" not in config:
            return Decision(status_on_error, "custom auth server not reachable from the sandbox")
        ac = snap.get(
            snap.authconfig_group,
            "authconfigs",
            *generated_authconfig_name(policy, snap.gloo_version),
        )
        state, _ = authconfig_state(ac)
        if ac is None or state != "Accepted":
            return Decision(status_on_error, "auth config not accepted")
        return await authorize(request.headers, ac.get("spec") or {}, self.jwks)

    # -- serving ----------------------------------------------------------------------------
    async def handle(self, snap: Snapshot, request: Request) -> Response:
        if len(request.headers.getlist("authorization")) > 1:
            # never judge a request by one of two credentials (RFC 9110 §5.3: Authorization
            # is not a list-valued field, so two of them are malformed)
            return Response(status_code=400, headers={"server": MESH_SERVER})
        host = request.headers.get("host", "")
        cand = self.pick(self.candidates(snap, host), request)
        if cand is None:
            return Response(status_code=404, headers={"server": MESH_SERVER})
        decision = await self.ext_auth(snap, cand, request)
        if not decision.allowed:
            log.info("ext-auth denied %s %s: %s", request.method, request.url.path, decision.reason)
            return Response(status_code=decision.status, headers={"server": MESH_SERVER})
        return self.upstream(
            snap, cand, request, decision.upstream_headers, validated=decision.reason == "ok"
        )

    def upstream(
        self,
        snap: Snapshot,
        cand: Candidate,
        request: Request,
        extra: dict[str, str],
        *,
        validated: bool = False,
    ) -> Response:
        route = cand.route
        if "directResponse" in route:
            dr = route["directResponse"] or {}
            return Response(
                dr.get("body", ""),
                status_code=int(dr.get("status") or 200),
                headers={"server": MESH_SERVER},
            )
        if "redirect" in route:
            rd = route["redirect"] or {}
            codes = {
                "MOVED_PERMANENTLY": 301,
                "FOUND": 302,
                "SEE_OTHER": 303,
                "TEMPORARY_REDIRECT": 307,
                "PERMANENT_REDIRECT": 308,
            }
            host = rd.get("hostRedirect") or request.headers.get("host", "")
            path = rd.get("pathRedirect") or request.url.path
            url = f"{request.url.scheme}://{host}{path}"
            return RedirectResponse(
                url,
                status_code=codes.get(rd.get("responseCode", ""), 301),
                headers={"server": MESH_SERVER},
            )
        dests = (route.get("forwardTo") or {}).get("destinations") or []
        if not dests:
            return Response(status_code=404, headers={"server": MESH_SERVER})
        ref = dests[0].get("ref") or {}
        svc_ns, svc_name = ref.get("namespace") or ns_of(cand.table), ref.get("name", "")
        if (
            dests[0].get("kind", "SERVICE") != "SERVICE"
            or snap.get("", "services", svc_ns, svc_name) is None
        ):
            return Response(
                "no healthy upstream",
                status_code=503,
                headers={"server": MESH_SERVER, "content-type": "text/plain"},
            )
        headers = {k.lower(): v for k, v in request.headers.items()}
        headers.update(extra)
        path = request.url.path
        rewrite = (route.get("forwardTo") or {}).get("pathRewrite")
        if rewrite is not None:
            prefix = next(
                (
                    m["uri"]["prefix"]
                    for m in route.get("matchers") or []
                    if "prefix" in (m.get("uri") or {})
                ),
                None,
            )
            path = rewrite + path[len(prefix) :] if prefix and path.startswith(prefix) else rewrite
        if (svc_ns, svc_name) == apim.PORTAL_FRONTEND:
            return self.frontend(path)
        if (svc_ns, svc_name) == apim.PORTAL_SERVER:
            status, body = apim.portal_server(snap, request.method, path, headers, validated)
        elif svc_name == "petstore":
            status, body = apps.petstore(request.method, path)
        else:
            status, body = apps.bookinfo(svc_name, request.method, path, headers)
        return JSONResponse(
            body,
            status_code=status,
            headers={"server": MESH_SERVER, "x-envoy-upstream-service-time": "1"},
        )

    def frontend(self, path: str) -> Response:
        """The portal frontend app: its settings at ``/config.json``, else the one page."""
        headers = {"server": MESH_SERVER, "cache-control": "no-store"}
        if path.endswith("/config.json"):
            cm = None
            if self.store is not None:
                cm = self.store.get("", "configmaps", apim.PORTAL_FRONTEND[0], apim.FRONTEND_CONFIG)
            return JSONResponse(apim.frontend_config(cm), headers=headers)
        return Response(apim.frontend_page(), media_type="text/html", headers=headers)


def _environment_for(snap: Snapshot, host: str) -> Obj | None:
    for env in sorted(snap.all(PORTAL, "environments"), key=order_key):
        if any(host_matches(d, host) for d in (env.get("spec") or {}).get("domains") or []):
            return env
    return None


#: Headers jupyter-server-proxy sets to the public path prefix (``<base>/proxy/<port>``).
PREFIX_HEADERS = ("x-forwarded-prefix", "x-forwarded-context", "x-proxycontextpath")
PORTALS_PATH = "/portals/"


def proxy_prefix(request: Request) -> str | None:
    """The public path prefix of a proxied request; None for direct requests."""
    for name in PREFIX_HEADERS:
        value = request.headers.get(name)
        if value is not None:
            return "/" + value.strip("/") if value.strip("/") else ""
    return None


def portal_by_path(snap: Snapshot, path: str) -> tuple[Obj, str, str] | None:
    """(portal, its base path, the rest) for ``/portals/<ns>/<name>[/rest]``."""
    if not path.startswith(PORTALS_PATH):
        return None
    ns, _, rest = path[len(PORTALS_PATH) :].partition("/")
    name, _, rest = rest.partition("/")
    portal = snap.get(PORTAL, "portals", ns, name) if ns and name else None
    if portal is None:
        return None
    return portal, f"{PORTALS_PATH}{ns}/{name}", "/" + rest


def apim_portal_by_path(snap: Snapshot, path: str) -> tuple[str, str] | None:
    """(the portal's first domain, the rest of the path) for ``/portals/<ns>/<name>[/rest]``
    naming a Gloo Platform Portal (``apimanagement.gloo.solo.io``); rest is "" without the
    trailing slash."""
    if not path.startswith(PORTALS_PATH):
        return None
    ns, _, rest = path[len(PORTALS_PATH) :].partition("/")
    name, slash, rest = rest.partition("/")
    portal = snap.get(APIM, "portals", ns, name) if ns and name else None
    domains = ((portal or {}).get("spec") or {}).get("domains") or []
    if portal is None or not domains:
        return None
    return str(domains[0]), ("/" + rest) if slash else ""


def public_base(request: Request, prefix: str) -> str:
    """``<proto>://<host><prefix>``: the browser's view of this server, from forwarded headers."""
    proto = request.headers.get("x-forwarded-proto") or request.url.scheme
    host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
    return f"{proto.split(',')[0].strip()}://{host.split(',')[0].strip()}{prefix}"


def _portal_for(snap: Snapshot, host: str) -> Obj | None:
    for portal in sorted(snap.all(PORTAL, "portals"), key=order_key):
        if any(host_matches(d, host) for d in (portal.get("spec") or {}).get("domains") or []):
            return portal
    return None


class GatewayApp:
    """The ASGI entry point; keeps one routing snapshot per store resourceVersion."""

    def __init__(self, store: ObjectStore, browser_urls: dict[str, str] | None = None) -> None:
        self.store = store
        self.browser_urls = browser_urls or {}
        self.jwks = JwksCache()
        self.mesh = MeshGateway(self.jwks, store)
        self._snap: Snapshot | None = None
        self._snap_rv = -1
        self._portal_app: Any = None

    def snapshot(self) -> Snapshot:
        rv = self.store.current_rv()
        if self._snap is None or rv != self._snap_rv:
            self._snap = Snapshot.load(self.store)
            self._snap_rv = rv
        return self._snap

    def portal_app(self) -> Any:
        if self._portal_app is None:
            from .portal import PortalWebApp

            self._portal_app = PortalWebApp(self.store, self.snapshot, self.browser_urls)
        return self._portal_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        host = request.headers.get("host", "")
        snap = self.snapshot()
        portal = _portal_for(snap, host)
        if portal is not None:
            await self.portal_app()(portal, scope, receive, send)
            return
        env = _environment_for(snap, host)
        prefix = proxy_prefix(request) if env is None else None
        hit = portal_by_path(snap, request.url.path) if prefix is not None else None
        if prefix is not None and hit is not None:
            portal, base, rest = hit
            inner = {**scope, "path": rest, "raw_path": rest.encode()}
            public = public_base(request, prefix + base)
            await self.portal_app()(portal, inner, receive, send, public=public)
            return
        platform = apim_portal_by_path(snap, request.url.path) if prefix is not None else None
        if platform is not None:
            # Gloo Platform Portal behind the proxy: the frontend and the portal API under
            # /portals/<ns>/<name>/, served as if requested on the portal's domain
            domain, rest = platform
            if rest == "":
                response = RedirectResponse(
                    public_base(request, prefix or "") + request.url.path + "/",
                    status_code=302,
                    headers={"server": MESH_SERVER},
                )
                await response(scope, receive, send)
                return
            headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
            headers.append((b"host", domain.encode()))
            inner = {**scope, "path": rest, "raw_path": rest.encode(), "headers": headers}
            response = await self.mesh.handle(snap, Request(inner, receive))
            await response(inner, receive, send)
            return
        if env is not None:
            response = self.serve_environment(snap, env, request)
        else:
            response = await self.mesh.handle(snap, request)
        await response(scope, receive, send)

    @staticmethod
    def serve_environment(snap: Snapshot, env: Obj, request: Request) -> Response:
        """Gloo Edge serving the routes Gloo Portal generated for an Environment."""
        headers = {"server": EDGE_SERVER}
        if (env.get("status") or {}).get("state") != "Succeeded":
            return Response(status_code=404, headers=headers)
        products = [
            p
            for p in environment_products(snap, env)
            if (p.get("status") or {}).get("state") == "Succeeded"
        ]
        if not products:
            return Response(status_code=404, headers=headers)
        path = strip_base_path(env, products, request.url.path)
        if path is None:
            return Response(status_code=404, headers=headers)
        status, body = apps.petstore(request.method, path)
        if status == 404 and isinstance(body, dict) and body.get("message") == "path not found":
            return Response(status_code=404, headers=headers)
        return Response(
            json.dumps(body, separators=(",", ":")) + "\n",
            status_code=status,
            media_type="application/json",
            headers=headers,
        )


def strip_base_path(env: Obj, products: list[Obj], path: str) -> str | None:
    """The request path below the Environment's ``basePath`` (``{%version%}`` = a product version)."""
    base = ((env.get("spec") or {}).get("basePath") or "").rstrip("/")
    if not base:
        return path
    versions = [
        v.get("name", "") for p in products for v in (p.get("spec") or {}).get("versions") or []
    ]
    for version in versions or [""]:
        prefix = base.replace("{%version%}", version)
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return None


def create_gateway_app(store: ObjectStore, browser_urls: dict[str, str] | None = None) -> ASGIApp:
    """The gateway as an ASGI app, reading the store live.

    ``browser_urls`` maps the IdP's loopback URL to its public one, for proxied portal logins.
    """
    return GatewayApp(store, browser_urls)
