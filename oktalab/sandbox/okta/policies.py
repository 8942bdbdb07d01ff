"""Policies API (``/api/v1/policies``), centred on PROFILE_ENROLLMENT for self-service registration.

Like Okta, a PROFILE_ENROLLMENT policy is born with exactly one system "Catch-all Rule" that can
be read and replaced but neither created nor deleted; the rule's ``profileEnrollment`` action
decides whether the hosted sign-in page offers "Sign up" for apps mapped to the policy.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from . import rest
from .errors import (
    OktaApiError,
    required_str,
    validation,
    want_bool,
    want_dict,
    want_int,
    want_status,
    want_str,
    want_str_list,
)
from .schemas import attribute_names
from .state import OrgState, new_id, now_iso
from .web import json_response

KIND = "policy"
RULE = "policy_rule"
TYPES = {
    "ACCESS_POLICY",
    "IDP_DISCOVERY",
    "MFA_ENROLL",
    "OKTA_SIGN_ON",
    "PASSWORD",
    "PROFILE_ENROLLMENT",
    "POST_AUTH_SESSION",
    "ENTITY_RISK",
    "DEVICE_SIGNAL_COLLECTION",
}
DEFAULT_ATTRIBUTES = [
    {"name": "email", "label": "Email", "required": True},
    {"name": "firstName", "label": "First name", "required": True},
    {"name": "lastName", "label": "Last name", "required": True},
]


def _default_action(unknown_user_action: str) -> dict[str, Any]:
    return {
        "access": "ALLOW",
        "preRegistrationInlineHooks": None,
        "profileAttributes": [dict(a) for a in DEFAULT_ATTRIBUTES],
        "targetGroupIds": [],
        "unknownUserAction": unknown_user_action,
        "activationRequirements": {"emailVerification": True},
        "uiSchemaId": new_id("uis"),
        "progressiveProfilingAction": "DISABLED",
        "allowedIdentifiers": ["login"],
        # no enrollAuthenticatorTypes: the password is asked after the first sign-up page,
        # as in a rule Okta creates (the field is optional, "omitempty" in okta-sdk-golang)
    }


def catch_all_rule(
    org: OrgState, policy_id: str, rule_type: str, actions: dict[str, Any]
) -> dict[str, Any]:
    """The system "Catch-all Rule" a built-in or PROFILE_ENROLLMENT policy is born with."""
    now = now_iso()
    rule = {
        "id": new_id("rul"),
        "name": "Catch-all Rule",
        "priority": 99,
        "system": True,
        "status": "ACTIVE",
        "type": rule_type,
        "conditions": None,
        "actions": actions,
        "created": now,
        "lastUpdated": now,
    }
    return org.put(RULE, rule["id"], rule, parent=policy_id)


def _new_rule(org: OrgState, policy_id: str, unknown_user_action: str) -> dict[str, Any]:
    actions = {"profileEnrollment": _default_action(unknown_user_action)}
    return catch_all_rule(org, policy_id, "PROFILE_ENROLLMENT", actions)


def ensure_default_profile_enrollment(org: OrgState) -> str:
    """The system PROFILE_ENROLLMENT "Default Policy" (sign-up denied) every org has."""
    pid, made = org.builtin(
        "pe_default_policy",
        KIND,
        "rst",
        {
            "status": "ACTIVE",
            "name": "Default Policy",
            "description": "Default Policy",
            "priority": 1,
            "system": True,
            "conditions": None,
            "type": "PROFILE_ENROLLMENT",
        },
    )
    if made:
        _new_rule(org, pid, "DENY")
    return pid


# The app sign-in (ACCESS_POLICY) policies a new Identity Engine org holds, each with its
# system catch-all rule: help.okta.com, "Preset authentication policies"
# (identity-engine/policies/about-preset-auth-policies.htm). "Any two factors" is the default
# policy new apps start with (``system: true``); "Classic Migrated" exists only in orgs
# upgraded from Classic Engine, so a new org does not have it.
# (name, factorMode, reauthenticateIn, constraint types) of the catch-all rule.
PRESET_ACCESS_POLICIES: list[tuple[str, str, str, list[str]]] = [
    ("Any two factors", "2FA", "PT12H", []),
    ("Password only", "1FA", "PT0S", ["password"]),
    ("One factor access", "1FA", "PT0S", []),
]
# As a real Identity Engine org lists them (terraform-provider-okta VCR
# TestAccResourceOktaAppOauth_basic, GET /api/v1/policies?type=ACCESS_POLICY); the others
# were recorded without a description.
PRESET_DESCRIPTIONS = {"Any two factors": {"description": "Require two factors to access."}}


def ensure_preset_access_policies(org: OrgState) -> str:
    """The preset ACCESS_POLICY policies of a new org; returns the default one's id."""
    default = ""
    for priority, (name, factor_mode, reauth, methods) in enumerate(PRESET_ACCESS_POLICIES, 1):
        pid, made = org.builtin(
            f"access_policy:{name}",
            KIND,
            "rst",
            {
                "status": "ACTIVE",
                "name": name,
                "priority": priority,
                "system": priority == 1,
                "conditions": None,
                "type": "ACCESS_POLICY",
                **PRESET_DESCRIPTIONS.get(name, {}),
            },
        )
        default = default or pid
        if not made:
            continue
        constraints = [{"knowledge": {"types": methods}}] if methods else []
        method = {"factorMode": factor_mode, "type": "ASSURANCE"}
        method |= {"reauthenticateIn": reauth, "constraints": constraints}
        actions = {"appSignOn": {"access": "ALLOW", "verificationMethod": method}}
        catch_all_rule(org, pid, "ACCESS_POLICY", actions)
    return default


def render(org: OrgState, policy: dict[str, Any], path: str) -> dict[str, Any]:
    embedded = {"_embedded": {"resourceType": "APP"}} if policy["type"] == "ACCESS_POLICY" else {}
    return {
        **policy,
        **embedded,  # as recorded: GET /api/v1/policies?type=ACCESS_POLICY (Identity Engine)
        "_links": rest.links(
            org,
            path,
            policy["status"],
            rules={"href": org.url(f"{path}/rules"), "hints": {"allow": ["GET", "POST"]}},
            applications={"href": org.url(f"{path}/app"), "hints": {"allow": ["GET"]}},
        ),
    }


def render_rule(org: OrgState, rule: dict[str, Any], path: str) -> dict[str, Any]:
    return {**rule, "_links": rest.links(org, path, rule["status"])}


def enrollment_action(org: OrgState, policy: dict[str, Any]) -> dict[str, Any] | None:
    """The profileEnrollment action of a policy's active rule, if the policy is ACTIVE."""
    if policy.get("type") != "PROFILE_ENROLLMENT" or policy.get("status") != "ACTIVE":
        return None
    for rule in org.list(RULE, parent=policy["id"]):
        if rule["status"] == "ACTIVE":
            return (rule.get("actions") or {}).get("profileEnrollment")
    return None


def build_policy(ctx: rest.Ctx, body: rest.Doc, existing: rest.Doc | None) -> rest.Doc:
    """Validated policy fields; a system policy keeps its name, the type never changes."""
    ptype = body.get("type") or (existing or {}).get("type")
    if not isinstance(ptype, str) or ptype not in TYPES:
        raise validation("type", f"type: '{ptype}' is not a valid policy type.")
    if existing is not None and ptype != existing["type"]:
        raise validation("type", "type: The policy type cannot be changed.")
    name = required_str(body.get("name"), "name")
    status = body.get("status", (existing or {}).get("status", "ACTIVE"))
    if status not in ("ACTIVE", "INACTIVE"):
        raise validation("status", "status: must be ACTIVE or INACTIVE")
    conditions = None
    if ptype != "PROFILE_ENROLLMENT" and body.get("conditions") is not None:
        conditions = want_dict(body["conditions"], "conditions")
    fields = {
        "type": ptype,
        "name": existing["name"] if existing and existing.get("system") else name,
        "status": status,
        "priority": want_int(
            body.get("priority"), "priority", (existing or {}).get("priority", 1), 1, 1000
        ),
        "conditions": conditions,
    }
    if body.get("description") is not None:  # absent from Okta's answer when not set (recorded)
        fields["description"] = want_str(body["description"], "description")
    if existing is None:
        fields["system"] = False
    return fields


def _validate_enrollment_action(
    org: OrgState, action: Any, previous: dict[str, Any]
) -> dict[str, Any]:
    if not isinstance(action, dict):
        raise validation(
            "profileEnrollment", "actions.profileEnrollment: The field cannot be left blank"
        )
    known = set(_default_action("DENY")) | {"enrollAuthenticatorTypes"}
    merged = {**previous, **{k: v for k, v in action.items() if k in known}}
    if merged.get("access") not in ("ALLOW", "DENY"):
        raise validation("access", "access: must be ALLOW or DENY")
    if merged["access"] == "DENY" and previous.get("access") == "ALLOW":
        raise validation("access", "access: The access can't be changed to DENY.")
    if merged.get("unknownUserAction") not in ("DENY", "REGISTER"):
        raise validation("unknownUserAction", "unknownUserAction: must be DENY or REGISTER")
    targets = want_str_list(merged.get("targetGroupIds"), "targetGroupIds", [])
    if len(targets) > 1:
        raise validation("targetGroupIds", "targetGroupIds: At most one target group is supported.")
    for gid in targets:
        if org.get("group", gid) is None:
            raise validation("targetGroupIds", f"targetGroupIds: Group '{gid}' does not exist.")
    merged["targetGroupIds"] = targets
    activation = want_dict(merged.get("activationRequirements"), "activationRequirements", {})
    merged["activationRequirements"] = {
        "emailVerification": want_bool(
            activation.get("emailVerification"), "emailVerification", True
        )
    }
    attrs = merged.get("profileAttributes") or []
    if not isinstance(attrs, list) or not attrs or len(attrs) > 10:
        raise validation(
            "profileAttributes", "profileAttributes: Between 1 and 10 attributes are required."
        )
    clean = []
    for attr in attrs:
        if not isinstance(attr, dict) or not isinstance(attr.get("name"), str):
            raise validation("profileAttributes", "profileAttributes: each needs a name")
        clean.append(
            {
                "name": attr["name"],
                "label": want_str(attr.get("label") or attr["name"], "label"),
                "required": want_bool(attr.get("required"), "required", False),
            }
        )
    known = attribute_names(org)
    unknown = [a["name"] for a in clean if a["name"] not in known]
    if unknown:
        raise validation(
            "profileAttributes",
            f"profileAttributes: '{unknown[0]}' is not an attribute of the user profile.",
        )
    if "email" not in {a["name"] for a in clean}:
        raise validation("profileAttributes", "profileAttributes: 'email' is required.")
    merged["profileAttributes"] = clean
    if merged.get("enrollAuthenticatorTypes") not in (["password"], [], None):
        raise validation(
            "enrollAuthenticatorTypes", "enrollAuthenticatorTypes: only 'password' is supported."
        )
    merged["uiSchemaId"] = want_str(
        merged.get("uiSchemaId") or previous.get("uiSchemaId") or new_id("uis"), "uiSchemaId"
    )
    if merged.get("progressiveProfilingAction", "DISABLED") not in ("ENABLED", "DISABLED"):
        raise validation(
            "progressiveProfilingAction", "progressiveProfilingAction: ENABLED or DISABLED"
        )
    merged["allowedIdentifiers"] = want_str_list(
        merged.get("allowedIdentifiers"), "allowedIdentifiers", ["login"]
    )
    hooks = merged.get("preRegistrationInlineHooks")
    if hooks is not None and not isinstance(hooks, list):
        raise validation("preRegistrationInlineHooks", "preRegistrationInlineHooks: an array")
    return merged


def build_rule(ctx: rest.Ctx, body: rest.Doc, existing: rest.Doc | None) -> rest.Doc:
    """Validated rule fields. A PROFILE_ENROLLMENT policy has exactly one (system) rule: it
    cannot be created, and replacing it changes only its name and ``profileEnrollment``."""
    policy = ctx.parent
    assert policy is not None
    if existing is None and policy["type"] == "PROFILE_ENROLLMENT":
        raise validation(
            "rule",
            "rule: A profile enrollment policy has exactly one rule; update the existing rule "
            "instead.",
        )
    name = required_str(body.get("name"), "name")
    if existing is not None and policy["type"] == "PROFILE_ENROLLMENT":
        previous = (existing.get("actions") or {}).get("profileEnrollment") or {}
        action = _validate_enrollment_action(
            ctx.org, (body.get("actions") or {}).get("profileEnrollment"), previous
        )
        return {"name": name, "actions": {"profileEnrollment": action}}
    conditions = body.get("conditions")
    fields: dict[str, Any] = {
        "name": name,
        "priority": want_int(
            body.get("priority"), "priority", (existing or {}).get("priority", 1), 1, 1000
        ),
        "conditions": None if conditions is None else want_dict(conditions, "conditions"),
        "actions": want_dict(body.get("actions"), "actions", (existing or {}).get("actions") or {}),
    }
    if existing is None:
        status = want_status(body.get("status"), "ACTIVE")
        rule_type = "SIGN_ON" if policy["type"] == "OKTA_SIGN_ON" else policy["type"]
        fields.update({"system": False, "status": status, "type": rule_type})
    return fields


# ---- declarations and endpoints of their own --------------------------------------------------------


def id_prefix(fields: dict[str, Any]) -> str:
    """``rst`` for PROFILE_ENROLLMENT policies, ``00p`` for the others (as Okta's ids)."""
    return "rst" if fields["type"] == "PROFILE_ENROLLMENT" else "00p"


def select(ctx: rest.Ctx, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``type`` is required (as in Okta); ``status`` narrows."""
    ptype = ctx.request.query_params.get("type")
    if ptype not in TYPES:
        raise validation("type", f"type: '{ptype}' is not a valid policy type.")
    status = ctx.request.query_params.get("status")
    return [p for p in docs if p["type"] == ptype and (not status or p["status"] == status)]


def keep_system_active(ctx: rest.Ctx, doc: dict[str, Any], action: str) -> None:
    if action == "deactivate" and doc.get("system"):
        raise OktaApiError("E0000006")


def refuse_in_use(ctx: rest.Ctx, policy: dict[str, Any]) -> None:
    """A user profile (PROFILE_ENROLLMENT) policy still assigned to an app is not deleted.

    Okta's rule (help.okta.com, Identity Engine, "Delete a user profile policy"): "You can
    delete any user profile policy that isn't currently in use or the default policy ... you
    must remove any app integrations currently using the policy. See Reassign a user profile
    policy." No recorded API answer for this case was found (terraform-provider-okta and
    okta-sdk-python cassettes); the refusal is Okta's validation error E0000001 with a cause
    naming the apps and the remedy (``PUT /api/v1/apps/{appId}/policies/{id}`` of another
    policy), answered with 403: the only client error besides 404 and 429 that Okta's
    management spec declares for ``deletePolicy``.
    """
    if policy["type"] != "PROFILE_ENROLLMENT":
        return
    apps = sorted(app_id for app_id, _, _ in ctx.org.links("app_policy", b=policy["id"]))
    if apps:
        refusal = validation(
            "policy",
            f"This user profile policy is in use by {len(apps)} app(s) ({', '.join(apps)}) "
            "and cannot be deleted. Assign the apps to another user profile policy first.",
        )
        refusal.status = 403
        raise refusal


def unmap_apps(ctx: rest.Ctx, policy: dict[str, Any]) -> None:
    """A deleted policy's app mappings go with it (a PROFILE_ENROLLMENT policy still in use
    is refused before: :func:`refuse_in_use`)."""
    org = ctx.org
    for app_id, _, _ in org.links("app_policy", b=policy["id"]):
        org.unlink("app_policy", a=app_id, b=policy["id"])


def after_create(ctx: rest.Ctx, policy: dict[str, Any]) -> None:
    if policy["type"] == "PROFILE_ENROLLMENT":
        _new_rule(ctx.org, policy["id"], "DENY")


async def get_policy_ep(ctx: rest.Ctx) -> Response:
    """``GET /policies/{policyId}``, with ``?expand=rules`` embedding the rules."""
    policy = ctx.doc
    assert policy is not None
    out = ctx.show(policy)
    if "rules" in (ctx.request.query_params.get("expand") or ""):
        out["_embedded"] = {
            **out.get("_embedded", {}),
            "rules": [
                rest.resource(RULE).show(ctx.org, r, policy["id"])
                for r in ctx.org.list(RULE, parent=policy["id"])
            ],
        }
    return json_response(out)
