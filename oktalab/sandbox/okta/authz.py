"""Authorization Servers API: servers, claims, scopes, access policies and rules.

Besides CRUD this module owns the decisions the OIDC endpoints ask of a custom authorization
server: which scopes exist, which access-policy rule grants a request (and with what token
lifetimes), and which custom claims go into which token.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import groups
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
from .expressions import Context, ExpressionError, compile_expression
from .org import OktaOrg, new_id, now_iso
from .web import (
    LIFECYCLE_STATUS,
    json_response,
    lifecycle_action,
    no_content,
    org_of,
    paginate,
    read_json,
    require_admin,
)

SERVER = "authserver"
CLAIM = "claim"
SCOPE = "scope"
POLICY = "as_policy"
RULE = "as_rule"
ORG_AS = "org"  # pseudo id of the org authorization server (/oauth2/v1/*)

SYSTEM_SCOPES: list[tuple[str, str]] = [
    ("openid", "Signals that a request is an OpenID request."),
    ("profile", "Allows access to the end-user's default profile claims."),
    ("email", "Allows access to the email and email_verified claims."),
    ("address", "Allows access to the address claim."),
    ("phone", "Allows access to the phone_number and phone_number_verified claims."),
    ("offline_access", "Allows access to request a refresh token."),
    ("device_sso", "Allows a client to request a device secret for native SSO."),
]
ORG_SCOPES = [name for name, _ in SYSTEM_SCOPES] + ["groups"]
SUB_EXPRESSION = "(appuser != null) ? appuser.userName : app.clientId"
RESERVED_CLAIMS = {
    "RESOURCE": {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "cid",
        "uid",
        "scp",
        "jti",
        "ver",
        "auth_time",
        "cnf",
    },
    "IDENTITY": {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "ver",
        "amr",
        "idp",
        "nonce",
        "auth_time",
        "at_hash",
        "c_hash",
        "sid",
    },
}
RULE_GRANTS = {
    "authorization_code",
    "implicit",
    "password",
    "client_credentials",
    "interaction_code",
    "urn:ietf:params:oauth:grant-type:saml2-bearer",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
}


# ---- servers -----------------------------------------------------------------------------------


def default_server_id(org: OktaOrg) -> str | None:
    return org.meta("default_as")


def resolve_server(org: OktaOrg, as_id: str) -> dict[str, Any]:
    real = default_server_id(org) if as_id == "default" else as_id
    server = org.get(SERVER, real or "")
    if server is None:
        raise not_found(f"Resource not found: {as_id} (AuthorizationServer)")
    return server


def issuer(org: OktaOrg, server: dict[str, Any] | None) -> str:
    if server is None:
        return org.org_url
    if server.get("default"):
        return org.url("/oauth2/default")
    return org.url(f"/oauth2/{server['id']}")


def render_server(org: OktaOrg, server: dict[str, Any]) -> dict[str, Any]:
    sid = server["id"]
    base = f"/api/v1/authorizationServers/{sid}"
    key = org.signing_key(sid)
    lifecycle = "deactivate" if server["status"] == "ACTIVE" else "activate"
    alias = "default" if server.get("default") else sid
    out = {
        **server,
        "issuer": issuer(org, server),
        "credentials": {
            "signing": {
                "rotationMode": "AUTO",
                "lastRotated": server["created"],
                "nextRotation": server["created"],
                "kid": key.kid,
                "use": "sig",
            }
        },
        "_links": {
            "scopes": {"href": org.url(f"{base}/scopes"), "hints": {"allow": ["GET"]}},
            "claims": {"href": org.url(f"{base}/claims"), "hints": {"allow": ["GET"]}},
            "policies": {"href": org.url(f"{base}/policies"), "hints": {"allow": ["GET"]}},
            "self": {
                "href": org.url(base),
                "hints": {"allow": ["GET", "DELETE", "PUT"]},
            },
            "rotateKey": {
                "href": org.url(f"{base}/credentials/lifecycle/keyRotate"),
                "hints": {"allow": ["POST"]},
            },
            lifecycle: {
                "href": org.url(f"{base}/lifecycle/{lifecycle}"),
                "hints": {"allow": ["POST"]},
            },
            "metadata": [
                {
                    "name": "oauth-authorization-server",
                    "href": org.url(f"/oauth2/{alias}/.well-known/oauth-authorization-server"),
                    "hints": {"allow": ["GET"]},
                },
                {
                    "name": "openid-configuration",
                    "href": org.url(f"/oauth2/{alias}/.well-known/openid-configuration"),
                    "hints": {"allow": ["GET"]},
                },
            ],
        },
    }
    return out


def _new_server(
    org: OktaOrg, name: str, description: str, audiences: list[str], *, default: bool
) -> dict[str, Any]:
    now = now_iso()
    sid = new_id("aus")
    server = {
        "id": sid,
        "name": name,
        "description": description,
        "audiences": audiences,
        "issuerMode": "ORG_URL",
        "status": "ACTIVE",
        "created": now,
        "lastUpdated": now,
        "default": default,
    }
    org.put(SERVER, sid, server)
    org.signing_key(sid)
    for scope_name, desc in SYSTEM_SCOPES:
        scope_id = new_id("scp")
        org.put(
            SCOPE,
            scope_id,
            {
                "id": scope_id,
                "name": scope_name,
                "displayName": scope_name,
                "description": desc,
                "system": True,
                "default": False,
                "consent": "IMPLICIT",
                "optional": False,
                "metadataPublish": "ALL_CLIENTS",
            },
            parent=sid,
        )
    claim_id = new_id("ocl")
    org.put(
        CLAIM,
        claim_id,
        {
            "id": claim_id,
            "name": "sub",
            "status": "ACTIVE",
            "claimType": "RESOURCE",
            "valueType": "EXPRESSION",
            "value": SUB_EXPRESSION,
            "conditions": {"scopes": []},
            "system": True,
            "alwaysIncludeInToken": True,
        },
        parent=sid,
    )
    return server


def ensure_default_server(org: OktaOrg) -> str:
    sid = default_server_id(org)
    if sid and org.get(SERVER, sid):
        return sid
    server = _new_server(
        org,
        "default",
        "Default Authorization Server for your Applications",
        ["api://default"],
        default=True,
    )
    org.set_meta("default_as", server["id"])
    now = now_iso()
    pid = new_id("00p")
    org.put(
        POLICY,
        pid,
        {
            "type": "OAUTH_AUTHORIZATION_POLICY",
            "id": pid,
            "status": "ACTIVE",
            "name": "Default Policy",
            "description": "Default policy description",
            "priority": 1,
            "system": False,
            "conditions": {"clients": {"include": ["ALL_CLIENTS"]}},
            "created": now,
            "lastUpdated": now,
        },
        parent=server["id"],
    )
    rid = new_id("0pr")
    org.put(
        RULE,
        rid,
        {
            "type": "RESOURCE_ACCESS",
            "id": rid,
            "status": "ACTIVE",
            "name": "Default Policy Rule",
            "priority": 1,
            "system": False,
            "created": now,
            "lastUpdated": now,
            "conditions": {
                "people": {
                    "users": {"include": [], "exclude": []},
                    "groups": {"include": ["EVERYONE"], "exclude": []},
                },
                "grantTypes": {
                    "include": [
                        "implicit",
                        "client_credentials",
                        "authorization_code",
                        "password",
                        "interaction_code",
                        "urn:ietf:params:oauth:grant-type:device_code",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ]
                },
                "scopes": {"include": ["*"]},
            },
            "actions": {
                "token": {
                    "accessTokenLifetimeMinutes": 60,
                    "refreshTokenLifetimeMinutes": 0,
                    "refreshTokenWindowMinutes": 10080,
                }
            },
        },
        parent=pid,
    )
    return server["id"]


def scope_names(org: OktaOrg, server: dict[str, Any] | None) -> set[str]:
    if server is None:
        return set(ORG_SCOPES)
    return {s["name"] for s in org.list(SCOPE, parent=server["id"])}


# ---- policy evaluation -----------------------------------------------------------------------------


def _people_match(org: OktaOrg, rule: dict[str, Any], user_id: str | None) -> bool:
    if user_id is None:
        return True
    people = (rule.get("conditions") or {}).get("people") or {}
    users = people.get("users") or {}
    grps = people.get("groups") or {}
    group_ids = set(groups.user_group_ids(org, user_id))
    if user_id in (users.get("exclude") or []) or group_ids & set(grps.get("exclude") or []):
        return False
    include_groups = set(grps.get("include") or [])
    if "EVERYONE" in include_groups or groups.everyone_id(org) in include_groups:
        return True
    return user_id in (users.get("include") or []) or bool(group_ids & include_groups)


def evaluate_policy(
    org: OktaOrg,
    server: dict[str, Any],
    client_id: str,
    user_id: str | None,
    grant_type: str,
    scopes: list[str],
) -> dict[str, Any] | None:
    """The first ACTIVE rule (by policy then rule priority) that allows this request."""
    policies = [p for p in org.list(POLICY, parent=server["id"]) if p["status"] == "ACTIVE"]
    for policy in sorted(policies, key=lambda p: p.get("priority", 99)):
        include = ((policy.get("conditions") or {}).get("clients") or {}).get("include") or []
        if "ALL_CLIENTS" not in include and client_id not in include:
            continue
        rules = [r for r in org.list(RULE, parent=policy["id"]) if r["status"] == "ACTIVE"]
        for rule in sorted(rules, key=lambda r: r.get("priority", 99)):
            cond = rule.get("conditions") or {}
            grants = (cond.get("grantTypes") or {}).get("include") or []
            if grant_type not in grants:
                continue
            allowed_scopes = (cond.get("scopes") or {}).get("include") or []
            if "*" not in allowed_scopes and not set(scopes) <= set(allowed_scopes):
                continue
            if not _people_match(org, rule, user_id):
                continue
            return rule
    return None


def token_claims(
    org: OktaOrg,
    server: dict[str, Any],
    claim_type: str,
    scopes: list[str],
    ctx: Context,
    *,
    id_token_only_always: bool = False,
) -> dict[str, Any]:
    """Custom (non-system) claims of ``claim_type`` that apply to these scopes."""
    from .tokens import evaluate_claim

    out: dict[str, Any] = {}
    for claim in org.list(CLAIM, parent=server["id"]):
        if claim.get("system") or claim["status"] != "ACTIVE" or claim["claimType"] != claim_type:
            continue
        wanted = ((claim.get("conditions") or {}).get("scopes")) or []
        if wanted and not set(wanted) & set(scopes):
            continue
        if id_token_only_always and not claim.get("alwaysIncludeInToken", False):
            continue
        value = evaluate_claim(claim, ctx)
        if value is not None:
            out[claim["name"]] = value
    return out


# ---- claims --------------------------------------------------------------------------------------


def render_claim(org: OktaOrg, server_id: str, claim: dict[str, Any]) -> dict[str, Any]:
    out = {
        "apiResourceId": None,
        **claim,
        "_links": {
            "self": {
                "href": org.url(f"/api/v1/authorizationServers/{server_id}/claims/{claim['id']}"),
                "hints": {"allow": ["GET", "PUT", "DELETE"]},
            }
        },
    }
    if claim["valueType"] != "GROUPS":
        out.pop("group_filter_type", None)
    return out


def _validate_claim(
    org: OktaOrg, server: dict[str, Any], body: dict[str, Any], exclude: str | None = None
) -> dict[str, Any]:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise validation("name", "name: The field cannot be left blank")
    claim_type = body.get("claimType")
    if claim_type not in ("RESOURCE", "IDENTITY"):
        raise validation("claimType", "claimType: The field must be RESOURCE or IDENTITY")
    value_type = body.get("valueType", "EXPRESSION")
    if value_type not in ("EXPRESSION", "GROUPS"):
        raise validation("valueType", "valueType: The field must be EXPRESSION or GROUPS")
    value = body.get("value")
    if not isinstance(value, str) or not value.strip():
        raise validation("value", "value: The field cannot be left blank")
    if name in RESERVED_CLAIMS[claim_type]:
        raise validation(
            "name",
            f"name: '{name}' is a reserved claim name and cannot be used for a custom claim.",
        )
    for other in org.list(CLAIM, parent=server["id"]):
        if other["id"] != exclude and other["name"] == name and other["claimType"] == claim_type:
            raise validation(
                "name",
                "name: A claim with the same name and claim type already exists.",
            )
    gft = body.get("group_filter_type")
    if value_type == "GROUPS":
        if gft not in ("STARTS_WITH", "EQUALS", "CONTAINS", "REGEX"):
            raise validation(
                "group_filter_type",
                "group_filter_type: The field must be STARTS_WITH, EQUALS, CONTAINS or REGEX",
            )
        if gft == "REGEX":
            try:
                re.compile(value)
            except re.error as exc:
                raise validation("value", f"value: Invalid regular expression: {exc}") from exc
    else:
        try:
            compile_expression(value)
        except ExpressionError as exc:
            raise validation("value", f"value: {exc}") from exc
    conditions = want_dict(body.get("conditions"), "conditions", {})
    wanted = want_str_list(conditions.get("scopes"), "conditions.scopes", [])
    known = scope_names(org, server)
    for s in wanted:
        if s not in known:
            raise validation("conditions", f"conditions.scopes: The scope '{s}' does not exist.")
    status = body.get("status", "ACTIVE")
    if status not in ("ACTIVE", "INACTIVE"):
        raise validation("status", "status: must be ACTIVE or INACTIVE")
    always = want_bool(body.get("alwaysIncludeInToken"), "alwaysIncludeInToken", True)
    if claim_type == "RESOURCE":
        always = True
    claim: dict[str, Any] = {
        "name": name,
        "status": status,
        "claimType": claim_type,
        "valueType": value_type,
        "value": value,
        "alwaysIncludeInToken": always,
        "conditions": {"scopes": wanted},
        "system": False,
    }
    if value_type == "GROUPS":
        claim["group_filter_type"] = gft
    return claim


async def list_claims(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.read")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    items = [render_claim(org, server["id"], c) for c in org.list(CLAIM, parent=server["id"])]
    return json_response(items)


async def create_claim(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    body = await read_json(request, required=True)
    claim = _validate_claim(org, server, body)
    claim = {"id": new_id("ocl"), **claim}
    org.put(CLAIM, claim["id"], claim, parent=server["id"])
    return json_response(render_claim(org, server["id"], claim), status=201)


def _get_child(org: OktaOrg, kind: str, parent: str, child_id: str, label: str) -> dict[str, Any]:
    doc = org.get(kind, child_id)
    rows = org.db.query("SELECT parent FROM okta_docs WHERE kind=? AND id=?", (kind, child_id))
    if doc is None or not rows or rows[0]["parent"] != parent:
        raise not_found(f"Resource not found: {child_id} ({label})")
    return doc


async def get_claim(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.read")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    claim = _get_child(org, CLAIM, server["id"], request.path_params["claimId"], "OAuth2Claim")
    return json_response(render_claim(org, server["id"], claim))


async def replace_claim(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    claim = _get_child(org, CLAIM, server["id"], request.path_params["claimId"], "OAuth2Claim")
    if claim.get("system"):
        raise OktaApiError("E0000111", "OAuth2Claim")
    body = await read_json(request, required=True)
    updated = {"id": claim["id"], **_validate_claim(org, server, body, exclude=claim["id"])}
    org.put(CLAIM, claim["id"], updated, parent=server["id"])
    return json_response(render_claim(org, server["id"], updated))


async def delete_claim(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    claim = _get_child(org, CLAIM, server["id"], request.path_params["claimId"], "OAuth2Claim")
    if claim.get("system"):
        raise OktaApiError("E0000111", "OAuth2Claim")
    org.delete(CLAIM, claim["id"])
    return no_content()


# ---- scopes ------------------------------------------------------------------------------------


def render_scope(org: OktaOrg, server_id: str, scope: dict[str, Any]) -> dict[str, Any]:
    return {
        **scope,
        "_links": {
            "self": {
                "href": org.url(f"/api/v1/authorizationServers/{server_id}/scopes/{scope['id']}"),
                "hints": {"allow": ["GET", "PUT", "DELETE"]},
            }
        },
    }


def _validate_scope(
    org: OktaOrg, server: dict[str, Any], body: dict[str, Any], exclude: str | None = None
) -> dict[str, Any]:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or " " in name:
        raise validation("name", "name: The field cannot be left blank")
    for other in org.list(SCOPE, parent=server["id"]):
        if other["id"] != exclude and other["name"] == name:
            raise validation(
                "name", "name: An object with this field already exists in the current organization"
            )
    consent = body.get("consent", "IMPLICIT")
    if consent not in ("REQUIRED", "IMPLICIT", "FLEXIBLE"):
        raise validation("consent", "consent: must be REQUIRED, IMPLICIT or FLEXIBLE")
    publish = body.get("metadataPublish", "NO_CLIENTS")
    if publish not in ("NO_CLIENTS", "ALL_CLIENTS"):
        raise validation("metadataPublish", "metadataPublish: must be NO_CLIENTS or ALL_CLIENTS")
    scope = {
        "name": name,
        "displayName": want_str(body.get("displayName"), "displayName", optional=True),
        "description": want_str(body.get("description"), "description", optional=True),
        "system": False,
        "default": want_bool(body.get("default"), "default", False),
        "consent": consent,
        "optional": want_bool(body.get("optional"), "optional", False),
        "metadataPublish": publish,
    }
    return {k: v for k, v in scope.items() if v is not None}


async def list_scopes(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.read")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    items = [render_scope(org, server["id"], s) for s in org.list(SCOPE, parent=server["id"])]
    q = request.query_params.get("q")
    if q:
        items = [s for s in items if s["name"].startswith(q)]
    return json_response(items)


async def create_scope(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    body = await read_json(request, required=True)
    scope = {"id": new_id("scp"), **_validate_scope(org, server, body)}
    org.put(SCOPE, scope["id"], scope, parent=server["id"])
    return json_response(render_scope(org, server["id"], scope), status=201)


async def get_scope(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.read")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    scope = _get_child(org, SCOPE, server["id"], request.path_params["scopeId"], "OAuth2Scope")
    return json_response(render_scope(org, server["id"], scope))


async def replace_scope(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    scope = _get_child(org, SCOPE, server["id"], request.path_params["scopeId"], "OAuth2Scope")
    if scope.get("system"):
        raise OktaApiError("E0000111", "OAuth2Scope")
    body = await read_json(request, required=True)
    updated = {"id": scope["id"], **_validate_scope(org, server, body, exclude=scope["id"])}
    org.put(SCOPE, scope["id"], updated, parent=server["id"])
    return json_response(render_scope(org, server["id"], updated))


async def delete_scope(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    scope = _get_child(org, SCOPE, server["id"], request.path_params["scopeId"], "OAuth2Scope")
    if scope.get("system"):
        raise OktaApiError("E0000111", "OAuth2Scope")
    org.delete(SCOPE, scope["id"])
    return no_content()


# ---- servers endpoints -------------------------------------------------------------------------------


async def list_servers(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.read")
    org = org_of(request)
    items = [render_server(org, s) for s in org.list(SERVER)]
    q = (request.query_params.get("q") or "").lower()
    if q:
        items = [s for s in items if s["name"].lower().startswith(q)]
    return paginate(request, items, default_limit=200)


async def get_server(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.read")
    org = org_of(request)
    return json_response(render_server(org, resolve_server(org, request.path_params["asId"])))


def _server_fields(body: dict[str, Any]) -> tuple[str, str, list[str]]:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise validation("name", "name: The field cannot be left blank")
    audiences = body.get("audiences")
    if not isinstance(audiences, list) or len(audiences) != 1:
        raise validation("audiences", "audiences: Exactly one audience is supported")
    if not all(isinstance(a, str) and a for a in audiences):
        raise validation("audiences", "audiences: must be an array of strings")
    return name, want_str(body.get("description", ""), "description"), audiences


async def create_server(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    body = await read_json(request, required=True)
    name, description, audiences = _server_fields(body)
    if any(s["name"] == name for s in org.list(SERVER)):
        raise validation(
            "name", "name: An object with this field already exists in the current organization"
        )
    server = _new_server(org, name, description, audiences, default=False)
    return json_response(render_server(org, server), status=201)


async def replace_server(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    body = await read_json(request, required=True)
    name, description, audiences = _server_fields(body)
    server.update(
        {"name": name, "description": description, "audiences": audiences, "lastUpdated": now_iso()}
    )
    org.put(SERVER, server["id"], server)
    return json_response(render_server(org, server))


async def delete_server(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    if server.get("default"):
        raise OktaApiError("E0000006")
    if server["status"] == "ACTIVE":
        raise validation("status", "status: Deactivate the authorization server before deleting it")
    for kind in (CLAIM, SCOPE):
        for doc in org.list(kind, parent=server["id"]):
            org.delete(kind, doc["id"])
    for policy in org.list(POLICY, parent=server["id"]):
        for rule in org.list(RULE, parent=policy["id"]):
            org.delete(RULE, rule["id"])
        org.delete(POLICY, policy["id"])
    org.delete(SERVER, server["id"])
    return no_content()


async def server_lifecycle(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    action = lifecycle_action(request)
    server["status"] = LIFECYCLE_STATUS[action]
    server["lastUpdated"] = now_iso()
    org.put(SERVER, server["id"], server)
    return no_content()


async def server_keys(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.read")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    keys = org.signing_keys(server["id"])
    return json_response(
        [{**k.jwk(), "status": "ACTIVE" if i == 0 else "EXPIRED"} for i, k in enumerate(keys)]
    )


async def rotate_keys(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    body = await read_json(request)
    if body.get("use", "sig") != "sig":
        raise validation("use", "use: The only supported key use is 'sig'.")
    org.rotate_key(server["id"])
    server["lastUpdated"] = now_iso()
    org.put(SERVER, server["id"], server)
    return await server_keys(request)


# ---- access policies and rules ---------------------------------------------------------------------


def render_policy(org: OktaOrg, server_id: str, policy: dict[str, Any]) -> dict[str, Any]:
    base = f"/api/v1/authorizationServers/{server_id}/policies/{policy['id']}"
    lifecycle = "deactivate" if policy["status"] == "ACTIVE" else "activate"
    return {
        **policy,
        "_links": {
            "self": {"href": org.url(base), "hints": {"allow": ["GET", "PUT", "DELETE"]}},
            lifecycle: {
                "href": org.url(f"{base}/lifecycle/{lifecycle}"),
                "hints": {"allow": ["POST"]},
            },
            "rules": {"href": org.url(f"{base}/rules"), "hints": {"allow": ["GET"]}},
        },
    }


def render_rule(
    org: OktaOrg, server_id: str, policy_id: str, rule: dict[str, Any]
) -> dict[str, Any]:
    base = f"/api/v1/authorizationServers/{server_id}/policies/{policy_id}/rules/{rule['id']}"
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


def _validate_policy(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("type", "OAUTH_AUTHORIZATION_POLICY") != "OAUTH_AUTHORIZATION_POLICY":
        raise validation("type", "type: must be OAUTH_AUTHORIZATION_POLICY")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise validation("name", "name: The field cannot be left blank")
    description = body.get("description")
    if not isinstance(description, str) or not description.strip():
        raise validation("description", "description: The field cannot be left blank")
    conditions = want_dict(body.get("conditions"), "conditions", {})
    include = want_dict(conditions.get("clients"), "clients", {}).get("include")
    if not isinstance(include, list) or not include or not all(isinstance(c, str) for c in include):
        raise validation("conditions", "conditions.clients.include: The field cannot be left blank")
    status = body.get("status", "ACTIVE")
    if status not in ("ACTIVE", "INACTIVE"):
        raise validation("status", "status: must be ACTIVE or INACTIVE")
    return {
        "type": "OAUTH_AUTHORIZATION_POLICY",
        "status": status,
        "name": name,
        "description": description,
        "priority": want_int(body.get("priority"), "priority", 1, 1, 1000),
        "system": False,
        "conditions": {"clients": {"include": include}},
    }


def _validate_rule(body: dict[str, Any]) -> dict[str, Any]:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise validation("name", "name: The field cannot be left blank")
    cond = want_dict(body.get("conditions"), "conditions", {})
    grants = want_dict(cond.get("grantTypes"), "grantTypes", {}).get("include")
    if not isinstance(grants, list) or not grants:
        raise validation(
            "grantTypes", "conditions.grantTypes.include: The field cannot be left blank"
        )
    bad = [g for g in grants if g not in RULE_GRANTS]
    if bad:
        raise validation(
            "grantTypes", f"conditions.grantTypes.include: Invalid grant type '{bad[0]}'."
        )
    scopes = want_dict(cond.get("scopes"), "scopes", {}).get("include")
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise validation("scopes", "conditions.scopes.include: The field cannot be left blank")
    people = want_dict(cond.get("people"), "people", {})
    if not people:
        raise validation("people", "conditions.people: The field cannot be left blank")
    users_in = want_dict(people.get("users"), "users", {})
    groups_in = want_dict(people.get("groups"), "groups", {})
    for part, label in ((users_in, "users"), (groups_in, "groups")):
        for key in ("include", "exclude"):
            part[key] = want_str_list(part.get(key), f"people.{label}.{key}", [])
    actions = want_dict(body.get("actions"), "actions", {})
    token = want_dict(actions.get("token"), "token", {})
    at_minutes = want_int(
        token.get("accessTokenLifetimeMinutes"), "accessTokenLifetimeMinutes", 60, 5, 1440
    )
    rt_minutes = want_int(
        token.get("refreshTokenLifetimeMinutes"), "refreshTokenLifetimeMinutes", 0, 0, 5 * 525600
    )
    rt_window = want_int(
        token.get("refreshTokenWindowMinutes"), "refreshTokenWindowMinutes", 10080, 10, 5 * 525600
    )
    status = body.get("status", "ACTIVE")
    if status not in ("ACTIVE", "INACTIVE"):
        raise validation("status", "status: must be ACTIVE or INACTIVE")
    return {
        "type": "RESOURCE_ACCESS",
        "status": status,
        "name": name,
        "priority": want_int(body.get("priority"), "priority", 1, 1, 1000),
        "system": False,
        "conditions": {
            "people": {
                "users": {"include": users_in["include"], "exclude": users_in["exclude"]},
                "groups": {"include": groups_in["include"], "exclude": groups_in["exclude"]},
            },
            "grantTypes": {"include": grants},
            "scopes": {"include": scopes},
        },
        "actions": {
            "token": {
                "accessTokenLifetimeMinutes": at_minutes,
                "refreshTokenLifetimeMinutes": rt_minutes,
                "refreshTokenWindowMinutes": rt_window,
            }
        },
    }


async def list_policies(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.read")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    items = [render_policy(org, server["id"], p) for p in org.list(POLICY, parent=server["id"])]
    return json_response(items)


async def create_policy(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server = resolve_server(org, request.path_params["asId"])
    body = await read_json(request, required=True)
    now = now_iso()
    policy = {"id": new_id("00p"), **_validate_policy(body), "created": now, "lastUpdated": now}
    org.put(POLICY, policy["id"], policy, parent=server["id"])
    return json_response(render_policy(org, server["id"], policy), status=201)


def _policy(org: OktaOrg, request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    server = resolve_server(org, request.path_params["asId"])
    policy = _get_child(
        org, POLICY, server["id"], request.path_params["policyId"], "AuthorizationServerPolicy"
    )
    return server, policy


async def get_policy(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.read")
    org = org_of(request)
    server, policy = _policy(org, request)
    return json_response(render_policy(org, server["id"], policy))


async def replace_policy(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server, policy = _policy(org, request)
    body = await read_json(request, required=True)
    updated = {
        "id": policy["id"],
        **_validate_policy(body),
        "created": policy["created"],
        "lastUpdated": now_iso(),
    }
    org.put(POLICY, policy["id"], updated, parent=server["id"])
    return json_response(render_policy(org, server["id"], updated))


async def delete_policy(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    _, policy = _policy(org, request)
    for rule in org.list(RULE, parent=policy["id"]):
        org.delete(RULE, rule["id"])
    org.delete(POLICY, policy["id"])
    return no_content()


async def policy_lifecycle(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server, policy = _policy(org, request)
    action = lifecycle_action(request)
    policy["status"] = LIFECYCLE_STATUS[action]
    policy["lastUpdated"] = now_iso()
    org.put(POLICY, policy["id"], policy, parent=server["id"])
    return no_content()


async def list_rules(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.read")
    org = org_of(request)
    server, policy = _policy(org, request)
    items = [
        render_rule(org, server["id"], policy["id"], r) for r in org.list(RULE, parent=policy["id"])
    ]
    return json_response(items)


async def create_rule(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server, policy = _policy(org, request)
    body = await read_json(request, required=True)
    now = now_iso()
    rule = {"id": new_id("0pr"), **_validate_rule(body), "created": now, "lastUpdated": now}
    org.put(RULE, rule["id"], rule, parent=policy["id"])
    return json_response(render_rule(org, server["id"], policy["id"], rule), status=201)


def _rule(org: OktaOrg, request: Request) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    server, policy = _policy(org, request)
    rule = _get_child(
        org, RULE, policy["id"], request.path_params["ruleId"], "AuthorizationServerPolicyRule"
    )
    return server, policy, rule


async def get_rule(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.read")
    org = org_of(request)
    server, policy, rule = _rule(org, request)
    return json_response(render_rule(org, server["id"], policy["id"], rule))


async def replace_rule(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    server, policy, rule = _rule(org, request)
    body = await read_json(request, required=True)
    updated = {
        "id": rule["id"],
        **_validate_rule(body),
        "created": rule["created"],
        "lastUpdated": now_iso(),
    }
    org.put(RULE, rule["id"], updated, parent=policy["id"])
    return json_response(render_rule(org, server["id"], policy["id"], updated))


async def delete_rule(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    _, _, rule = _rule(org, request)
    org.delete(RULE, rule["id"])
    return no_content()


async def rule_lifecycle(request: Request) -> Response:
    require_admin(request, "okta.authorizationServers.manage")
    org = org_of(request)
    _, policy, rule = _rule(org, request)
    action = lifecycle_action(request)
    rule["status"] = LIFECYCLE_STATUS[action]
    rule["lastUpdated"] = now_iso()
    org.put(RULE, rule["id"], rule, parent=policy["id"])
    return no_content()


_AS = "/api/v1/authorizationServers"
routes = [
    Route(_AS, list_servers, methods=["GET"]),
    Route(_AS, create_server, methods=["POST"]),
    Route(_AS + "/{asId}", get_server, methods=["GET"]),
    Route(_AS + "/{asId}", replace_server, methods=["PUT"]),
    Route(_AS + "/{asId}", delete_server, methods=["DELETE"]),
    Route(_AS + "/{asId}/lifecycle/{action}", server_lifecycle, methods=["POST"]),
    Route(_AS + "/{asId}/credentials/keys", server_keys, methods=["GET"]),
    Route(_AS + "/{asId}/credentials/lifecycle/keyRotate", rotate_keys, methods=["POST"]),
    Route(_AS + "/{asId}/claims", list_claims, methods=["GET"]),
    Route(_AS + "/{asId}/claims", create_claim, methods=["POST"]),
    Route(_AS + "/{asId}/claims/{claimId}", get_claim, methods=["GET"]),
    Route(_AS + "/{asId}/claims/{claimId}", replace_claim, methods=["PUT"]),
    Route(_AS + "/{asId}/claims/{claimId}", delete_claim, methods=["DELETE"]),
    Route(_AS + "/{asId}/scopes", list_scopes, methods=["GET"]),
    Route(_AS + "/{asId}/scopes", create_scope, methods=["POST"]),
    Route(_AS + "/{asId}/scopes/{scopeId}", get_scope, methods=["GET"]),
    Route(_AS + "/{asId}/scopes/{scopeId}", replace_scope, methods=["PUT"]),
    Route(_AS + "/{asId}/scopes/{scopeId}", delete_scope, methods=["DELETE"]),
    Route(_AS + "/{asId}/policies", list_policies, methods=["GET"]),
    Route(_AS + "/{asId}/policies", create_policy, methods=["POST"]),
    Route(_AS + "/{asId}/policies/{policyId}", get_policy, methods=["GET"]),
    Route(_AS + "/{asId}/policies/{policyId}", replace_policy, methods=["PUT"]),
    Route(_AS + "/{asId}/policies/{policyId}", delete_policy, methods=["DELETE"]),
    Route(
        _AS + "/{asId}/policies/{policyId}/lifecycle/{action}", policy_lifecycle, methods=["POST"]
    ),
    Route(_AS + "/{asId}/policies/{policyId}/rules", list_rules, methods=["GET"]),
    Route(_AS + "/{asId}/policies/{policyId}/rules", create_rule, methods=["POST"]),
    Route(_AS + "/{asId}/policies/{policyId}/rules/{ruleId}", get_rule, methods=["GET"]),
    Route(_AS + "/{asId}/policies/{policyId}/rules/{ruleId}", replace_rule, methods=["PUT"]),
    Route(_AS + "/{asId}/policies/{policyId}/rules/{ruleId}", delete_rule, methods=["DELETE"]),
    Route(
        _AS + "/{asId}/policies/{policyId}/rules/{ruleId}/lifecycle/{action}",
        rule_lifecycle,
        methods=["POST"],
    ),
]
