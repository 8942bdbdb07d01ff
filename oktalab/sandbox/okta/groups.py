"""Groups API (``/api/v1/groups``) and the membership data.

``Everyone`` is the BUILT_IN group; like in Okta every user is implicitly a member, so its
membership is computed rather than stored. The membership endpoints
(``/api/v1/groups/{groupId}/users``, ``…/apps``) relate groups to users and apps and live in
:mod:`.assignments`.
"""

from __future__ import annotations

from typing import Any

from . import rest
from .errors import OktaApiError, required_str, validation, want_str
from .state import OrgState, now_iso

KIND = "group"
MEMBER = "member"  # link: a = group id, b = user id


def ensure_everyone(org: OrgState) -> str:
    """The BUILT_IN ``Everyone`` group every org has."""
    gid, _ = org.builtin(
        "everyone_id",
        KIND,
        "00g",
        {
            "lastMembershipUpdated": now_iso(),
            "objectClass": ["okta:user_group"],
            "type": "BUILT_IN",
            "profile": {"name": "Everyone", "description": "All users in your organization"},
        },
    )
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
    return rest.resource(KIND).find(org, gid)


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
    name = required_str(profile.get("name"), "name")
    if any(
        g["profile"].get("name", "").lower() == name.lower() for g in rest.siblings(ctx, existing)
    ):
        raise rest.duplicate("name")
    out = {"name": name}
    description = profile.get("description")
    if description is not None:
        out["description"] = want_str(description, "description")
    fields: dict[str, Any] = {"profile": out}
    if existing is None:
        fields.update({"objectClass": ["okta:user_group"], "type": "OKTA_GROUP"})
        fields["lastMembershipUpdated"] = now_iso()
    return fields


def refuse_built_in(ctx: rest.Ctx, group: dict[str, Any]) -> None:
    if group["type"] == "BUILT_IN":
        raise OktaApiError("E0000006")
