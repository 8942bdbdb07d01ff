"""Stage 3: ExtAuthServer and ExtAuthPolicy with the published JWKS inlined; wait for ACCEPTED."""

from __future__ import annotations

from .. import gloo, oidc
from ..errors import NotAcceptedError, Timeout, VerificationError
from ..kube import Obj, accepted_check, authconfig_state
from ..results import StageResult
from .context import Context

STAGE = "extauth"


def _jwks(ctx: Context, result: StageResult) -> dict[str, object]:
    jwks = ctx.state.get("jwks")
    if jwks:
        return jwks
    ctx.env.require("okta_org_url")
    assert ctx.env.okta_org_url
    meta = oidc.discover(ctx.env.okta_org_url, ctx.params.authorization_server)
    jwks = oidc.fetch_jwks(meta.jwks_uri)
    ctx.state["jwks"] = jwks
    result.add(
        "jwks",
        "JWKS",
        meta.jwks_uri,
        "checked",
        detail="fetched (the claims stage had not run in this run dir)",
    )
    return jwks


def run(ctx: Context, result: StageResult) -> None:
    ps = ctx.params
    p = ps.extauth
    cluster = ps.kubernetes.cluster_name
    jwks = _jwks(ctx, result)
    try:
        kids = oidc.check_jwks(jwks)
    except VerificationError as exc:
        result.add(
            "jwks signing keys", "JWKS", "inline", "checked", "failed", f"{exc}; nothing applied"
        )
        return
    result.add("jwks signing keys", "JWKS", "inline", "checked", detail=", ".join(kids))

    kube = ctx.kube
    server = gloo.ext_auth_server(p, cluster=cluster)
    with result.timed() as t:
        action, _ = kube.ensure(server, ps.name)
    result.add("apply", "ExtAuthServer", f"{p.namespace}/{p.server_name}", action, seconds=t["s"])
    if not _wait_accepted(ctx, result, "ExtAuthServer", p.server_name, p.namespace):
        return

    issuer = (ctx.state.get("metadata") or {}).get("issuer")
    policy = gloo.ext_auth_policy(p, cluster=cluster, jwks=jwks, issuer=issuer)
    with result.timed() as t:
        action, _ = kube.ensure(policy, ps.name)
    result.add(
        "apply",
        "ExtAuthPolicy",
        f"{p.namespace}/{p.policy_name}",
        action,
        detail=f"routes {p.route_labels}",
        seconds=t["s"],
    )
    live = _wait_accepted(ctx, result, "ExtAuthPolicy", p.policy_name, p.namespace)
    if not live:
        return
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
    _wait_authconfig(ctx, result, live)


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


def find_authconfig(ctx: Context, policy: Obj) -> Obj | None:
    """The AuthConfig generated for ``policy``: owned by it, else named after it."""
    ns = policy["metadata"]["namespace"]
    uid = policy["metadata"].get("uid")
    candidates = ctx.kube.list("AuthConfig", ns)
    for ac in candidates:
        if any(o.get("uid") == uid for o in ac["metadata"].get("ownerReferences") or []):
            return ac
    for ac in candidates:
        if ac["metadata"]["name"].startswith(policy["metadata"]["name"]):
            return ac
    return None


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
