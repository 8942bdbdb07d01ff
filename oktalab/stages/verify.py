"""Stage 4: through the gateway, the protected route refuses bad tokens and accepts a good one.

An expired token must be signed by the org's own key, which only the org has. Against the
sandbox the stage asks its documented test endpoint for one; against a real org it reads
``OKTALAB_EXPIRED_TOKEN_FILE`` (a token saved from an earlier login) or skips that check.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import jwt

from .. import oidc, tls
from ..errors import OktalabError
from ..kube import gmg_state
from ..params import GUIDE_STAGES
from ..results import StageResult
from . import okta_app, portal_browser
from .context import Context
from .extauth import inlined_jwks

STAGE = "verify"
MODES = ("apply", "check")  # verification writes nothing: the same checks serve ``check``


def token_cause(token: str | None, keys: dict[str, Any] | None, published: set[str]) -> str:
    """How Gloo's ext-auth service sees ``token`` with the key set ``keys`` (its JWKS).

    The order is the service's (enterprise.gloo v1 ``JwtValidation``): a bearer token must be
    present and parse; its ``kid`` must name a key of the set; the signature must verify;
    ``exp`` must be in the future. ``published`` are the kids the org serves now, to say
    whether an unknown kid is the policy's fault (stale) or the token's.
    """
    if not token:
        return "no token"
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return "malformed token (not a JWS)"
    kid = header.get("kid")
    if keys is None:
        return "the gateway's key set could not be read"
    key = next((k for k in keys.get("keys") or [] if k.get("kid") == kid), None)
    if key is None:
        where = (
            "the org still publishes it (the policy's keys are stale)"
            if kid in published
            else "the org does not publish it"
        )
        return f"unknown kid {kid}: {where}"
    try:
        jwt.decode(
            token,
            jwt.PyJWK(key).key,
            algorithms=[str(header.get("alg", "RS256"))],
            options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError:
        return "bad signature"
    except jwt.PyJWTError as exc:
        return f"rejected: {exc}"
    exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    if isinstance(exp, int | float) and exp <= time.time():
        return f"expired {time.time() - exp:.0f}s ago"
    return "valid signature and times"


def policy_cause(ctx: Context) -> tuple[str | None, dict[str, Any] | None]:
    """What the gateway enforces on the protected route: (a policy-level cause of refusal or
    None, the key set the policy validates with)."""
    p = ctx.params.extauth
    policy = ctx.kube.get("ExtAuthPolicy", p.policy_name, p.namespace)
    if policy is None:
        return (
            f"route not selected by any policy (ExtAuthPolicy {p.namespace}/{p.policy_name} is missing)",
            None,
        )
    approval, message, _ = gmg_state(policy)
    jwts = inlined_jwks(policy)
    keys: dict[str, Any] | None = None
    for j in jwts:
        try:
            if "remoteJwks" in j:
                keys = oidc.fetch_jwks(str((j.get("remoteJwks") or {}).get("url", "")))
            else:
                keys = json.loads(str((j.get("localJwks") or {}).get("inlineString", "")))
        except (OktalabError, httpx.HTTPError, ValueError):
            keys = None
    if approval != "ACCEPTED":
        return f"policy not ACCEPTED ({approval}{': ' + message if message else ''})", keys
    if (policy.get("status") or {}).get("numSelectedRoutes") == 0:
        return f"route not selected by any policy (no route carries {p.route_labels})", keys
    return None, keys


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
        verify=tls.context(),
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def prerequisites(ctx: Context, result: StageResult) -> bool:
    """The app an earlier run made, also when this run folder has no ``state.json``
    (:meth:`Context.recall_app`); else one failed row naming the stages to run first."""
    label = ctx.params.app.label
    found = ctx.recall_app()
    if found is None:
        stages = GUIDE_STAGES[ctx.params.guide]
        before = stages[: stages.index(STAGE)] if STAGE in stages else ["okta_app"]
        result.add(
            "prerequisites",
            "OktaApp",
            label,
            "checked",
            "failed",
            ctx.run_first(
                before, f"no Okta app labelled {label!r} in this set's ledger or in the org"
            ),
        )
        return False
    if found != "this run":
        result.add(
            "prerequisites",
            "OktaApp",
            label,
            "checked",
            detail=f"not in this run folder: found through {found}, "
            f"client_id={ctx.state['app']['client_id']}",
        )
    return True


def run(ctx: Context, result: StageResult) -> None:
    ps = ctx.params
    v = ps.verify
    env = ctx.env
    gateway = ctx.gateway_url() or ""
    if not gateway:
        env.require("gateway_url")
    env.require("okta_org_url", "test_username", "test_password")
    assert env.okta_org_url and env.test_username and env.test_password
    if not prerequisites(ctx, result):
        return
    app = ctx.state["app"]
    meta = ctx.discover()
    found, secret = okta_app.sign_in_secret(ctx, app)  # as the token preview signs in
    if not found:
        result.add("sign in", "Tokens", env.test_username, "checked", "failed", okta_app.NO_SECRET)
        return
    tokens = oidc.headless_login(
        org_url=env.okta_org_url,
        metadata=meta,
        client_id=app["client_id"],
        redirect_uri=ctx.redirect_uris()[0],
        username=env.test_username,
        password=env.test_password,
        scopes=ps.token_preview.scopes,
        client_secret=secret,
        sign_in=ps.sign_in,
    )
    good = tokens.access_token.reveal()
    headers = {"Host": v.host} if v.host else {}
    protected = gateway + v.protected_path
    published = {str(k.get("kid")) for k in oidc.signing_keys(oidc.fetch_jwks(meta.jwks_uri))}
    try:
        refused_by_policy, policy_keys = policy_cause(ctx)
    except OktalabError as exc:
        refused_by_policy, policy_keys = f"the policy could not be read: {exc}", None

    def cause(url: str, token: str | None) -> str:
        if url != protected:
            return "open route"
        token_view = token_cause(token, policy_keys, published)
        return f"{refused_by_policy}; token: {token_view}" if refused_by_policy else token_view

    def check(step: str, url: str, token: str | None, expect: int) -> None:
        h = dict(headers)
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        with result.timed() as t:
            try:
                resp = httpx.get(
                    url, headers=h, timeout=10, follow_redirects=False, verify=tls.context()
                )
                got: int | str = resp.status_code
            except httpx.HTTPError as exc:
                got = f"{type(exc).__name__}"
        ok = got == expect
        detail = f"expected {expect}, got {got}: {cause(url, token)}"
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
