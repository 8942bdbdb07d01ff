"""Guide 1, step 5 in Chromium: the portal frontend signs the user in through Okta.

Open the frontend app → the browser lands on the Okta sign-in page → sign in as the test user
→ back on the frontend, signed in, the user shown from the portal server's ``/me`` → the API
list holds exactly the products the user's claims grant → log out through the end-session
endpoint to the sign-out redirect URI. A second user without the claims sees none of the
restricted products. The frontend makes the token request from the browser, so without a
Trusted Origin for its origin this fails as a real SPA fails (``TypeError: Failed to fetch``).
Without Chromium the rows are ``skipped`` with the reason.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from ..errors import OktalabError
from ..params import GatewayPortalParams
from ..results import StageResult
from ..settings import Secret
from ..web import (
    BrowserDriver,
    browser_available,
    complete_steps,
    field_value,
    in_thread,
    screenshot_path,
)
from . import portal_groups
from .context import Context
from .ownership import new_user

STEPS = (
    "portal frontend → Okta sign-in",
    "portal frontend signed in",
    "portal API list (browser)",
    "portal logout",
    "second user: no restricted product",
)


def _flow(
    origin: str, org_url: str, end_session: str, login: str, password: str, shot: Any
) -> dict[str, Any]:
    """One browser session: sign in, read the page, optionally screenshot, log out."""
    out: dict[str, Any] = {"requests": []}
    driver = BrowserDriver()
    try:
        page = driver.page
        page.on("request", lambda r: out["requests"].append(r.url))
        page.goto(origin + "/")
        page.wait_for_url(lambda u: u.startswith(org_url), timeout=15000)
        page.wait_for_load_state()
        out["signin_url"] = page.url
        out["signin_page"] = page.locator("input").count() > 0
        # one page (the sandbox form) or several (the Sign-In Widget: username, then password)
        complete_steps(
            driver,
            field_value({"email": login}, password),
            lambda: driver.url.startswith(origin),
        )
        page.wait_for_selector("body[data-ready]", timeout=15000)
        out["ready"] = page.get_attribute("body", "data-ready")
        out["landed"] = page.url
        out["user"] = page.inner_text("#user").strip()
        out["error"] = page.inner_text("#error").strip()
        out["products"] = sorted(
            {str(tr.get_attribute("data-product")) for tr in page.locator("tr[data-product]").all()}
        )
        if shot is not None and out["ready"] == "signed-in":
            driver.screenshot(shot)
        if out["ready"] == "signed-in":
            page.get_by_role("button", name="Logout").click()
            page.wait_for_url(lambda u: u.startswith(origin + "/logout"), timeout=15000)
            page.wait_for_selector("body[data-ready=signed-out]", timeout=15000)
            out["after_logout"] = page.url
            out["via_end_session"] = any(u.startswith(end_session) for u in out["requests"])
    finally:
        driver.close()
    return out


def run(ctx: Context, result: StageResult, p: GatewayPortalParams) -> None:
    """Add the step-5 browser rows to ``result`` (skipped rows when Chromium is missing)."""
    env = ctx.env
    reason = ""
    if not p.verify_browser:
        reason = "portal.verify_browser is false"
    elif not browser_available():
        reason = (
            "Chromium/Playwright not available (apt-get install chromium; pip install "
            "'oktalab[browser]'); the bearer-token checks of portal_groups still ran"
        )
    # this run's portal_groups stage, or (verify run alone) this set's Portal in the cluster
    elif not portal_groups.recall(ctx, p):
        reason = ctx.run_first(
            ["portal_groups"], f"no Portal {p.namespace}/{p.name} of this parameter set"
        )
    if reason:
        for step in STEPS:
            result.add(step, "BrowserCheck", "portal frontend", "checked", "skipped", reason)
        return
    env.require("okta_org_url", "test_username", "test_password")
    assert env.okta_org_url and env.test_username and env.test_password
    origin = (ctx.state.get("gateway_portal") or {}).get("origin") or ctx.portal_origin()
    meta = ctx.discover()
    org_url = env.okta_org_url.rstrip("/")
    if not meta.issuer.startswith(org_url + "/"):
        # The org answers under another public URL (jupyter-server-proxy on Binder): the
        # frontend sends the browser there, and that proxy admits only the signed-in Jupyter
        # user's browser, never this stage's own headless one.
        reason = (
            f"the org's issuer {meta.issuer} is a public URL in front of OKTA_ORG_URL "
            "(behind jupyter-server-proxy, which admits only your own browser): open the "
            "frontend from the sandbox pages tab to sign in by hand"
        )
        for step in STEPS:
            result.add(step, "BrowserCheck", "portal frontend", "checked", "skipped", reason)
        return
    shot = screenshot_path(ctx.run_dir, "portal-frontend-signed-in.png")
    restricted = {x.id for x in p.api_products if x.restricted}
    open_products = sorted(x.id for x in p.api_products if not x.restricted)

    with result.timed() as t:
        try:
            out = in_thread(
                lambda: _flow(
                    origin,
                    org_url,
                    meta.end_session_endpoint,
                    env.test_username or "",
                    env.test_password.reveal() if env.test_password else "",
                    shot,
                )
            )
            error = ""
        except (OktalabError, Exception) as exc:
            out, error = {}, f"{type(exc).__name__}: {exc}"
    if error and not out:
        result.add(STEPS[0], "BrowserCheck", origin, "checked", "failed", error, seconds=t["s"])
        return
    result.add(
        STEPS[0],
        "BrowserCheck",
        origin,
        "checked",
        "ok" if out.get("signin_page") else "failed",
        f"redirected to {out.get('signin_url', '').split('?')[0]}",
        seconds=t["s"],
    )
    signed_in = out.get("ready") == "signed-in"
    result.add(
        STEPS[1],
        "BrowserCheck",
        env.test_username,
        "checked",
        "ok" if signed_in and out.get("user") else "failed",
        f"shows {out.get('user')!r} from /v1/me"
        if signed_in
        else f"not signed in: {out.get('error') or out.get('ready')}",
    )
    want = (ctx.state.get("gateway_portal") or {}).get("expected_products")
    seen = out.get("products")
    result.add(
        STEPS[2],
        "BrowserCheck",
        env.test_username,
        "checked",
        "ok" if signed_in and want is not None and seen == want else "failed",
        f"listed {seen}, the claims grant {want}",
    )
    result.add(
        STEPS[3],
        "BrowserCheck",
        env.test_username,
        "checked",
        "ok" if out.get("via_end_session") and out.get("after_logout") else "failed",
        f"through {meta.end_session_endpoint} to {out.get('after_logout')}"
        if out.get("via_end_session")
        else "the logout did not pass the end-session endpoint to the sign-out redirect URI",
    )
    if shot.exists():
        result.add("screenshot", "Screenshot", shot.name, "checked", detail=str(shot))
        ctx.state["screenshot"] = str(shot)

    if not p.second_user or not ctx.writes:
        result.add(
            STEPS[4],
            "BrowserCheck",
            "second user",
            "checked",
            "skipped",
            "portal.second_user is false"
            if not p.second_user
            else "check writes nothing, and the second user is created in Okta; a run tests it",
        )
        return
    tag = time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)
    login = f"oktalab-noclaim-{tag}@example.com"
    password = Secret("Nc" + secrets.token_urlsafe(12) + "!3")
    new_user(ctx, login, {"email": login, "login": login, "firstName": "No"}, "second user")
    with result.timed() as t:
        try:
            made = ctx.okta.create_user(
                {"email": login, "login": login, "firstName": "No", "lastName": "Claim"},
                password=password,
            )
            ctx.ledger.record("okta_user", made["id"], login=login)
            other = in_thread(
                lambda: _flow(
                    origin, org_url, meta.end_session_endpoint, login, password.reveal(), None
                )
            )
            seen2 = other.get("products") or []
            leaked = sorted(set(seen2) & restricted)
            if other.get("ready") != "signed-in":
                status, detail = (
                    "failed",
                    f"not signed in: {other.get('error') or other.get('ready')}",
                )
            elif leaked or seen2 != open_products:
                status, detail = "failed", f"listed {seen2}; restricted ones seen: {leaked}"
            else:
                status, detail = "ok", f"listed {seen2} (only the unrestricted products)"
        except (OktalabError, Exception) as exc:
            status, detail = "failed", f"{type(exc).__name__}: {exc}"
    result.add(STEPS[4], "BrowserCheck", login, "checked", status, detail, seconds=t["s"])
