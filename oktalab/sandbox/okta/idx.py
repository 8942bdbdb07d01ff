"""Identity Engine: the interaction code flow and the IDX API (``/v1/interact``, ``/idp/idx/*``).

What ``@okta/okta-auth-js`` (``idx.authenticate``, ``idx.register``) and the Sign-In Widget
speak to an Identity Engine org, in Okta's published shapes (Okta's "Interaction Code grant
type" guide; the IDX responses as okta-auth-js parses them, ``lib/idx/idxState/v1``):

1. ``POST /oauth2/{as}/v1/interact`` (form: ``client_id``, ``scope``, ``redirect_uri``,
   ``state``, ``code_challenge``, ``code_challenge_method=S256``; ``client_secret`` for a
   confidential client) → ``{"interaction_handle": "…"}``. The app must hold the
   ``interaction_code`` grant, as on Okta.
2. ``POST /idp/idx/introspect`` (``{"interactionHandle"}`` or ``{"stateToken"}``) → an IDX
   response: ``version``, ``stateHandle``, ``expiresAt``, ``intent``, ``remediation`` (forms with
   ``rel``, ``name``, ``href``, ``method``, ``value``, ``accepts``), ``authenticators`` …;
   content type ``application/ion+json; okta-version=1.0.0``.
3. Remediations posted with the ``stateHandle``: ``identify``, ``challenge-authenticator``
   (password), ``reenroll-authenticator`` (expired password), ``select-enroll-profile`` →
   ``enroll-profile`` (self-service registration per the app's profile enrollment policy) →
   ``select-authenticator-enroll`` → ``enroll-authenticator`` (password), ``cancel``.
4. Success: ``successWithInteractionCode`` (a form for ``/v1/token`` with
   ``grant_type=interaction_code``) — or, for a sign-in that started at ``/authorize`` in a
   browser (the hosted widget), ``success`` pointing at ``/login/token/redirect``.
5. ``POST /v1/token`` ``grant_type=interaction_code`` with the PKCE ``code_verifier``.

The org's pipeline (``GET /.well-known/okta-organization`` → ``"pipeline": "idx" | "v1"``) is
Identity Engine unless the sandbox runs as a Classic org (``OKTALAB_SANDBOX_PIPELINE=v1`` or
``POST /__sandbox/pipeline``); a Classic org answers 404 for every route here, as Classic orgs do.

Sign-in obeys what the rest of the org enforces: the password and its lockout counter, the
user's status (``PASSWORD_EXPIRED`` → ``reenroll-authenticator``), the app assignment, and
the authorization server's access policy (evaluated for ``interaction_code`` at the token
endpoint). Remediations this sandbox does not offer (MFA authenticators, email verification,
recovery, IdP redirects) are listed in the module's ``UNSUPPORTED``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import apps, authn, oidc, policies, schemas, tokens, users
from .errors import OAuthError, OktaApiError
from .state import OrgState, now_iso
from .web import json_response, org_of, read_json, require_admin

VERSION = "1.0.0"
ION = f"application/ion+json; okta-version={VERSION}"
ACCEPTS = f"application/json; okta-version={VERSION}"
TX = "idx_tx"
HANDLE = "idx_handle"
CODE = "idx_code"
TX_TTL = 3600  # Okta's IDX transactions expire after an hour
CODE_TTL = 60
PIPELINES = ("idx", "v1")
SUPPORTED = (
    "identify",
    "challenge-authenticator (password)",
    "reenroll-authenticator (expired password)",
    "select-enroll-profile",
    "enroll-profile",
    "select-authenticator-enroll (password)",
    "enroll-authenticator (password)",
    "cancel",
    "successWithInteractionCode / success",
)
UNSUPPORTED = (
    "select-authenticator-authenticate / challenge-authenticator for okta_verify, phone, "
    "email, webauthn, security_question (no MFA authenticators)",
    "email verification during registration (activationRequirements.emailVerification)",
    "identify-recovery / reset-authenticator (self-service password recovery)",
    "unlock-account",
    "redirect-idp (external identity providers)",
    "skip (optional authenticator enrollment)",
    "poll / challenge-poll / enroll-poll",
    "device-challenge-poll, launch-authenticator (Okta Verify device flows)",
)


# ---- the org's pipeline ---------------------------------------------------------------------------


def pipeline(org: OrgState) -> str:
    """``idx`` (Identity Engine, the default for new orgs) or ``v1`` (Classic Engine)."""
    value = org.meta("pipeline") or os.environ.get("OKTALAB_SANDBOX_PIPELINE", "").strip()
    return value if value in PIPELINES else "idx"


def check_environment() -> None:
    """Refuse a bad ``OKTALAB_SANDBOX_PIPELINE`` at start. Raises ValueError naming it."""
    value = os.environ.get("OKTALAB_SANDBOX_PIPELINE", "").strip()
    if value and value not in PIPELINES:
        raise ValueError(
            f"OKTALAB_SANDBOX_PIPELINE={value!r}: must be idx (Identity Engine) or v1 (Classic)"
        )


def _require_idx(org: OrgState, request: Request) -> None:
    if pipeline(org) != "idx":
        raise OktaApiError("E0000007", f"Resource not found: {request.url.path}")


async def org_metadata(request: Request) -> Response:
    """``GET /.well-known/okta-organization`` (Management API spec ``getWellknownOrgMetadata``)."""
    org = org_of(request)
    return json_response(
        {
            "id": org.org_id,
            "pipeline": pipeline(org),
            "_links": {"organization": {"href": org.org_url}},
        }
    )


async def get_pipeline(request: Request) -> Response:
    require_admin(request)
    return json_response({"pipeline": pipeline(org_of(request))})


async def set_pipeline(request: Request) -> Response:
    """Sandbox control: run as an Identity Engine (``idx``) or Classic (``v1``) org."""
    require_admin(request)
    body = await read_json(request, required=True)
    value = body.get("pipeline")
    if value not in PIPELINES:
        raise OktaApiError("E0000001", "pipeline", ["pipeline: must be one of idx, v1"])
    org = org_of(request)
    org.set_meta("pipeline", value)
    return json_response({"pipeline": value})


# ---- shapes -----------------------------------------------------------------------------------------


def _state_field(handle: str) -> dict[str, Any]:
    return {
        "name": "stateHandle",
        "required": True,
        "value": handle,
        "visible": False,
        "mutable": False,
    }


def _form(
    org: OrgState, name: str, path: str, fields: list[dict[str, Any]], handle: str, **extra: Any
) -> dict[str, Any]:
    return {
        "rel": ["create-form"],
        "name": name,
        "href": org.url(path),
        "method": "POST",
        "produces": ION,
        **extra,
        "value": [*fields, _state_field(handle)],
        "accepts": ACCEPTS,
    }


def _passcode_field(label: str = "Password") -> dict[str, Any]:
    return {
        "name": "credentials",
        "type": "object",
        "form": {"value": [{"name": "passcode", "label": label, "secret": True}]},
        "required": True,
    }


def password_authenticator(org: OrgState) -> dict[str, Any]:
    """The org's password authenticator (``key: okta_password``), one stable id per org."""
    aid = org.meta("idx_password_authenticator")
    if not aid:
        from .state import new_id

        aid = new_id("aut")
        org.set_meta("idx_password_authenticator", aid)
    return {
        "type": "password",
        "key": "okta_password",
        "id": aid,
        "displayName": "Password",
        "methods": [{"type": "password"}],
    }


def _enrollment(org: OrgState, user: dict[str, Any]) -> dict[str, Any]:
    return {**password_authenticator(org), "id": "lae" + user["id"][3:]}


def _message(text: str, key: str, cls: str = "ERROR") -> dict[str, Any]:
    return {"message": text, "i18n": {"key": key}, "class": cls}


def _messages(*items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "value": list(items)}


def _ion(data: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(data, status_code=status, media_type=ION, headers=oidc.NO_STORE)


def _expired() -> Response:
    return _ion(
        {
            "version": VERSION,
            "messages": _messages(_message("The session has expired.", "idx.session.expired")),
        },
        status=401,
    )


# ---- transactions -------------------------------------------------------------------------------------


def _digest(value: str) -> str:
    return tokens.digest(value)


def _new_handle(org: OrgState, tx_id: str) -> str:
    handle = "02" + tokens.opaque(40)
    org.purge_expired(HANDLE)
    org.put(HANDLE, _digest(handle), {"tx": tx_id, "expires": time.time() + TX_TTL})
    return handle


def start_transaction(org: OrgState, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Store a new IDX transaction; return (stateHandle, transaction)."""
    tx_id = tokens.opaque(24)
    tx = {
        "id": tx_id,
        "step": "identify",
        "intent": "LOGIN",
        "created": time.time(),
        "expires": time.time() + TX_TTL,
        **data,
    }
    org.purge_expired(TX)
    org.put(TX, tx_id, tx)
    return _new_handle(org, tx_id), tx


def _load(org: OrgState, handle: Any) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(handle, str) or not handle:
        return None
    ref = org.get(HANDLE, _digest(handle))
    if ref is None or ref["expires"] < time.time():
        return None
    tx = org.get(TX, ref["tx"])
    if tx is None or tx["expires"] < time.time() or tx.get("step") == "done":
        return None
    return handle, tx


def _save(org: OrgState, tx: dict[str, Any]) -> None:
    org.put(TX, tx["id"], tx)


def _app_context(org: OrgState, tx: dict[str, Any]) -> dict[str, Any]:
    app = org.get(apps.KIND, tx["app_id"]) or {}
    return {
        "type": "object",
        "value": {"name": app.get("name"), "label": app.get("label"), "id": tx["app_id"]},
    }


def enrollment_action(org: OrgState, app_id: str) -> dict[str, Any] | None:
    """The profile enrollment action that lets unknown users register for this app, if any."""
    policy = apps.policy_of(org, app_id, "PROFILE_ENROLLMENT")
    if policy is None:
        default_id = policies.ensure_default_profile_enrollment(org)
        policy = org.get(policies.KIND, default_id)
    if policy is None:
        return None
    action = policies.enrollment_action(org, policy)
    if action and action.get("access") == "ALLOW" and action.get("unknownUserAction") == "REGISTER":
        return action
    return None


def _profile_fields(org: OrgState, action: dict[str, Any]) -> list[dict[str, Any]]:
    fields = []
    for attr in action.get("profileAttributes") or []:
        field: dict[str, Any] = {
            "name": attr["name"],
            "label": attr.get("label") or attr["name"],
            "required": bool(attr.get("required")),
        }
        if attr["name"] in ("firstName", "lastName"):
            field.update({"minLength": 1, "maxLength": 50})
        elif attr["name"] == "email":
            field.update({"minLength": 3, "maxLength": 100})
        fields.append(field)
    return fields


def _password_on_profile_page(action: dict[str, Any]) -> bool:
    return "password" in (action.get("enrollAuthenticatorTypes") or [])


def render(
    org: OrgState,
    handle: str,
    tx: dict[str, Any],
    *,
    messages: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The IDX response for the transaction's current step."""
    step = tx["step"]
    out: dict[str, Any] = {
        "version": VERSION,
        "stateHandle": handle,
        "expiresAt": now_iso(tx["expires"]),
        "intent": tx.get("intent", "LOGIN"),
    }
    remediations: list[dict[str, Any]] = []
    pw = password_authenticator(org)
    user = org.get(users.KIND, tx["user_id"]) if tx.get("user_id") else None
    if step == "identify":
        remediations.append(
            _form(
                org,
                "identify",
                "/idp/idx/identify",
                [
                    {"name": "identifier", "label": "Username", "required": True},
                    {"name": "rememberMe", "type": "boolean", "label": "Keep me signed in"},
                ],
                handle,
            )
        )
        if enrollment_action(org, tx["app_id"]) is not None:
            remediations.append(_form(org, "select-enroll-profile", "/idp/idx/enroll", [], handle))
    elif step == "challenge" and user is not None:
        out["currentAuthenticatorEnrollment"] = {"type": "object", "value": _enrollment(org, user)}
        remediations.append(
            _form(
                org,
                "challenge-authenticator",
                "/idp/idx/challenge/answer",
                [_passcode_field()],
                handle,
                relatesTo="$.currentAuthenticatorEnrollment",
            )
        )
    elif step == "reenroll" and user is not None:
        out["currentAuthenticator"] = {
            "type": "object",
            "value": {**pw, "settings": _password_settings()},
        }
        remediations.append(
            _form(
                org,
                "reenroll-authenticator",
                "/idp/idx/challenge/answer",
                [_passcode_field("New password")],
                handle,
                relatesTo="$.currentAuthenticator",
            )
        )
        out["messages"] = _messages(
            _message(
                "Your password has expired",
                "password.expired.title.generic",
                "INFO",
            )
        )
    elif step == "enroll-profile":
        action = enrollment_action(org, tx["app_id"]) or {}
        fields: list[dict[str, Any]] = [
            {
                "name": "userProfile",
                "form": {"value": _profile_fields(org, action)},
            }
        ]
        if _password_on_profile_page(action):
            fields.append(_passcode_field())
        remediations.append(_form(org, "enroll-profile", "/idp/idx/enroll/new", fields, handle))
        remediations.append(_form(org, "select-identify", "/idp/idx/identify/select", [], handle))
    elif step == "select-authenticator-enroll":
        remediations.append(
            _form(
                org,
                "select-authenticator-enroll",
                "/idp/idx/credential/enroll",
                [
                    {
                        "name": "authenticator",
                        "type": "object",
                        "options": [
                            {
                                "label": "Password",
                                "value": {
                                    "form": {
                                        "value": [
                                            {
                                                "name": "id",
                                                "required": True,
                                                "value": pw["id"],
                                                "mutable": False,
                                            },
                                            {
                                                "name": "methodType",
                                                "required": False,
                                                "value": "password",
                                                "mutable": False,
                                            },
                                        ]
                                    }
                                },
                                "relatesTo": "$.authenticators.value[0]",
                            }
                        ],
                    }
                ],
                handle,
            )
        )
    elif step == "enroll-password":
        out["currentAuthenticator"] = {
            "type": "object",
            "value": {**pw, "settings": _password_settings()},
        }
        remediations.append(
            _form(
                org,
                "enroll-authenticator",
                "/idp/idx/challenge/answer",
                [_passcode_field()],
                handle,
                relatesTo="$.currentAuthenticator",
            )
        )
    out["remediation"] = {"type": "array", "value": remediations}
    out["authenticators"] = {"type": "array", "value": [pw]}
    if user is not None:
        out["authenticatorEnrollments"] = {"type": "array", "value": [_enrollment(org, user)]}
        out["user"] = {
            "type": "object",
            "value": {"id": user["id"], "identifier": user["profile"].get("login")},
        }
    if messages:
        out["messages"] = _messages(*messages)
    out["cancel"] = _form(org, "cancel", "/idp/idx/cancel", [], handle)
    out["app"] = _app_context(org, tx)
    return out


def _password_settings() -> dict[str, Any]:
    """The complexity rules of the sandbox's password policy (see ``users.validate_password``)."""
    return {
        "complexity": {
            "minLength": 8,
            "minLowerCase": 1,
            "minUpperCase": 1,
            "minNumber": 1,
            "minSymbol": 0,
            "excludeUsername": True,
            "excludeAttributes": [],
        },
        "age": {"minAgeMinutes": 0, "historyCount": 0},
    }


def _success(org: OrgState, handle: str, tx: dict[str, Any], user: dict[str, Any]) -> Response:
    """Finish: an interaction code for ``/v1/token``, or the browser's way back to /authorize."""
    tx["step"] = "done"
    tx["user_id"] = user["id"]
    _save(org, tx)
    out: dict[str, Any] = {
        "version": VERSION,
        "stateHandle": handle,
        "expiresAt": now_iso(tx["expires"]),
        "intent": tx.get("intent", "LOGIN"),
        "user": {
            "type": "object",
            "value": {"id": user["id"], "identifier": user["profile"].get("login")},
        },
        "app": _app_context(org, tx),
    }
    if tx.get("from_uri"):
        ticket = tokens.opaque(32)
        org.purge_expired("idx_redirect")
        org.put(
            "idx_redirect",
            _digest(ticket),
            {"user_id": user["id"], "from_uri": tx["from_uri"], "expires": time.time() + 300},
        )
        out["success"] = {
            "name": "success-redirect",
            "href": org.url("/login/token/redirect?stateToken=" + ticket),
        }
        return _ion(out)
    code = tokens.opaque(32)
    org.purge_expired(CODE)
    org.put(
        CODE,
        _digest(code),
        {
            "client_id": tx["client_id"],
            "app_id": tx["app_id"],
            "server": tx["server"],
            "scopes": tx["scopes"],
            "nonce": tx.get("nonce"),
            "code_challenge": tx["code_challenge"],
            "user_id": user["id"],
            "auth_time": int(time.time()),
            "expires": time.time() + CODE_TTL,
        },
    )
    out["successWithInteractionCode"] = {
        "rel": ["create-form"],
        "name": "issue",
        "href": tx["token_endpoint"],
        "method": "POST",
        "value": [
            {"name": "grant_type", "required": True, "value": "interaction_code"},
            {"name": "interaction_code", "required": True, "value": code},
            {"name": "client_id", "required": True, "value": tx["client_id"]},
            {"name": "code_verifier", "required": True},
        ],
        "accepts": "application/x-www-form-urlencoded",
    }
    return _ion(out)


# ---- /v1/interact ------------------------------------------------------------------------------------------


def _interact_client(
    org: OrgState, request: Request, form: dict[str, str], endpoint: str
) -> dict[str, Any]:
    app = oidc.authenticate_client(org, request, form, endpoint)
    return app


async def interact(request: Request) -> Response:
    org = org_of(request)
    _require_idx(org, request)
    server = oidc._server(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    base = oidc._base(org, server)
    app = _interact_client(org, request, form, base + "/interact")
    settings = apps.oauth_settings(app)
    if "interaction_code" not in settings.get("grant_types", []):
        raise OAuthError(
            "unauthorized_client",
            "The client is not authorized to use the provided grant type. Configured grant types: "
            f"[{', '.join(settings.get('grant_types', []))}].",
        )
    redirect_uri = form.get("redirect_uri", "")
    if redirect_uri not in settings.get("redirect_uris", []):
        raise OAuthError(
            "invalid_request",
            "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings.",
        )
    if not form.get("state"):
        raise OAuthError(
            "invalid_request", "The authorization request is missing a required parameter: 'state'."
        )
    challenge = form.get("code_challenge")
    if not challenge:
        raise OAuthError("invalid_request", "PKCE code challenge is required.")
    if form.get("code_challenge_method") != "S256":
        raise OAuthError(
            "invalid_request",
            "PKCE code challenge method is not supported. Supported methods: [S256]",
        )
    if not 43 <= len(challenge) <= 128:
        raise OAuthError(
            "invalid_request",
            "PKCE code challenge contains illegal characters or has the wrong length.",
        )
    try:
        scopes = oidc._requested_scopes(org, server, form.get("scope"))
    except oidc._AuthorizeError as exc:
        raise OAuthError(exc.error, exc.description) from exc
    client_id = apps.oauth_credentials(app)["client_id"]
    handle, tx = start_transaction(
        org,
        {
            "client_id": client_id,
            "app_id": app["id"],
            "server": tokens.key_owner(server),
            "token_endpoint": base + "/token",
            "scopes": scopes,
            "redirect_uri": redirect_uri,
            "state": form["state"],
            "nonce": form.get("nonce"),
            "code_challenge": challenge,
        },
    )
    interaction_handle = tokens.opaque(40)
    org.purge_expired("idx_interaction")
    org.put(
        "idx_interaction",
        _digest(interaction_handle),
        {"handle": handle, "expires": time.time() + TX_TTL},
    )
    return JSONResponse({"interaction_handle": interaction_handle}, headers=oidc.NO_STORE)


# ---- /idp/idx/* ------------------------------------------------------------------------------------------------


async def _body(request: Request) -> dict[str, Any]:
    return await read_json(request, required=True)


async def introspect(request: Request) -> Response:
    org = org_of(request)
    _require_idx(org, request)
    body = await _body(request)
    handle = body.get("stateToken") or body.get("stateHandle")
    if not handle and isinstance(body.get("interactionHandle"), str):
        ref = org.get("idx_interaction", _digest(body["interactionHandle"]))
        handle = ref["handle"] if ref and ref["expires"] >= time.time() else None
    loaded = _load(org, handle)
    if loaded is None:
        return _expired()
    return _ion(render(org, *loaded))


def _step(tx: dict[str, Any], *names: str) -> bool:
    return tx.get("step") in names


async def identify(request: Request) -> Response:
    org = org_of(request)
    _require_idx(org, request)
    body = await _body(request)
    loaded = _load(org, body.get("stateHandle"))
    if loaded is None:
        return _expired()
    handle, tx = loaded
    if not _step(tx, "identify"):
        return _ion(render(org, handle, tx), status=400)
    identifier = body.get("identifier")
    if not isinstance(identifier, str) or not identifier.strip():
        return _ion(
            render(
                org,
                handle,
                tx,
                messages=[
                    _message("This field cannot be left blank", "model.validation.field.blank")
                ],
            ),
            status=400,
        )
    user = users.find_by_login(org, identifier.strip())
    if user is None or user["status"] in ("DEPROVISIONED", "STAGED", "PROVISIONED"):
        message = _message(
            f"There is no account with the Username {identifier.strip()}.",
            "idx.unknown.user",
            "INFO",
        )
        return _ion(render(org, handle, tx, messages=[message]), status=400)
    if user["status"] == "SUSPENDED":
        return _ion(
            render(
                org, handle, tx, messages=[_message("Authentication failed", "errors.E0000004")]
            ),
            status=400,
        )
    if user["status"] == "LOCKED_OUT":
        return _ion(
            render(
                org,
                handle,
                tx,
                messages=[
                    _message(
                        "This factor is suspended for your account due to too many failed attempts",
                        "oie.authenticator.app.method.push.locked",
                    )
                ],
            ),
            status=400,
        )
    if not apps.is_assigned(org, tx["app_id"], user["id"]):
        return _ion(
            render(
                org,
                handle,
                tx,
                messages=[
                    _message(
                        "You are not allowed to access this app. To request access, contact an admin.",
                        "idx.error.code.access_denied.not_assigned",
                    )
                ],
            ),
            status=403,
        )
    tx["user_id"] = user["id"]
    tx["step"] = "challenge"
    _save(org, tx)
    credentials = body.get("credentials")
    if isinstance(credentials, dict) and "passcode" in credentials:
        return await _answer_password(org, handle, tx, credentials)
    return _ion(render(org, handle, tx))


async def _answer_password(
    org: OrgState, handle: str, tx: dict[str, Any], credentials: dict[str, Any]
) -> Response:
    user = org.get(users.KIND, tx["user_id"])
    if user is None:
        return _expired()
    passcode = credentials.get("passcode")
    if not isinstance(passcode, str):
        passcode = ""
    found, outcome = await run_in_threadpool(
        authn.check_credentials, org, user["profile"]["login"], passcode
    )
    if outcome == "locked":
        tx["step"] = "identify"
        _save(org, tx)
        return _ion(
            render(
                org,
                handle,
                tx,
                messages=[
                    _message(
                        "Your account is locked. Contact your administrator.", "errors.E0000069"
                    )
                ],
            ),
            status=400,
        )
    if outcome == "expired":
        tx["step"] = "reenroll"
        _save(org, tx)
        return _ion(render(org, handle, tx))
    if found is None:
        return _ion(
            render(
                org, handle, tx, messages=[_message("Password is incorrect", "incorrectPassword")]
            ),
            status=401,
        )
    return _success(org, handle, tx, found)


def _password_problem(password: Any, login: str) -> str | None:
    try:
        users.validate_password(password, login)
    except OktaApiError as exc:
        return "Password requirements were not met. " + (
            exc.causes[0].split(": ", 1)[-1] if exc.causes else exc.summary
        )
    return None


async def challenge_answer(request: Request) -> Response:
    org = org_of(request)
    _require_idx(org, request)
    body = await _body(request)
    loaded = _load(org, body.get("stateHandle"))
    if loaded is None:
        return _expired()
    handle, tx = loaded
    credentials = body.get("credentials")
    if not isinstance(credentials, dict):
        credentials = {}
    if _step(tx, "challenge"):
        return await _answer_password(org, handle, tx, credentials)
    user = org.get(users.KIND, tx.get("user_id") or "")
    if user is None or not _step(tx, "reenroll", "enroll-password"):
        return _ion(render(org, handle, tx), status=400)
    new = credentials.get("passcode")
    login = user["profile"]["login"]
    problem = _password_problem(new, login)
    if problem is None and tx["step"] == "reenroll" and users.check_password(org, user, str(new)):
        problem = "Password requirements were not met. Password cannot be your current password."
    if problem is not None:
        return _ion(
            render(
                org, handle, tx, messages=[_message(problem, "password.passwordRequirementsNotMet")]
            ),
            status=400,
        )
    users.set_password(org, user, str(new))
    if user["status"] in ("PASSWORD_EXPIRED", "PROVISIONED"):
        users.set_status(org, user, "ACTIVE")  # expired password changed / new user enrolled
    else:
        org.put(users.KIND, user["id"], user)
    return _success(org, handle, tx, org.get(users.KIND, user["id"]) or user)


async def enroll(request: Request) -> Response:
    """``select-enroll-profile``: start self-service registration."""
    org = org_of(request)
    _require_idx(org, request)
    body = await _body(request)
    loaded = _load(org, body.get("stateHandle"))
    if loaded is None:
        return _expired()
    handle, tx = loaded
    if not _step(tx, "identify") or enrollment_action(org, tx["app_id"]) is None:
        return _ion(render(org, handle, tx), status=400)
    tx["step"] = "enroll-profile"
    tx["intent"] = "LOGIN"
    _save(org, tx)
    return _ion(render(org, handle, tx))


async def identify_select(request: Request) -> Response:
    """``select-identify``: back from the sign-up form to sign-in."""
    org = org_of(request)
    _require_idx(org, request)
    body = await _body(request)
    loaded = _load(org, body.get("stateHandle"))
    if loaded is None:
        return _expired()
    handle, tx = loaded
    tx["step"] = "identify"
    tx.pop("user_id", None)
    _save(org, tx)
    return _ion(render(org, handle, tx))


async def enroll_new(request: Request) -> Response:
    """``enroll-profile``: create the user per the profile enrollment policy."""
    org = org_of(request)
    _require_idx(org, request)
    body = await _body(request)
    loaded = _load(org, body.get("stateHandle"))
    if loaded is None:
        return _expired()
    handle, tx = loaded
    action = enrollment_action(org, tx["app_id"])
    if not _step(tx, "enroll-profile") or action is None:
        return _ion(render(org, handle, tx), status=400)
    raw = body.get("userProfile")
    given = raw if isinstance(raw, dict) else {}

    def again(text: str, key: str = "registration.error.notUniqueWithinOrg") -> Response:
        return _ion(render(org, handle, tx, messages=[_message(text, key)]), status=400)

    profile: dict[str, Any] = {}
    for attr in action.get("profileAttributes") or []:
        name = attr["name"]
        value = given.get(name)
        value = value.strip() if isinstance(value, str) else value
        if attr.get("required") and (value is None or value == ""):
            return again(
                f"{attr.get('label') or name}: This field cannot be left blank",
                "model.validation.field.blank",
            )
        if value not in (None, ""):
            try:
                profile[name] = schemas.from_form(org, name, str(value))
            except ValueError:
                return again(
                    f"{attr.get('label') or name}: Provided value is invalid",
                    "model.validation.field.invalid",
                )
    email = str(profile.get("email") or "")
    if "@" not in email:
        return again(
            "'Email' must be in the form of an email address", "registration.error.invalidEmail"
        )
    if users.find_by_login(org, email) is not None:
        return again(
            "A user with this Email already exists", "registration.error.notUniqueWithinOrg"
        )
    profile["login"] = email
    profile.setdefault("firstName", email.split("@")[0])
    profile.setdefault("lastName", email.split("@")[0])
    try:
        users.validate_profile(org, profile)
    except OktaApiError as exc:
        return again(exc.causes[0] if exc.causes else exc.summary, "model.validation.field.invalid")
    password: str | None = None
    if _password_on_profile_page(action):
        creds = body.get("credentials")
        password = creds.get("passcode") if isinstance(creds, dict) else None
        problem = _password_problem(password, email)
        if problem is not None:
            return again(problem, "password.passwordRequirementsNotMet")
    if (action.get("activationRequirements") or {}).get("emailVerification"):
        return again(
            "Email verification is required by this org's profile enrollment policy; the "
            "sandbox's Identity Engine flow cannot deliver the email. Set "
            "activationRequirements.emailVerification to false, or sign up on the hosted page.",
            "oktalab.sandbox.unsupported.email_verification",
        )
    groups = [g for g in action.get("targetGroupIds") or [] if org.get("group", g)]
    user = await run_in_threadpool(
        users.create_user, org, profile, password=password, activate=True, group_ids=groups
    )
    tx["user_id"] = user["id"]
    if password is not None:
        return _success(org, handle, tx, user)
    tx["step"] = "select-authenticator-enroll"
    _save(org, tx)
    return _ion(render(org, handle, tx))


async def credential_enroll(request: Request) -> Response:
    """``select-authenticator-enroll``: choose the password authenticator."""
    org = org_of(request)
    _require_idx(org, request)
    body = await _body(request)
    loaded = _load(org, body.get("stateHandle"))
    if loaded is None:
        return _expired()
    handle, tx = loaded
    chosen = body.get("authenticator")
    chosen_id = chosen.get("id") if isinstance(chosen, dict) else None
    if (
        not _step(tx, "select-authenticator-enroll")
        or chosen_id != password_authenticator(org)["id"]
    ):
        return _ion(
            render(
                org, handle, tx, messages=[_message("Invalid authenticator", "errors.E0000001")]
            ),
            status=400,
        )
    tx["step"] = "enroll-password"
    _save(org, tx)
    return _ion(render(org, handle, tx))


async def cancel(request: Request) -> Response:
    org = org_of(request)
    _require_idx(org, request)
    body = await _body(request)
    loaded = _load(org, body.get("stateHandle"))
    if loaded is None:
        return _expired()
    handle, tx = loaded
    tx["step"] = "identify"
    tx.pop("user_id", None)
    _save(org, tx)
    return _ion(render(org, handle, tx))


async def token_redirect(request: Request) -> Response:
    """``/login/token/redirect?stateToken=…``: a browser sign-in ends in a session cookie."""
    org = org_of(request)
    record = org.take("idx_redirect", _digest(request.query_params.get("stateToken", "")))
    user = org.get(users.KIND, record["user_id"]) if record else None
    if record is None or record["expires"] < time.time() or user is None:
        return RedirectResponse(org.url("/login/login.htm"), status_code=302)
    sid, _ = authn.create_session(org, user)
    response = RedirectResponse(org.url(record["from_uri"]), status_code=302)
    authn.set_session_cookie(org, response, sid)
    return response


# ---- the interaction_code grant ----------------------------------------------------------------------------


def grant_interaction_code(
    org: OrgState, server: dict[str, Any] | None, app: dict[str, Any], form: dict[str, str]
) -> dict[str, Any]:
    """``grant_type=interaction_code``: redeem the code with the PKCE verifier (one use, 60 s)."""
    code = form.get("interaction_code")
    if not code:
        raise OAuthError(
            "invalid_request", "The request is missing a required parameter: 'interaction_code'."
        )
    record = org.take(CODE, _digest(code))
    client_id = apps.oauth_credentials(app)["client_id"]
    if (
        record is None
        or record["expires"] < time.time()
        or record["client_id"] != client_id
        or record["server"] != tokens.key_owner(server)
    ):
        raise OAuthError("invalid_grant", "The interaction code is invalid or has expired.")
    verifier = form.get("code_verifier")
    if not verifier:
        raise OAuthError(
            "invalid_request",
            "PKCE code verifier is required when the parameter 'code_challenge' was sent in the "
            "authorization request.",
        )
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()
    if not hmac.compare_digest(computed.rstrip("="), record["code_challenge"]):
        raise OAuthError("invalid_grant", "PKCE verification failed.")
    user = org.get(users.KIND, record["user_id"])
    if user is None or user["status"] != "ACTIVE":
        raise OAuthError("invalid_grant", "The interaction code is invalid or has expired.")
    scopes = record["scopes"]
    lifetime, window = oidc._rule_or_deny(
        org, server, client_id, user["id"], "interaction_code", scopes
    )
    return oidc._issue(
        org,
        server,
        app,
        user,
        scopes,
        auth_time=record["auth_time"],
        nonce=record.get("nonce"),
        lifetime=lifetime,
        grant="interaction_code",
        refresh_window=window,
    )


oidc.GRANT_HANDLERS["interaction_code"] = grant_interaction_code

routes = [
    Route("/.well-known/okta-organization", org_metadata, methods=["GET"]),
    Route("/oauth2/v1/interact", interact, methods=["POST"]),
    Route("/oauth2/{asId}/v1/interact", interact, methods=["POST"]),
    Route("/idp/idx/introspect", introspect, methods=["POST"]),
    Route("/idp/idx/identify", identify, methods=["POST"]),
    Route("/idp/idx/identify/select", identify_select, methods=["POST"]),
    Route("/idp/idx/challenge/answer", challenge_answer, methods=["POST"]),
    Route("/idp/idx/enroll", enroll, methods=["POST"]),
    Route("/idp/idx/enroll/new", enroll_new, methods=["POST"]),
    Route("/idp/idx/credential/enroll", credential_enroll, methods=["POST"]),
    Route("/idp/idx/cancel", cancel, methods=["POST"]),
    Route("/login/token/redirect", token_redirect, methods=["GET"]),
    Route("/__sandbox/pipeline", get_pipeline, methods=["GET"]),
    Route("/__sandbox/pipeline", set_pipeline, methods=["POST"]),
]
