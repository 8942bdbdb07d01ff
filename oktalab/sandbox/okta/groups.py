"""Groups API (``/api/v1/groups``) and memberships.

``Everyone`` is the BUILT_IN group; like in Okta every user is implicitly a member, so its
membership is computed rather than stored.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import OktaApiError, not_found, validation, want_str
from .filters import compile_filter
from .org import OktaOrg, new_id, now_iso
from .web import json_response, no_content, org_of, paginate, read_json, require_admin

KIND = "group"
MEMBER = "member"  # link: a = group id, b = user id


def ensure_everyone(org: OktaOrg) -> str:
    gid = org.meta("everyone_id")
    if gid and org.get(KIND, gid):
        return gid
    now = now_iso()
    gid = new_id("00g")
    org.put(
        KIND,
        gid,
        {
            "id": gid,
            "created": now,
            "lastUpdated": now,
            "lastMembershipUpdated": now,
            "objectClass": ["okta:user_group"],
            "type": "BUILT_IN",
            "profile": {"name": "Everyone", "description": "All users in your organization"},
        },
    )
    org.set_meta("everyone_id", gid)
    return gid


def everyone_id(org: OktaOrg) -> str:
    return org.meta("everyone_id") or ensure_everyone(org)


def render(org: OktaOrg, group: dict[str, Any]) -> dict[str, Any]:
    gid = group["id"]
    return {
        **group,
        "_links": {
            "logo": [
                {
                    "name": "medium",
                    "href": org.url("/img/logos/groups/okta-medium.png"),
                    "type": "image/png",
                },
                {
                    "name": "large",
                    "href": org.url("/img/logos/groups/okta-large.png"),
                    "type": "image/png",
                },
            ],
            "users": {"href": org.url(f"/api/v1/groups/{gid}/users")},
            "apps": {"href": org.url(f"/api/v1/groups/{gid}/apps")},
        },
    }


def get_group(org: OktaOrg, gid: str) -> dict[str, Any]:
    group = org.get(KIND, gid)
    if group is None:
        raise not_found(f"Resource not found: {gid} (UserGroup)")
    return group


def user_group_ids(org: OktaOrg, uid: str) -> list[str]:
    linked = {a for a, _, _ in org.links(MEMBER, b=uid)}
    return [g["id"] for g in org.list(KIND) if g["type"] == "BUILT_IN" or g["id"] in linked]


def user_group_names(org: OktaOrg, uid: str) -> list[str]:
    linked = {a for a, _, _ in org.links(MEMBER, b=uid)}
    return [
        g["profile"]["name"] for g in org.list(KIND) if g["type"] == "BUILT_IN" or g["id"] in linked
    ]


def member_ids(org: OktaOrg, gid: str) -> list[str]:
    group = get_group(org, gid)
    if group["type"] == "BUILT_IN":
        return [u["id"] for u in org.list("user")]
    return [b for _, b, _ in org.links(MEMBER, a=gid)]


def add_member(org: OktaOrg, gid: str, uid: str) -> None:
    group = get_group(org, gid)
    if group["type"] == "BUILT_IN":
        return
    org.link(MEMBER, gid, uid)
    group["lastMembershipUpdated"] = now_iso()
    org.put(KIND, gid, group)


def _validate_profile(
    org: OktaOrg, body: dict[str, Any], exclude: str | None = None
) -> dict[str, Any]:
    profile = body.get("profile")
    if not isinstance(profile, dict):
        raise validation("profile", "profile: The field cannot be left blank")
    name = profile.get("name")
    if not isinstance(name, str) or not name.strip():
        raise validation("name", "name: The field cannot be left blank")
    for g in org.list(KIND):
        if g["id"] != exclude and g["profile"].get("name", "").lower() == name.lower():
            raise validation(
                "name", "name: An object with this field already exists in the current organization"
            )
    out = {"name": name}
    description = profile.get("description")
    if description is not None:
        out["description"] = want_str(description, "description")
    return out


def create_group(org: OktaOrg, body: dict[str, Any]) -> dict[str, Any]:
    profile = _validate_profile(org, body)
    now = now_iso()
    gid = new_id("00g")
    return org.put(
        KIND,
        gid,
        {
            "id": gid,
            "created": now,
            "lastUpdated": now,
            "lastMembershipUpdated": now,
            "objectClass": ["okta:user_group"],
            "type": "OKTA_GROUP",
            "profile": profile,
        },
    )


# ---- endpoints -------------------------------------------------------------------------------


async def list_groups(request: Request) -> Response:
    require_admin(request, "okta.groups.read")
    org = org_of(request)
    groups = org.list(KIND)
    q = request.query_params.get("q")
    if q:
        groups = [g for g in groups if g["profile"].get("name", "").lower().startswith(q.lower())]
    for param, allowed in (
        ("filter", {"id", "type", "lastUpdated", "lastMembershipUpdated"}),
        ("search", None),
    ):
        text = request.query_params.get(param)
        if text:
            try:
                pred = compile_filter(text, allowed)
            except ValueError as exc:
                raise OktaApiError("E0000031") from exc
            groups = [g for g in groups if pred(g)]
    return paginate(request, [render(org, g) for g in groups], default_limit=10000, max_limit=10000)


async def post_group(request: Request) -> Response:
    require_admin(request, "okta.groups.manage")
    org = org_of(request)
    body = await read_json(request, required=True)
    return json_response(render(org, create_group(org, body)))


async def get_group_ep(request: Request) -> Response:
    require_admin(request, "okta.groups.read")
    org = org_of(request)
    return json_response(render(org, get_group(org, request.path_params["groupId"])))


async def put_group(request: Request) -> Response:
    require_admin(request, "okta.groups.manage")
    org = org_of(request)
    group = get_group(org, request.path_params["groupId"])
    if group["type"] != "OKTA_GROUP":
        raise OktaApiError("E0000006")
    body = await read_json(request, required=True)
    group["profile"] = _validate_profile(org, body, exclude=group["id"])
    group["lastUpdated"] = now_iso()
    org.put(KIND, group["id"], group)
    return json_response(render(org, group))


async def delete_group(request: Request) -> Response:
    require_admin(request, "okta.groups.manage")
    org = org_of(request)
    group = get_group(org, request.path_params["groupId"])
    if group["type"] == "BUILT_IN":
        raise OktaApiError("E0000006")
    org.unlink(MEMBER, a=group["id"])
    org.unlink("app_group", b=group["id"])
    org.delete(KIND, group["id"])
    return no_content()


async def list_members(request: Request) -> Response:
    require_admin(request, "okta.groups.read")
    from .users import get_user, render as render_user

    org = org_of(request)
    ids = member_ids(org, request.path_params["groupId"])
    users = [render_user(org, get_user(org, uid)) for uid in ids if org.get("user", uid)]
    return paginate(request, users, default_limit=1000, max_limit=10000)


async def put_member(request: Request) -> Response:
    require_admin(request, "okta.groups.manage")
    from .users import get_user

    org = org_of(request)
    gid = request.path_params["groupId"]
    get_group(org, gid)
    user = get_user(org, request.path_params["userId"])
    add_member(org, gid, user["id"])
    return no_content()


async def delete_member(request: Request) -> Response:
    require_admin(request, "okta.groups.manage")
    from .users import get_user

    org = org_of(request)
    group = get_group(org, request.path_params["groupId"])
    user = get_user(org, request.path_params["userId"])
    if group["type"] == "BUILT_IN":
        raise OktaApiError("E0000006")
    org.unlink(MEMBER, a=group["id"], b=user["id"])
    group["lastMembershipUpdated"] = now_iso()
    org.put(KIND, group["id"], group)
    return no_content()


async def list_group_apps(request: Request) -> Response:
    require_admin(request, "okta.groups.read")
    from .apps import render as render_app

    org = org_of(request)
    gid = get_group(org, request.path_params["groupId"])["id"]
    apps = [org.get("app", a) for a, _, _ in org.links("app_group", b=gid)]
    return paginate(request, [render_app(org, a) for a in apps if a], default_limit=20)


routes = [
    Route("/api/v1/groups", list_groups, methods=["GET"]),
    Route("/api/v1/groups", post_group, methods=["POST"]),
    Route("/api/v1/groups/{groupId}", get_group_ep, methods=["GET"]),
    Route("/api/v1/groups/{groupId}", put_group, methods=["PUT"]),
    Route("/api/v1/groups/{groupId}", delete_group, methods=["DELETE"]),
    Route("/api/v1/groups/{groupId}/users", list_members, methods=["GET"]),
    Route("/api/v1/groups/{groupId}/users/{userId}", put_member, methods=["PUT"]),
    Route("/api/v1/groups/{groupId}/users/{userId}", delete_member, methods=["DELETE"]),
    Route("/api/v1/groups/{groupId}/apps", list_group_apps, methods=["GET"]),
]
