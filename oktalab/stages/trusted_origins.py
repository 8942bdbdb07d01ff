"""Trusted Origins for a single-page app (part of stage 1, ``okta_app``).

A SPA calls the org's OAuth endpoints (``/v1/token``, ``/v1/keys``, ``/v1/userinfo``, the
discovery document) from the browser, so every call is a cross-origin request. Okta answers
such requests only for origins registered as Trusted Origins with the ``CORS`` scope
("Trusted Origins also enable browser-based applications to access Okta APIs from JavaScript
(CORS). If the origins aren't specified, the related operation ... isn't permitted",
developer.okta.com Trusted Origins API). Creating the app through the Apps API registers no
origin (only the Admin Console's app wizard does), so this step ensures one for every origin
of the app's sign-in redirect URIs, records it in the ledger (teardown removes it) and checks
it with the preflight request a browser sends before the token request.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from .. import tls
from ..failpoints import failpoint
from ..results import StageResult
from .context import Context
from .ownership import take

SCOPES = ("CORS", "REDIRECT")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL (RFC 6454 serialization, default ports dropped)."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{host}{port}"


def preflight(url: str, origin: str, *, http: httpx.Client | None = None) -> tuple[bool, str]:
    """Send the CORS preflight a browser sends before ``fetch(url, {method: "POST"})`` with a
    form body and ``Accept: application/json`` (Fetch standard, CORS-preflight request).

    Returns (allowed, detail): allowed when the answer is 2xx and its
    ``Access-Control-Allow-Origin`` is the origin (or ``*``) and POST is allowed.
    """
    client = http or httpx.Client(timeout=15, verify=tls.context())
    try:
        resp = client.options(
            url,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
    finally:
        if http is None:
            client.close()
    allow = resp.headers.get("access-control-allow-origin")
    methods = resp.headers.get("access-control-allow-methods", "")
    if resp.status_code // 100 == 2 and allow in (origin, "*"):
        if methods and "POST" not in [m.strip().upper() for m in methods.split(",")]:
            return False, f"preflight allows {methods}, not POST"
        return True, f"preflight {resp.status_code}, Access-Control-Allow-Origin: {allow}"
    return False, (
        f"preflight {resp.status_code} without Access-Control-Allow-Origin for {origin}"
        if allow is None
        else f"preflight {resp.status_code}, Access-Control-Allow-Origin: {allow}"
    )


def ensure(ctx: Context, result: StageResult, redirect_uris: list[str]) -> None:
    """Ensure a CORS+REDIRECT Trusted Origin for each redirect URI origin, then preflight it.

    An origin already trusted by an object this parameter set did not create is used as it
    is (recorded ``used``); if it lacks an active CORS scope it is not ours to edit:
    :func:`ownership.take` stops the stage naming the object, its owner and the difference,
    unless the parameters adopt it (``adopt: [origin/<origin>]``; teardown restores it).
    The ledger's stable key for an origin is the origin itself (intent before the create).
    """
    okta = ctx.okta
    origins = list(dict.fromkeys(origin_of(u) for u in redirect_uris))
    existing = okta.trusted_origins()
    for origin in origins:
        name = f"{ctx.params.app.label} {origin}"[:255]
        with result.timed() as t:
            found = next((o for o in existing if origin_of(o.get("origin", "")) == origin), None)
            scopes = {s.get("type") for s in (found or {}).get("scopes") or []}
            status, detail = "ok", ""
            if not ctx.writes:
                if found is None or "CORS" not in scopes:
                    change = "create" if found is None else "update"
                    ctx.dry_row(result, "TrustedOrigin", origin, change, "scopes + CORS")
                else:
                    ctx.dry_row(result, "TrustedOrigin", origin, None)
                continue
            if found is None:
                ctx.ledger.intend("okta_trusted_origin", origin, origin=origin)
                failpoint("before-create:okta_trusted_origin")
                made = okta.create_trusted_origin(
                    {"name": name, "origin": origin, "scopes": [{"type": s} for s in SCOPES]}
                )
                failpoint("after-create:okta_trusted_origin")
                ctx.ledger.created("okta_trusted_origin", made["id"], name=origin, origin=origin)
                action = "created"
            else:
                diffs = [] if "CORS" in scopes else ["scopes (no CORS)"]
                if found.get("status", "ACTIVE") != "ACTIVE":
                    diffs.append("status")
                how = take(
                    ctx,
                    ledger_kind="okta_trusted_origin",
                    adopt_kind="origin",
                    name=origin,
                    obj=found,
                    diffs=diffs,
                    step="trusted origin",
                    row_kind="TrustedOrigin",
                    origin=origin,
                )
                action = "adopted" if how == "adopted" else "unchanged"
                if diffs:
                    body = {
                        "name": found.get("name", name),
                        "origin": found.get("origin", origin),
                        "scopes": [{"type": s} for s in sorted(scopes | set(SCOPES))],
                    }
                    okta.replace_trusted_origin(found["id"], body)
                    if "status" in diffs:
                        okta.post(f"/api/v1/trustedOrigins/{found['id']}/lifecycle/activate")
                    action = "adopted" if how == "adopted" else "updated"
                    detail = "set " + ", ".join(diffs).replace(" (no CORS)", " + CORS")
        result.add(
            "trusted origin", "TrustedOrigin", origin, action, status, detail, seconds=t["s"]
        )

    if ctx.mode == "plan":
        return
    assert ctx.env.okta_org_url
    meta = ctx.discover()
    for origin in origins:
        with result.timed() as t:
            ok, detail = preflight(meta.token_endpoint, origin)
        result.add(
            "CORS preflight",
            "TokenEndpoint",
            origin,
            "checked",
            "ok" if ok else "failed",
            detail,
            seconds=t["s"],
        )
