"""Hosted sign-in and self-service sign-up pages (what Okta's widget does, as plain HTML forms).

The sign-in page finishes a pending ``/authorize`` request (carried in ``fromURI``, which must
point back into ``/oauth2/``) by setting the ``sid`` session cookie and redirecting there. The
"Sign up" link is offered only when the app of that request is mapped to an ACTIVE
PROFILE_ENROLLMENT policy whose rule says ``unknownUserAction: REGISTER`` — as in Okta.
"""

from __future__ import annotations

import html
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from . import apps, authn, idx, schemas, users, widget
from .errors import OktaApiError
from .state import OrgState
from .tokens import digest, opaque
from .web import org_of

STYLE = (
    "body{font-family:system-ui,sans-serif;background:#f4f4f6;margin:0}"
    "main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;"
    "box-shadow:0 1px 4px rgba(0,0,0,.15)}"
    "label{display:block;margin-top:1rem;font-weight:600}"
    "input{width:100%;box-sizing:border-box;padding:.5rem;margin-top:.25rem;font-size:1rem}"
    "button{margin-top:1.5rem;width:100%;padding:.6rem;font-size:1rem;background:#1662dd;"
    "color:#fff;border:0;border-radius:4px;cursor:pointer}"
    ".error{color:#a4000f;background:#fde8ea;padding:.5rem;border-radius:4px}"
)


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(
        doc,
        status_code=status,
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


def safe_from_uri(raw: str | None) -> str | None:
    """Only relative links back into the OAuth endpoints (no open redirects)."""
    if not raw or not raw.startswith("/oauth2/") or "//" in raw or "\\" in raw:
        return None
    return raw


def _app_of(org: OrgState, from_uri: str | None) -> dict[str, Any] | None:
    if not from_uri:
        return None
    client_id = (parse_qs(urlsplit(from_uri).query).get("client_id") or [""])[0]
    return apps.find_by_client_id(org, client_id) if client_id else None


def enrollment_for(org: OrgState, from_uri: str | None) -> dict[str, Any] | None:
    """The profileEnrollment action allowing registration for this authorize request, if any."""
    app = _app_of(org, from_uri)
    return idx.enrollment_action(org, app["id"]) if app is not None else None


def _hidden(from_uri: str | None) -> str:
    if not from_uri:
        return ""
    return f'<input type="hidden" name="fromURI" value="{html.escape(from_uri)}">'


def _signin_form(org: OrgState, from_uri: str | None, error: str = "", username: str = "") -> str:
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    signup = ""
    if enrollment_for(org, from_uri) is not None:
        href = org.url("/signin/register?" + urlencode({"fromURI": from_uri or ""}))
        signup = f'<p>Don\'t have an account? <a href="{html.escape(href)}">Sign up</a></p>'
    return (
        "<h1>Sign In</h1>"
        f"{alert}"
        f'<form method="post" action="{html.escape(org.url("/login/login.htm"))}">'
        f"{_hidden(from_uri)}"
        '<label for="okta-signin-username">Username</label>'
        '<input id="okta-signin-username" name="username" type="text" autocomplete="username" '
        f'required value="{html.escape(username)}">'
        '<label for="okta-signin-password">Password</label>'
        '<input id="okta-signin-password" name="password" type="password" '
        'autocomplete="current-password" required>'
        '<button type="submit" id="okta-signin-submit">Sign In</button>'
        "</form>"
        f"{signup}"
    )


async def signin_page(request: Request) -> Response:
    org = org_of(request)
    from_uri = safe_from_uri(request.query_params.get("fromURI"))
    app = _app_of(org, from_uri)
    if from_uri and app is not None and widget.enabled(org):
        return widget.signin_page(org, from_uri, app["id"])  # Identity Engine: Okta's widget
    hint = ""
    if from_uri:
        hint = (parse_qs(urlsplit(from_uri).query).get("login_hint") or [""])[0]
    return page("Sign In", _signin_form(org, from_uri, username=hint))


def _continue(org: OrgState, from_uri: str | None, user: dict[str, Any]) -> Response:
    sid, _ = authn.create_session(org, user)
    if from_uri:
        response: Response = RedirectResponse(org.url(from_uri), status_code=302)
    else:
        response = page(
            "Signed in",
            f"<h1>Signed in</h1><p>You are signed in as {html.escape(user['profile']['login'])}.</p>",
        )
    authn.set_session_cookie(org, response, sid)
    return response


async def signin_submit(request: Request) -> Response:
    org = org_of(request)
    form = await request.form()
    from_uri = safe_from_uri(str(form.get("fromURI") or "") or None)
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    user, outcome = await run_in_threadpool(authn.check_credentials, org, username, password)
    if user is None or outcome != "ok":
        message = {
            "locked": "Your account is locked. Contact your administrator.",
            "expired": "Your password has expired. Sign in through the Identity Engine "
            "(or ask your administrator) to change it.",
        }.get(outcome, "Unable to sign in")
        return page("Sign In", _signin_form(org, from_uri, message, username), status=401)
    return _continue(org, from_uri, user)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _signup_form(
    org: OrgState,
    action: dict[str, Any],
    from_uri: str | None,
    values: dict[str, str],
    error: str = "",
) -> str:
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    fields = []
    for attr in action.get("profileAttributes") or []:
        name = attr["name"]
        input_type = "email" if name == "email" else "text"
        required = " required" if attr.get("required") else ""
        fields.append(
            f'<label for="signup-{html.escape(name)}">{html.escape(attr.get("label") or name)}</label>'
            f'<input id="signup-{html.escape(name)}" name="{html.escape(name)}" type="{input_type}"'
            f' value="{html.escape(values.get(name, ""))}"{required}>'
        )
    back = org.url("/login/login.htm?" + urlencode({"fromURI": from_uri or ""}))
    return (
        "<h1>Sign up</h1>"
        f"{alert}"
        f'<form method="post" action="{html.escape(org.url("/signin/register"))}">'
        f"{_hidden(from_uri)}" + "".join(fields) + '<label for="signup-password">Password</label>'
        '<input id="signup-password" name="password" type="password" autocomplete="new-password" '
        "required>"
        '<button type="submit">Sign up</button>'
        "</form>"
        f'<p><a href="{html.escape(back)}">Back to sign in</a></p>'
    )


async def signup_page(request: Request) -> Response:
    org = org_of(request)
    from_uri = safe_from_uri(request.query_params.get("fromURI"))
    action = enrollment_for(org, from_uri)
    if action is None:
        return page("Not found", "<h1>Registration is not enabled</h1>", status=404)
    return page("Sign up", _signup_form(org, action, from_uri, {}))


async def signup_submit(request: Request) -> Response:
    org = org_of(request)
    form = await request.form()
    from_uri = safe_from_uri(str(form.get("fromURI") or "") or None)
    action = enrollment_for(org, from_uri)
    if action is None:
        return page("Not found", "<h1>Registration is not enabled</h1>", status=404)
    values = {
        attr["name"]: str(form.get(attr["name"]) or "").strip()
        for attr in action.get("profileAttributes") or []
    }
    password = str(form.get("password") or "")

    def again(message: str) -> Response:
        return page("Sign up", _signup_form(org, action, from_uri, values, message), status=400)

    for attr in action.get("profileAttributes") or []:
        if attr.get("required") and not values.get(attr["name"]):
            return again(f"{attr.get('label') or attr['name']} is required.")
    email = values.get("email", "")
    if not _EMAIL.match(email):
        return again("Enter a valid email address.")
    if users.find_by_login(org, email) is not None:
        return again("A user with this email already exists.")
    profile: dict[str, Any] = {}
    for key, value in values.items():
        if value:
            try:
                profile[key] = schemas.from_form(org, key, value)
            except ValueError:
                return again(f"{key}: enter a valid value.")
    profile["login"] = email
    profile.setdefault("firstName", email.split("@")[0])
    profile.setdefault("lastName", email.split("@")[0])
    try:
        users.validate_password(password, email)
        users.validate_profile(org, profile)
    except OktaApiError as exc:
        return again(exc.causes[0].split(": ", 1)[-1] if exc.causes else exc.summary)
    verify = bool((action.get("activationRequirements") or {}).get("emailVerification", True))
    user = await run_in_threadpool(
        users.create_user,
        org,
        profile,
        password=password,
        activate=True,
        # a target group deleted after the policy was written is skipped, not an error page
        group_ids=[g for g in action.get("targetGroupIds") or [] if org.get("group", g)],
    )
    if not verify:
        return _continue(org, from_uri, user)
    users.set_status(org, user, "PROVISIONED")
    token = opaque(24)
    org.put(
        "activation",
        digest(token),
        {"user_id": user["id"], "fromURI": from_uri, "expires": time.time() + 7 * 86400},
    )
    link = org.url("/signin/verify/" + token)
    return page(
        "Verify your email",
        "<h1>Verify your email</h1>"
        f"<p>We sent a verification link to {html.escape(email)}. (The sandbox sends no email; "
        f'use this link:)</p><p><a id="verification-link" href="{html.escape(link)}">'
        "Verify email and continue</a></p>",
    )


async def verify_email(request: Request) -> Response:
    org = org_of(request)
    record = org.take("activation", digest(request.path_params["token"]))
    if record is None or record["expires"] < time.time():
        return page(
            "Link expired", "<h1>This verification link is invalid or has expired</h1>", 404
        )
    user = org.get(users.KIND, record["user_id"])
    if user is None:
        return page(
            "Link expired", "<h1>This verification link is invalid or has expired</h1>", 404
        )
    users.set_status(org, user, "ACTIVE")
    return _continue(org, safe_from_uri(record.get("fromURI")), user)


routes = [
    Route("/login/login.htm", signin_page, methods=["GET"]),
    Route("/login/login.htm", signin_submit, methods=["POST"]),
    Route("/signin/register", signup_page, methods=["GET"]),
    Route("/signin/register", signup_submit, methods=["POST"]),
    Route("/signin/verify/{token}", verify_email, methods=["GET"]),
]
