"""Minting and checking tokens: RS256 JWTs with Okta's claim set, opaque refresh tokens.

Access and ID tokens carry exactly the registered claims Okta documents (``ver``, ``jti`` with
``AT.``/``ID.`` prefixes, ``cid``/``uid``/``scp`` …) plus the custom claims of the issuing
authorization server evaluated for the user, so resource servers and gateways validating them
see what a real org would send. Refresh tokens, codes and sessions are stored by SHA-256 digest
only, never in the clear.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import jwt

from . import authz, groups
from .expressions import Context, ExpressionError, evaluate
from .state import ORG_ACCESS_TOKEN_KEYS, OrgState

ID_TOKEN_LIFETIME = 3600


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def opaque(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def _jti(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def at_hash(access_token: str) -> str:
    half = hashlib.sha256(access_token.encode()).digest()[:16]
    return base64.urlsafe_b64encode(half).decode().rstrip("=")


def key_owner(server: dict[str, Any] | None) -> str:
    return authz.ORG_AS if server is None else server["id"]


def access_key_owner(server: dict[str, Any] | None) -> str:
    return ORG_ACCESS_TOKEN_KEYS if server is None else server["id"]


def context_for(
    org: OrgState, user: dict[str, Any] | None, client_id: str, app_id: str | None
) -> Context:
    if user is None:
        return Context(client_id=client_id, app_id=app_id)
    return Context(
        user=user,
        group_names=groups.user_group_names(org, user["id"]),
        group_ids=groups.user_group_ids(org, user["id"]),
        client_id=client_id,
        app_id=app_id,
    )


def filter_groups(names: list[str], filter_type: str, value: str) -> list[str]:
    if filter_type == "EQUALS":
        return [n for n in names if n == value]
    if filter_type == "STARTS_WITH":
        return [n for n in names if n.startswith(value)]
    if filter_type == "CONTAINS":
        return [n for n in names if value in n]
    if filter_type == "REGEX":
        try:
            pattern = re.compile(value)
        except re.error:
            return []
        return [n for n in names if pattern.fullmatch(n)]
    return []


def evaluate_claim(claim: dict[str, Any], ctx: Context) -> Any:
    """Value of a custom claim for this context; None means "leave the claim out" (as Okta does)."""
    if claim["valueType"] == "GROUPS":
        hits = filter_groups(ctx.group_names, claim.get("group_filter_type", ""), claim["value"])
        return hits or None
    try:
        value = evaluate(claim["value"], ctx)
    except (ExpressionError, TypeError, ValueError):
        return None
    return None if value == "" else value


def token_claims(
    org: OrgState,
    server: dict[str, Any],
    claim_type: str,
    scopes: list[str],
    ctx: Context,
    *,
    id_token_only_always: bool = False,
) -> dict[str, Any]:
    """Custom (non-system) claims of ``claim_type`` that apply to these scopes."""
    out: dict[str, Any] = {}
    for claim in org.list(authz.CLAIM, parent=server["id"]):
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


def sign(org: OrgState, server: dict[str, Any] | None, claims: dict[str, Any]) -> str:
    key = org.signing_key(key_owner(server))
    return jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid})


def audience(org: OrgState, server: dict[str, Any] | None) -> str:
    return org.org_url if server is None else server["audiences"][0]


def mint_access_token(
    org: OrgState,
    server: dict[str, Any] | None,
    *,
    client_id: str,
    app_id: str | None,
    user: dict[str, Any] | None,
    scopes: list[str],
    auth_time: int | None,
    lifetime: int,
) -> tuple[str, dict[str, Any]]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "ver": 1,
        "jti": _jti("AT."),
        "iss": authz.issuer(org, server),
        "aud": audience(org, server),
        "iat": now,
        "exp": now + lifetime,
        "cid": client_id,
    }
    if user is not None:
        claims["uid"] = user["id"]
    claims["scp"] = list(scopes)
    if auth_time is not None:
        claims["auth_time"] = auth_time
    claims["sub"] = user["profile"]["login"] if user is not None else client_id
    if server is not None:
        ctx = context_for(org, user, client_id, app_id)
        for name, value in token_claims(org, server, "RESOURCE", scopes, ctx).items():
            claims.setdefault(name, value)
    key = org.signing_key(access_key_owner(server))
    return jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid}), claims


def scope_claims(user: dict[str, Any], scopes: list[str], *, full: bool) -> dict[str, Any]:
    """Standard OIDC claims for the granted scopes (``full`` = the /userinfo set)."""
    profile = user["profile"]
    out: dict[str, Any] = {}
    if "profile" in scopes:
        name = " ".join(p for p in (profile.get("firstName"), profile.get("lastName")) if p)
        out["name"] = name or profile.get("login")
        if full:
            out.update(
                {
                    "locale": profile.get("locale", "en_US"),
                    "preferred_username": profile.get("login"),
                    "given_name": profile.get("firstName"),
                    "family_name": profile.get("lastName"),
                    "zoneinfo": profile.get("timezone", "America/Los_Angeles"),
                    "updated_at": int(_epoch(user.get("lastUpdated"))),
                }
            )
            if profile.get("nickName"):
                out["nickname"] = profile["nickName"]
            if profile.get("middleName"):
                out["middle_name"] = profile["middleName"]
        else:
            out["preferred_username"] = profile.get("login")
    if "email" in scopes:
        out["email"] = profile.get("email")
        if full:
            out["email_verified"] = True
    if "phone" in scopes and profile.get("mobilePhone"):
        out["phone_number"] = profile["mobilePhone"]
    if "address" in scopes and full:
        out["address"] = {
            k: v
            for k, v in {
                "street_address": profile.get("streetAddress"),
                "locality": profile.get("city"),
                "region": profile.get("state"),
                "postal_code": profile.get("zipCode"),
                "country": profile.get("countryCode"),
            }.items()
            if v
        }
    return {k: v for k, v in out.items() if v is not None}


def _epoch(iso: str | None) -> float:
    if not iso:
        return time.time()
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def org_groups_claim(
    org: OrgState, app: dict[str, Any], user: dict[str, Any], scopes: list[str]
) -> dict[str, Any]:
    """The app-level ID-token claim (internal API) that only the org AS applies."""
    settings = org.get("app_idtoken", app["id"]) or {}
    name = settings.get("name")
    if not name or "groups" not in scopes:
        return {}
    ctx = context_for(org, user, app["credentials"]["oauthClient"]["client_id"], app["id"])
    if settings.get("valueType") == "GROUPS":
        hits = filter_groups(
            ctx.group_names, settings.get("groupFilterType", ""), settings.get("value", "")
        )
        return {name: hits} if hits else {}
    if settings.get("valueType") == "EXPRESSION":
        try:
            value = evaluate(settings.get("value", ""), ctx)
        except ExpressionError:
            return {}
        return {} if value is None else {name: value}
    return {}


def mint_id_token(
    org: OrgState,
    server: dict[str, Any] | None,
    *,
    app: dict[str, Any],
    user: dict[str, Any],
    scopes: list[str],
    nonce: str | None,
    auth_time: int,
    access_token: str | None,
    all_identity_claims: bool = False,
) -> str:
    now = int(time.time())
    client_id = app["credentials"]["oauthClient"]["client_id"]
    claims: dict[str, Any] = {
        "sub": user["id"],
        "ver": 1,
        "iss": authz.issuer(org, server),
        "aud": client_id,
        "iat": now,
        "exp": now + ID_TOKEN_LIFETIME,
        "jti": _jti("ID."),
        "amr": ["pwd"],
        "idp": org.org_id,
    }
    if nonce:
        claims["nonce"] = nonce
    claims["auth_time"] = auth_time
    if access_token is not None:
        claims["at_hash"] = at_hash(access_token)
    for k, v in scope_claims(user, scopes, full=access_token is None).items():
        claims.setdefault(k, v)
    if server is None:
        for k, v in org_groups_claim(org, app, user, scopes).items():
            claims.setdefault(k, v)
    else:
        ctx = context_for(org, user, client_id, app["id"])
        custom = token_claims(
            org,
            server,
            "IDENTITY",
            scopes,
            ctx,
            id_token_only_always=not all_identity_claims and access_token is not None,
        )
        for k, v in custom.items():
            claims.setdefault(k, v)
    return sign(org, server, claims)


def server_for_issuer(org: OrgState, iss: str) -> tuple[bool, dict[str, Any] | None]:
    """(found, server) for an ``iss`` value; server None = the org AS."""
    if iss == org.org_url:
        return True, None
    prefix = org.url("/oauth2/")
    if not iss.startswith(prefix):
        return False, None
    as_id = iss[len(prefix) :]
    try:
        return True, authz.resolve_server(org, as_id)
    except Exception:
        return False, None


def verify_access_token(
    org: OrgState, token: str, server: dict[str, Any] | None | str = "any"
) -> dict[str, Any] | None:
    """Claims of a valid, unrevoked access token (optionally from a given AS), else None."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    if not str(unverified.get("jti", "")).startswith("AT."):
        return None
    found, issuing = server_for_issuer(org, str(unverified.get("iss", "")))
    if not found:
        return None
    if server != "any" and key_owner(issuing) != key_owner(server):  # type: ignore[arg-type]
        return None
    key = org.key_by_kid(access_key_owner(issuing), header.get("kid"))
    if key is None:
        return None
    try:
        claims = jwt.decode(
            token,
            key.public,
            algorithms=["RS256"],
            audience=audience(org, issuing),
            issuer=authz.issuer(org, issuing),
        )
    except jwt.PyJWTError:
        return None
    if org.get("revoked", claims["jti"]) is not None:
        return None
    return claims


def revoke_jti(org: OrgState, jti: str, exp: int) -> None:
    org.put("revoked", jti, {"expires": exp})
