"""Guide 2: the client-secret Secret, the Portal with oidcAuth, and the Group shadowing the Okta group.

The getting-started prerequisites (petstore APIProduct and Environment) are applied too when
``portal.create_prerequisites`` is true. Each object must reach ``status.state: Succeeded``.

``plan`` never mints a client secret: it reads the candidates :func:`client_secret` reads
(the environment, the app's secrets as Okta lists them, the Kubernetes Secret; each checked
by introspection) and says whether a run would read one or create one; the Secret is
dry-run with the working value (its diff masked), or planned as ``create`` / ``update``
without one. ``check``: the same dry runs as drift rows, the Secret's stored value must
authenticate the app, each object's status as it is now, and the portal's PKCE row.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from .. import gloo, oidc
from ..errors import VerificationError
from ..results import StageResult
from ..settings import Secret
from .context import Context
from .kubeobjects import apply_object, status_now
from .okta_app import app_of_run, client_secret, new_client_secret, plan_without_app

STAGE = "portal"
MODES = ("apply", "plan", "check")


def run(ctx: Context, result: StageResult) -> None:
    ps = ctx.params
    p = ps.portal
    assert p is not None and ps.group is not None
    app = app_of_run(ctx)
    if not app and ctx.mode == "plan":
        plan_without_app(result, STAGE, "the client secret, the Secret, Portal and Group")
        return
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
            if apply_object(ctx, result, manifest) is None and ctx.writes:
                return
            applied.append((manifest["kind"], manifest["metadata"]["name"]))

    if not ctx.writes:
        _dry_secret(ctx, result, app)
    elif not _apply_secret(ctx, result, app):
        return

    for manifest in (
        gloo.portal(p, origin=origin, client_id=app["client_id"], issuer=issuer),
        gloo.portal_group(p, ps.group.name),
    ):
        if apply_object(ctx, result, manifest) is None and ctx.writes:
            return
        applied.append((manifest["kind"], manifest["metadata"]["name"]))
    if ctx.mode == "plan":
        return

    for kind, name in applied:
        if ctx.writes:
            _wait_succeeded(ctx, result, kind, name)
        else:
            live = ctx.kube.get(kind, name, p.namespace)
            if live is not None:
                status_now(ctx, result, live, STAGE)
    ctx.state["portal"] = {"origin": origin, "issuer": issuer}
    portal_pkce(ctx, result, origin)


def _apply_secret(ctx: Context, result: StageResult, app: dict[str, str]) -> bool:
    """The client secret (read, or generated when none works) into the portal's Secret;
    False when the Secret was refused (the row says why)."""
    p = ctx.params.portal
    assert p is not None
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
        return False
    _secret_encoding(result, f"{p.namespace}/{p.secret_name}", p.secret_key, live, secret)
    return True


def _dry_secret(ctx: Context, result: StageResult, app: dict[str, str]) -> None:
    """Plan / check of the client secret and its Secret; never mints a secret.

    A readable secret that authenticates the app (introspection: a read) is dry-run into the
    Secret (its diff masked). Without one, ``plan`` says a run would create a client secret
    and write it into the Secret; ``check`` fails (the portal's sign-in needs a working one).
    """
    p = ctx.params.portal
    assert p is not None
    label = f"{p.namespace}/{p.secret_name}"
    with result.timed() as t:
        secret = client_secret(ctx)
        live = ctx.kube.get("Secret", p.secret_name, p.namespace)
    plan = ctx.mode == "plan"

    def row(detail: str, status: str = "ok") -> None:
        step, action = ("plan", "planned") if plan else ("client secret", "checked")
        result.add(step, "ClientSecret", app["label"], action, status, detail, seconds=t["s"])

    if secret is None:
        if plan:
            row(
                "create: no readable secret authenticates the app; a run would create one "
                "(recorded as this set's) and write it into the Secret"
            )
            ctx.dry_row(
                result,
                "Secret",
                label,
                "create" if live is None else "update",
                "" if live is None else f".data.{p.secret_key}: (masked) -> (masked)",
            )
        else:
            row(
                "no readable client secret authenticates the app (neither listed by Okta nor "
                f"stored in {label}); repair: {ctx.repair(STAGE)}",
                "failed",
            )
        return
    row(
        "unchanged (would read an existing secret that authenticates the app)"
        if plan
        else "a readable secret authenticates the app (introspection)"
    )
    apply_object(ctx, result, gloo.client_secret_secret(p, secret.reveal()))
    if ctx.mode == "check" and live is not None:
        _secret_encoding(result, label, p.secret_key, live, secret)


def _secret_encoding(
    result: StageResult, label: str, key: str, live: dict[str, Any], secret: Secret
) -> None:
    """The Secret's ``data.<key>`` must decode to the client secret byte for byte."""
    data = live.get("data")
    stored = base64.b64decode((data if isinstance(data, dict) else {}).get(key, ""))
    exact = stored == secret.reveal().encode()
    result.add(
        "secret encoding",
        "Secret",
        label,
        "checked",
        "ok" if exact else "failed",
        f"data.{key} decodes to the client secret byte for byte ({len(stored)} bytes, no trailing newline)"
        if exact
        else "the stored value differs from the client secret",
    )


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
