"""Stage 3: ExtAuthServer and ExtAuthPolicy with the published JWKS inlined; wait for ACCEPTED."""

from __future__ import annotations

import json
from typing import Any

from .. import gloo, oidc
from ..errors import NotAcceptedError, OktalabError, Timeout, VerificationError
from ..kube import Obj, accepted_check, authconfig_state, owned_by
from ..results import StageResult
from .context import Context
from .kubeobjects import apply_object, status_now

STAGE = "extauth"
MODES = ("apply", "plan", "check")


def live_jwks(ctx: Context) -> tuple[oidc.Metadata, dict[str, Any]]:
    """The authorization server's metadata and JWKS, read from the server now.

    Never the run folder's copy: after a key rotation that copy lacks the new ACTIVE key,
    and inlining it re-applies a stale policy that refuses every new token (issue 15).
    """
    ctx.env.require("okta_org_url")
    assert ctx.env.okta_org_url
    meta = ctx.discover()
    jwks = oidc.fetch_jwks(meta.jwks_uri)
    if ctx.writes:
        ctx.state["jwks"] = jwks
    return meta, jwks


def run(ctx: Context, result: StageResult) -> None:
    ps = ctx.params
    p = ps.extauth
    cluster = ps.kubernetes.cluster_name
    with result.timed() as t:
        meta, jwks = live_jwks(ctx)
    try:
        kids = oidc.check_jwks(jwks)
    except VerificationError as exc:
        result.add(
            "jwks signing keys",
            "JWKS",
            meta.jwks_uri,
            "checked",
            "failed",
            f"{exc}; nothing applied",
        )
        return
    result.add(
        "jwks signing keys",
        "JWKS",
        meta.jwks_uri,
        "checked",
        detail=f"read now ({p.jwks} mode): " + ", ".join(kids),
        seconds=t["s"],
    )

    server = gloo.ext_auth_server(p, cluster=cluster)
    refusal = shared_server_refusal(ctx, server)
    if refusal:
        result.add(
            "apply",
            "ExtAuthServer",
            f"{p.namespace}/{p.server_name}",
            "unchanged",
            "failed",
            refusal,
        )
        return
    applied = apply_object(ctx, result, server)
    if ctx.writes:
        if applied is None:
            return
        if not _wait_accepted(ctx, result, "ExtAuthServer", p.server_name, p.namespace):
            return
    elif ctx.mode == "check" and applied is not None:
        status_now(ctx, result, applied, STAGE)

    policy = gloo.ext_auth_policy(
        p,
        cluster=cluster,
        jwks=jwks,
        issuer=meta.issuer,
        jwks_uri=meta.jwks_uri,
    )
    if ctx.mode == "check":
        keep_inlined_keys(ctx, policy)
    applied = apply_object(ctx, result, policy, detail=f"routes {p.route_labels}")
    if not ctx.writes:
        if ctx.mode == "check" and applied is not None:
            if status_now(ctx, result, applied, STAGE):
                _selected_routes(ctx, result, applied)
                _authconfig_now(ctx, result, applied)
            stale_keys(ctx, result, applied)
        return
    if applied is None:
        return
    live = _wait_accepted(ctx, result, "ExtAuthPolicy", p.policy_name, p.namespace)
    if not live:
        return
    _selected_routes(ctx, result, live)
    _wait_authconfig(ctx, result, live)


def keep_inlined_keys(ctx: Context, policy: Obj) -> None:
    """Check mode: compare the policy without its inlined key set, which the ``signing
    keys`` row judges by what matters (ACTIVE and NEXT keys present). A set that merely
    differs from today's JWKS (order, an EXPIRED key dropped) still verifies every token."""
    meta = policy["metadata"]
    live = ctx.kube.get("ExtAuthPolicy", meta["name"], meta["namespace"])
    have = inlined_jwks(live or {})
    for mine, theirs in zip(inlined_jwks(policy), have, strict=False):
        if "localJwks" in mine and "localJwks" in theirs:
            mine["localJwks"] = theirs["localJwks"]


def _selected_routes(ctx: Context, result: StageResult, live: Obj) -> None:
    p = ctx.params.extauth
    selected = (live.get("status") or {}).get("numSelectedRoutes")
    if selected is not None:
        result.add(
            "selected routes",
            "ExtAuthPolicy",
            p.policy_name,
            "checked",
            "ok" if selected else "failed",
            f"{selected} route(s) selected"
            if selected
            else f"no route carries the labels {p.route_labels}",
        )


def _authconfig_now(ctx: Context, result: StageResult, policy: Obj) -> None:
    ac = find_authconfig(ctx, policy)
    state, reason = authconfig_state(ac)
    if ac is None:
        result.add(
            "status",
            "AuthConfig",
            policy["metadata"]["name"],
            "checked",
            "failed",
            "no AuthConfig generated for the policy",
        )
        return
    name = f"{ac['metadata']['namespace']}/{ac['metadata']['name']}"
    if state == "Accepted":
        result.add("status", "AuthConfig", name, "checked", detail="Accepted")
    else:
        result.add("status", "AuthConfig", name, "checked", "failed", f"{state}: {reason}")


def inlined_jwks(policy: Obj) -> list[dict[str, Any]]:
    """The ``jwt`` settings of each ``accessTokenValidation`` in an ExtAuthPolicy's glooAuth."""
    configs = (((policy.get("spec") or {}).get("config") or {}).get("glooAuth") or {}).get(
        "configs"
    ) or []
    out = []
    for cfg in configs:
        jwt = (((cfg or {}).get("oauth2") or {}).get("accessTokenValidation") or {}).get("jwt")
        if isinstance(jwt, dict):
            out.append(jwt)
    return out


def key_statuses(ctx: Context, jwks: dict[str, Any]) -> dict[str, str]:
    """``{kid: status}`` of the authorization server's keys: ACTIVE, NEXT, EXPIRED, from
    ``GET /api/v1/authorizationServers/{id}/credentials/keys`` (Okta Management API,
    AuthorizationServerJsonWebKey.status). Without access to it (no token, the org server),
    every key of the published JWKS is ``published``."""
    try:
        keys = ctx.okta.get(
            f"/api/v1/authorizationServers/{ctx.params.authorization_server}/credentials/keys"
        )
        return {str(k["kid"]): str(k.get("status", "")) for k in keys if k.get("kid")}
    except OktalabError:
        return {str(k["kid"]): "published" for k in oidc.signing_keys(jwks) if k.get("kid")}


def stale_keys(ctx: Context, result: StageResult, policy: Obj) -> None:
    """Check mode: do the keys inlined in the live policy still verify the org's tokens?

    Fails when they lack the ACTIVE key (every new token is refused now) or the NEXT key the
    org already publishes (every token will be refused after the next rotation). A policy on
    ``remoteJwks`` follows the server by itself.
    """
    name = f"{policy['metadata'].get('namespace')}/{policy['metadata']['name']}"
    meta, jwks = live_jwks(ctx)
    statuses = key_statuses(ctx, jwks)
    for jwt in inlined_jwks(policy):
        if "remoteJwks" in jwt:
            url = (jwt.get("remoteJwks") or {}).get("url")
            result.add(
                "signing keys",
                "ExtAuthPolicy",
                name,
                "checked",
                detail=f"remoteJwks {url}: the ext-auth service fetches the keys itself",
            )
            continue
        try:
            inline = json.loads(str((jwt.get("localJwks") or {}).get("inlineString", "")))
            have = [str(k.get("kid")) for k in inline.get("keys") or []]
        except (ValueError, AttributeError):
            have = []
        active = [k for k, st in statuses.items() if st == "ACTIVE"]
        nxt = [k for k, st in statuses.items() if st == "NEXT"]
        gone = [k for k in have if k not in statuses]
        missing_active = [k for k in active if k not in have]
        missing_next = [k for k in nxt if k not in have]
        repair = f"repair: {ctx.repair(STAGE)}"
        if missing_active:
            detail = (
                f"stale keys: the policy inlines [{', '.join(have)}] but the authorization "
                f"server signs with {missing_active[0]} (ACTIVE) now, so valid tokens are refused"
            )
        elif missing_next:
            detail = (
                f"the policy lacks the NEXT key {missing_next[0]} the org already publishes: "
                "tokens will be refused after the next rotation"
            )
        elif statuses and not any(k in statuses for k in have):
            detail = f"none of the inlined keys [{', '.join(have)}] is published any more"
        else:
            result.add(
                "signing keys",
                "ExtAuthPolicy",
                name,
                "checked",
                detail=f"inlined [{', '.join(have)}] include the ACTIVE"
                + (" and NEXT keys" if nxt else " key"),
            )
            continue
        if gone:
            detail += f"; no longer published: {', '.join(gone)}"
        result.add(
            "signing keys", "ExtAuthPolicy", name, "checked", "failed", f"{detail}; {repair}"
        )


def _wait_accepted(
    ctx: Context, result: StageResult, kind: str, name: str, namespace: str
) -> Obj | None:
    with result.timed() as t:
        try:
            obj = ctx.kube.wait(
                kind,
                name,
                namespace,
                accepted_check(kind),
                timeout=ctx.params.extauth.wait_seconds,
                what="ACCEPTED",
            )
        except (NotAcceptedError, Timeout) as exc:
            result.add(
                "status", kind, f"{namespace}/{name}", "checked", "failed", str(exc), seconds=t["s"]
            )
            return None
    result.add("status", kind, f"{namespace}/{name}", "checked", detail="ACCEPTED", seconds=t["s"])
    return obj


def shared_server_refusal(ctx: Context, server: Obj) -> str | None:
    """Why writing ``server`` would break other parameter sets' ExtAuthPolicies, or None.

    The ExtAuthServer is shared: policies of other sets name it. A change is refused when
    the destination it names does not exist or has no port of that name (Gloo would mark
    the server INVALID and every policy using it would stop working).
    """
    meta = server["metadata"]
    live = ctx.kube.get("ExtAuthServer", meta["name"], meta["namespace"], keep=True)
    if live is None or live.get("spec") == server.get("spec"):
        return None
    users = [
        f"{pol['metadata'].get('namespace')}/{pol['metadata']['name']}"
        for pol in ctx.kube.list("ExtAuthPolicy", "")
        if not owned_by(pol, ctx.params.name)
        and ((pol.get("spec") or {}).get("config") or {}).get("server", {}).get("name")
        == meta["name"]
    ]
    if not users:
        return None
    dest = server["spec"]["destinationServer"]
    ref, port = dest["ref"], dest.get("port") or {}
    svc = ctx.kube.get("Service", ref["name"], ref["namespace"])
    if svc is None:
        problem = f"Service {ref['namespace']}/{ref['name']} does not exist"
    else:
        names = [pt.get("name") for pt in (svc.get("spec") or {}).get("ports") or []]
        numbers = [pt.get("port") for pt in (svc.get("spec") or {}).get("ports") or []]
        if "name" in port and port["name"] not in names:
            problem = f"Service {ref['namespace']}/{ref['name']} has no port named {port['name']!r} (ports: {', '.join(map(str, names))})"
        elif "number" in port and port["number"] not in numbers:
            problem = f"Service {ref['namespace']}/{ref['name']} has no port {port['number']}"
        else:
            return None
    return (
        f"refused: {problem}; ExtAuthPolicies of other owners use this server "
        f"({', '.join(users)}) and would stop working"
    )


def find_authconfig(ctx: Context, policy: Obj) -> Obj | None:
    """The AuthConfig generated for ``policy``, in any namespace and in any served group.

    Matched by its owner reference (the policy's uid), else by Gloo's parent labels
    (``gloo.solo.io/parent_{kind,name,namespace}``, as the Gloo Mesh translator sets them on
    what it generates; an owner reference cannot cross namespaces). The AuthConfig group is found by discovery (``enterprise.gloo.solo.io`` in 2.5,
    ``extauth.solo.io`` in 2.14).
    """
    pm = policy["metadata"]
    uid = pm.get("uid")
    candidates = ctx.kube.list_all("AuthConfig")
    for ac in candidates:
        if any(o.get("uid") == uid for o in ac["metadata"].get("ownerReferences") or []):
            return ac
    for ac in candidates:
        labels = ac["metadata"].get("labels") or {}
        if (
            labels.get(PARENT + "kind") == "ExtAuthPolicy"
            and labels.get(PARENT + "name") == pm["name"]
            and labels.get(PARENT + "namespace") == pm.get("namespace")
        ):
            return ac
    return None


#: Label prefix the Gloo Mesh translator puts on generated objects, naming their parent.
PARENT = "gloo.solo.io/parent_"


def _wait_authconfig(ctx: Context, result: StageResult, policy: Obj) -> None:
    import time

    p = ctx.params.extauth
    deadline = time.monotonic() + p.wait_seconds
    delay = 0.05
    with result.timed() as t:
        while True:
            ac = find_authconfig(ctx, policy)
            state, reason = authconfig_state(ac)
            if ac is not None and state in ("Accepted", "Rejected", "Warning"):
                break
            if time.monotonic() > deadline:
                what = "no AuthConfig was generated" if ac is None else f"AuthConfig stayed {state}"
                result.add(
                    "status",
                    "AuthConfig",
                    p.policy_name,
                    "checked",
                    "failed",
                    f"{what} within {p.wait_seconds:.0f}s",
                    seconds=t["s"],
                )
                return
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    name = f"{ac['metadata']['namespace']}/{ac['metadata']['name']}"
    if state == "Accepted":
        result.add("status", "AuthConfig", name, "checked", detail="Accepted", seconds=t["s"])
    else:
        result.add(
            "status", "AuthConfig", name, "checked", "failed", f"{state}: {reason}", seconds=t["s"]
        )
