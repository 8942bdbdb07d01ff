"""Stage 3: ExtAuthServer and ExtAuthPolicy with the published JWKS inlined; wait for ACCEPTED."""

from __future__ import annotations

from .. import gloo, oidc
from ..errors import NotAcceptedError, Timeout, VerificationError
from ..kube import Obj, accepted_check, authconfig_state, owned_by
from ..results import StageResult
from .context import Context
from .kubeobjects import apply_object

STAGE = "extauth"


def _jwks(ctx: Context, result: StageResult) -> dict[str, object]:
    jwks = ctx.state.get("jwks")
    if jwks:
        return jwks
    ctx.env.require("okta_org_url")
    assert ctx.env.okta_org_url
    meta = ctx.discover()
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
    if apply_object(ctx, result, server) is None:
        return
    if not _wait_accepted(ctx, result, "ExtAuthServer", p.server_name, p.namespace):
        return

    issuer = (ctx.state.get("metadata") or {}).get("issuer")
    policy = gloo.ext_auth_policy(p, cluster=cluster, jwks=jwks, issuer=issuer)
    if apply_object(ctx, result, policy, detail=f"routes {p.route_labels}") is None:
        return
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


def shared_server_refusal(ctx: Context, server: Obj) -> str | None:
    """Why writing ``server`` would break other parameter sets' ExtAuthPolicies, or None.

    The ExtAuthServer is shared: policies of other sets name it. A change is refused when
    the destination it names does not exist or has no port of that name (Gloo would mark
    the server INVALID and every policy using it would stop working).
    """
    meta = server["metadata"]
    live = ctx.kube.get("ExtAuthServer", meta["name"], meta["namespace"])
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
