"""OpenID Connect / OAuth 2.0 endpoints of custom authorization servers (``/oauth2/{id}/v1/*``)
and of the org authorization server (``/oauth2/v1/*``).

The authorize endpoint validates what Okta validates before it will redirect (client, exact
redirect URI) and reports everything else to the redirect URI as ``error``/``error_description``;
the token endpoint answers with Okta's OAuth error JSON. Users arrive either with a one-time
``sessionToken`` (headless) or with the ``sid`` cookie of a hosted sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import apps, authn, authz, tokens, users
from .errors import OAuthError, OktaApiError
from .state import OrgState
from .web import org_of

CODE_TTL = 300
SUPPORTED_GRANTS = {
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "password",
    "interaction_code",
}
OIDC_SCOPES = {"openid", "profile", "email", "address", "phone", "offline_access", "groups"}
# grant_type → handler(org, server, app, form) → token response; filled by the modules that
# own the grant (idx.py registers ``interaction_code``), so this module imports none of them
GRANT_HANDLERS: dict[str, Callable[..., dict[str, Any]]] = {}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _server(request: Request) -> dict[str, Any] | None:
    """The custom AS of this request, or None for the org AS (``/oauth2/v1``)."""
    as_id = request.path_params.get("asId")
    if as_id is None:
        return None
    server = authz.resolve_server(org_of(request), as_id)
    if server["status"] != "ACTIVE":
        raise OktaApiError("E0000007", f"Resource not found: {as_id} (AuthorizationServer)")
    return server


def _base(org: OrgState, server: dict[str, Any] | None) -> str:
    if server is None:
        return org.url("/oauth2/v1")
    return authz.issuer(org, server) + "/v1"


# ---- discovery and keys ------------------------------------------------------------------------


def _metadata(org: OrgState, server: dict[str, Any] | None, *, oidc: bool) -> dict[str, Any]:
    base = _base(org, server)
    methods = [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "none",
    ]
    scopes = (
        sorted(authz.scope_names(org, server))
        if server is None
        else [
            s["name"]
            for s in org.list(authz.SCOPE, parent=server["id"])
            if s.get("metadataPublish") == "ALL_CLIENTS"
        ]
    )
    doc: dict[str, Any] = {
        "issuer": authz.issuer(org, server),
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "registration_endpoint": org.url("/oauth2/v1/clients"),
        "jwks_uri": f"{base}/keys",
        "response_types_supported": [
            "code",
            "id_token",
            "code id_token",
            "code token",
            "id_token token",
            "code id_token token",
        ],
        "response_modes_supported": ["query", "fragment", "form_post", "okta_post_message"],
        "grant_types_supported": [
            "authorization_code",
            "implicit",
            "refresh_token",
            "password",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "id_token_encryption_alg_values_supported": [
            "RSA-OAEP-256",
            "RSA-OAEP-384",
            "RSA-OAEP-512",
        ],
        "id_token_encryption_enc_values_supported": ["A256GCM"],
        "scopes_supported": scopes,
        "token_endpoint_auth_methods_supported": methods,
        "claims_supported": [
            "iss",
            "ver",
            "sub",
            "aud",
            "iat",
            "exp",
            "jti",
            "auth_time",
            "amr",
            "idp",
            "nonce",
            "name",
            "nickname",
            "preferred_username",
            "given_name",
            "middle_name",
            "family_name",
            "email",
            "email_verified",
            "profile",
            "zoneinfo",
            "locale",
            "address",
            "phone_number",
            "picture",
            "website",
            "gender",
            "birthdate",
            "updated_at",
            "at_hash",
            "c_hash",
        ],
        "code_challenge_methods_supported": ["S256"],
        "introspection_endpoint": f"{base}/introspect",
        "introspection_endpoint_auth_methods_supported": methods,
        "revocation_endpoint": f"{base}/revoke",
        "revocation_endpoint_auth_methods_supported": methods,
        "end_session_endpoint": f"{base}/logout",
        "request_parameter_supported": True,
        "request_object_signing_alg_values_supported": [
            "HS256",
            "HS384",
            "HS512",
            "RS256",
            "RS384",
            "RS512",
            "ES256",
            "ES384",
            "ES512",
        ],
        "device_authorization_endpoint": f"{base}/device/authorize",
        "pushed_authorization_request_endpoint": f"{base}/par",
    }
    if not oidc:
        for key in (
            "userinfo_endpoint",
            "id_token_signing_alg_values_supported",
            "id_token_encryption_alg_values_supported",
            "id_token_encryption_enc_values_supported",
        ):
            doc.pop(key)
        doc["grant_types_supported"] = [*doc["grant_types_supported"], "client_credentials"]
        doc["claims_supported"] = [
            "ver",
            "jti",
            "iss",
            "aud",
            "iat",
            "exp",
            "cid",
            "uid",
            "scp",
            "sub",
        ]
    return doc


async def openid_configuration(request: Request) -> Response:
    return JSONResponse(_metadata(org_of(request), _server(request), oidc=True))


async def oauth_metadata(request: Request) -> Response:
    return JSONResponse(_metadata(org_of(request), _server(request), oidc=False))


async def keys(request: Request) -> Response:
    org = org_of(request)
    keys = org.signing_keys(tokens.key_owner(_server(request)))
    return JSONResponse(
        {"keys": [key.jwk() for key in keys]},
        headers={"Cache-Control": "max-age=3600, must-revalidate", "Vary": "Origin"},
    )


# ---- authorize -------------------------------------------------------------------------------------


def error_page(title: str, message: str, status: int = 400) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><main>"
        f'<h1>{html.escape(title)}</h1><p id="error-description">{html.escape(message)}</p>'
        "</main></body></html>"
    )
    return HTMLResponse(body, status_code=status)


def _deliver(redirect_uri: str, params: dict[str, str], mode: str) -> Response:
    """Send authorize results to the client per ``response_mode``."""
    if mode == "form_post":
        inputs = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
        )
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Redirecting</title>'
            '</head><body onload="document.forms[0].submit()">'
            f'<form method="post" action="{html.escape(redirect_uri)}">{inputs}'
            '<noscript><button type="submit">Continue</button></noscript></form></body></html>'
        )
        return HTMLResponse(body, headers=NO_STORE)
    parts = urlsplit(redirect_uri)
    if mode == "fragment":
        target = urlunsplit(
            (parts.scheme, parts.netloc, parts.path, parts.query, urlencode(params))
        )
    else:
        query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
        target = urlunsplit(
            (parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment)
        )
    return RedirectResponse(target, status_code=302, headers=NO_STORE)


class _AuthorizeError(Exception):
    def __init__(self, error: str, description: str) -> None:
        self.error = error
        self.description = description


def _check_pkce(params: dict[str, str], app: dict[str, Any]) -> None:
    challenge = params.get("code_challenge")
    creds = apps.oauth_credentials(app)
    if not challenge:
        if creds.get("token_endpoint_auth_method") == "none":
            raise _AuthorizeError(
                "invalid_request",
                "PKCE code challenge is required when the token endpoint authentication method "
                "is 'NONE'.",
            )
        if creds.get("pkce_required"):
            raise _AuthorizeError(
                "invalid_request", "PKCE code challenge is required by the client application."
            )
        return
    method = params.get("code_challenge_method")
    if method != "S256":
        raise _AuthorizeError(
            "invalid_request",
            "PKCE code challenge method is not supported. Supported methods: [S256]"
            if method
            else "PKCE code challenge method is required when a code challenge is provided.",
        )
    if not 43 <= len(challenge) <= 128:
        raise _AuthorizeError(
            "invalid_request",
            "PKCE code challenge contains illegal characters or has the wrong length.",
        )


def _requested_scopes(org: OrgState, server: dict[str, Any] | None, raw: str | None) -> list[str]:
    if not raw or not raw.strip():
        raise _AuthorizeError(
            "invalid_scope",
            "The authorization server resource does not have any configured default scopes, "
            "'scope' must be provided.",
        )
    scopes = list(dict.fromkeys(raw.split()))
    known = authz.scope_names(org, server)
    if server is None:
        known |= {s for s in scopes if s.startswith("okta.")}
    if any(s not in known for s in scopes):
        raise _AuthorizeError(
            "invalid_scope",
            "One or more scopes are not configured for the authorization server resource.",
        )
    return scopes


def _login_redirect(org: OrgState, request: Request, params: dict[str, str]) -> Response:
    """Send the browser to the hosted sign-in page; it comes back to this authorize request."""
    # the fresh sign-in satisfies prompt=login and max_age; dropping them avoids a loop
    keep = {k: v for k, v in params.items() if k not in ("prompt", "sessionToken", "max_age")}
    from_uri = request.url.path + "?" + urlencode(keep)
    return RedirectResponse(
        org.url("/login/login.htm?" + urlencode({"fromURI": from_uri})), status_code=302
    )


async def authorize(request: Request) -> Response:
    org = org_of(request)
    server = _server(request)
    if request.method == "POST":
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
    else:
        params = dict(request.query_params)
    client_id = params.get("client_id", "")
    app = apps.find_by_client_id(org, client_id) if client_id else None
    if app is None or app["status"] != "ACTIVE":
        return error_page("invalid_client", "Invalid value for 'client_id' parameter.")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in apps.oauth_settings(app).get("redirect_uris", []):
        return error_page(
            "invalid_request",
            "The 'redirect_uri' parameter must be a Login redirect URI in the client app "
            "settings: " + org.url(f"/admin/app/oidc_client/instance/{app['id']}#tab-general"),
        )
    response_type = params.get("response_type", "")
    rtypes = set(response_type.split())
    implicit = bool(rtypes) and rtypes <= {"token", "id_token"}
    mode = params.get("response_mode") or ("fragment" if implicit else "query")
    state = params.get("state")

    def fail(error: str, description: str) -> Response:
        out = {"error": error, "error_description": description}
        if state is not None:
            out["state"] = state
        return _deliver(
            redirect_uri, out, mode if mode in ("query", "fragment", "form_post") else "query"
        )

    try:
        if mode not in ("query", "fragment", "form_post"):
            raise _AuthorizeError(
                "unsupported_response_mode",
                f"The response mode '{mode}' is not supported by the authorization server.",
            )
        if implicit and mode == "query":
            raise _AuthorizeError(
                "invalid_request",
                "The 'query' response mode is not allowed for the requested response type.",
            )
        settings = apps.oauth_settings(app)
        if not rtypes or not (rtypes == {"code"} or implicit):
            raise _AuthorizeError(
                "unsupported_response_type",
                "The response type is not supported by the authorization server. Configured "
                f"response types: {settings.get('response_types', [])}.",
            )
        if not rtypes <= set(settings.get("response_types", [])):
            raise _AuthorizeError(
                "unsupported_response_type",
                "The response type is not supported by the authorization server. Configured "
                f"response types: [{', '.join(settings.get('response_types', []))}].",
            )
        grant = "implicit" if implicit else "authorization_code"
        if grant not in settings.get("grant_types", []):
            raise _AuthorizeError(
                "unauthorized_client",
                "The client is not authorized to use the provided grant type. Configured grant "
                f"types: [{', '.join(settings.get('grant_types', []))}].",
            )
        if not state:
            raise _AuthorizeError(
                "invalid_request",
                "The authorization request is missing a required parameter: 'state'.",
            )
        scopes = _requested_scopes(org, server, params.get("scope"))
        if "id_token" in rtypes and "openid" not in scopes:
            raise _AuthorizeError(
                "invalid_scope",
                "The 'openid' scope is required for the 'id_token' response type.",
            )
        if implicit and not params.get("nonce"):
            raise _AuthorizeError(
                "invalid_request",
                "The 'nonce' parameter is required for authorize requests with either the "
                "'id_token' or 'token' response types.",
            )
        if not implicit:
            _check_pkce(params, app)
        prompt = set((params.get("prompt") or "").split())
    except _AuthorizeError as exc:
        return fail(exc.error, exc.description)

    user: dict[str, Any] | None = None
    auth_time = int(time.time())
    new_sid: str | None = None
    if params.get("sessionToken"):
        user = authn.redeem_session_token(org, params["sessionToken"])
        if user is not None:
            new_sid, record = authn.create_session(org, user)
            auth_time = record["auth_time"]
    elif "login" not in prompt:
        found = authn.current_session(org, request)
        if found is not None:
            user, record = found
            auth_time = record["auth_time"]
            max_age = params.get("max_age")
            if max_age and max_age.isdigit() and time.time() - auth_time > int(max_age):
                user = None
    if user is None:
        if "none" in prompt:
            return fail(
                "login_required",
                "The client specified not to prompt, but the user is not logged in.",
            )
        return _login_redirect(org, request, params)

    response = _complete(
        org, server, app, user, params, scopes, rtypes, auth_time, redirect_uri, mode, fail
    )
    if new_sid is not None:
        authn.set_session_cookie(org, response, new_sid)
    return response


def _complete(
    org: OrgState,
    server: dict[str, Any] | None,
    app: dict[str, Any],
    user: dict[str, Any],
    params: dict[str, str],
    scopes: list[str],
    rtypes: set[str],
    auth_time: int,
    redirect_uri: str,
    mode: str,
    fail: Any,
) -> Response:
    if not apps.is_assigned(org, app["id"], user["id"]):
        return fail("access_denied", "User is not assigned to the client application.")
    implicit = rtypes != {"code"}
    client_id = apps.oauth_credentials(app)["client_id"]
    lifetime = 3600
    if server is not None:
        rule = authz.evaluate_policy(
            org,
            server,
            client_id,
            user["id"],
            "implicit" if implicit else "authorization_code",
            scopes,
        )
        if rule is None:
            return fail(
                "access_denied",
                "Policy evaluation failed for this request, please check the policy configurations.",
            )
        lifetime = rule["actions"]["token"]["accessTokenLifetimeMinutes"] * 60
    state = params["state"]
    if not implicit:
        code = tokens.opaque(32)
        org.purge_expired("code")
        org.put(
            "code",
            tokens.digest(code),
            {
                "client_id": client_id,
                "app_id": app["id"],
                "server": tokens.key_owner(server),
                "redirect_uri": redirect_uri,
                "scopes": scopes,
                "nonce": params.get("nonce"),
                "code_challenge": params.get("code_challenge"),
                "user_id": user["id"],
                "auth_time": auth_time,
                "expires": time.time() + CODE_TTL,
            },
        )
        return _deliver(redirect_uri, {"code": code, "state": state}, mode)
    out: dict[str, str] = {}
    access_token = None
    if "token" in rtypes:
        access_token, _ = tokens.mint_access_token(
            org,
            server,
            client_id=client_id,
            app_id=app["id"],
            user=user,
            scopes=scopes,
            auth_time=auth_time,
            lifetime=lifetime,
        )
        out.update(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": str(lifetime),
                "scope": " ".join(scopes),
            }
        )
    if "id_token" in rtypes:
        out["id_token"] = tokens.mint_id_token(
            org,
            server,
            app=app,
            user=user,
            scopes=scopes,
            nonce=params.get("nonce"),
            auth_time=auth_time,
            access_token=access_token,
            all_identity_claims=access_token is None,
        )
    out["state"] = state
    return _deliver(redirect_uri, out, mode)


# ---- client authentication ------------------------------------------------------------------------


def _invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, 401)


def authenticate_client(
    org: OrgState, request: Request, form: dict[str, str], endpoint: str
) -> dict[str, Any]:
    """Identify and authenticate the client by the method its app is configured for."""
    header = request.headers.get("authorization", "")
    basic: tuple[str, str] | None = None
    if header.lower().startswith("basic "):
        try:
            raw = base64.b64decode(header[6:].strip()).decode()
            cid, _, secret = raw.partition(":")
            from urllib.parse import unquote_plus

            basic = (unquote_plus(cid), unquote_plus(secret))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _invalid_client(
                "Client authentication failed. Either the client or the client credentials are invalid."
            ) from exc
    post_secret = form.get("client_secret")
    assertion = form.get("client_assertion")
    if sum(x is not None for x in (basic, post_secret, assertion)) > 1:
        raise OAuthError(
            "invalid_request",
            "Cannot supply multiple client credentials. Use one of the following: credentials in "
            "the Authorization header, credentials in the post body, or a client_assertion in the "
            "post body.",
        )
    if assertion is not None:
        return _assertion_client(org, form, assertion, endpoint)
    if basic is not None:
        client_id, secret, method = basic[0], basic[1], "client_secret_basic"
    elif post_secret is not None:
        client_id, secret, method = form.get("client_id", ""), post_secret, "client_secret_post"
    else:
        client_id, secret, method = form.get("client_id", ""), None, "none"
    if not client_id:
        raise _invalid_client("No client credentials found.")
    app = apps.find_by_client_id(org, client_id)
    if app is None or app["status"] != "ACTIVE":
        raise _invalid_client("The client_id provided is invalid.")
    if form.get("client_id") and basic is not None and form["client_id"] != client_id:
        raise OAuthError(
            "invalid_request", "The 'client_id' parameter does not match the authenticated client."
        )
    configured = apps.oauth_credentials(app).get("token_endpoint_auth_method")
    if configured == "none":
        if method != "none":
            raise _invalid_client(
                "Client authentication failed. Either the client or the client credentials are invalid."
            )
        return app
    if method == "none":
        raise _invalid_client(
            "Client authentication failed. Either the client or the client credentials are invalid."
        )
    # Okta accepts a client secret in the header or the body for either secret method.
    secret_methods = {"client_secret_basic", "client_secret_post"}
    if configured != method and not {configured, method} <= secret_methods:
        raise _invalid_client(
            "Client authentication failed. Either the client or the client credentials are invalid."
        )
    if secret is None or not apps.verify_client_secret(org, app, secret):
        raise _invalid_client("The client secret supplied for a confidential client is invalid.")
    return app


def _assertion_client(
    org: OrgState, form: dict[str, str], assertion: str, endpoint: str
) -> dict[str, Any]:
    if (
        form.get("client_assertion_type")
        != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ):
        raise OAuthError("invalid_request", "The client_assertion_type is invalid.")
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise _invalid_client("The client_assertion token is malformed.") from exc
    client_id = str(unverified.get("iss") or "")
    app = apps.find_by_client_id(org, client_id)
    if app is None or app["status"] != "ACTIVE" or unverified.get("sub") != client_id:
        raise _invalid_client("The client_id provided is invalid.")
    if apps.oauth_credentials(app).get("token_endpoint_auth_method") != "private_key_jwt":
        raise _invalid_client(
            "Client authentication failed. Either the client or the client credentials are invalid."
        )
    jwks = (apps.oauth_settings(app).get("jwks") or {}).get("keys") or []
    candidates = [k for k in jwks if not header.get("kid") or k.get("kid") == header.get("kid")]
    for jwk in candidates:
        try:
            key = jwt.PyJWK.from_dict(jwk)
            claims = jwt.decode(
                assertion,
                key.key,
                algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"],
                audience=endpoint,
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except (jwt.PyJWTError, ValueError):
            continue
        if claims["exp"] - time.time() > 3600:
            raise _invalid_client(
                "The client_assertion token has an expiration too far in the future."
            )
        jti = claims.get("jti")
        if jti:
            if org.get("assertion_jti", tokens.digest(jti)) is not None:
                raise _invalid_client("The client_assertion token has already been used.")
            org.purge_expired("assertion_jti")
            org.put("assertion_jti", tokens.digest(jti), {"expires": claims["exp"]})
        return app
    raise _invalid_client("The client_assertion signature is invalid.")


# ---- token -----------------------------------------------------------------------------------------


def _oauth_json(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse(data, headers=NO_STORE)


def _issue(
    org: OrgState,
    server: dict[str, Any] | None,
    app: dict[str, Any],
    user: dict[str, Any] | None,
    scopes: list[str],
    *,
    auth_time: int | None,
    nonce: str | None,
    lifetime: int,
    grant: str,
    refresh_window: int = 10080 * 60,
    existing_refresh: str | None = None,
    absolute_expires: float | None = None,
    family: str | None = None,
) -> dict[str, Any]:
    client_id = apps.oauth_credentials(app)["client_id"]
    access_token, at_claims = tokens.mint_access_token(
        org,
        server,
        client_id=client_id,
        app_id=app["id"],
        user=user,
        scopes=scopes,
        auth_time=auth_time,
        lifetime=lifetime,
    )
    out: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "access_token": access_token,
        "scope": " ".join(scopes),
    }
    settings = apps.oauth_settings(app)
    if (
        user is not None
        and "offline_access" in scopes
        and "refresh_token" in settings.get("grant_types", [])
    ):
        chain = family or tokens.opaque(12)
        if existing_refresh is not None:
            out["refresh_token"] = existing_refresh
            _family_add(org, chain, at_claims, None)
        else:
            refresh = tokens.opaque(32)
            org.purge_expired("refresh")
            _family_add(org, chain, at_claims, tokens.digest(refresh))
            org.put(
                "refresh",
                tokens.digest(refresh),
                {
                    "family": chain,
                    "client_id": client_id,
                    "server": tokens.key_owner(server),
                    "user_id": user["id"],
                    "scopes": scopes,
                    "auth_time": auth_time,
                    "grant": grant,
                    "window": refresh_window,
                    "expires": time.time() + refresh_window,
                    "absolute_expires": absolute_expires,
                },
            )
            out["refresh_token"] = refresh
    if user is not None and "openid" in scopes:
        out["id_token"] = tokens.mint_id_token(
            org,
            server,
            app=app,
            user=user,
            scopes=scopes,
            nonce=nonce,
            auth_time=auth_time or int(time.time()),
            access_token=access_token,
        )
    return out


def _family_add(
    org: OrgState, family: str, at_claims: dict[str, Any], newest_refresh: str | None
) -> None:
    """Remember, per refresh-token chain, its newest refresh token and the access tokens
    issued in it, so that reuse detection can invalidate them."""
    doc = org.get("refresh_family", family) or {"newest": None, "access": {}}
    doc["access"][at_claims["jti"]] = at_claims["exp"]
    if newest_refresh is not None:
        doc["newest"] = newest_refresh
    org.put("refresh_family", family, doc)


def _detect_reuse(org: OrgState, family: str | None) -> None:
    """A rotated refresh token used again after its grace period: Okta "immediately
    invalidates the most recently issued refresh token and all access tokens issued since
    the user authenticated" (Okta developer docs, guides/refresh-tokens, "Refresh token reuse
    detection"; okta-developer-docs @01d856d)."""
    doc = org.get("refresh_family", family or "")
    if family is None or doc is None:
        return
    if doc.get("newest"):
        org.delete("refresh", doc["newest"])
    for jti, exp in doc["access"].items():
        tokens.revoke_jti(org, jti, int(exp))
    org.delete("refresh_family", family)


def _rule_or_deny(
    org: OrgState,
    server: dict[str, Any] | None,
    client_id: str,
    user_id: str | None,
    grant: str,
    scopes: list[str],
) -> tuple[int, int]:
    """(access token lifetime, refresh window) in seconds from the matching rule."""
    if server is None:
        return 3600, 10080 * 60
    rule = authz.evaluate_policy(org, server, client_id, user_id, grant, scopes)
    if rule is None:
        raise OAuthError(
            "access_denied",
            "Policy evaluation failed for this request, please check the policy configurations.",
        )
    token = rule["actions"]["token"]
    return token["accessTokenLifetimeMinutes"] * 60, token.get(
        "refreshTokenWindowMinutes", 10080
    ) * 60


def _refresh_lifetime(
    org: OrgState,
    server: dict[str, Any] | None,
    client_id: str,
    user_id: str,
    grant: str,
    scopes: list[str],
) -> int:
    """The rule's absolute refresh-token lifetime in seconds (0 = unlimited)."""
    if server is None:
        return 0
    rule = authz.evaluate_policy(org, server, client_id, user_id, grant, scopes)
    return (
        0 if rule is None else rule["actions"]["token"].get("refreshTokenLifetimeMinutes", 0) * 60
    )


async def token(request: Request) -> Response:
    org = org_of(request)
    server = _server(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    endpoint = f"{_base(org, server)}/token"
    app = authenticate_client(org, request, form, endpoint)
    grant = form.get("grant_type")
    if not grant:
        raise OAuthError(
            "invalid_request", "The request is missing a required parameter: 'grant_type'."
        )
    if grant not in SUPPORTED_GRANTS:
        raise OAuthError(
            "unsupported_grant_type",
            f"The authorization grant type is not supported by the authorization server: '{grant}'.",
        )
    settings = apps.oauth_settings(app)
    if grant not in settings.get("grant_types", []):
        raise OAuthError(
            "unauthorized_client",
            "The client is not authorized to use the provided grant type. Configured grant types: "
            f"[{', '.join(settings.get('grant_types', []))}].",
        )
    client_id = apps.oauth_credentials(app)["client_id"]
    if grant == "authorization_code":
        return _oauth_json(_grant_code(org, server, app, form))
    if grant == "refresh_token":
        return _oauth_json(_grant_refresh(org, server, app, form))
    if grant in GRANT_HANDLERS:  # grants other modules add (idx.py: interaction_code)
        return _oauth_json(GRANT_HANDLERS[grant](org, server, app, form))
    if grant == "password":
        user = await run_in_threadpool(
            authn.authenticate, org, form.get("username", ""), form.get("password", "")
        )
        if user is None:
            raise OAuthError("invalid_grant", "The credentials provided were invalid.")
        scopes = _token_scopes(org, server, form.get("scope"))
        if not apps.is_assigned(org, app["id"], user["id"]):
            raise OAuthError("invalid_grant", "User is not assigned to the client application.")
        lifetime, window = _rule_or_deny(org, server, client_id, user["id"], "password", scopes)
        return _oauth_json(
            _issue(
                org,
                server,
                app,
                user,
                scopes,
                auth_time=int(time.time()),
                nonce=None,
                lifetime=lifetime,
                grant="password",
                refresh_window=window,
            )
        )
    # client_credentials
    scopes = _token_scopes(org, server, form.get("scope"))
    oidc = [s for s in scopes if s in OIDC_SCOPES]
    if oidc:
        raise OAuthError(
            "invalid_scope", "Client Credentials requests cannot contain OpenID scopes."
        )
    if server is None:
        if apps.oauth_credentials(app).get("token_endpoint_auth_method") != "private_key_jwt":
            raise _invalid_client(
                "Client Credentials requests to the Org Authorization Server must use the "
                "private_key_jwt token_endpoint_auth_method."
            )
        granted = {b for _, b, _ in org.links("app_grant", a=app["id"])}
        if any(not s.startswith("okta.") for s in scopes) or not set(scopes) <= granted:
            raise OAuthError(
                "invalid_scope",
                "The requested scope is invalid, unknown, or malformed.",
            )
    lifetime, _ = _rule_or_deny(org, server, client_id, None, "client_credentials", scopes)
    return _oauth_json(
        _issue(
            org,
            server,
            app,
            None,
            scopes,
            auth_time=None,
            nonce=None,
            lifetime=lifetime,
            grant="client_credentials",
        )
    )


def _token_scopes(org: OrgState, server: dict[str, Any] | None, raw: str | None) -> list[str]:
    try:
        return _requested_scopes(org, server, raw)
    except _AuthorizeError as exc:
        raise OAuthError(exc.error, exc.description) from exc


def _grant_code(
    org: OrgState, server: dict[str, Any] | None, app: dict[str, Any], form: dict[str, str]
) -> dict[str, Any]:
    code = form.get("code")
    if not code:
        raise OAuthError("invalid_request", "The request is missing a required parameter: 'code'.")
    record = org.take("code", tokens.digest(code))
    client_id = apps.oauth_credentials(app)["client_id"]
    if (
        record is None
        or record["expires"] < time.time()
        or record["client_id"] != client_id
        or record["server"] != tokens.key_owner(server)
    ):
        raise OAuthError("invalid_grant", "The authorization code is invalid or has expired.")
    if form.get("redirect_uri") != record["redirect_uri"]:
        raise OAuthError(
            "invalid_grant",
            "The 'redirect_uri' does not match the redirection URI used in the authorization request.",
        )
    challenge = record.get("code_challenge")
    verifier = form.get("code_verifier")
    if challenge:
        if not verifier:
            raise OAuthError(
                "invalid_request",
                "PKCE code verifier is required when the parameter 'code_challenge' was sent in the authorization request.",
            )
        computed = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .decode()
            .rstrip("=")
        )
        if not hmac.compare_digest(computed, challenge):
            raise OAuthError("invalid_grant", "PKCE verification failed.")
    elif verifier:
        raise OAuthError("invalid_grant", "PKCE verification failed.")
    user = org.get(users.KIND, record["user_id"])
    if user is None or user["status"] != "ACTIVE":
        raise OAuthError("invalid_grant", "The authorization code is invalid or has expired.")
    lifetime, window = _rule_or_deny(
        org, server, client_id, user["id"], "authorization_code", record["scopes"]
    )
    absolute = _refresh_lifetime(
        org, server, client_id, user["id"], "authorization_code", record["scopes"]
    )
    return _issue(
        org,
        server,
        app,
        user,
        record["scopes"],
        auth_time=record["auth_time"],
        nonce=record.get("nonce"),
        lifetime=lifetime,
        grant="authorization_code",
        refresh_window=window,
        absolute_expires=time.time() + absolute if absolute else None,
    )


def _grant_refresh(
    org: OrgState, server: dict[str, Any] | None, app: dict[str, Any], form: dict[str, str]
) -> dict[str, Any]:
    raw = form.get("refresh_token")
    if not raw:
        raise OAuthError(
            "invalid_request", "The request is missing a required parameter: 'refresh_token'."
        )
    key = tokens.digest(raw)
    record = org.get("refresh", key)
    client_id = apps.oauth_credentials(app)["client_id"]
    now = time.time()
    if (
        record is not None
        and record.get("rotated_until") is not None
        and record["rotated_until"] < now
        and record["client_id"] == client_id
    ):
        _detect_reuse(org, record.get("family"))
        raise OAuthError("invalid_grant", "The refresh token is invalid or expired.")
    if (
        record is None
        or record["expires"] < now
        or record["client_id"] != client_id
        or record["server"] != tokens.key_owner(server)
        or (record.get("absolute_expires") is not None and record["absolute_expires"] < now)
    ):
        raise OAuthError("invalid_grant", "The refresh token is invalid or expired.")
    scopes = record["scopes"]
    if form.get("scope"):
        asked = form["scope"].split()
        if not set(asked) <= set(scopes):
            raise OAuthError(
                "invalid_scope", "The requested scope is invalid, unknown, or malformed."
            )
        scopes = asked
    user = org.get(users.KIND, record["user_id"])
    if (
        user is None
        or user["status"] != "ACTIVE"
        or not apps.is_assigned(org, app["id"], user["id"])
    ):
        raise OAuthError("invalid_grant", "The refresh token is invalid or expired.")
    lifetime, window = _rule_or_deny(
        org, server, client_id, user["id"], record.get("grant", "authorization_code"), scopes
    )
    rt_settings = apps.oauth_settings(app).get("refresh_token") or {}
    rotate = rt_settings.get("rotation_type", "STATIC") == "ROTATE"
    if rotate:
        if record.get("rotated_until") is None:
            record["rotated_until"] = now + int(rt_settings.get("leeway", 30))
            org.put("refresh", key, record)
        existing = None
    else:
        record["expires"] = now + record.get("window", window)
        org.put("refresh", key, record)
        existing = raw
    out = _issue(
        org,
        server,
        app,
        user,
        scopes,
        auth_time=record.get("auth_time"),
        nonce=None,
        lifetime=lifetime,
        grant=record.get("grant", "authorization_code"),
        refresh_window=window,
        existing_refresh=existing,
        absolute_expires=record.get("absolute_expires"),  # rotation keeps the chain's lifetime
        family=record.get("family"),
    )
    out["scope"] = " ".join(s for s in scopes)
    return out


# ---- userinfo, introspect, revoke, logout --------------------------------------------------------------


def _bearer_error(error: str, description: str, status: int) -> Response:
    return Response(
        status_code=status,
        headers={
            "WWW-Authenticate": f'Bearer error="{error}", error_description="{description}"',
            **NO_STORE,
        },
    )


async def userinfo(request: Request) -> Response:
    org = org_of(request)
    server = _server(request)
    header = request.headers.get("authorization", "")
    token_value = header[7:].strip() if header.lower().startswith("bearer ") else None
    if token_value is None and request.method == "POST":
        token_value = str((await request.form()).get("access_token") or "") or None
    if not token_value:
        return _bearer_error("invalid_token", "The access token is invalid", 401)
    claims = tokens.verify_access_token(org, token_value, server)
    if claims is None or "uid" not in claims:
        return _bearer_error("invalid_token", "The access token is invalid", 401)
    scopes = claims.get("scp") or []
    if "openid" not in scopes:
        return _bearer_error(
            "insufficient_scope",
            "The access token must provide access to at least one of these scopes - profile, email, address or phone",
            403,
        )
    user = org.get(users.KIND, claims["uid"])
    if user is None or user["status"] != "ACTIVE":
        return _bearer_error("invalid_token", "The access token is invalid", 401)
    out: dict[str, Any] = {"sub": user["id"]}
    out.update(tokens.scope_claims(user, scopes, full=True))
    app = apps.find_by_client_id(org, claims["cid"])
    if server is not None:
        ctx = tokens.context_for(org, user, claims["cid"], app["id"] if app else None)
        for k, v in tokens.token_claims(org, server, "IDENTITY", scopes, ctx).items():
            out.setdefault(k, v)
    elif app is not None:
        out.update(tokens.org_groups_claim(org, app, user, scopes))
    return JSONResponse(out, headers=NO_STORE)


async def introspect(request: Request) -> Response:
    org = org_of(request)
    server = _server(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    app = authenticate_client(org, request, form, f"{_base(org, server)}/introspect")
    value = form.get("token")
    if not value:
        raise OAuthError("invalid_request", "The request is missing a required parameter: 'token'.")
    client_id = apps.oauth_credentials(app)["client_id"]
    # token_type_hint is only advisory (RFC 7662); refresh tokens are opaque, never JWTs
    claims = tokens.verify_access_token(org, value, server)
    if claims is not None:
        out = {
            "active": True,
            "scope": " ".join(claims.get("scp") or []),
            "username": claims.get("sub"),
            "exp": claims["exp"],
            "iat": claims["iat"],
            "sub": claims.get("sub"),
            "aud": claims["aud"],
            "iss": claims["iss"],
            "jti": claims["jti"],
            "token_type": "Bearer",
            "client_id": claims["cid"],
        }
        if "uid" in claims:
            out["uid"] = claims["uid"]
        return JSONResponse(out, headers=NO_STORE)
    record = org.get("refresh", tokens.digest(value))
    now = time.time()
    if (
        record is not None
        and record["client_id"] == client_id
        and record["server"] == tokens.key_owner(server)
        and record["expires"] >= now
        and (record.get("rotated_until") is None or record["rotated_until"] >= now)
        and (record.get("absolute_expires") is None or record["absolute_expires"] >= now)
    ):
        user = org.get(users.KIND, record["user_id"])
        return JSONResponse(
            {
                "active": True,
                "token_type": "refresh_token",
                "scope": " ".join(record["scopes"]),
                "client_id": record["client_id"],
                "username": user["profile"]["login"] if user else None,
                "exp": int(record["expires"]),
                "sub": user["profile"]["login"] if user else None,
                "iss": authz.issuer(org, server),
                "uid": record["user_id"],
            },
            headers=NO_STORE,
        )
    return JSONResponse({"active": False}, headers=NO_STORE)


async def revoke(request: Request) -> Response:
    org = org_of(request)
    server = _server(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    app = authenticate_client(org, request, form, f"{_base(org, server)}/revoke")
    value = form.get("token")
    if not value:
        raise OAuthError("invalid_request", "The request is missing a required parameter: 'token'.")
    claims = tokens.verify_access_token(org, value, server)
    client_id = apps.oauth_credentials(app)["client_id"]
    if claims is not None and claims.get("cid") == client_id:
        tokens.revoke_jti(org, claims["jti"], claims["exp"])
    record = org.get("refresh", tokens.digest(value))
    if record is not None and record["client_id"] == client_id:
        org.delete("refresh", tokens.digest(value))
    return Response(status_code=200, headers=NO_STORE)


async def logout(request: Request) -> Response:
    org = org_of(request)
    server = _server(request)
    if request.method == "POST":
        params = {k: str(v) for k, v in (await request.form()).items()}
    else:
        params = dict(request.query_params)
    hint = params.get("id_token_hint")
    target = params.get("post_logout_redirect_uri")
    app = None
    if hint:
        try:
            key = org.key_by_kid(
                tokens.key_owner(server), jwt.get_unverified_header(hint).get("kid")
            )
            if key is None:
                raise jwt.InvalidTokenError("unknown kid")
            claims = jwt.decode(
                hint,
                key.public,
                algorithms=["RS256"],
                issuer=authz.issuer(org, server),
                options={"verify_exp": False, "verify_aud": False},
            )
        except jwt.PyJWTError:
            return error_page("invalid_request", "The 'id_token_hint' parameter is invalid.")
        app = apps.find_by_client_id(org, str(claims.get("aud")))
    elif params.get("client_id"):
        app = apps.find_by_client_id(org, params["client_id"])
    if target:
        if app is None:
            return error_page(
                "invalid_request",
                "The 'id_token_hint' parameter is required when 'post_logout_redirect_uri' is provided.",
            )
        if target not in apps.oauth_settings(app).get("post_logout_redirect_uris", []):
            return error_page(
                "invalid_request",
                "The 'post_logout_redirect_uri' parameter must be a Logout redirect URI in the "
                "client app settings.",
            )
    authn.end_session(org, request)
    if target:
        extra = {"state": params["state"]} if params.get("state") else {}
        response: Response = (
            _deliver(target, extra, "query") if extra else RedirectResponse(target, status_code=302)
        )
    else:
        response = RedirectResponse(org.url("/login/login.htm"), status_code=302)
    authn.clear_session_cookie(org, response)
    return response


def _routes(prefix: str) -> list[Route]:
    return [
        Route(prefix + "/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route(prefix + "/.well-known/oauth-authorization-server", oauth_metadata, methods=["GET"]),
        Route(prefix + "/v1/keys", keys, methods=["GET"]),
        Route(prefix + "/v1/authorize", authorize, methods=["GET", "POST"]),
        Route(prefix + "/v1/token", token, methods=["POST"]),
        Route(prefix + "/v1/userinfo", userinfo, methods=["GET", "POST"]),
        Route(prefix + "/v1/introspect", introspect, methods=["POST"]),
        Route(prefix + "/v1/revoke", revoke, methods=["POST"]),
        Route(prefix + "/v1/logout", logout, methods=["GET", "POST"]),
    ]


routes = [
    *_routes("/oauth2"),
    Route("/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
    Route("/.well-known/oauth-authorization-server", oauth_metadata, methods=["GET"]),
    *_routes("/oauth2/{asId}"),
]
