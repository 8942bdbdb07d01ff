"""Gloo Platform Portal (``apimanagement.gloo.solo.io/v2``): statuses, portal server, frontend.

Shapes follow the GMG 2.5 protos (``apimanagement/v2/portal.proto``, ``portal_group.proto``,
``networking/v2/route_table.proto`` ``PortalMetadata``):

- An API product is a RouteTable with ``spec.portalMetadata.apiProductId`` (and ``apiVersion``),
  selected by ``Portal.spec.apis`` (ObjectSelectors on route tables).
- A ``PortalGroup`` grants the route tables its ``accessLevel.apis`` select to every user whose
  token claims match all the claims of any of its ``membership`` entries.
- The portal server (``GET /v1/me``, ``GET /v1/apis``, Gloo's portal server REST API) runs
  behind the gateway; it trusts the claims of a bearer token that the route's ExtAuthPolicy
  validated, as the real one trusts ext-auth. Without one the caller is anonymous: ``/me`` is
  401 and a private portal lists nothing.
- The frontend plays the portal's starter app: a single-page app doing the authorization code
  flow with PKCE in the browser (see ``devportal_frontend.html``).
"""

from __future__ import annotations

import base64
import json
from importlib import resources
from typing import Any

from .model import (
    APIM,
    NETWORKING,
    SECURITY,
    Snapshot,
    approval,
    labels_match,
    meta,
    name_of,
    ns_of,
    order_key,
    policy_selects_route,
)

Obj = dict[str, Any]

#: The portal server and frontend workloads seeded in the cluster (see ``seed.py``).
PORTAL_SERVER = ("gloo-mesh", "gloo-mesh-portal-server")
PORTAL_FRONTEND = ("gloo-mesh", "portal-frontend")
#: The ConfigMap holding the frontend's build-time settings (the starter app's VITE_* env).
FRONTEND_CONFIG = "portal-frontend-config"
FRONTEND_KEYS = (
    "VITE_CLIENT_ID",
    "VITE_AUTH_ENDPOINT",
    "VITE_TOKEN_ENDPOINT",
    "VITE_LOGOUT_ENDPOINT",
    "VITE_PORTAL_SERVER_URL",
    "VITE_SCOPES",
)


# -- selection ------------------------------------------------------------------------------
def selects(selector: Obj, obj: Obj, snap: Snapshot) -> bool:
    """Whether a ``common.gloo.solo.io.ObjectSelector`` selects ``obj``."""
    if selector.get("name") and selector["name"] != name_of(obj):
        return False
    if selector.get("namespace") and selector["namespace"] != ns_of(obj):
        return False
    if not snap.cluster_known(selector.get("cluster")):
        return False
    return labels_match(selector.get("labels"), meta(obj).get("labels"))


def selected_tables(selectors: list[Obj], snap: Snapshot) -> list[Obj]:
    """Route tables selected by any of ``selectors``, oldest first."""
    return [
        rt
        for rt in sorted(snap.all(NETWORKING, "routetables"), key=order_key)
        if any(selects(s or {}, rt, snap) for s in selectors)
    ]


def is_api(rt: Obj) -> bool:
    """A route table is an API product version when its portal metadata names one."""
    pm = (rt.get("spec") or {}).get("portalMetadata") or {}
    return bool(pm.get("apiProductId"))


def api_id(rt: Obj, snap: Snapshot) -> str:
    """``<route table>-<namespace>-<cluster>``, the portal server's ``apiId`` format."""
    return f"{name_of(rt)}-{ns_of(rt)}-{snap.cluster_name or 'cluster1'}"


def _pods_selected(selector: Obj, snap: Snapshot) -> int:
    sel = selector.get("selector") or {}
    return sum(
        1
        for pod in snap.all("", "pods")
        if (not sel.get("namespace") or sel["namespace"] == ns_of(pod))
        and (not sel.get("name") or sel["name"] == name_of(pod))
        and labels_match(sel.get("labels"), meta(pod).get("labels"))
    )


# -- statuses -------------------------------------------------------------------------------
def portal_statuses(
    snap: Snapshot, workspace_of: dict[str, str]
) -> list[tuple[Obj, str, str, Obj]]:
    """(portal, approval, message, counters) for every Portal, oldest first.

    INVALID: a domain already served by an older Portal (proto comment on ``domains``), or no
    running portal backend selected. WARNING: an ``apis`` selector that selects no route table
    with ``portalMetadata.apiProductId`` (the field the proto calls required for the portal).
    """
    out = []
    taken: dict[str, Obj] = {}
    policies = [p for p in snap.all(SECURITY, "extauthpolicies") if approval(p) == "ACCEPTED"]
    for portal in sorted(snap.all(APIM, "portals"), key=order_key):
        spec = portal.get("spec") or {}
        backends = sum(
            _pods_selected(s or {}, snap) for s in spec.get("portalBackendSelectors") or []
        )
        tables = [rt for rt in selected_tables(spec.get("apis") or [], snap) if is_api(rt)]
        ext = {
            (ns_of(p), name_of(p))
            for p in policies
            for rt in tables
            for r in (rt.get("spec") or {}).get("http") or []
            if policy_selects_route(p, rt, r, snap)
        }
        counters: Obj = {
            "extAuthPolicyCount": len(ext),
            "ownerWorkspace": workspace_of.get(ns_of(portal), ""),
            "portalBackendCount": backends,
            "rateLimitPolicyCount": 0,
            "routeTablesCount": len(tables),
        }
        state, message = "ACCEPTED", ""
        clash = next((d for d in spec.get("domains") or [] if d in taken), None)
        if clash:
            other = taken[clash]
            state = "INVALID"
            message = f"domain {clash} is already used by Portal {ns_of(other)}/{name_of(other)}"
        elif not backends:
            state = "INVALID"
            message = "portalBackendSelectors: no running portal backend (portal server) selected"
        else:
            for i, sel in enumerate(spec.get("apis") or []):
                if not any(is_api(rt) for rt in selected_tables([sel or {}], snap)):
                    state = "WARNING"
                    message = f"apis[{i}] selects no route table with portalMetadata.apiProductId"
                    break
            for d in spec.get("domains") or []:
                taken[d] = portal
        out.append((portal, state, message, counters))
    return out


def group_problem(group: Obj, snap: Snapshot) -> tuple[str, str]:
    """(approval, message) of a PortalGroup: INVALID for an empty claim key or value or no
    membership; WARNING when ``accessLevel.apis`` selects no API route table."""
    spec = group.get("spec") or {}
    members = spec.get("membership") or []
    if not members:
        return "INVALID", "membership: at least one membership entry with claims is required"
    for i, m in enumerate(members):
        claims = (m or {}).get("claims") or []
        if not claims:
            return "INVALID", f"membership[{i}].claims: at least one claim is required"
        for j, c in enumerate(claims):
            if not (c or {}).get("key") or not (c or {}).get("value"):
                return "INVALID", f"membership[{i}].claims[{j}]: key and value are required"
    apis = (spec.get("accessLevel") or {}).get("apis") or []
    for i, sel in enumerate(apis):
        if not any(is_api(rt) for rt in selected_tables([sel or {}], snap)):
            return "WARNING", f"accessLevel.apis[{i}] selects no route table with portalMetadata"
    return "ACCEPTED", ""


# -- the portal server ----------------------------------------------------------------------
def token_claims(authorization: str | None) -> Obj | None:
    """Claims of a bearer JWT (already validated by ext-auth upstream), or None."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    parts = authorization[7:].strip().split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def claim_matches(claims: Obj, key: str, value: str) -> bool:
    """A claim matches its string value, or contains it when the claim is a list (groups)."""
    have = claims.get(key)
    if isinstance(have, list):
        return value in [str(v) for v in have]
    return have is not None and str(have) == value


def member_groups(claims: Obj, snap: Snapshot) -> list[Obj]:
    """ACCEPTED PortalGroups whose membership the claims satisfy (all claims of any entry)."""
    out = []
    for group in sorted(snap.all(APIM, "portalgroups"), key=order_key):
        if approval(group) not in ("ACCEPTED", "WARNING"):
            continue
        for m in (group.get("spec") or {}).get("membership") or []:
            claims_req = (m or {}).get("claims") or []
            if claims_req and all(
                claim_matches(claims, c.get("key", ""), c.get("value", "")) for c in claims_req
            ):
                out.append(group)
                break
    return out


def serving_portal(snap: Snapshot, host: str) -> Obj | None:
    """The accepted Portal whose backend is the seeded portal server, preferring a domain match."""
    from .gateway import host_matches

    portals = [
        p
        for p in sorted(snap.all(APIM, "portals"), key=order_key)
        if approval(p) in ("ACCEPTED", "WARNING")
    ]
    for p in portals:
        if any(host_matches(d, host) for d in (p.get("spec") or {}).get("domains") or []):
            return p
    return portals[0] if portals else None


def visible_apis(snap: Snapshot, portal: Obj, claims: Obj | None) -> list[Obj]:
    """The portal's API route tables this caller may see (proto ``Visibility`` rules)."""
    spec = portal.get("spec") or {}
    tables = [rt for rt in selected_tables(spec.get("apis") or [], snap) if is_api(rt)]
    vis = spec.get("visibility") or {}
    granted: set[tuple[str, str]] = set()
    if claims is not None:
        for group in member_groups(claims, snap):
            sels = ((group.get("spec") or {}).get("accessLevel") or {}).get("apis") or []
            granted |= {(ns_of(rt), name_of(rt)) for rt in selected_tables(sels, snap)}
    out = []
    for rt in tables:
        private_labels = vis.get("privateAPILabels") or {}
        public = bool(vis.get("public")) and not (
            private_labels and labels_match(private_labels, meta(rt).get("labels"))
        )
        if public or (ns_of(rt), name_of(rt)) in granted:
            out.append(rt)
    return out


def api_entry(rt: Obj, portal: Obj, snap: Snapshot) -> Obj:
    """One element of ``GET /v1/apis`` (the portal server's ``API`` schema)."""
    pm = (rt.get("spec") or {}).get("portalMetadata") or {}
    return {
        "apiId": api_id(rt, snap),
        "apiProductId": pm.get("apiProductId", ""),
        "apiProductDisplayName": pm.get("apiProductDisplayName") or pm.get("apiProductId", ""),
        "apiVersion": pm.get("apiVersion", ""),
        "title": pm.get("title", ""),
        "description": pm.get("description", ""),
        "termsOfService": pm.get("termsOfService", ""),
        "contact": pm.get("contact", ""),
        "license": pm.get("license", ""),
        "usagePlans": [
            u.get("name", "") for u in (portal.get("spec") or {}).get("usagePlans") or []
        ],
        "customMetadata": dict(pm.get("customMetadata") or {}),
    }


def portal_server(
    snap: Snapshot, method: str, path: str, headers: dict[str, str], validated: bool
) -> tuple[int, Any]:
    """The portal server's REST API: (status, JSON body).

    ``validated``: the route's ExtAuthPolicy checked the bearer token; only then are its claims
    trusted. ``/v1/me`` → 401 without them; ``/v1/apis`` → what the portal groups grant.
    """
    if method not in ("GET", "HEAD"):
        return 405, {"message": "method not allowed"}
    claims = token_claims(headers.get("authorization")) if validated else None
    portal = serving_portal(snap, headers.get("host", ""))
    if path.rstrip("/") == "/v1/me":
        if claims is None:
            return 401, {"message": "Unauthorized. The user's identity token is invalid."}
        email = claims.get("email") or claims.get("sub", "")
        return 200, {
            "id": str(claims.get("uid") or claims.get("sub", "")),
            "email": email,
            "name": claims.get("name") or email,
            "username": claims.get("preferred_username") or claims.get("sub", ""),
        }
    if path.rstrip("/") == "/v1/apis":
        if portal is None:
            return 200, []
        return 200, [api_entry(rt, portal, snap) for rt in visible_apis(snap, portal, claims)]
    if path.rstrip("/") == "/v1/usage-plans":
        if portal is None:
            return 200, []
        return 200, [
            {"name": u.get("name", ""), "authPolicies": [], "apiIds": []}
            for u in (portal.get("spec") or {}).get("usagePlans") or []
        ]
    return 404, {"message": "not found"}


# -- the frontend ---------------------------------------------------------------------------
def frontend_config(configmap: Obj | None) -> Obj:
    """The frontend's settings from its ConfigMap (empty values when it is missing)."""
    data = (configmap or {}).get("data") or {}
    return {k: str(data.get(k, "")) for k in FRONTEND_KEYS}


def frontend_page() -> str:
    """The single page of the frontend app (HTML + inline script)."""
    return resources.files(__package__).joinpath("devportal_frontend.html").read_text("utf-8")
