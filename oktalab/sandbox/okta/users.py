"""Users API (``/api/v1/users``): profiles, passwords (salted scrypt hashes only) and lifecycle."""

from __future__ import annotations

import re
import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from . import groups, rest, schemas
from .errors import OktaApiError, not_found, validation, want_str_list
from .state import OrgState, hash_password, new_id, now_iso, verify_password
from .web import bool_param, json_response, no_content, read_json

KIND = "user"
PASSWORD = "password"
REQUIRED_PROFILE = ("login", "email", "firstName", "lastName")
PASSWORD_RULES = (
    "password: Password requirements were not met. Password requirements: at least 8 characters,"
    " a lowercase letter, an uppercase letter, a number, no parts of your username."
)


def user_type_id(org: OrgState) -> str:
    value = org.meta("user_type_id")
    if value is None:
        value = new_id("oty")
        org.set_meta("user_type_id", value)
    return value


def render(org: OrgState, user: dict[str, Any], base: str) -> dict[str, Any]:
    links: dict[str, Any] = {"self": {"href": org.url(base)}}
    status = user["status"]
    if status in ("STAGED", "DEPROVISIONED"):
        links["activate"] = {"href": org.url(f"{base}/lifecycle/activate"), "method": "POST"}
    if status == "PROVISIONED":
        links["reactivate"] = {"href": org.url(f"{base}/lifecycle/reactivate"), "method": "POST"}
    if status == "ACTIVE":
        links["suspend"] = {"href": org.url(f"{base}/lifecycle/suspend"), "method": "POST"}
        links["resetPassword"] = {
            "href": org.url(f"{base}/lifecycle/reset_password"),
            "method": "POST",
        }
        links["changePassword"] = {
            "href": org.url(f"{base}/credentials/change_password"),
            "method": "POST",
        }
    if status == "SUSPENDED":
        links["unsuspend"] = {"href": org.url(f"{base}/lifecycle/unsuspend"), "method": "POST"}
    if status != "DEPROVISIONED":
        links["deactivate"] = {"href": org.url(f"{base}/lifecycle/deactivate"), "method": "POST"}
    links["type"] = {"href": org.url(f"/api/v1/meta/types/user/{user['type']['id']}")}
    links["schema"] = {"href": org.url(f"/api/v1/meta/schemas/user/{user['type']['id']}")}
    return {**user, "_links": links}


def find_by_login(org: OrgState, login: str) -> dict[str, Any] | None:
    low = login.lower()
    for user in org.list(KIND):
        if user["profile"].get("login", "").lower() == low:
            return user
    return None


def deprovisioned(user: dict[str, Any]) -> bool:
    """Okta leaves DEPROVISIONED users out of lists unless a filter or search asks."""
    return bool(user["status"] == "DEPROVISIONED")


def lookup(org: OrgState, id_or_login: str) -> dict[str, Any] | None:
    return org.get(KIND, id_or_login) or find_by_login(org, id_or_login)


def get_user(org: OrgState, id_or_login: str) -> dict[str, Any]:
    """A user by id or login, else Okta's 404 (``… (User)``)."""
    return rest.resource(KIND).find(org, id_or_login)


_DUMMY_HASH: list[str] = []


def burn_password_check(password: str) -> None:
    """Spend the time of a real check (for unknown logins)."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password("not-a-real-password"))
    verify_password(password, _DUMMY_HASH[0])


def check_password(org: OrgState, user: dict[str, Any], password: str) -> bool:
    stored = org.get(PASSWORD, user["id"])
    return stored is not None and verify_password(password, stored["hash"])


def validate_password(password: Any, login: str) -> None:
    ok = (
        isinstance(password, str)
        and len(password) >= 8
        and re.search(r"[a-z]", password)
        and re.search(r"[A-Z]", password)
        and re.search(r"[0-9]", password)
    )
    if ok:
        local = login.split("@")[0].lower()
        if len(local) >= 3 and local in password.lower():
            ok = False
    if not ok:
        raise validation("password", PASSWORD_RULES)


def set_password(org: OrgState, user: dict[str, Any], password: str) -> None:
    org.put(PASSWORD, user["id"], {"hash": hash_password(password)})
    org.delete("pwfail", user["id"])
    user["passwordChanged"] = now_iso()


def validate_profile(org: OrgState, profile: Any, *, exclude: str | None = None) -> dict[str, Any]:
    if not isinstance(profile, dict):
        raise validation("profile", "profile: The field cannot be left blank")
    causes = [
        f"{f}: The field cannot be left blank"
        for f in REQUIRED_PROFILE
        if not isinstance(profile.get(f), str) or not profile.get(f, "").strip()
    ]
    if causes:
        raise OktaApiError("E0000001", ", ".join(c.split(":")[0] for c in causes), causes)
    known = schemas.attribute_names(org)
    unknown = sorted(k for k in profile if k not in known)
    if unknown:
        raise OktaApiError(
            "E0000001",
            "profile",
            [f"Property name '{name}' is not defined in profile" for name in unknown],
        )
    for key, value in profile.items():
        schemas.check_value(org, key, value)
    login = profile["login"]
    if "@" not in login:
        raise validation("login", "login: Username must be in the form of an email address")
    if "@" not in profile["email"]:
        raise validation("email", "email: Does not match required pattern")
    other = find_by_login(org, login)
    if other is not None and other["id"] != exclude:
        raise validation(
            "login", "login: An object with this field already exists in the current organization"
        )
    return dict(profile)


def create_user(
    org: OrgState,
    profile: dict[str, Any],
    *,
    password: str | None,
    activate: bool = True,
    group_ids: list[str] | None = None,
) -> dict[str, Any]:
    now = now_iso()
    uid = new_id("00u")
    if not activate:
        status = "STAGED"
    elif password is not None:
        status = "ACTIVE"
    else:
        status = "PROVISIONED"
    user: dict[str, Any] = {
        "id": uid,
        "status": status,
        "created": now,
        "activated": now if status == "ACTIVE" else None,
        "statusChanged": now if status != "STAGED" else None,
        "lastLogin": None,
        "lastUpdated": now,
        "passwordChanged": None,
        "type": {"id": user_type_id(org)},
        "profile": profile,
        "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
    }
    if password is not None:
        set_password(org, user, password)
        user["credentials"] = {"password": {}, **user["credentials"]}
    org.put(KIND, uid, user)
    for gid in group_ids or []:
        groups.add_member(org, gid, uid)
    return user


def ensure_user(org: OrgState, profile: dict[str, Any], password: str) -> dict[str, Any]:
    """Seed helper: create the user or reset it to ACTIVE with this profile and password."""
    user = find_by_login(org, profile["login"])
    if user is None:
        return create_user(org, dict(profile), password=password)
    now = now_iso()
    user["profile"].update(profile)
    if user["status"] != "ACTIVE":
        user["status"] = "ACTIVE"
        user["statusChanged"] = now
        user["activated"] = now
    set_password(org, user, password)
    org.delete("pwfail", user["id"])
    user["credentials"] = {"password": {}, "provider": {"type": "OKTA", "name": "OKTA"}}
    user["lastUpdated"] = now
    org.put(KIND, user["id"], user)
    return user


def set_status(org: OrgState, user: dict[str, Any], status: str) -> None:
    now = now_iso()
    user["status"] = status
    user["statusChanged"] = now
    user["lastUpdated"] = now
    if status == "ACTIVE":
        user["activated"] = now
    org.put(KIND, user["id"], user)


# ---- endpoints with behaviour of their own -------------------------------------------------------


async def post_user(ctx: rest.Ctx) -> Response:
    org, request = ctx.org, ctx.request
    body = await read_json(request, required=True)
    profile = validate_profile(org, body.get("profile"))
    password = ((body.get("credentials") or {}).get("password") or {}).get("value")
    if password is not None:
        validate_password(password, profile["login"])
    group_ids = want_str_list(body.get("groupIds"), "groupIds", [])
    for gid in group_ids:
        groups.get_group(org, gid)
    user = await run_in_threadpool(
        create_user,
        org,
        profile,
        password=password,
        activate=bool_param(request, "activate", True),
        group_ids=group_ids,
    )
    return json_response(ctx.show(user))


async def update_user(ctx: rest.Ctx) -> Response:
    """POST = partial profile update; PUT = replace the profile (Okta semantics)."""
    org, request, user = ctx.org, ctx.request, ctx.doc
    assert user is not None
    body = await read_json(request, required=True)
    if "profile" in body:
        if not isinstance(body["profile"], dict):
            raise validation("profile", "profile: must be an object")
        if request.method == "POST":
            merged = {**user["profile"], **(body["profile"] or {})}
        else:
            merged = body["profile"]
        user["profile"] = validate_profile(org, merged, exclude=user["id"])
    password = ((body.get("credentials") or {}).get("password") or {}).get("value")
    if password is not None:
        validate_password(password, user["profile"]["login"])
        await run_in_threadpool(set_password, org, user, password)
        user["credentials"] = {"password": {}, "provider": {"type": "OKTA", "name": "OKTA"}}
    user["lastUpdated"] = now_iso()
    org.put(KIND, user["id"], user)
    return json_response(ctx.show(user))


async def delete_user(ctx: rest.Ctx) -> Response:
    """The first DELETE deactivates (DEPROVISIONED), the second deletes, as in Okta."""
    user = ctx.doc
    assert user is not None
    if user["status"] != "DEPROVISIONED":
        set_status(ctx.org, user, "DEPROVISIONED")
        return no_content()
    ctx.org.delete(PASSWORD, user["id"])
    ctx.res.remove(ctx.org, user)
    return no_content()


async def lifecycle(ctx: rest.Ctx) -> Response:
    org, request, user = ctx.org, ctx.request, ctx.doc
    assert user is not None
    action = request.path_params["action"]
    status = user["status"]
    has_password = org.get(PASSWORD, user["id"]) is not None
    if action in ("activate", "reactivate"):
        if status == "ACTIVE":
            raise OktaApiError("E0000016")
        if action == "reactivate" and status != "PROVISIONED":
            raise OktaApiError("E0000038")
        set_status(org, user, "ACTIVE" if has_password else "PROVISIONED")
        if bool_param(request, "sendEmail", True):
            return json_response({})
        token = secrets.token_urlsafe(15)[:20]
        return json_response(
            {
                "activationUrl": org.url(f"/welcome/{token}"),
                "activationToken": token,
            }
        )
    if action == "deactivate":
        if status == "DEPROVISIONED":
            raise OktaApiError("E0000038")
        set_status(org, user, "DEPROVISIONED")
        return json_response({})
    if action == "suspend":
        if status != "ACTIVE":
            raise OktaApiError("E0000001", "Cannot suspend a user that is not active", [])
        set_status(org, user, "SUSPENDED")
        return json_response({})
    if action == "unsuspend":
        if status != "SUSPENDED":
            raise OktaApiError("E0000001", "Cannot unsuspend a user that is not suspended", [])
        set_status(org, user, "ACTIVE")
        return json_response({})
    if action in ("expire_password", "expire_password_with_temp_password"):
        # Management API: ACTIVE (or already expired) users with a password credential only
        if status not in ("ACTIVE", "PASSWORD_EXPIRED") or not has_password:
            raise OktaApiError("E0000038")
        if action == "expire_password_with_temp_password":
            temp = secrets.token_urlsafe(9)
            set_password(org, user, temp)
            set_status(org, user, "PASSWORD_EXPIRED")
            return json_response({"tempPassword": temp})
        set_status(org, user, "PASSWORD_EXPIRED")
        return json_response(render(org, user, f"/api/v1/users/{user['id']}"))
    if action == "unlock":
        if status == "LOCKED_OUT":
            set_status(org, user, "ACTIVE")
        org.delete("pwfail", user["id"])
        return json_response({})
    raise not_found(f"Resource not found: {action} (Lifecycle)")
