"""Relations between Okta resources: group members, app assignments, app ↔ policy mappings.

These endpoints join two resources (``/api/v1/groups/{groupId}/users/{userId}``,
``/api/v1/apps/{appId}/groups/{groupId}``, ``/api/v1/policies/{policyId}/app`` …), so they
live above the resource modules: apps, groups, users and policies never import each other's
endpoints, and the import graph has no cycle. Relations are stored as links (see
:mod:`.state`); lists page with :func:`.rest.paginate` like every other list.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import apps, groups, policies, rest, users
from .apps import APP_GROUP, APP_POLICY, APP_USER, is_assigned
from .errors import OktaApiError, not_found, validation, want_dict, want_int
from .groups import MEMBER
from .resources import APPS, GROUPS, POLICIES, USERS
from .state import OrgState, now_iso
from .web import json_response, no_content, read_json


def _on(res: rest.Resource, request: Request, access: str) -> rest.Ctx:
    """Authorize as a read or write of ``res`` and find the object the path names."""
    return rest.context(res, request, access, item=True)


# ---- group members and a group's apps ------------------------------------------------------------


async def list_members(request: Request) -> Response:
    ctx = _on(GROUPS, request, "read")
    org = ctx.org
    ids = groups.member_ids(org, request.path_params["groupId"])
    found = [org.get(users.KIND, uid) for uid in ids]
    return rest.paginate(
        request,
        [USERS.show(org, u) for u in found if u],
        default_limit=1000,
        max_limit=10000,
    )


async def put_member(request: Request) -> Response:
    ctx = _on(GROUPS, request, "manage")
    user = users.get_user(ctx.org, request.path_params["userId"])
    groups.add_member(ctx.org, request.path_params["groupId"], user["id"])
    return no_content()


async def delete_member(request: Request) -> Response:
    ctx = _on(GROUPS, request, "manage")
    group = ctx.doc
    assert group is not None
    user = users.get_user(ctx.org, request.path_params["userId"])
    if group["type"] == "BUILT_IN":
        raise OktaApiError("E0000006")
    ctx.org.unlink(MEMBER, a=group["id"], b=user["id"])
    group["lastMembershipUpdated"] = now_iso()
    ctx.org.put(groups.KIND, group["id"], group)
    return no_content()


async def list_group_apps(request: Request) -> Response:
    ctx = _on(GROUPS, request, "read")
    assert ctx.doc is not None
    found = [ctx.org.get(apps.KIND, a) for a, _, _ in ctx.org.links(APP_GROUP, b=ctx.doc["id"])]
    return rest.paginate(request, [APPS.show(ctx.org, a) for a in found if a], default_limit=20)


async def list_user_groups(request: Request) -> Response:
    ctx = _on(USERS, request, "read")
    assert ctx.doc is not None
    found = [
        GROUPS.show(ctx.org, groups.get_group(ctx.org, gid))
        for gid in groups.user_group_ids(ctx.org, ctx.doc["id"])
    ]
    return rest.paginate(request, found, default_limit=10000, max_limit=10000)


# ---- app group assignments -------------------------------------------------------------------------


def render_assignment(org: OrgState, app_id: str, gid: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": gid,
        "priority": data.get("priority", 0),
        "lastUpdated": data.get("lastUpdated"),
        "profile": data.get("profile", {}),
        "_links": {
            "app": {"href": org.url(f"/api/v1/apps/{app_id}")},
            "self": {"href": org.url(f"/api/v1/apps/{app_id}/groups/{gid}")},
            "group": {"href": org.url(f"/api/v1/groups/{gid}")},
        },
    }


def _assignment(ctx: rest.Ctx) -> tuple[str, dict[str, Any]]:
    """The group id and data of the assignment the path names, else Okta's 404."""
    assert ctx.doc is not None
    gid = ctx.request.path_params["groupId"]
    found = ctx.org.links(APP_GROUP, a=ctx.doc["id"], b=gid)
    if not found:
        raise not_found(f"Resource not found: {gid} (ApplicationGroupAssignment)")
    return gid, found[0][2]


async def put_app_group(request: Request) -> Response:
    ctx = _on(APPS, request, "manage")
    org, app = ctx.org, ctx.doc
    assert app is not None
    gid = groups.get_group(org, request.path_params["groupId"])["id"]
    body = await read_json(request)
    current = org.links(APP_GROUP, a=app["id"], b=gid)
    data = dict(current[0][2]) if current else {"priority": len(org.links(APP_GROUP, a=app["id"]))}
    if body.get("priority") is not None:
        data["priority"] = want_int(body["priority"], "priority", lo=0, hi=100000)
    if body.get("profile") is not None:
        data["profile"] = want_dict(body["profile"], "profile")
    data.setdefault("profile", {})
    data["lastUpdated"] = now_iso()
    org.link(APP_GROUP, app["id"], gid, data)
    return json_response(render_assignment(org, app["id"], gid, data))


async def patch_app_group(request: Request) -> Response:
    """JSON-Patch-like update of an assignment: ``replace``/``remove`` on /priority, /profile/…"""
    ctx = _on(APPS, request, "manage")
    gid, stored = _assignment(ctx)
    raw = await request.body()
    try:
        ops = json.loads(raw) if raw.strip() else []
    except ValueError as exc:
        raise OktaApiError("E0000003") from exc
    if not isinstance(ops, list) or not all(isinstance(o, dict) for o in ops):
        raise OktaApiError("E0000003")
    data = dict(stored)
    profile = dict(data.get("profile") or {})
    for op in ops:
        action, path = op.get("op"), op.get("path")
        if action not in ("replace", "remove") or not isinstance(path, str):
            raise validation("op", "op: must be 'replace' or 'remove' with a string 'path'")
        if path == "/priority":
            if action == "remove":
                raise validation("path", "path: /priority cannot be removed")
            data["priority"] = want_int(op.get("value"), "priority", lo=0, hi=100000)
        elif path.startswith("/profile/") and len(path) > len("/profile/"):
            key = path[len("/profile/") :]
            if action == "remove":
                profile.pop(key, None)
            else:
                profile[key] = op.get("value")
        else:
            raise validation("path", f"path: '{path}' cannot be updated")
    data["profile"] = profile
    data["lastUpdated"] = now_iso()
    app_id = ctx.doc["id"] if ctx.doc else ""
    ctx.org.link(APP_GROUP, app_id, gid, data)
    return json_response(render_assignment(ctx.org, app_id, gid, data))


async def get_app_group(request: Request) -> Response:
    ctx = _on(APPS, request, "read")
    gid, data = _assignment(ctx)
    assert ctx.doc is not None
    return json_response(render_assignment(ctx.org, ctx.doc["id"], gid, data))


async def list_app_groups(request: Request) -> Response:
    ctx = _on(APPS, request, "read")
    org, app = ctx.org, ctx.doc
    assert app is not None
    items = []
    q = (request.query_params.get("q") or "").lower()
    for _, gid, data in org.links(APP_GROUP, a=app["id"]):
        group = org.get(groups.KIND, gid)
        if group is None or (q and not group["profile"]["name"].lower().startswith(q)):
            continue
        item = render_assignment(org, app["id"], gid, data)
        if "group" in (request.query_params.get("expand") or ""):
            item["_embedded"] = {"group": GROUPS.show(org, group)}
        items.append(item)
    return rest.paginate(request, items, default_limit=20)


async def delete_app_group(request: Request) -> Response:
    ctx = _on(APPS, request, "manage")
    assert ctx.doc is not None
    ctx.org.unlink(APP_GROUP, a=ctx.doc["id"], b=request.path_params["groupId"])
    return no_content()


# ---- app users (read + direct assignment) --------------------------------------------------------


def render_app_user(
    org: OrgState, app_id: str, user: dict[str, Any], scope: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": user["id"],
        "created": data.get("created", user["created"]),
        "lastUpdated": data.get("lastUpdated", user["lastUpdated"]),
        "scope": scope,
        "status": "ACTIVE" if user["status"] == "ACTIVE" else "PROVISIONED",
        "statusChanged": data.get("created", user["created"]),
        "passwordChanged": None,
        "syncState": "DISABLED",
        "credentials": {"userName": user["profile"]["login"]},
        "profile": data.get("profile", {}),
        "_links": {
            "app": {"href": org.url(f"/api/v1/apps/{app_id}")},
            "user": {"href": org.url(f"/api/v1/users/{user['id']}")},
        },
    }


async def list_app_users(request: Request) -> Response:
    ctx = _on(APPS, request, "read")
    org, app = ctx.org, ctx.doc
    assert app is not None
    seen: dict[str, dict[str, Any]] = {}
    for _, uid, data in org.links(APP_USER, a=app["id"]):
        user = org.get(users.KIND, uid)
        if user:
            seen[uid] = render_app_user(org, app["id"], user, "USER", data)
    for _, gid, _ in org.links(APP_GROUP, a=app["id"]):
        if not org.get(groups.KIND, gid):
            continue
        for uid in groups.member_ids(org, gid):
            user = org.get(users.KIND, uid)
            if user and uid not in seen:
                seen[uid] = render_app_user(org, app["id"], user, "GROUP", {})
    return rest.paginate(request, list(seen.values()), default_limit=50, max_limit=500)


async def assign_app_user(request: Request) -> Response:
    ctx = _on(APPS, request, "manage")
    org, app = ctx.org, ctx.doc
    assert app is not None
    body = await read_json(request, required=True)
    user = users.get_user(org, str(body.get("id", "")))
    if org.links(APP_USER, a=app["id"], b=user["id"]):
        raise OktaApiError("E0000062")
    now = now_iso()
    data = {"created": now, "lastUpdated": now, "profile": body.get("profile") or {}}
    org.link(APP_USER, app["id"], user["id"], data)
    return json_response(render_app_user(org, app["id"], user, "USER", data))


async def get_app_user(request: Request) -> Response:
    ctx = _on(APPS, request, "read")
    org, app = ctx.org, ctx.doc
    assert app is not None
    uid = request.path_params["userId"]
    user = org.get(users.KIND, uid)
    if user is None or not is_assigned(org, app["id"], uid):
        raise not_found(f"Resource not found: {uid} (AppUser)")
    direct = org.links(APP_USER, a=app["id"], b=uid)
    scope, data = ("USER", direct[0][2]) if direct else ("GROUP", {})
    return json_response(render_app_user(org, app["id"], user, scope, data))


async def delete_app_user(request: Request) -> Response:
    ctx = _on(APPS, request, "manage")
    assert ctx.doc is not None
    uid = request.path_params["userId"]
    if not ctx.org.unlink(APP_USER, a=ctx.doc["id"], b=uid):
        raise not_found(f"Resource not found: {uid} (AppUser)")
    return no_content()


# ---- app ↔ policy -----------------------------------------------------------------------------------


async def assign_policy(request: Request) -> Response:
    """``PUT /apps/{appId}/policies/{policyId}``: an app has one policy of each type."""
    ctx = _on(APPS, request, "manage")
    org, app = ctx.org, ctx.doc
    assert app is not None
    policy = POLICIES.find(org, request.path_params["policyId"])
    for _, other, _ in org.links(APP_POLICY, a=app["id"]):
        existing = org.get(policies.KIND, other)
        if existing is None or existing.get("type") == policy["type"]:
            org.unlink(APP_POLICY, a=app["id"], b=other)
    org.link(APP_POLICY, app["id"], policy["id"])
    return no_content()


async def list_policy_apps(request: Request) -> Response:
    ctx = _on(POLICIES, request, "read")
    assert ctx.doc is not None
    found = [ctx.org.get(apps.KIND, a) for a, _, _ in ctx.org.links(APP_POLICY, b=ctx.doc["id"])]
    return rest.paginate(request, [APPS.show(ctx.org, a) for a in found if a])


_APP = "/api/v1/apps/{appId}"
routes = [
    Route("/api/v1/groups/{groupId}/users", list_members, methods=["GET"]),
    Route("/api/v1/groups/{groupId}/users/{userId}", put_member, methods=["PUT"]),
    Route("/api/v1/groups/{groupId}/users/{userId}", delete_member, methods=["DELETE"]),
    Route("/api/v1/groups/{groupId}/apps", list_group_apps, methods=["GET"]),
    Route("/api/v1/users/{id}/groups", list_user_groups, methods=["GET"]),
    Route(_APP + "/groups", list_app_groups, methods=["GET"]),
    Route(_APP + "/groups/{groupId}", put_app_group, methods=["PUT"]),
    Route(_APP + "/groups/{groupId}", get_app_group, methods=["GET"]),
    Route(_APP + "/groups/{groupId}", patch_app_group, methods=["PATCH"]),
    Route(_APP + "/groups/{groupId}", delete_app_group, methods=["DELETE"]),
    Route(_APP + "/users", list_app_users, methods=["GET"]),
    Route(_APP + "/users", assign_app_user, methods=["POST"]),
    Route(_APP + "/users/{userId}", get_app_user, methods=["GET"]),
    Route(_APP + "/users/{userId}", delete_app_user, methods=["DELETE"]),
    Route(_APP + "/policies/{policyId}", assign_policy, methods=["PUT"]),
    Route("/api/v1/policies/{policyId}/app", list_policy_apps, methods=["GET"]),
]
