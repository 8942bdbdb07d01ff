"""Policies API (``/api/v1/policies``), centred on PROFILE_ENROLLMENT for self-service registration.

Like Okta, a PROFILE_ENROLLMENT policy is born with exactly one system "Catch-all Rule" that can
be read and replaced but neither created nor deleted; the rule's ``profileEnrollment`` action
decides whether the hosted sign-in page offers "Sign up" for apps mapped to the policy.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import (
    OktaApiError,
    not_found,
    validation,
    want_bool,
    want_dict,
    want_int,
    want_str,
    want_str_list,
)
from .org import OktaOrg, new_id, now_iso
from .web import (
    LIFECYCLE_STATUS,
    json_response,
    lifecycle_action,
    no_content,
    org_of,
    read_json,
    require_admin,
)

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
        "enrollAuthenticatorTypes": ["password"],
    }


def _new_rule(org: OktaOrg, policy_id: str, unknown_user_action: str) -> dict[str, Any]:
    now = now_iso()
    rule = {
        "id": new_id("rul"),
        "name": "Catch-all Rule",
        "priority": 99,
        "system": True,
        "status": "ACTIVE",
        "type": "PROFILE_ENROLLMENT",
        "conditions": None,
        "actions": {"profileEnrollment": _default_action(unknown_user_action)},
        "created": now,
        "lastUpdated": now,
    }
    return org.put(RULE, rule["id"], rule, parent=policy_id)


def ensure_default_profile_enrollment(org: OktaOrg) -> str:
    pid = org.meta("pe_default_policy")
    if pid and org.get(KIND, pid):
        return pid
    now = now_iso()
    pid = new_id("rst")
    org.put(
        KIND,
        pid,
        {
            "id": pid,
            "status": "ACTIVE",
            "name": "Default Policy",
            "description": "Default Policy",
            "priority": 1,
            "system": True,
            "conditions": None,
            "created": now,
            "lastUpdated": now,
            "type": "PROFILE_ENROLLMENT",
        },
    )
    _new_rule(org, pid, "DENY")
    org.set_meta("pe_default_policy", pid)
    return pid


def render(org: OktaOrg, policy: dict[str, Any]) -> dict[str, Any]:
    base = f"/api/v1/policies/{policy['id']}"
    lifecycle = "deactivate" if policy["status"] == "ACTIVE" else "activate"
    return {
        **policy,
        "_links": {
            "self": {"href": org.url(base), "hints": {"allow": ["GET", "PUT", "DELETE"]}},
            lifecycle: {
                "href": org.url(f"{base}/lifecycle/{lifecycle}"),
                "hints": {"allow": ["POST"]},
            },
            "rules": {"href": org.url(f"{base}/rules"), "hints": {"allow": ["GET", "POST"]}},
            "applications": {"href": org.url(f"{base}/app"), "hints": {"allow": ["GET"]}},
        },
    }


def render_rule(org: OktaOrg, policy_id: str, rule: dict[str, Any]) -> dict[str, Any]:
    base = f"/api/v1/policies/{policy_id}/rules/{rule['id']}"
    lifecycle = "deactivate" if rule["status"] == "ACTIVE" else "activate"
    return {
        **rule,
        "_links": {
            "self": {"href": org.url(base), "hints": {"allow": ["GET", "PUT", "DELETE"]}},
            lifecycle: {
                "href": org.url(f"{base}/lifecycle/{lifecycle}"),
                "hints": {"allow": ["POST"]},
            },
        },
    }


def get_policy(org: OktaOrg, pid: str) -> dict[str, Any]:
    policy = org.get(KIND, pid)
    if policy is None:
        raise not_found(f"Resource not found: {pid} (Policy)")
    return policy


def enrollment_action(org: OktaOrg, policy: dict[str, Any]) -> dict[str, Any] | None:
    """The profileEnrollment action of a policy's active rule, if the policy is ACTIVE."""
    if policy.get("type") != "PROFILE_ENROLLMENT" or policy.get("status") != "ACTIVE":
        return None
    for rule in org.list(RULE, parent=policy["id"]):
        if rule["status"] == "ACTIVE":
            return (rule.get("actions") or {}).get("profileEnrollment")
    return None


def _validate_policy(body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    ptype = body.get("type") or (existing or {}).get("type")
    if not isinstance(ptype, str) or ptype not in TYPES:
        raise validation("type", f"type: '{ptype}' is not a valid policy type.")
    if existing is not None and ptype != existing["type"]:
        raise validation("type", "type: The policy type cannot be changed.")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise validation("name", "name: The field cannot be left blank")
    status = body.get("status", (existing or {}).get("status", "ACTIVE"))
    if status not in ("ACTIVE", "INACTIVE"):
        raise validation("status", "status: must be ACTIVE or INACTIVE")
    conditions = None
    if ptype != "PROFILE_ENROLLMENT" and body.get("conditions") is not None:
        conditions = want_dict(body["conditions"], "conditions")
    return {
        "type": ptype,
        "name": name,
        "description": want_str(body.get("description") or "", "description"),
        "status": status,
        "priority": want_int(
            body.get("priority"), "priority", (existing or {}).get("priority", 1), 1, 1000
        ),
        "conditions": conditions,
    }


def _validate_enrollment_action(
    org: OktaOrg, action: Any, previous: dict[str, Any]
) -> dict[str, Any]:
    if not isinstance(action, dict):
        raise validation(
            "profileEnrollment", "actions.profileEnrollment: The field cannot be left blank"
        )
    known = set(_default_action("DENY"))
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
    from .schemas import attribute_names

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
    if merged.get("enrollAuthenticatorTypes", ["password"]) not in (["password"], None):
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


# ---- endpoints --------------------------------------------------------------------------------


async def list_policies(request: Request) -> Response:
    require_admin(request, "okta.policies.read")
    org = org_of(request)
    ptype = request.query_params.get("type")
    if ptype not in TYPES:
        raise validation("type", f"type: '{ptype}' is not a valid policy type.")
    items = [render(org, p) for p in org.list(KIND) if p["type"] == ptype]
    status = request.query_params.get("status")
    if status:
        items = [p for p in items if p["status"] == status]
    return json_response(items)


async def create_policy(request: Request) -> Response:
    require_admin(request, "okta.policies.manage")
    org = org_of(request)
    body = await read_json(request, required=True)
    fields = _validate_policy(body, None)
    now = now_iso()
    pid = new_id("rst" if fields["type"] == "PROFILE_ENROLLMENT" else "00p")
    policy = {"id": pid, **fields, "system": False, "created": now, "lastUpdated": now}
    org.put(KIND, pid, policy)
    if policy["type"] == "PROFILE_ENROLLMENT":
        _new_rule(org, pid, "DENY")
    return json_response(render(org, policy))


async def get_policy_ep(request: Request) -> Response:
    require_admin(request, "okta.policies.read")
    org = org_of(request)
    policy = get_policy(org, request.path_params["policyId"])
    out = render(org, policy)
    if "rules" in (request.query_params.get("expand") or ""):
        out["_embedded"] = {
            "rules": [
                render_rule(org, policy["id"], r) for r in org.list(RULE, parent=policy["id"])
            ]
        }
    return json_response(out)


async def replace_policy(request: Request) -> Response:
    require_admin(request, "okta.policies.manage")
    org = org_of(request)
    policy = get_policy(org, request.path_params["policyId"])
    body = await read_json(request, required=True)
    fields = _validate_policy(body, policy)
    if policy.get("system"):
        fields["name"] = policy["name"]
    policy.update(fields)
    policy["lastUpdated"] = now_iso()
    org.put(KIND, policy["id"], policy)
    return json_response(render(org, policy))


async def delete_policy(request: Request) -> Response:
    require_admin(request, "okta.policies.manage")
    org = org_of(request)
    policy = get_policy(org, request.path_params["policyId"])
    if policy.get("system"):
        raise OktaApiError("E0000006")
    default_pe = org.meta("pe_default_policy")
    for app_id, _, _ in org.links("app_policy", b=policy["id"]):
        org.unlink("app_policy", a=app_id, b=policy["id"])
        if policy["type"] == "PROFILE_ENROLLMENT" and default_pe:
            org.link("app_policy", app_id, default_pe)
    for rule in org.list(RULE, parent=policy["id"]):
        org.delete(RULE, rule["id"])
    org.delete(KIND, policy["id"])
    return no_content()


async def policy_lifecycle(request: Request) -> Response:
    require_admin(request, "okta.policies.manage")
    org = org_of(request)
    policy = get_policy(org, request.path_params["policyId"])
    action = lifecycle_action(request)
    if action == "deactivate" and policy.get("system"):
        raise OktaApiError("E0000006")
    policy["status"] = LIFECYCLE_STATUS[action]
    policy["lastUpdated"] = now_iso()
    org.put(KIND, policy["id"], policy)
    return no_content()


async def list_policy_apps(request: Request) -> Response:
    require_admin(request, "okta.policies.read")
    from .apps import render as render_app

    org = org_of(request)
    policy = get_policy(org, request.path_params["policyId"])
    apps = [org.get("app", a) for a, _, _ in org.links("app_policy", b=policy["id"])]
    return json_response([render_app(org, a) for a in apps if a])


async def list_rules(request: Request) -> Response:
    require_admin(request, "okta.policies.read")
    org = org_of(request)
    policy = get_policy(org, request.path_params["policyId"])
    return json_response(
        [render_rule(org, policy["id"], r) for r in org.list(RULE, parent=policy["id"])]
    )


def _get_rule(org: OktaOrg, policy_id: str, rule_id: str) -> dict[str, Any]:
    for rule in org.list(RULE, parent=policy_id):
        if rule["id"] == rule_id:
            return rule
    raise not_found(f"Resource not found: {rule_id} (PolicyRule)")


async def create_rule(request: Request) -> Response:
    require_admin(request, "okta.policies.manage")
    org = org_of(request)
    policy = get_policy(org, request.path_params["policyId"])
    body = await read_json(request, required=True)
    if policy["type"] == "PROFILE_ENROLLMENT":
        raise validation(
            "rule",
            "rule: A profile enrollment policy has exactly one rule; update the existing rule "
            "instead.",
        )
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise validation("name", "name: The field cannot be left blank")
    now = now_iso()
    status = body.get("status", "ACTIVE")
    if status not in ("ACTIVE", "INACTIVE"):
        raise validation("status", "status: must be ACTIVE or INACTIVE")
    rule_type = "SIGN_ON" if policy["type"] == "OKTA_SIGN_ON" else policy["type"]
    conditions = body.get("conditions")
    rule = {
        "id": new_id("0pr"),
        "name": name,
        "priority": want_int(body.get("priority"), "priority", 1, 1, 1000),
        "system": False,
        "status": status,
        "type": rule_type,
        "conditions": None if conditions is None else want_dict(conditions, "conditions"),
        "actions": want_dict(body.get("actions"), "actions", {}),
        "created": now,
        "lastUpdated": now,
    }
    org.put(RULE, rule["id"], rule, parent=policy["id"])
    return json_response(render_rule(org, policy["id"], rule))


async def get_rule(request: Request) -> Response:
    require_admin(request, "okta.policies.read")
    org = org_of(request)
    policy = get_policy(org, request.path_params["policyId"])
    rule = _get_rule(org, policy["id"], request.path_params["ruleId"])
    return json_response(render_rule(org, policy["id"], rule))


async def replace_rule(request: Request) -> Response:
    require_admin(request, "okta.policies.manage")
    org = org_of(request)
    policy = get_policy(org, request.path_params["policyId"])
    rule = _get_rule(org, policy["id"], request.path_params["ruleId"])
    body = await read_json(request, required=True)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise validation("name", "name: The field cannot be left blank")
    if policy["type"] == "PROFILE_ENROLLMENT":
        previous = (rule.get("actions") or {}).get("profileEnrollment") or {}
        action = _validate_enrollment_action(
            org, (body.get("actions") or {}).get("profileEnrollment"), previous
        )
        rule["actions"] = {"profileEnrollment": action}
    else:
        rule["actions"] = want_dict(body.get("actions"), "actions", rule.get("actions") or {})
        conditions = body.get("conditions")
        rule["conditions"] = None if conditions is None else want_dict(conditions, "conditions")
        rule["priority"] = want_int(body.get("priority"), "priority", rule["priority"], 1, 1000)
    rule["name"] = name
    rule["lastUpdated"] = now_iso()
    org.put(RULE, rule["id"], rule, parent=policy["id"])
    return json_response(render_rule(org, policy["id"], rule))


async def delete_rule(request: Request) -> Response:
    require_admin(request, "okta.policies.manage")
    org = org_of(request)
    policy = get_policy(org, request.path_params["policyId"])
    rule = _get_rule(org, policy["id"], request.path_params["ruleId"])
    if rule.get("system"):
        raise OktaApiError("E0000006")
    org.delete(RULE, rule["id"])
    return no_content()


async def rule_lifecycle(request: Request) -> Response:
    require_admin(request, "okta.policies.manage")
    org = org_of(request)
    policy = get_policy(org, request.path_params["policyId"])
    rule = _get_rule(org, policy["id"], request.path_params["ruleId"])
    action = lifecycle_action(request)
    if rule.get("system") and action == "deactivate":
        raise OktaApiError("E0000006")
    rule["status"] = LIFECYCLE_STATUS[action]
    org.put(RULE, rule["id"], rule, parent=policy["id"])
    return no_content()


routes = [
    Route("/api/v1/policies", list_policies, methods=["GET"]),
    Route("/api/v1/policies", create_policy, methods=["POST"]),
    Route("/api/v1/policies/{policyId}", get_policy_ep, methods=["GET"]),
    Route("/api/v1/policies/{policyId}", replace_policy, methods=["PUT"]),
    Route("/api/v1/policies/{policyId}", delete_policy, methods=["DELETE"]),
    Route("/api/v1/policies/{policyId}/lifecycle/{action}", policy_lifecycle, methods=["POST"]),
    Route("/api/v1/policies/{policyId}/app", list_policy_apps, methods=["GET"]),
    Route("/api/v1/policies/{policyId}/rules", list_rules, methods=["GET"]),
    Route("/api/v1/policies/{policyId}/rules", create_rule, methods=["POST"]),
    Route("/api/v1/policies/{policyId}/rules/{ruleId}", get_rule, methods=["GET"]),
    Route("/api/v1/policies/{policyId}/rules/{ruleId}", replace_rule, methods=["PUT"]),
    Route("/api/v1/policies/{policyId}/rules/{ruleId}", delete_rule, methods=["DELETE"]),
    Route(
        "/api/v1/policies/{policyId}/rules/{ruleId}/lifecycle/{action}",
        rule_lifecycle,
        methods=["POST"],
    ),
]
