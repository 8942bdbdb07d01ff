"""Guide 2: the client-secret Secret, the Portal with oidcAuth, and the Group shadowing the Okta group.

The getting-started prerequisites (petstore APIProduct and Environment) are applied too when
``portal.create_prerequisites`` is true. Each object must reach ``status.state: Succeeded``.
"""

from __future__ import annotations

import base64
import time

from .. import gloo, oidc
from ..errors import VerificationError
from ..results import StageResult
from .context import Context
from .kubeobjects import apply_object
from .okta_app import client_secret, new_client_secret

STAGE = "portal"


def run(ctx: Context, result: StageResult) -> None:
    ps = ctx.params
    p = ps.portal
    assert p is not None and ps.group is not None
    app = ctx.state.get("app")
    if not app:
        raise VerificationError("no app in this run: run the okta_app stage first")
    origin = ctx.portal_origin()
    ctx.env.require("okta_org_url")
    assert ctx.env.okta_org_url
    issuer = (ctx.state.get("metadata") or {}).get("issuer") or oidc.issuer_url(
        ctx.env.okta_org_url, ps.authorization_server
    )

    applied: list[tuple[str, str]] = []
    if p.create_prerequisites:
        for manifest in (gloo.api_product(p), gloo.environment(p, origin)):
            if apply_object(ctx, result, manifest) is None:
                return
            applied.append((manifest["kind"], manifest["metadata"]["name"]))

    with result.timed() as t:
        secret = client_secret(ctx)
        if secret is None:
            secret = new_client_secret(ctx)
            action, detail = (
                "created",
                "no readable secret authenticates the app: generated one (recorded as this set's)",
            )
        else:
            action, detail = "unchanged", "an existing secret authenticates the app"
    result.add("client secret", "ClientSecret", app["label"], action, detail=detail, seconds=t["s"])
    manifest = gloo.client_secret_secret(p, secret.reveal())
    live = apply_object(ctx, result, manifest)
    if live is None:
        return
    stored = base64.b64decode((live.get("data") or {}).get(p.secret_key, ""))
    exact = stored == secret.reveal().encode()
    result.add(
        "secret encoding",
        "Secret",
        f"{p.namespace}/{p.secret_name}",
        "checked",
        "ok" if exact else "failed",
        f"data.{p.secret_key} decodes to the client secret byte for byte ({len(stored)} bytes, no trailing newline)"
        if exact
        else "the stored value differs from the client secret",
    )

    for manifest in (
        gloo.portal(p, origin=origin, client_id=app["client_id"], issuer=issuer),
        gloo.portal_group(p, ps.group.name),
    ):
        if apply_object(ctx, result, manifest) is None:
            return
        applied.append((manifest["kind"], manifest["metadata"]["name"]))

    for kind, name in applied:
        _wait_succeeded(ctx, result, kind, name)
    ctx.state["portal"] = {"origin": origin, "issuer": issuer}
    portal_pkce(ctx, result, origin)


def portal_pkce(ctx: Context, result: StageResult, origin: str) -> None:
    """Say whether the portal sends PKCE, read from its redirect to Okta's /authorize.

    The web app requires PKCE only when ``app.pkce_required`` asks for it (the guide leaves
    it off); if it does and the portal sends no ``code_challenge``, Okta refuses the sign-in
    ("PKCE code challenge is required when the token endpoint authentication method is
    'NONE'" / "...required by the client"), so that combination fails here with the remedy.
    """
    from ..web import authorize_redirect
    from .portal_verify import _resolve

    meta = ctx.state.get("metadata") or {}
    endpoint = meta.get("authorization_endpoint") or ctx.discover().authorization_endpoint
    required = ctx.params.app.pkce
    with result.timed() as t:
        query = authorize_redirect(
            [origin + "/login/oidc", origin + "/login"], endpoint, resolve=_resolve(ctx)
        )
    if query is None:
        status, detail = "skipped", "the portal's login did not redirect to Okta's /authorize"
    else:
        method = (query.get("code_challenge_method") or ["plain"])[0]
        sends = bool(query.get("code_challenge"))
        detail = (
            f"the portal sends PKCE ({method})"
            if sends
            else "the portal sends no PKCE code_challenge"
        ) + f"; the app {'requires' if required else 'does not require'} PKCE"
        status = "failed" if required and not sends else "ok"
        if status == "failed":
            detail += ": Okta would refuse its sign-in; set app.pkce_required: false"
    result.add("portal PKCE", "Portal", origin, "checked", status, detail, seconds=t["s"])


def _wait_succeeded(ctx: Context, result: StageResult, kind: str, name: str) -> None:
    p = ctx.params.portal
    assert p is not None
    deadline = time.monotonic() + p.wait_seconds
    delay = 0.05
    with result.timed() as t:
        while True:
            obj = ctx.kube.get(kind, name, p.namespace) or {}
            st = obj.get("status") or {}
            state = st.get("state", "Pending")
            current = st.get("observedGeneration") in (
                None,
                obj.get("metadata", {}).get("generation"),
            )
            if current and state in ("Succeeded", "Invalid", "Failed"):
                break
            if time.monotonic() > deadline:
                state = f"still {state} after {p.wait_seconds:.0f}s"
                break
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    ok = state == "Succeeded"
    detail = state if ok else f"{state}: {st.get('reason', '')}".rstrip(": ")
    result.add(
        "status",
        kind,
        f"{p.namespace}/{name}",
        "checked",
        "ok" if ok else "failed",
        detail,
        seconds=t["s"],
    )
