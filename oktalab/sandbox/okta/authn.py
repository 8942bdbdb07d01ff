"""Classic authentication: ``POST /api/v1/authn`` → one-time ``sessionToken``; browser sessions.

The session token is what headless clients hand to ``/authorize`` (``sessionToken=…``) instead
of a browser sign-in; the browser session (cookie ``sid``) is what makes ``prompt=none`` work
after a hosted sign-in. Both are stored by digest, never in the clear.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import users
from .errors import OktaApiError
from .state import OrgState, now_iso
from .tokens import digest, opaque
from .web import json_response, org_of, read_json, require_admin

SESSION_TOKEN_TTL = 300
SESSION_TTL = 2 * 3600
COOKIE = "sid"


LOCKOUT_ATTEMPTS = 10  # Okta's default password policy: lock after 10 failed sign-ins
FAILURES = "pwfail"


def authenticate(org: OrgState, username: str, password: str) -> dict[str, Any] | None:
    """The ACTIVE user with these credentials, else None."""
    user, outcome = check_credentials(org, username, password)
    return user if outcome == "ok" else None


def check_credentials(
    org: OrgState, username: str, password: str
) -> tuple[dict[str, Any] | None, str]:
    """(user, outcome) with outcome ``ok``, ``invalid``, ``locked`` or ``expired``.

    ``expired``: the password is right but the user is PASSWORD_EXPIRED
    (``/lifecycle/expire_password``); the user comes back too, to change the password.

    A wrong password counts towards the lockout threshold; at the tenth the user becomes
    LOCKED_OUT until an admin unlocks it (``/lifecycle/unlock``), as with Okta's default policy.
    Unknown users cost a hash check too, so timing does not reveal which logins exist.
    """
    user = users.find_by_login(org, username) if username else None
    if user is None:
        users.burn_password_check(password)
        return None, "invalid"
    if user["status"] == "LOCKED_OUT":
        return None, "locked"
    if not users.check_password(org, user, password):
        failures = (org.get(FAILURES, user["id"]) or {}).get("count", 0) + 1
        org.put(FAILURES, user["id"], {"count": failures})
        if failures >= LOCKOUT_ATTEMPTS and user["status"] == "ACTIVE":
            users.set_status(org, user, "LOCKED_OUT")
            return None, "locked"
        return None, "invalid"
    if user["status"] == "PASSWORD_EXPIRED":
        org.delete(FAILURES, user["id"])
        return user, "expired"
    if user["status"] != "ACTIVE":
        return None, "invalid"
    org.delete(FAILURES, user["id"])
    user["lastLogin"] = now_iso()
    org.put(users.KIND, user["id"], user)
    return user, "ok"


def issue_session_token(org: OrgState, user: dict[str, Any]) -> tuple[str, float]:
    token = "20111" + opaque(30)
    expires = time.time() + SESSION_TOKEN_TTL
    org.purge_expired("stoken")
    org.put("stoken", digest(token), {"user_id": user["id"], "expires": expires})
    return token, expires


def redeem_session_token(org: OrgState, token: str) -> dict[str, Any] | None:
    record = org.take("stoken", digest(token))
    if record is None or record["expires"] < time.time():
        return None
    user = org.get(users.KIND, record["user_id"])
    if user is None or user["status"] != "ACTIVE":
        return None
    return user


def create_session(org: OrgState, user: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    sid = "102" + opaque(24)
    now = time.time()
    record = {
        "user_id": user["id"],
        "auth_time": int(now),
        "created": now,
        "expires": now + SESSION_TTL,
    }
    org.purge_expired("session")
    org.put("session", digest(sid), record)
    return sid, record


def current_session(
    org: OrgState, request: Request
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    sid = request.cookies.get(COOKIE)
    if not sid:
        return None
    record = org.get("session", digest(sid))
    if record is None or record["expires"] < time.time():
        return None
    user = org.get(users.KIND, record["user_id"])
    if user is None or user["status"] != "ACTIVE":
        return None
    return user, record


def end_session(org: OrgState, request: Request) -> None:
    sid = request.cookies.get(COOKIE)
    if sid:
        org.delete("session", digest(sid))


def cookie_path(org: OrgState) -> str:
    """The org URL's path: behind a proxy the cookie must not reach Jupyter or other apps."""
    return urlsplit(org.org_url).path.rstrip("/") or "/"


def set_session_cookie(org: OrgState, response: Response, sid: str) -> None:
    response.set_cookie(
        COOKIE,
        sid,
        max_age=SESSION_TTL,
        path=cookie_path(org),
        httponly=True,
        samesite="lax",
        secure=org.org_url.startswith("https://"),
    )


def clear_session_cookie(org: OrgState, response: Response) -> None:
    response.delete_cookie(
        COOKIE,
        path=cookie_path(org),
        httponly=True,
        samesite="lax",
        secure=org.org_url.startswith("https://"),
    )


async def post_authn(request: Request) -> Response:
    org = org_of(request)
    body = await read_json(request, required=True)
    username = body.get("username")
    password = body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise OktaApiError(
            "E0000001",
            "username",
            ["username: The field cannot be left blank"]
            if not isinstance(username, str)
            else ["password: The field cannot be left blank"],
        )
    user, outcome = await run_in_threadpool(check_credentials, org, username, password)
    if outcome == "locked":
        return json_response(
            {
                "status": "LOCKED_OUT",
                "_links": {
                    "next": {
                        "name": "unlock",
                        "href": org.url("/api/v1/authn/recovery/unlock"),
                        "hints": {"allow": ["POST"]},
                    }
                },
            }
        )
    if user is None:
        raise OktaApiError("E0000004")
    if outcome == "expired":
        return json_response(_password_expired(org, user))
    return json_response(_success(org, user))


def _embedded_user(user: dict[str, Any]) -> dict[str, Any]:
    profile = user["profile"]
    return {
        "id": user["id"],
        "passwordChanged": user.get("passwordChanged"),
        "profile": {
            "login": profile.get("login"),
            "firstName": profile.get("firstName"),
            "lastName": profile.get("lastName"),
            "locale": profile.get("locale", "en"),
            "timeZone": profile.get("timezone", "America/Los_Angeles"),
        },
    }


def _cancel_link(org: OrgState) -> dict[str, Any]:
    return {"href": org.url("/api/v1/authn/cancel"), "hints": {"allow": ["POST"]}}


def _success(org: OrgState, user: dict[str, Any]) -> dict[str, Any]:
    token, expires = issue_session_token(org, user)
    return {
        "expiresAt": now_iso(expires),
        "status": "SUCCESS",
        "sessionToken": token,
        "_embedded": {"user": _embedded_user(user)},
        "_links": {"cancel": _cancel_link(org)},
    }


def _password_expired(org: OrgState, user: dict[str, Any]) -> dict[str, Any]:
    """Okta's PASSWORD_EXPIRED transaction: a ``stateToken`` for ``credentials/change_password``."""
    state = "00" + opaque(40)
    expires = time.time() + SESSION_TOKEN_TTL
    org.purge_expired("authn_state")
    org.put("authn_state", digest(state), {"user_id": user["id"], "expires": expires})
    return {
        "stateToken": state,
        "expiresAt": now_iso(expires),
        "status": "PASSWORD_EXPIRED",
        "_embedded": {
            "user": _embedded_user(user),
            "policy": {
                "complexity": {
                    "minLength": 8,
                    "minLowerCase": 1,
                    "minUpperCase": 1,
                    "minNumber": 1,
                    "minSymbol": 0,
                    "excludeUsername": True,
                },
                "age": {"minAgeMinutes": 0, "historyCount": 0},
            },
        },
        "_links": {
            "next": {
                "name": "changePassword",
                "href": org.url("/api/v1/authn/credentials/change_password"),
                "hints": {"allow": ["POST"]},
            },
            "cancel": _cancel_link(org),
        },
    }


async def change_password(request: Request) -> Response:
    """``POST /api/v1/authn/credentials/change_password`` {stateToken, oldPassword, newPassword}."""
    org = org_of(request)
    body = await read_json(request, required=True)
    record = org.get("authn_state", digest(str(body.get("stateToken") or "")))
    user = org.get(users.KIND, record["user_id"]) if record else None
    if record is None or record["expires"] < time.time() or user is None:
        raise OktaApiError("E0000011")
    if user["status"] != "PASSWORD_EXPIRED":
        raise OktaApiError("E0000079")
    old = body.get("oldPassword")
    if not isinstance(old, str) or not users.check_password(org, user, old):
        raise OktaApiError("E0000001", "oldPassword", ["oldPassword: Old Password is not correct"])
    new = body.get("newPassword")
    users.validate_password(new, user["profile"]["login"])
    if new == old:
        raise OktaApiError(
            "E0000001", "password", ["password: Password cannot be your current password"]
        )
    org.delete("authn_state", digest(str(body["stateToken"])))
    users.set_password(org, user, str(new))
    users.set_status(org, user, "ACTIVE")
    return json_response(_success(org, user))


# ---- Sessions API (classic): a session id is also the value of the ``sid`` cookie ----------------


def _session(org: OrgState, sid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    record = org.get("session", digest(sid)) if sid else None
    user = org.get(users.KIND, record["user_id"]) if record else None
    if record is None or user is None or record["expires"] < time.time():
        raise OktaApiError("E0000007", f"Resource not found: {sid or 'me'} (Session)")
    return record, user


def render_session(
    org: OrgState, sid: str, record: dict[str, Any], user: dict[str, Any]
) -> dict[str, Any]:
    created = now_iso(record.get("created", record["auth_time"]))
    return {
        "id": sid,
        "userId": user["id"],
        "login": user["profile"]["login"],
        "createdAt": created,
        "expiresAt": now_iso(record["expires"]),
        "status": "ACTIVE",
        "lastPasswordVerification": now_iso(record["auth_time"]),
        "amr": ["pwd"],
        "idp": {"id": org.org_id, "type": "OKTA"},
        "mfaActive": False,
        "_links": {
            "self": {
                "href": org.url(f"/api/v1/sessions/{sid}"),
                "hints": {"allow": ["GET", "DELETE"]},
            },
            "refresh": {
                "href": org.url(f"/api/v1/sessions/{sid}/lifecycle/refresh"),
                "hints": {"allow": ["POST"]},
            },
            "user": {
                "name": " ".join(
                    p
                    for p in (user["profile"].get("firstName"), user["profile"].get("lastName"))
                    if p
                ),
                "href": org.url(f"/api/v1/users/{user['id']}"),
                "hints": {"allow": ["GET"]},
            },
        },
    }


async def create_session_ep(request: Request) -> Response:
    require_admin(request, "okta.sessions.manage")
    org = org_of(request)
    body = await read_json(request, required=True)
    user = redeem_session_token(org, str(body.get("sessionToken") or ""))
    if user is None:
        raise OktaApiError("E0000005")
    sid, record = create_session(org, user)
    return json_response(render_session(org, sid, record, user))


def _session_ep(
    request: Request, access: str
) -> tuple[OrgState, str, dict[str, Any], dict[str, Any]]:
    """``/api/v1/sessions/{sessionId}``: authorized, the org, the id, the live session."""
    require_admin(request, f"okta.sessions.{access}")
    org = org_of(request)
    sid = request.path_params["sessionId"]
    record, user = _session(org, sid)
    return org, sid, record, user


async def get_session_ep(request: Request) -> Response:
    org, sid, record, user = _session_ep(request, "read")
    return json_response(render_session(org, sid, record, user))


async def refresh_session_ep(request: Request) -> Response:
    org, sid, record, user = _session_ep(request, "manage")
    record["expires"] = time.time() + SESSION_TTL
    org.put("session", digest(sid), record)
    return json_response(render_session(org, sid, record, user))


async def delete_session_ep(request: Request) -> Response:
    org, sid, _, _ = _session_ep(request, "manage")
    org.delete("session", digest(sid))
    return Response(status_code=204)


async def my_session(request: Request) -> Response:
    """``/api/v1/sessions/me``: the browser's own session, identified by its cookie."""
    org = org_of(request)
    sid = request.cookies.get(COOKIE, "")
    record, user = _session(org, sid)
    if request.method == "DELETE":
        org.delete("session", digest(sid))
        response = Response(status_code=204)
        clear_session_cookie(org, response)
        return response
    if request.method == "POST":  # lifecycle/refresh
        record["expires"] = time.time() + SESSION_TTL
        org.put("session", digest(sid), record)
    return json_response(render_session(org, sid, record, user))


async def session_cookie_redirect(request: Request) -> Response:
    """Classic ``/login/sessionCookieRedirect?token=…&redirectUrl=…``: sessionToken → cookie."""
    from .origins import redirect_allowed

    org = org_of(request)
    target = request.query_params.get("redirectUrl") or org.url("/")
    if not redirect_allowed(org, target):
        raise OktaApiError(
            "E0000001", "redirectUrl", ["redirectUrl: The URL is not a trusted origin."]
        )
    user = redeem_session_token(org, request.query_params.get("token", ""))
    if user is None:
        return RedirectResponse(org.url("/login/login.htm"), status_code=302)
    sid, _ = create_session(org, user)
    response = RedirectResponse(target, status_code=302)
    set_session_cookie(org, response, sid)
    return response


routes = [
    Route("/api/v1/authn", post_authn, methods=["POST"]),
    Route("/api/v1/authn/credentials/change_password", change_password, methods=["POST"]),
    Route("/api/v1/sessions", create_session_ep, methods=["POST"]),
    Route("/api/v1/sessions/me", my_session, methods=["GET", "DELETE"]),
    Route("/api/v1/sessions/me/lifecycle/refresh", my_session, methods=["POST"]),
    Route("/api/v1/sessions/{sessionId}", get_session_ep, methods=["GET"]),
    Route("/api/v1/sessions/{sessionId}", delete_session_ep, methods=["DELETE"]),
    Route("/api/v1/sessions/{sessionId}/lifecycle/refresh", refresh_session_ep, methods=["POST"]),
    Route("/login/sessionCookieRedirect", session_cookie_redirect, methods=["GET"]),
]
