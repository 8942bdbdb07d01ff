"""Trusted Origins API (``/api/v1/trustedOrigins``) and the CORS decisions that depend on it.

As in Okta, browser JavaScript on another origin may call the OAuth endpoints (token, keys,
userinfo, revoke …) and ``/api/v1/authn`` only when that origin is a trusted origin with the
``CORS`` scope; a SPA whose origin was never trusted fails in the sandbox as it would on a real org.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from . import rest
from .errors import required_str, validation
from .state import OrgState

KIND = "trusted_origin"
CORS_PREFIXES = ("/oauth2/", "/.well-known/", "/api/v1/authn", "/api/v1/sessions", "/idp/idx/")


def cors_allowed(org: OrgState, origin: str) -> bool:
    for doc in org.list(KIND):
        if doc["status"] != "ACTIVE" or doc["origin"].rstrip("/") != origin.rstrip("/"):
            continue
        if any(s.get("type") == "CORS" for s in doc.get("scopes") or []):
            return True
    return False


def redirect_allowed(org: OrgState, url: str) -> bool:
    """Org-internal URLs and trusted origins with the REDIRECT scope."""
    if url.startswith(org.org_url + "/") or url == org.org_url:
        return True
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return any(
        doc["status"] == "ACTIVE"
        and doc["origin"].rstrip("/") == origin
        and any(s.get("type") == "REDIRECT" for s in doc.get("scopes") or [])
        for doc in org.list(KIND)
    )


def render(org: OrgState, doc: dict[str, Any], path: str) -> dict[str, Any]:
    return {**doc, "_links": rest.links(org, path, doc["status"])}


def build(ctx: rest.Ctx, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    """Validated name, origin and scopes; a new origin is ACTIVE and records its creator."""
    org = ctx.org
    name = required_str(body.get("name"), "name")
    origin = body.get("origin")
    parts = urlsplit(origin) if isinstance(origin, str) else None
    if parts is None or not parts.scheme or not parts.netloc or parts.path not in ("", "/"):
        raise validation("origin", "origin: The origin is not a valid URL.")
    scopes = body.get("scopes")
    if (
        not isinstance(scopes, list)
        or not scopes
        or not all(
            isinstance(s, dict) and s.get("type") in ("CORS", "REDIRECT", "IFRAME_EMBED")
            for s in scopes
        )
    ):
        raise validation("scopes", "scopes: At least one of CORS, REDIRECT or IFRAME_EMBED")
    if any(d["name"] == name or d["origin"] == origin for d in rest.siblings(ctx, existing)):
        raise rest.duplicate("origin")
    fields: dict[str, Any] = {"name": name, "origin": origin, "scopes": scopes}
    if existing is None:
        fields.update({"status": "ACTIVE", "createdBy": org.org_id, "lastUpdatedBy": org.org_id})
    return fields
