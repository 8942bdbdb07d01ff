"""Stage 4: through the gateway, the protected route refuses bad tokens and accepts a good one.

An expired token must be signed by the org's own key, which only the org has. Against the
sandbox the stage asks its documented test endpoint for one; against a real org it reads
``OKTALAB_EXPIRED_TOKEN_FILE`` (a token saved from an earlier login) or skips that check.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import httpx

from .. import oidc
from ..errors import OktalabError
from ..results import StageResult
from . import portal_browser
from .context import Context

STAGE = "verify"


def tamper(token: str) -> str:
    """Change the payload (sub) but keep the signature: a forged token."""
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "attacker@example.com"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


def expired_token(ctx: Context, client_id: str) -> str | None:
    path = os.environ.get("OKTALAB_EXPIRED_TOKEN_FILE")
    if path:
        return Path(path).read_text().strip()
    if ctx.params.target != "sandbox":
        return None
    assert ctx.env.okta_org_url and ctx.env.okta_api_token
    resp = httpx.post(
        f"{ctx.env.okta_org_url}/__sandbox/expired-token",
        json={
            "authorizationServer": ctx.params.authorization_server,
            "clientId": client_id,
            "username": ctx.env.test_username,
        },
        headers={"Authorization": f"SSWS {ctx.env.okta_api_token.reveal()}"},
        timeout=10,
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def run(ctx: Context, result: StageResult) -> None:
    ps = ctx.params
    v = ps.verify
    env = ctx.env
    gateway = ctx.gateway_url() or ""
    if not gateway:
        env.require("gateway_url")
    env.require("okta_org_url", "test_username", "test_password")
    assert env.okta_org_url and env.test_username and env.test_password
    app = ctx.state.get("app")
    if not app:
        result.add(
            "prerequisites",
            "Stage",
            STAGE,
            "checked",
            "failed",
            "no app in this run: run okta_app (and claims) first",
        )
        return
    meta = ctx.discover()
    tokens = oidc.headless_login(
        org_url=env.okta_org_url,
        metadata=meta,
        client_id=app["client_id"],
        redirect_uri=ctx.redirect_uris()[0],
        username=env.test_username,
        password=env.test_password,
        scopes=ps.token_preview.scopes,
        sign_in=ps.sign_in,
    )
    good = tokens.access_token.reveal()
    headers = {"Host": v.host} if v.host else {}
    protected = gateway + v.protected_path

    def check(step: str, url: str, token: str | None, expect: int) -> None:
        h = dict(headers)
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        with result.timed() as t:
            try:
                resp = httpx.get(url, headers=h, timeout=10, follow_redirects=False)
                got: int | str = resp.status_code
            except httpx.HTTPError as exc:
                got = f"{type(exc).__name__}"
        ok = got == expect
        detail = f"expected {expect}, got {got}"
        if not ok and token is good:  # a good token refused: say whether the clocks disagree
            detail += (
                f"; the Okta server's clock is {meta.clock_skew:+.0f} s from ours (Date header)"
            )
        result.add(
            step,
            "GatewayCheck",
            url.removeprefix(gateway),
            "checked",
            "ok" if ok else "failed",
            detail,
            seconds=t["s"],
        )

    check("no token", protected, None, v.expect_missing)
    check("tampered token", protected, tamper(good), v.expect_invalid)
    try:
        expired = expired_token(ctx, app["client_id"])
    except (OktalabError, httpx.HTTPError) as exc:
        expired = None
        result.add(
            "expired token",
            "GatewayCheck",
            v.protected_path,
            "checked",
            "failed",
            f"could not obtain an expired token: {exc}",
        )
    else:
        if expired is None:
            result.add(
                "expired token",
                "GatewayCheck",
                v.protected_path,
                "checked",
                "skipped",
                "set OKTALAB_EXPIRED_TOKEN_FILE to check expiry on a real org",
            )
        else:
            check("expired token", protected, expired, v.expect_expired)
    check("valid token", protected, good, 200)
    if v.open_path:
        check("open route, no token", gateway + v.open_path, None, 200)
    if ps.gateway_portal is not None:  # step 5 proper: the frontend app in a browser
        portal_browser.run(ctx, result, ps.gateway_portal)
