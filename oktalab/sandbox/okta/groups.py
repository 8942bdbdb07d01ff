"""Groups API (``/api/v1/groups``) and the membership data.

``Everyone`` is the BUILT_IN group; like in Okta every user is implicitly a member, so its
membership is computed rather than stored. The membership endpoints
(``/api/v1/groups/{groupId}/users``, ``…/apps``) relate groups to users and apps and live in
:mod:`.assignments`.
"""

from __future__ import annotations

from typing import Any

from . import rest
from .errors import OktaApiError, validation, want_str
from .state import OrgState, new_id, now_iso

KIND = "group"
MEMBER = "member"  # link: a = group id, b = user id


def ensure_everyone(org: OrgState) -> str:
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


def everyone_id(org: OrgState) -> str:
    return org.meta("everyone_id") or ensure_everyone(org)


def render(org: OrgState, group: dict[str, Any], path: str) -> dict[str, Any]:
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
            "users": {"href": org.url(f"{path}/users")},
            "apps": {"href": org.url(f"{path}/apps")},
        },
    }


def get_group(org: OrgState, gid: str) -> dict[str, Any]:
    return GROUPS.find(org, gid)


def user_group_ids(org: OrgState, uid: str) -> list[str]:
    linked = {a for a, _, _ in org.links(MEMBER, b=uid)}
    return [g["id"] for g in org.list(KIND) if g["type"] == "BUILT_IN" or g["id"] in linked]


def user_group_names(org: OrgState, uid: str) -> list[str]:
    linked = {a for a, _, _ in org.links(MEMBER, b=uid)}
    return [
        g["profile"]["name"] for g in org.list(KIND) if g["type"] == "BUILT_IN" or g["id"] in linked
    ]


def member_ids(org: OrgState, gid: str) -> list[str]:
    group = get_group(org, gid)
    if group["type"] == "BUILT_IN":
        return [u["id"] for u in org.list("user")]
    return [b for _, b, _ in org.links(MEMBER, a=gid)]


def add_member(org: OrgState, gid: str, uid: str) -> None:
    group = get_group(org, gid)
    if group["type"] == "BUILT_IN":
        return
    org.link(MEMBER, gid, uid)
    group["lastMembershipUpdated"] = now_iso()
    org.put(KIND, gid, group)


def build(ctx: rest.Ctx, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    """The validated ``profile`` (a unique ``name``, an optional ``description``).

    Only OKTA_GROUP groups can be changed; BUILT_IN and APP_GROUP ones answer E0000006.
    """
    if existing is not None and existing["type"] != "OKTA_GROUP":
        raise OktaApiError("E0000006")
    profile = body.get("profile")
    if not isinstance(profile, dict):
        raise validation("profile", "profile: The field cannot be left blank")
    name = profile.get("name")
    if not isinstance(name, str) or not name.strip():
        raise validation("name", "name: The field cannot be left blank")
    exclude = existing["id"] if existing else None
    for g in ctx.org.list(KIND):
        if g["id"] != exclude and g["profile"].get("name", "").lower() == name.lower():
            raise validation(
                "name", "name: An object with this field already exists in the current organization"
            )
    out = {"name": name}
    description = profile.get("description")
    if description is not None:
        out["description"] = want_str(description, "description")
    fields: dict[str, Any] = {"profile": out}
    if existing is None:
        fields.update({"objectClass": ["okta:user_group"], "type": "OKTA_GROUP"})
        fields["lastMembershipUpdated"] = now_iso()
    return fields


def _refuse_built_in(ctx: rest.Ctx, group: dict[str, Any]) -> None:
    if group["type"] == "BUILT_IN":
        raise OktaApiError("E0000006")


GROUPS = rest.Resource(
    kind=KIND,
    path="/api/v1/groups",
    id_param="groupId",
    okta_type="UserGroup",
    prefix="00g",
    scope="okta.groups",
    render=render,
    schema="Group",
    build=build,
    listing=rest.Listing(
        default_limit=10000,
        max_limit=10000,
        q=("profile.name",),
        filter=frozenset({"id", "type", "lastUpdated", "lastMembershipUpdated"}),
        search=True,
    ),
    delete_check=_refuse_built_in,
    links=((MEMBER, "a"), ("app_group", "b")),
)

routes = rest.routes(GROUPS)
