"""Guide 2, last section: a new person signs up through Okta and lands in the portal, signed in.

A fresh user (unique per run) goes: portal → "Log in" → "Log in with OpenID Connect" → Okta
→ "Sign up" → form → back in the portal showing their email, with the petstore API product
visible. Then Okta is asked whether the user is ACTIVE and in the group, and a user outside
the group checks that membership is what grants the product. Users made here are recorded
in the ledger, so teardown removes them.

Signing up creates an Okta user, a write: ``plan`` only says what a run would do (a
skipped row; verification is no change to the setup), and ``check`` runs the read-only
checks instead: the portal's home page, the portal's login reaching Okta's /authorize with
this app's client id and a registered redirect URI, and the last user an earlier run signed
up still ACTIVE and in the group.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from .. import gloo
from ..errors import OktalabError, VerificationError
from ..kube import owned_by
from ..params import GUIDE_STAGES
from ..results import StageResult
from ..settings import Secret
from ..web import (
    BrowserDriver,
    FormBrowser,
    browser_available,
    complete_steps,
    field_value,
    in_thread,
    page_text,
    screenshot_path,
)
from .context import Context
from .ownership import new_user

STAGE = "portal_verify"
MODES = ("apply", "plan", "check")
PRODUCT_TITLE = "Petstore Product"


def _resolve(ctx: Context) -> dict[str, str]:
    """Map the portal and API host names to the gateway, as the guide's /etc/hosts step does."""
    p = ctx.params.portal
    assert p is not None
    if ctx.params.target != "sandbox":
        return {}
    gw = urlsplit(ctx.gateway_url() or "http://127.0.0.1")
    return {p.domain: gw.hostname or "127.0.0.1", p.environment_domain: gw.hostname or "127.0.0.1"}


def _product_visible(driver: Any, product: str) -> bool:
    text = driver.text
    if product in text or PRODUCT_TITLE in text:
        return True
    try:
        driver.click("APIs")
    except VerificationError:
        return False
    text = driver.text
    return product in text or PRODUCT_TITLE in text


def _sign_up_flow(
    driver: Any, origin: str, profile: dict[str, str], password: str, shot: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    driver.goto(origin + "/")
    out["before"] = "Log in" in driver.text
    driver.click("Log in")
    driver.click("Log in with OpenID Connect")
    out["signup_link"] = "Sign up" in driver.text
    driver.click("Sign up")
    complete_steps(driver, field_value(profile, password), lambda: driver.url.startswith(origin))
    out["landed"] = driver.url.startswith(origin)
    out["email_shown"] = profile["email"] in driver.text
    if shot is not None:
        driver.screenshot(shot)
    return out


def _sign_in_flow(driver: Any, origin: str, email: str, password: str) -> dict[str, Any]:
    driver.goto(origin + "/")
    driver.click("Log in")
    driver.click("Log in with OpenID Connect")
    complete_steps(
        driver, field_value({"email": email}, password), lambda: driver.url.startswith(origin)
    )
    return {"landed": driver.url.startswith(origin), "email_shown": email in driver.text}


def _outsider_flow(
    driver: Any, origin: str, email: str, password: str, product: str
) -> dict[str, Any]:
    """A user outside the group: refused at sign-in, or signed in without the product."""
    out = _sign_in_flow(driver, origin, email, password)
    on_portal = driver.url.startswith(origin)
    out["signed_in"] = bool(out["email_shown"])
    out["text"] = driver.text
    out["product"] = on_portal and out["signed_in"] and _product_visible(driver, product)
    return out


def prerequisites(ctx: Context, result: StageResult) -> bool:
    """What an earlier run made, also when this run folder has no ``state.json``: the app
    (:meth:`Context.recall_app`) and this set's ``Portal`` in the cluster; else one failed
    row naming the stages to run first."""
    p = ctx.params.portal
    assert p is not None
    portal = ctx.kube.get("Portal", p.name, p.namespace, api_version=gloo.PORTAL_API)
    missing = []
    if ctx.recall_app() is None:
        missing.append(f"no Okta app labelled {ctx.params.app.label!r}")
    if not owned_by(portal, ctx.params.name):
        missing.append(f"no Portal {p.namespace}/{p.name} of this parameter set in the cluster")
    if missing:
        stages = GUIDE_STAGES[ctx.params.guide]
        result.add(
            "prerequisites",
            "Portal",
            f"{p.namespace}/{p.name}",
            "checked",
            "failed",
            ctx.run_first(stages[: stages.index(STAGE)], "; ".join(missing)),
        )
        return False
    return True


def run(ctx: Context, result: StageResult) -> None:
    ps = ctx.params
    p, v = ps.portal, ps.portal_verify
    assert p is not None and ps.group is not None
    if ctx.mode == "plan":
        outsider = " and an outsider user (outside the group)" if v.check_outsider else ""
        result.add(
            "sign up",
            "PortalSignUp",
            f"oktalab-signup-<time>@{v.email_domain}",
            "checked",
            "skipped",
            f"plan writes nothing: a run signs up a new user through the portal{outsider}, "
            "recorded for teardown (verification, no change to the setup)",
        )
        return
    okta = ctx.okta
    if not prerequisites(ctx, result):
        return
    origin = (ctx.state.get("portal") or {}).get("origin") or ctx.portal_origin()
    resolve = _resolve(ctx)
    use_browser = v.driver == "browser" or (v.driver == "auto" and browser_available())
    if v.driver == "browser" and not browser_available():
        raise VerificationError(
            "driver 'browser' needs Chromium and Playwright: apt-get install chromium; pip install 'oktalab[browser]'"
        )
    driver_name = "chromium" if use_browser else "http"

    # before login
    with result.timed() as t:
        probe = FormBrowser(resolve=resolve)
        try:
            home = page_text(probe.goto(origin + "/"))
        finally:
            probe.close()
    result.add(
        "portal before login",
        "PortalPage",
        origin,
        "checked",
        "ok" if "Log in" in home else "failed",
        "shows 'Log in'" if "Log in" in home else "no 'Log in' on the portal home page",
        seconds=t["s"],
    )

    if ctx.mode == "check":
        _read_only_checks(ctx, result, origin, resolve)
        return

    # a fresh person signs up
    tag = time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)
    email = f"oktalab-signup-{tag}@{v.email_domain}"
    profile = {"email": email, "firstName": "Signup", "lastName": f"Test {tag}"}
    password = Secret("Sg" + secrets.token_urlsafe(12) + "!7")
    shot = (
        screenshot_path(ctx.run_dir, "portal-signed-in.png")
        if (use_browser and v.screenshot)
        else None
    )

    def flow(fn: Any, *args: Any) -> dict[str, Any]:
        def go() -> dict[str, Any]:
            d: Any = BrowserDriver(resolve=resolve) if use_browser else FormBrowser(resolve=resolve)
            try:
                return fn(d, *args)
            finally:
                d.close()

        return in_thread(go) if use_browser else go()

    new_user(ctx, email, {**profile, "login": email}, "sign up")
    with result.timed() as t:
        try:
            out = flow(_sign_up_flow, origin, profile, password.reveal(), shot)
            error = ""
        except (OktalabError, Exception) as exc:
            out, error = {}, f"{type(exc).__name__}: {exc}"
    user = okta.find_user(email)
    if user is not None:
        ctx.ledger.record("okta_user", user["id"], login=email)
    result.add(
        "sign up",
        "PortalSignUp",
        email,
        "checked",
        "failed" if error else "ok",
        error or f"via {driver_name}; 'Sign up' link shown: {out.get('signup_link')}",
        seconds=t["s"],
    )
    if error:
        return
    result.add(
        "signed in to portal",
        "PortalPage",
        email,
        "checked",
        "ok" if out["landed"] and out["email_shown"] else "failed",
        "back on the portal, showing the email"
        if out["email_shown"]
        else "the portal does not show the new user's email",
    )
    if shot is not None and shot.exists():
        result.add("screenshot", "Screenshot", shot.name, "checked", detail=str(shot))
        ctx.state["screenshot"] = str(shot)

    # what Okta says about the new user
    if user is None:
        result.add(
            "user in Okta", "OktaUser", email, "checked", "failed", "no such user after sign-up"
        )
        return
    result.add(
        "user active",
        "OktaUser",
        email,
        "checked",
        "ok" if user.get("status") == "ACTIVE" else "failed",
        f"status {user.get('status')}",
    )
    groups = [g["profile"]["name"] for g in okta.user_groups(user["id"])]
    member = ps.group.name in groups
    result.add(
        "user in group",
        "GroupMembership",
        f"{email} -> {ps.group.name}",
        "checked",
        "ok" if member else "failed",
        f"groups: {', '.join(groups)}",
    )

    with result.timed() as t:
        visible = flow(
            lambda d: (
                _sign_in_flow(d, origin, email, password.reveal()),
                _product_visible(d, p.api_product),
            )[1]
        )
    result.add(
        "API product visible",
        "APIProduct",
        p.api_product,
        "checked",
        "ok" if visible else "failed",
        "member sees the product" if visible else "the signed-in member does not see the product",
        seconds=t["s"],
    )

    if v.check_outsider:
        outsider_email = f"oktalab-outsider-{tag}@{v.email_domain}"
        outsider_pw = Secret("Ou" + secrets.token_urlsafe(12) + "!5")
        new_user(
            ctx,
            outsider_email,
            {"email": outsider_email, "login": outsider_email, "firstName": "Outside"},
            "outsider",
        )
        with result.timed() as t:
            made = okta.create_user(
                {
                    "email": outsider_email,
                    "login": outsider_email,
                    "firstName": "Outside",
                    "lastName": tag,
                },
                password=outsider_pw,
            )
            ctx.ledger.record("okta_user", made["id"], login=outsider_email)
            try:
                seen = flow(
                    _outsider_flow, origin, outsider_email, outsider_pw.reveal(), p.api_product
                )
                if seen["product"]:
                    status, detail = "failed", "a user outside the group sees the product"
                elif seen["signed_in"]:
                    status, detail = "ok", "signed in, but not granted the product"
                else:
                    reason = (
                        "Okta refused: not assigned to the app"
                        if "not assigned" in seen["text"]
                        else "not signed in"
                    )
                    status, detail = "ok", f"sign-in refused ({reason}); no product"
            except (OktalabError, Exception) as exc:
                status, detail = "failed", f"{type(exc).__name__}: {exc}"
        result.add(
            "outsider not granted",
            "APIProduct",
            outsider_email,
            "checked",
            status,
            detail,
            seconds=t["s"],
        )


def _read_only_checks(
    ctx: Context, result: StageResult, origin: str, resolve: dict[str, str]
) -> None:
    """Check mode: what can be verified without creating a user (see the module doc)."""
    from ..web import authorize_redirect
    from .okta_app import app_of_run

    ps = ctx.params
    assert ps.group is not None
    result.add(
        "sign up",
        "PortalSignUp",
        origin,
        "checked",
        "skipped",
        "check writes nothing, and signing up creates an Okta user; "
        f"a run tests it: oktalab run {ctx.param_file or 'PARAMS.yaml'} --stages portal_verify",
    )
    app = app_of_run(ctx)
    endpoint = ctx.discover().authorization_endpoint
    with result.timed() as t:
        query = authorize_redirect(
            [origin + "/login/oidc", origin + "/login"], endpoint, resolve=resolve
        )
    if query is None:
        status, detail = "failed", f"the portal's login did not redirect to {endpoint}"
    else:
        client_id = (query.get("client_id") or [""])[0]
        redirect = (query.get("redirect_uri") or [""])[0]
        want = (app or {}).get("client_id")
        registered = redirect in ctx.redirect_uris()
        status = "ok" if client_id == want and registered else "failed"
        detail = (
            f"redirects to Okta's /authorize with client_id {client_id}"
            + ("" if client_id == want else f" (the app's is {want})")
            + f", redirect_uri {redirect}"
            + ("" if registered else " (not a registered redirect URI)")
        )
    result.add("portal login", "PortalPage", origin, "checked", status, detail, seconds=t["s"])

    signed_up = [
        e
        for e in ctx.ledger.items("okta_user")
        if str(e.get("name", "")).startswith("oktalab-signup-")
    ]
    if not signed_up:
        result.add(
            "signed-up user",
            "OktaUser",
            ps.group.name,
            "checked",
            "skipped",
            "no user signed up by an earlier run of this parameter set",
        )
        return
    last = signed_up[-1]
    with result.timed() as t:
        user = ctx.okta.find_user(str(last["key"]))
        groups = [g["profile"]["name"] for g in ctx.okta.user_groups(user["id"])] if user else []
    ok = user is not None and user.get("status") == "ACTIVE" and ps.group.name in groups
    result.add(
        "signed-up user",
        "OktaUser",
        str(last["name"]),
        "checked",
        "ok" if ok else "failed",
        "no longer in Okta"
        if user is None
        else f"status {user.get('status')}; groups: {', '.join(groups)}",
        seconds=t["s"],
    )
