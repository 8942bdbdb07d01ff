"""Applications API (``/api/v1/apps``): OIDC clients, their secrets, group assignments and policies.

OIDC validation follows Okta's rules closely enough that a request Okta would reject is rejected
here too (a client that passes the sandbox should pass a real org): grant types per
``application_type``, PKCE for public clients, redirect URIs for redirect-based grants.
Client secrets are stored only as SHA-256 hashes, so like Okta they are shown in full once.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import groups, rest
from .errors import (
    OktaApiError,
    not_found,
    validation,
    want_bool,
    want_dict,
    want_int,
    want_status,
    want_str,
    want_str_list,
)
from .state import OrgState, new_id, now_iso
from .web import bool_param, json_response, no_content, org_of, read_json, require_admin

KIND = "app"
SECRET = "secret"
APP_GROUP = "app_group"  # link: a = app id, b = group id
APP_USER = "app_user"  # link: a = app id, b = user id
APP_POLICY = "app_policy"  # link: a = app id, b = policy id
ID_TOKEN_SETTINGS = "app_idtoken"
APP_GRANT = "app_grant"  # link: a = app id, b = okta.* scope

SIGN_ON_MODES = {
    "AUTO_LOGIN",
    "BASIC_AUTH",
    "BOOKMARK",
    "BROWSER_PLUGIN",
    "OPENID_CONNECT",
    "SAML_1_1",
    "SAML_2_0",
    "SECURE_PASSWORD_STORE",
    "WS_FEDERATION",
}
AUTH_METHODS = {
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "none",
}
SECRET_METHODS = {"client_secret_basic", "client_secret_post", "client_secret_jwt"}
RESPONSE_TYPES = {"code", "id_token", "token"}
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SAML2_BEARER = "urn:ietf:params:oauth:grant-type:saml2-bearer"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
# application_type -> (required grant, allowed grants); mirrors Okta's per-type validation.
GRANTS_BY_TYPE: dict[str, tuple[str | None, set[str]]] = {
    "web": (
        "authorization_code",
        {
            "authorization_code",
            "refresh_token",
            "implicit",
            "client_credentials",
            "interaction_code",
            TOKEN_EXCHANGE,
            JWT_BEARER,
            SAML2_BEARER,
            DEVICE_CODE,
        },
    ),
    "native": (
        "authorization_code",
        {
            "authorization_code",
            "refresh_token",
            "implicit",
            "password",
            "interaction_code",
            TOKEN_EXCHANGE,
            JWT_BEARER,
            SAML2_BEARER,
            DEVICE_CODE,
        },
    ),
    "browser": (None, {"authorization_code", "refresh_token", "implicit", "interaction_code"}),
    "service": ("client_credentials", {"client_credentials", TOKEN_EXCHANGE, JWT_BEARER}),
}


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_secret() -> str:
    return secrets.token_urlsafe(48)[:64]


def get_app(org: OrgState, app_id: str) -> dict[str, Any]:
    """The app with this id, else Okta's 404 (``… (AppInstance)``)."""
    return rest.resource(KIND).find(org, app_id)


def find_by_client_id(org: OrgState, client_id: str) -> dict[str, Any] | None:
    app = org.get(KIND, client_id)
    if app is not None and app.get("signOnMode") == "OPENID_CONNECT":
        return app
    for app in org.list(KIND):
        oauth = app.get("credentials", {}).get("oauthClient") or {}
        if oauth.get("client_id") == client_id:
            return app
    return None


def oauth_settings(app: dict[str, Any]) -> dict[str, Any]:
    return (app.get("settings") or {}).get("oauthClient") or {}


def oauth_credentials(app: dict[str, Any]) -> dict[str, Any]:
    return (app.get("credentials") or {}).get("oauthClient") or {}


UNIVERSAL_LOGOUT = {
    "status": "DISABLED",
    "supportType": "FULL",
    "identityStack": "NOT_SHARED",
    "protocol": "GLOBAL_TOKEN_REVOCATION",
}


def render(org: OrgState, app: dict[str, Any], base: str) -> dict[str, Any]:
    out = copy.deepcopy(app)
    app_id = app["id"]
    # the spec types these as non-nullable strings: omit rather than send null
    out["accessibility"] = {k: v for k, v in out.get("accessibility", {}).items() if v is not None}
    lifecycle = "deactivate" if app["status"] == "ACTIVE" else "activate"
    out["_links"] = {
        "uploadLogo": {
            "href": org.url(f"{base}/logo"),
            "hints": {"allow": ["POST"]},
        },
        "appLinks": [
            {
                "name": f"{app.get('name', 'app')}_link",
                "href": org.url(f"/home/{app.get('name', 'app')}/{app_id}/aln{app_id[3:]}"),
                "type": "text/html",
            }
        ],
        "groups": {"href": org.url(f"{base}/groups")},
        "logo": [
            {
                "name": "medium",
                "href": org.url("/assets/img/logos/default.6770228fb0dab49a1695ef440a5279bb.png"),
                "type": "image/png",
            }
        ],
        "users": {"href": org.url(f"{base}/users")},
        lifecycle: {"href": org.url(f"{base}/lifecycle/{lifecycle}")},
    }
    for policy_id in [b for _, b, _ in org.links(APP_POLICY, a=app_id)]:
        policy = org.get("policy", policy_id)
        if policy and policy.get("type") == "ACCESS_POLICY":
            out["_links"]["accessPolicy"] = {"href": org.url(f"/api/v1/policies/{policy_id}")}
    return out


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _validate_secret(value: Any) -> str:
    if not isinstance(value, str) or len(value) < 14:
        raise validation(
            "client_secret", "client_secret: 'client_secret' must be at least '14' characters long."
        )
    if len(value) > 100:
        raise validation(
            "client_secret", "client_secret: 'client_secret' must be at most '100' characters long."
        )
    if not all(33 <= ord(c) <= 126 for c in value):
        raise validation(
            "client_secret",
            "client_secret: 'client_secret' must contain only printable ASCII characters.",
        )
    return value


def _normalize_oidc(
    body: dict[str, Any], existing: dict[str, Any] | None, *, inactive: bool = False
) -> dict[str, Any]:
    """Validate an OIDC app body and fill Okta's defaults; returns settings + credentials parts."""
    settings_in = body.get("settings")
    if not isinstance(settings_in, dict) or not isinstance(settings_in.get("oauthClient"), dict):
        raise validation(
            "settings",
            "settings.oauthClient: The settings.oauthClient object is required for OPENID_CONNECT "
            "applications",
        )
    oauth_in = dict(settings_in["oauthClient"])
    credentials_in = want_dict(body.get("credentials"), "credentials", {})
    creds_in = dict(want_dict(credentials_in.get("oauthClient"), "oauthClient", {}))

    app_type = oauth_in.get("application_type", "web")
    if app_type not in GRANTS_BY_TYPE:
        raise validation(
            "application_type",
            f"application_type: '{app_type}' is not a valid application type.",
        )
    grant_types = oauth_in.get("grant_types", ["authorization_code"])
    if not _is_str_list(grant_types) or not grant_types:
        raise validation("grant_types", "grant_types: The field cannot be left blank")
    required, allowed = GRANTS_BY_TYPE[app_type]
    bad = [g for g in grant_types if g not in allowed]
    if bad:
        raise validation(
            "grant_types",
            f"grant_types: Client application type '{app_type}' is not allowed to use grant type "
            f"'{bad[0]}'.",
        )
    if required and required not in grant_types:
        raise validation(
            "grant_types",
            f"grant_types: Client application type '{app_type}' must use the grant type "
            f"'{required}'.",
        )
    response_types = oauth_in.get(
        "response_types", ["code"] if "authorization_code" in grant_types else []
    )
    if not _is_str_list(response_types) or any(r not in RESPONSE_TYPES for r in response_types):
        raise validation("response_types", "response_types: Invalid response type")
    if "authorization_code" in grant_types and "code" not in response_types:
        raise validation(
            "response_types",
            "response_types: The 'authorization_code' grant type requires the 'code' response type.",
        )
    if "implicit" in grant_types and not ({"token", "id_token"} & set(response_types)):
        raise validation(
            "response_types",
            "response_types: The 'implicit' grant type requires the 'token' or 'id_token' response"
            " type.",
        )
    redirect_uris = oauth_in.get("redirect_uris", [])
    if not _is_str_list(redirect_uris):
        raise validation("redirect_uris", "redirect_uris: must be an array of URIs")
    post_logout = want_str_list(
        oauth_in.get("post_logout_redirect_uris"), "post_logout_redirect_uris", []
    )
    if {"authorization_code", "implicit"} & set(grant_types) and not redirect_uris:
        raise validation(
            "redirect_uris",
            "redirect_uris: 'redirect_uris' is required for the 'authorization_code' and "
            "'implicit' grant types.",
        )
    for uri in redirect_uris + post_logout:
        if ":" not in uri or uri.startswith(":") or " " in uri:
            raise validation("redirect_uris", f"redirect_uris: '{uri}' is not a valid URI.")

    default_method = "none" if app_type == "browser" else "client_secret_basic"
    method = want_str(
        creds_in.get("token_endpoint_auth_method", default_method), "token_endpoint_auth_method"
    )
    if method not in AUTH_METHODS:
        raise validation(
            "token_endpoint_auth_method",
            f"token_endpoint_auth_method: '{method}' is not a valid token endpoint auth method.",
        )
    # Recorded real traffic (terraform-provider-okta VCR cassettes) shows Okta answering 200
    # to a browser app created INACTIVE (?activate=false) with another auth method.
    if app_type == "browser" and method != "none" and not inactive:
        raise validation(
            "token_endpoint_auth_method",
            "token_endpoint_auth_method: Browser based applications must use 'none'.",
        )
    pkce = creds_in.get("pkce_required", app_type in ("browser", "native") or method == "none")
    if not isinstance(pkce, bool):
        raise validation("pkce_required", "pkce_required: must be a boolean")
    if method == "none" and not pkce:
        raise validation(
            "pkce_required",
            "pkce_required: PKCE must be required when 'token_endpoint_auth_method' is 'none'.",
        )
    if method == "private_key_jwt" and not (oauth_in.get("jwks") or oauth_in.get("jwks_uri")):
        raise validation(
            "jwks",
            "jwks: 'jwks' or 'jwks_uri' is required for the 'private_key_jwt' token endpoint "
            "auth method.",
        )

    oauth = {
        "client_uri": None,
        "logo_uri": None,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": post_logout,
        "response_types": response_types,
        "grant_types": grant_types,
        "application_type": app_type,
        "consent_method": "TRUSTED",
        "issuer_mode": "DYNAMIC",
        "idp_initiated_login": {"mode": "DISABLED", "default_scope": []},
        "wildcard_redirect": "DISABLED",
        "dpop_bound_access_tokens": False,
    }
    oauth.update(_optional_oauth_settings(oauth_in))
    if "refresh_token" in grant_types:
        rt = dict(want_dict(oauth_in.get("refresh_token"), "refresh_token", {}))
        rotation = rt.get("rotation_type", "ROTATE" if app_type == "browser" else "STATIC")
        if rotation not in ("ROTATE", "STATIC"):
            raise validation("rotation_type", "rotation_type: must be ROTATE or STATIC")
        leeway = want_int(rt.get("leeway"), "leeway", 30, 0, 60)
        oauth["refresh_token"] = {"rotation_type": rotation, "leeway": leeway}
    client_id = want_str(creds_in.get("client_id"), "client_id", optional=True) or (
        oauth_credentials(existing).get("client_id") if existing else None
    )
    credentials = {
        "autoKeyRotation": want_bool(creds_in.get("autoKeyRotation"), "autoKeyRotation", True),
        "client_id": client_id,
        "token_endpoint_auth_method": method,
        "pkce_required": pkce,
    }
    return {
        "oauth": oauth,
        "credentials": credentials,
        "client_secret": creds_in.get("client_secret"),
        "settings_in": settings_in,
    }


_URI_SETTINGS = (
    "client_uri",
    "logo_uri",
    "policy_uri",
    "tos_uri",
    "initiate_login_uri",
    "jwks_uri",
    "frontchannel_logout_uri",
    "sector_identifier_uri",
)
_ENUM_SETTINGS = {
    "issuer_mode": ("ORG_URL", "CUSTOM_URL", "DYNAMIC"),
    "consent_method": ("TRUSTED", "REQUIRED"),
    "wildcard_redirect": ("DISABLED", "SUBDOMAIN"),
}
_BOOL_SETTINGS = (
    "dpop_bound_access_tokens",
    "frontchannel_logout_session_required",
    "participate_slo",
)


def _optional_oauth_settings(oauth_in: dict[str, Any]) -> dict[str, Any]:
    """The optional ``settings.oauthClient`` members, type-checked (unknown ones are dropped)."""
    out: dict[str, Any] = {}
    for key in _URI_SETTINGS:
        if key in oauth_in:
            out[key] = want_str(oauth_in[key], key, optional=True)
    for key, allowed in _ENUM_SETTINGS.items():
        if key in oauth_in:
            if oauth_in[key] not in allowed:
                raise validation(key, f"{key}: must be one of {', '.join(allowed)}")
            out[key] = oauth_in[key]
    for key in _BOOL_SETTINGS:
        if key in oauth_in:
            out[key] = want_bool(oauth_in[key], key)
    if "idp_initiated_login" in oauth_in:
        idp = want_dict(oauth_in["idp_initiated_login"], "idp_initiated_login")
        mode = idp.get("mode", "DISABLED")
        if mode not in ("DISABLED", "SPEC", "OKTA"):
            raise validation("idp_initiated_login", "idp_initiated_login.mode: invalid mode")
        out["idp_initiated_login"] = {
            "mode": mode,
            "default_scope": want_str_list(idp.get("default_scope"), "default_scope", []),
        }
    if "jwks" in oauth_in:
        jwks = want_dict(oauth_in["jwks"], "jwks")
        keys = jwks.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
            raise validation("jwks", "jwks.keys: must be an array of JSON Web Keys")
        out["jwks"] = {"keys": keys}
    return out


def _base_fields(body: dict[str, Any]) -> tuple[str, str]:
    label = body.get("label")
    mode = body.get("signOnMode")
    if not isinstance(label, str) or not label.strip():
        raise validation("label", "label: The field cannot be left blank")
    if mode not in SIGN_ON_MODES:
        raise OktaApiError(
            "E0000001",
            "mediated",
            [
                "Invalid signOnMode",
                "The settings.signOn object doesn't match the type indicated by signOnMode value "
                "or is ill defined",
            ],
        )
    if not isinstance(mode, str) or mode not in SIGN_ON_MODES:
        raise OktaApiError("E0000003")
    if mode == "OPENID_CONNECT" and body.get("name", "oidc_client") != "oidc_client":
        raise validation("name", "name: OPENID_CONNECT applications must be named 'oidc_client'")
    if mode != "OPENID_CONNECT" and not isinstance(body.get("name"), str):
        raise validation("name", "name: The field cannot be left blank")
    return label, mode


def _accessibility(body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    acc = {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None}
    if existing:
        acc.update(existing.get("accessibility") or {})
    given = want_dict(body.get("accessibility"), "accessibility", {})
    if "selfService" in given:
        acc["selfService"] = want_bool(given["selfService"], "selfService")
    for key in ("errorRedirectUrl", "loginRedirectUrl"):
        if key in given:
            acc[key] = want_str(given[key], key, optional=True)
    return acc


def _visibility(body: dict[str, Any], name: str) -> dict[str, Any]:
    vis: dict[str, Any] = {
        "autoLaunch": False,
        "autoSubmitToolbar": False,
        "hide": {"iOS": False, "web": False},
        "appLinks": {f"{name}_link": True},
    }
    given = want_dict(body.get("visibility"), "visibility", {})
    for key in ("autoLaunch", "autoSubmitToolbar"):
        if given.get(key) is not None:
            vis[key] = want_bool(given[key], key)
    hide = want_dict(given.get("hide"), "hide", {})
    for key in ("iOS", "web"):
        if hide.get(key) is not None:
            vis["hide"][key] = want_bool(hide[key], key)
    links = want_dict(given.get("appLinks"), "appLinks", {})
    if links:
        vis["appLinks"] = {str(k): want_bool(v, "appLinks") for k, v in links.items()}
    return vis


def build_app(
    org: OrgState,
    body: dict[str, Any],
    existing: dict[str, Any] | None = None,
    *,
    inactive: bool = False,
) -> tuple[dict[str, Any], str | None]:
    """Validated app document (plus a new plaintext secret to show once, if any)."""
    label, mode = _base_fields(body)
    now = now_iso()
    app_id = existing["id"] if existing else new_id("0oa")
    name = body.get("name", "oidc_client") if mode == "OPENID_CONNECT" else body["name"]
    app: dict[str, Any] = {
        "id": app_id,
        "orn": f"orn:okta:idp:{org.org_id}:apps:{name}:{app_id}",
        "name": name,
        "label": label,
        "status": existing["status"] if existing else "ACTIVE",
        "created": existing["created"] if existing else now,
        "lastUpdated": now,
        "accessibility": _accessibility(body, existing),
        "visibility": _visibility(body, name),
        "features": [],
        "signOnMode": mode,
    }
    if body.get("profile") is not None:
        app["profile"] = want_dict(body["profile"], "profile")
    new_secret: str | None = None
    if mode == "OPENID_CONNECT":
        # read-only; what a new OIDC app answers on an Identity Engine org (recorded:
        # terraform-provider-okta VCR TestAccResourceOktaAppOauth_basic, POST/GET/PUT)
        app["universalLogout"] = (existing or {}).get("universalLogout") or dict(UNIVERSAL_LOGOUT)
        parts = _normalize_oidc(body, existing, inactive=inactive)
        creds = parts["credentials"]
        creds["client_id"] = creds["client_id"] or app_id
        other = find_by_client_id(org, creds["client_id"])
        if other is not None and other["id"] != app_id:
            raise validation(
                "client_id",
                "client_id: An object with this field already exists in the current organization",
            )
        method = creds["token_endpoint_auth_method"]
        if method in SECRET_METHODS:
            supplied = parts["client_secret"]
            if supplied is not None:
                new_secret = _validate_secret(supplied)
            elif existing is None or not any(
                s["status"] == "ACTIVE" for s in org.list(SECRET, parent=app_id)
            ):
                new_secret = generate_secret()
        app["credentials"] = {
            "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
            "signing": {"kid": org.signing_key("org").kid},
            "oauthClient": creds,
        }
        settings_in = parts["settings_in"]
        notes = want_dict(settings_in.get("notes"), "notes", {})
        app["settings"] = {
            "app": want_dict(settings_in.get("app"), "app", {}),
            "notifications": {
                "vpn": {"network": {"connection": "DISABLED"}, "message": None, "helpUrl": None}
            },
            "manualProvisioning": False,
            "implicitAssignment": False,
            "notes": {"admin": None, "enduser": None},
            "oauthClient": parts["oauth"],
        }
        for key in ("admin", "enduser"):
            if key in notes:
                app["settings"]["notes"][key] = want_str(notes[key], key, optional=True)
    else:
        app["credentials"] = want_dict(body.get("credentials"), "credentials", {}) or {
            "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
            "signing": {},
        }
        app["settings"] = want_dict(body.get("settings"), "settings", {}) or {"app": {}}
    return app, new_secret


def add_secret(org: OrgState, app_id: str, secret: str, status: str = "ACTIVE") -> dict[str, Any]:
    now = now_iso()
    sid = new_id("ocs")
    doc = {
        "id": sid,
        "status": status,
        "secret_hash": secret_hash(secret)[:22],
        "hash": secret_hash(secret),
        "masked": "*" * (len(secret) - 4) + secret[-4:],
        # Real Okta lists secrets with their value (okta/terraform-provider-okta VCR cassette
        # TestAccDataSourceOktaAppOauth_read/oie-00.yaml: GET .../credentials/secrets answers
        # the full client_secret), so the sandbox keeps it in its owner-only state file.
        "value": secret,
        "created": now,
        "lastUpdated": now,
    }
    return org.put(SECRET, sid, doc, parent=app_id)


def verify_client_secret(org: OrgState, app: dict[str, Any], secret: str) -> bool:
    digest = secret_hash(secret)
    return any(
        s["status"] == "ACTIVE" and hmac.compare_digest(s["hash"], digest)
        for s in org.list(SECRET, parent=app["id"])
    )


def render_secret(org: OrgState, doc: dict[str, Any], base: str) -> dict[str, Any]:
    """A client secret as listed: with its value, as real Okta lists it (recorded Identity
    Engine traffic, okta/terraform-provider-okta VCR cassette
    ``test/fixtures/vcr/idaas/TestAccDataSourceOktaAppOauth_read/oie-00.yaml``); secrets
    stored before the value was kept show their last four characters."""
    links: dict[str, Any] = {}
    if doc["status"] == "ACTIVE":
        links["deactivate"] = {
            "href": org.url(f"{base}/lifecycle/deactivate"),
            "hints": {"allow": ["POST"]},
        }
    else:
        links["activate"] = {
            "href": org.url(f"{base}/lifecycle/activate"),
            "hints": {"allow": ["POST"]},
        }
        links["delete"] = {"href": org.url(base), "hints": {"allow": ["DELETE"]}}
    return {
        "id": doc["id"],
        "status": doc["status"],
        "client_secret": doc.get("value", doc["masked"]),
        "secret_hash": doc["secret_hash"],
        "created": doc["created"],
        "lastUpdated": doc["lastUpdated"],
        "_links": links,
    }


def is_assigned(org: OrgState, app_id: str, user_id: str) -> bool:
    if org.links(APP_USER, a=app_id, b=user_id):
        return True
    assigned = {b for _, b, _ in org.links(APP_GROUP, a=app_id)}
    return bool(assigned & set(groups.user_group_ids(org, user_id)))


def policy_of(org: OrgState, app_id: str, policy_type: str) -> dict[str, Any] | None:
    for _, pid, _ in org.links(APP_POLICY, a=app_id):
        policy = org.get("policy", pid)
        if policy and policy.get("type") == policy_type:
            return policy
    return None


# ---- apps ------------------------------------------------------------------------------------


def filter_view(org: OrgState, app: dict[str, Any]) -> dict[str, Any]:
    """What ``filter`` sees of an app: its fields plus ``user.id`` and ``group.id`` (assigned)."""
    uids = [b for _, b, _ in org.links(APP_USER, a=app["id"])]
    gids = [b for _, b, _ in org.links(APP_GROUP, a=app["id"])]
    for gid in gids:
        if org.get("group", gid):
            uids.extend(groups.member_ids(org, gid))
    return {**app, "user": {"id": uids}, "group": {"id": gids}}


def with_secret(shown: dict[str, Any], secret: str | None) -> dict[str, Any]:
    """The answer to a create or replace that made a secret: the only time Okta shows it."""
    if secret is not None:
        shown["credentials"]["oauthClient"]["client_secret"] = secret
    return shown


async def create_app(ctx: rest.Ctx) -> Response:
    org = ctx.org
    body = await read_json(ctx.request, required=True)
    activate = bool_param(ctx.request, "activate", True)
    app, secret = build_app(org, body, inactive=not activate)
    if not activate:
        app["status"] = "INACTIVE"
    org.put(KIND, app["id"], app)
    if secret is not None:
        add_secret(org, app["id"], secret)
    return json_response(with_secret(ctx.show(app), secret))


async def replace_app(ctx: rest.Ctx) -> Response:
    org, existing = ctx.org, ctx.doc
    assert existing is not None
    body = await read_json(ctx.request, required=True)
    app, secret = build_app(org, body, existing)
    org.put(KIND, app["id"], app)
    if secret is not None:
        active = [s for s in org.list(SECRET, parent=app["id"]) if s["status"] == "ACTIVE"]
        for old in active:
            org.delete(SECRET, old["id"])
        add_secret(org, app["id"], secret)
    return json_response(with_secret(ctx.show(app), secret))


def delete_id_token_settings(ctx: rest.Ctx, app: dict[str, Any]) -> None:
    ctx.org.delete(ID_TOKEN_SETTINGS, app["id"])


def refuse_active(ctx: rest.Ctx, app: dict[str, Any]) -> None:
    if app["status"] == "ACTIVE":
        raise OktaApiError("E0000056")


# ---- client secrets --------------------------------------------------------------------------


async def create_secret(ctx: rest.Ctx) -> Response:
    org, app = ctx.org, ctx.parent
    assert app is not None
    if app.get("signOnMode") != "OPENID_CONNECT" or (
        oauth_credentials(app).get("token_endpoint_auth_method") not in SECRET_METHODS
    ):
        raise validation(
            "client_secret",
            "client_secret: Client secrets are only supported for clients that authenticate "
            "with a client secret.",
        )
    body = await read_json(ctx.request)
    if len(org.list(SECRET, parent=app["id"])) >= 2:
        raise OktaApiError(
            "E0000001",
            "You've reached the maximum number of client secrets per client.",
            ["You've reached the maximum number of client secrets per client."],
        )
    plain = body.get("client_secret")
    plain = _validate_secret(plain) if plain is not None else generate_secret()
    status = want_status(body.get("status"), "ACTIVE")
    doc = add_secret(org, app["id"], plain, status)
    return json_response({**ctx.show(doc), "client_secret": plain}, status=201)


def keep_one_active(ctx: rest.Ctx, doc: dict[str, Any], action: str) -> None:
    if action != "deactivate" or doc["status"] != "ACTIVE":
        return
    others = [
        s
        for s in ctx.org.list(SECRET, parent=ctx.parent_id)
        if s["status"] == "ACTIVE" and s["id"] != doc["id"]
    ]
    if not others:
        raise OktaApiError(
            "E0000001",
            "You can't deactivate the only active client secret.",
            ["You can't deactivate the only active client secret."],
        )


def refuse_active_secret(ctx: rest.Ctx, doc: dict[str, Any]) -> None:
    if doc["status"] == "ACTIVE":
        raise OktaApiError(
            "E0000001",
            "You can't delete an active client secret. Deactivate the secret before deleting it.",
            ["You can't delete an active client secret. Deactivate the secret before deleting it."],
        )


# ---- the internal ID-token groups claim -----------------------------------------------


def id_token_settings(org: OrgState, app: dict[str, Any]) -> dict[str, Any]:
    stored = org.get(ID_TOKEN_SETTINGS, app["id"]) or {}
    return {
        "name": stored.get("name", ""),
        "value": stored.get("value", ""),
        "valueType": stored.get("valueType", ""),
        "groupFilterType": stored.get("groupFilterType", ""),
        "issuerMode": stored.get("issuerMode") or oauth_settings(app).get("issuer_mode", "ORG_URL"),
        "issuer": org.org_url,
        "orgUrl": org.org_url,
        "audience": oauth_credentials(app).get("client_id", app["id"]),
        "instanceId": app["id"],
    }


async def get_id_token_settings(request: Request) -> Response:
    require_admin(request, ssws_only=True)
    org = org_of(request)
    app = get_app(org, request.path_params["appId"])
    return json_response(id_token_settings(org, app))


async def post_id_token_settings(request: Request) -> Response:
    require_admin(request, ssws_only=True)
    org = org_of(request)
    app = get_app(org, request.path_params["appId"])
    body = await read_json(request, required=True)
    for key in ("valueType", "groupFilterType", "name", "value", "issuerMode"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise validation(key, f"{key}: must be a string")
    value_type = body.get("valueType") or ""
    if value_type not in ("", "GROUPS", "EXPRESSION"):
        raise validation("valueType", "valueType: must be GROUPS or EXPRESSION")
    gft = body.get("groupFilterType") or ""
    if value_type == "GROUPS" and gft not in ("EQUALS", "STARTS_WITH", "CONTAINS", "REGEX"):
        raise validation(
            "groupFilterType", "groupFilterType: must be EQUALS, STARTS_WITH, CONTAINS or REGEX"
        )
    if value_type and not (body.get("name") or "").strip():
        raise validation("name", "name: The field cannot be left blank")
    stored = {
        "name": body.get("name") or "",
        "value": body.get("value") or "",
        "valueType": value_type,
        "groupFilterType": gft if value_type == "GROUPS" else "",
        "issuerMode": body.get("issuerMode") or "",
    }
    org.put(ID_TOKEN_SETTINGS, app["id"], stored)
    return json_response(id_token_settings(org, app))


# ---- scope consent grants (OAuth for Okta: which okta.* scopes a service app may request) ------------


def render_grant(org: OrgState, app_id: str, grant: dict[str, Any]) -> dict[str, Any]:
    return {
        **grant,
        "_links": {
            "app": {"href": org.url(f"/api/v1/apps/{app_id}")},
            "self": {"href": org.url(f"/api/v1/apps/{app_id}/grants/{grant['id']}")},
            "client": {"href": org.url(f"/oauth2/v1/clients/{grant['clientId']}")},
        },
    }


async def list_grants(request: Request) -> Response:
    require_admin(request, "okta.appGrants.read")
    org = org_of(request)
    app = get_app(org, request.path_params["appId"])
    return json_response(
        [render_grant(org, app["id"], d) for _, _, d in org.links(APP_GRANT, a=app["id"])]
    )


async def create_grant(request: Request) -> Response:
    require_admin(request, "okta.appGrants.manage")
    org = org_of(request)
    app = get_app(org, request.path_params["appId"])
    body = await read_json(request, required=True)
    scope_id = body.get("scopeId")
    if not isinstance(scope_id, str) or not scope_id.startswith("okta."):
        raise validation("scopeId", "scopeId: The scope is not a valid Okta API scope.")
    issuer = body.get("issuer")
    if issuer != org.org_url:
        raise validation("issuer", "issuer: The issuer must be the org URL.")
    existing = org.links(APP_GRANT, a=app["id"], b=scope_id)
    if existing:
        return json_response(render_grant(org, app["id"], existing[0][2]), status=201)
    now = now_iso()
    grant = {
        "id": new_id("oag"),
        "status": "ACTIVE",
        "created": now,
        "lastUpdated": now,
        "issuer": issuer,
        "clientId": oauth_credentials(app).get("client_id", app["id"]),
        "scopeId": scope_id,
        "source": "ADMIN",
        "createdBy": {"id": org.org_id, "type": "API_TOKEN"},
    }
    org.link(APP_GRANT, app["id"], scope_id, grant)
    return json_response(render_grant(org, app["id"], grant), status=201)


async def delete_grant(request: Request) -> Response:
    require_admin(request, "okta.appGrants.manage")
    org = org_of(request)
    app = get_app(org, request.path_params["appId"])
    for _, scope_id, grant in org.links(APP_GRANT, a=app["id"]):
        if grant["id"] == request.path_params["grantId"]:
            org.unlink(APP_GRANT, a=app["id"], b=scope_id)
            return no_content()
    raise not_found(
        f"Resource not found: {request.path_params['grantId']} (OAuth2ScopeConsentGrant)"
    )


routes = [
    Route("/api/v1/apps/{appId}/grants", list_grants, methods=["GET"]),
    Route("/api/v1/apps/{appId}/grants", create_grant, methods=["POST"]),
    Route("/api/v1/apps/{appId}/grants/{grantId}", delete_grant, methods=["DELETE"]),
    Route(
        "/api/v1/internal/apps/{appId}/settings/oauth/idToken",
        get_id_token_settings,
        methods=["GET"],
    ),
    Route(
        "/api/v1/internal/apps/{appId}/settings/oauth/idToken",
        post_id_token_settings,
        methods=["POST"],
    ),
]
