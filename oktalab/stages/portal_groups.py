"""Stage ``portal_groups`` (guide 1, step 1): Gloo Platform Portal, portal groups by claim.

Applies what the ``portal`` parameters say: the API products (RouteTables with
``portalMetadata``), the portal's RouteTable on the gateway (the portal server's ``/v1`` API
labelled so that stage 3's ExtAuthPolicy guards it; the frontend app on ``/``), the frontend's
settings (client id and endpoints of stage 1/2), the ``Portal`` and one ``PortalGroup`` per
group (claims key/value → products). Waits for each status, with the controller's message on
failure, then checks through the gateway with bearer tokens: no token is refused, and the test
user's token lists exactly the products that its claims grant. The browser half of step 5 runs
in the ``verify`` stage (:mod:`oktalab.stages.portal_browser`).

``plan``: the same manifests as server-side dry runs, one ``planned`` row each (no status
waits, no sign-in). ``check``: the same dry runs as drift rows, then each object's status as
it is now (no waiting), the guard and published-API checks and the bearer-token checks
(a sign-in and reads: no write).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from .. import gloo, oidc, tls
from ..errors import NotAcceptedError, Timeout
from ..kube import Obj, accepted_check, owned_by
from ..params import GatewayPortalParams
from ..results import StageResult
from .context import Context
from .kubeobjects import apply_object, status_now
from .okta_app import app_of_run, plan_without_app

STAGE = "portal_groups"
MODES = ("apply", "plan", "check")


def claims_of(access_token: str) -> dict[str, Any]:
    """The payload of a JWT (read, not verified: the gateway verifies it)."""
    payload = access_token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def granted_products(p: GatewayPortalParams, claims: dict[str, Any]) -> list[str]:
    """Product ids a token with ``claims`` may see: the unrestricted ones, plus those of every
    group whose claims all match (a list claim such as ``groups`` matches by membership)."""

    def match(key: str, value: str) -> bool:
        have = claims.get(key)
        return value in [str(v) for v in have] if isinstance(have, list) else str(have) == value

    out = {x.id for x in p.api_products if not x.restricted}
    for g in p.groups:
        if all(v is not None and match(k, str(v)) for k, v in g.claims.items()):
            out |= set(g.products)
    return sorted(out)


def _wait(
    ctx: Context, result: StageResult, p: GatewayPortalParams, kind: str, name: str, ns: str
) -> Obj | None:
    short = kind.split(".")[0]
    with result.timed() as t:
        try:
            obj = ctx.kube.wait(
                kind, name, ns, accepted_check(short), timeout=p.wait_seconds, what="ACCEPTED"
            )
        except (NotAcceptedError, Timeout) as exc:
            result.add(
                "status", short, f"{ns}/{name}", "checked", "failed", str(exc), seconds=t["s"]
            )
            return None
    result.add("status", short, f"{ns}/{name}", "checked", detail="ACCEPTED", seconds=t["s"])
    return obj


def run(ctx: Context, result: StageResult) -> None:
    ps = ctx.params
    p = ps.gateway_portal
    if p is None:
        result.add(
            "portal", "Stage", STAGE, "checked", "skipped", "no `portal` section in the parameters"
        )
        return
    app = app_of_run(ctx)
    if not app:
        if ctx.mode == "plan":  # the app's client id goes into the frontend's settings
            plan_without_app(result, STAGE, "the portal objects")
            return
        result.add(
            "prerequisites",
            "Stage",
            STAGE,
            "checked",
            "failed",
            "no app in this run: run okta_app first",
        )
        return
    ctx.env.require("okta_org_url")
    assert ctx.env.okta_org_url
    cluster = ps.kubernetes.cluster_name
    origin = ctx.portal_origin()
    meta = ctx.discover()
    if not meta.end_session_endpoint:
        result.add(
            "end session",
            "AuthorizationServer",
            meta.issuer,
            "checked",
            "failed",
            "the metadata has no end_session_endpoint: the frontend cannot log out",
        )

    manifests: list[Obj] = [gloo.api_product_table(p, x, cluster=cluster) for x in p.api_products]
    manifests.append(gloo.portal_route_table(p, cluster=cluster))
    manifests.append(
        gloo.frontend_config(
            p,
            client_id=app["client_id"],
            # the frontend runs in the browser: the org's public address (behind a proxy)
            authorize=ctx.browser_url(meta.authorization_endpoint),
            token=ctx.browser_url(meta.token_endpoint),
            logout=ctx.browser_url(meta.end_session_endpoint),
        )
    )
    manifests.append(gloo.platform_portal(p, origin=origin))
    manifests.extend(gloo.platform_portal_group(p, g) for g in p.groups)

    kube = ctx.kube
    for m in manifests:
        detail = ""
        if m["kind"] == "PortalGroup":
            g = next(x for x in p.groups if x.name == m["metadata"]["name"])
            detail = f"claims {g.claims} → {', '.join(g.products)}"
        elif m["kind"] == "RouteTable" and "portalMetadata" in m["spec"]:
            pm = m["spec"]["portalMetadata"]
            detail = f"API product {pm['apiProductId']} {pm['apiVersion']}"
        if apply_object(ctx, result, m, detail=detail) is None and ctx.writes:
            return
    if ctx.mode == "plan":
        return

    accepted: dict[tuple[str, str, str], Obj] = {}  # as last read, for the checks below
    for m in manifests:
        if m["kind"] in ("RouteTable", "Portal", "PortalGroup"):
            md = m["metadata"]
            kind = m["kind"] if m["kind"] != "Portal" else "Portal.apimanagement.gloo.solo.io"
            if not ctx.writes:  # check: the status as it is now
                obj = kube.get(kind, md["name"], md["namespace"])
                if obj is None:
                    continue
                status_now(ctx, result, obj, STAGE)
            else:
                obj = _wait(ctx, result, p, kind, md["name"], md["namespace"])
            if obj is None:
                return
            accepted[(m["kind"], md["namespace"], md["name"])] = obj

    # the portal API route is guarded by stage 3's ExtAuthPolicy
    def is_guarded(rt: Obj) -> bool:
        applied = (rt.get("status") or {}).get("numAppliedRoutePolicies") or {}
        return any("ExtAuthPolicy" in k and v for k, v in applied.items())

    # the status read by the wait when it already says so, else a fresh read
    rt = accepted.get(("RouteTable", p.namespace, p.route_table)) or {}
    guarded = is_guarded(rt) or is_guarded(kube.get("RouteTable", p.route_table, p.namespace) or {})
    result.add(
        "portal API guarded",
        "ExtAuthPolicy",
        f"{ps.extauth.namespace}/{ps.extauth.policy_name}",
        "checked",
        "ok" if guarded else "failed",
        f"selects the portal API route (labels {p.route_labels})"
        if guarded
        else f"no ExtAuthPolicy selects the portal API route labels {p.route_labels}: run extauth with these labels",
    )
    portal = accepted.get(("Portal", p.namespace, p.name)) or {}
    count = (portal.get("status") or {}).get("routeTablesCount")
    if count != len(p.api_products):
        portal = kube.get("Portal.apimanagement.gloo.solo.io", p.name, p.namespace) or {}
        count = (portal.get("status") or {}).get("routeTablesCount")
    result.add(
        "published APIs",
        "Portal",
        f"{p.namespace}/{p.name}",
        "checked",
        "ok" if count == len(p.api_products) else "failed",
        f"routeTablesCount {count}, expected {len(p.api_products)}",
    )
    ctx.state["gateway_portal"] = {"origin": origin}
    bearer_checks(ctx, result, p, origin)


def frontend_token(ctx: Context, p: GatewayPortalParams) -> str:
    """The test user's access token for the frontend's app and scopes (headless sign-in)."""
    env = ctx.env
    env.require("okta_org_url", "test_username", "test_password")
    assert env.okta_org_url and env.test_username and env.test_password
    tokens = oidc.headless_login(
        org_url=env.okta_org_url,
        metadata=ctx.discover(),
        client_id=ctx.state["app"]["client_id"],
        redirect_uri=ctx.redirect_uris()[0],
        username=env.test_username,
        password=env.test_password,
        scopes=p.scopes,
    )
    return tokens.access_token.reveal()


def recall(ctx: Context, p: GatewayPortalParams) -> bool:
    """``state["gateway_portal"]`` as this stage leaves it, for ``verify`` run on its own.

    True when this run already has it, or when this set's ``Portal`` is in the cluster (found
    by name and checked by its ``oktalab.io/parameter-set`` label): the frontend's origin and
    the products the test user's claims grant (one headless sign-in). Needs ``state["app"]``.
    """
    if "expected_products" in (ctx.state.get("gateway_portal") or {}):
        return True
    portal = ctx.kube.get("Portal.apimanagement.gloo.solo.io", p.name, p.namespace)
    if not owned_by(portal, ctx.params.name) or not ctx.state.get("app"):
        return False
    want = granted_products(p, claims_of(frontend_token(ctx, p)))
    ctx.state["gateway_portal"] = {"origin": ctx.portal_origin(), "expected_products": want}
    return True


def bearer_checks(ctx: Context, result: StageResult, p: GatewayPortalParams, origin: str) -> None:
    """Through the gateway, without a browser: no token → refused; the test user's token →
    ``/v1/me`` is the user and ``/v1/apis`` lists exactly what the claims grant."""
    env = ctx.env
    gateway = ctx.gateway_url()
    if not gateway:
        result.add(
            "portal API",
            "GatewayCheck",
            "/v1/apis",
            "checked",
            "skipped",
            "no gateway URL ($OKTALAB_GATEWAY_URL)",
        )
        return
    host = origin.split("://", 1)[1]
    headers = {"Host": host}
    with httpx.Client(base_url=gateway, headers=headers, timeout=15, verify=tls.context()) as http:
        resp = http.get("/v1/apis")
        expect = ctx.params.verify.expect_missing
        result.add(
            "portal API without token",
            "GatewayCheck",
            "/v1/apis",
            "checked",
            "ok" if resp.status_code == expect else "failed",
            f"HTTP {resp.status_code}, expected {expect}",
        )
        if not (env.okta_org_url and env.test_username and env.test_password):
            result.add(
                "portal API with token",
                "GatewayCheck",
                "/v1/apis",
                "checked",
                "skipped",
                "no test user (OKTALAB_TEST_USERNAME / _PASSWORD)",
            )
            return
        token = frontend_token(ctx, p)
        auth = {"Authorization": f"Bearer {token}"}
        me = http.get("/v1/me", headers=auth)
        who = me.json().get("email") or me.json().get("username") if me.status_code == 200 else None
        result.add(
            "portal /me",
            "GatewayCheck",
            "/v1/me",
            "checked",
            "ok" if me.status_code == 200 and who else "failed",
            f"HTTP {me.status_code} {who or ''}".strip(),
        )
        apis = http.get("/v1/apis", headers=auth)
        seen = (
            sorted({a.get("apiProductId", "") for a in apis.json()})
            if apis.status_code == 200
            else None
        )
        want = granted_products(p, claims_of(token))
        result.add(
            "portal /apis by claims",
            "GatewayCheck",
            env.test_username,
            "checked",
            "ok" if seen == want else "failed",
            f"listed {seen}, the claims grant {want}",
        )
        ctx.state["gateway_portal"]["expected_products"] = want
