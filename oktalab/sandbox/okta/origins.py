"""Trusted Origins API (``/api/v1/trustedOrigins``) and the CORS decisions that depend on it.

As in Okta, browser JavaScript on another origin may call the OAuth endpoints (token, keys,
userinfo, revoke …) and ``/api/v1/authn`` only when that origin is a trusted origin with the
``CORS`` scope; a SPA whose origin was never trusted fails in the sandbox as it would on a real org.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import not_found, validation
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

KIND = "trusted_origin"
CORS_PREFIXES = ("/oauth2/", "/.well-known/", "/api/v1/authn", "/api/v1/sessions")


def cors_allowed(org: OktaOrg, origin: str) -> bool:
    for doc in org.list(KIND):
        if doc["status"] != "ACTIVE" or doc["origin"].rstrip("/") != origin.rstrip("/"):
            continue
        if any(s.get("type") == "CORS" for s in doc.get("scopes") or []):
            return True
    return False


def redirect_allowed(org: OktaOrg, url: str) -> bool:
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


def render(org: OktaOrg, doc: dict[str, Any]) -> dict[str, Any]:
    base = f"/api/v1/trustedOrigins/{doc['id']}"
    lifecycle = "deactivate" if doc["status"] == "ACTIVE" else "activate"
    return {
        **doc,
        "_links": {
            "self": {"href": org.url(base), "hints": {"allow": ["GET", "PUT", "DELETE"]}},
            lifecycle: {
                "href": org.url(f"{base}/lifecycle/{lifecycle}"),
                "hints": {"allow": ["POST"]},
            },
        },
    }


def _validate(org: OktaOrg, body: dict[str, Any], exclude: str | None = None) -> dict[str, Any]:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise validation("name", "name: The field cannot be left blank")
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
    for doc in org.list(KIND):
        if doc["id"] != exclude and (doc["name"] == name or doc["origin"] == origin):
            raise validation(
                "origin",
                "origin: An object with this field already exists in the current organization",
            )
    return {"name": name, "origin": origin, "scopes": scopes}


async def list_origins(request: Request) -> Response:
    require_admin(request, "okta.trustedOrigins.read")
    org = org_of(request)
    items = [render(org, d) for d in org.list(KIND)]
    q = request.query_params.get("q")
    if q:
        items = [d for d in items if d["name"].startswith(q) or d["origin"].startswith(q)]
    return paginate(request, items, default_limit=20)


async def create_origin(request: Request) -> Response:
    require_admin(request, "okta.trustedOrigins.manage")
    org = org_of(request)
    fields = _validate(org, await read_json(request, required=True))
    now = now_iso()
    actor = {"id": org.org_id, "type": "API_TOKEN"}
    doc = {
        "id": new_id("tos"),
        **fields,
        "status": "ACTIVE",
        "created": now,
        "createdBy": actor["id"],
        "lastUpdated": now,
        "lastUpdatedBy": actor["id"],
    }
    org.put(KIND, doc["id"], doc)
    return json_response(render(org, doc))


def _get(org: OktaOrg, oid: str) -> dict[str, Any]:
    doc = org.get(KIND, oid)
    if doc is None:
        raise not_found(f"Resource not found: {oid} (TrustedOrigin)")
    return doc


async def get_origin(request: Request) -> Response:
    require_admin(request, "okta.trustedOrigins.read")
    org = org_of(request)
    return json_response(render(org, _get(org, request.path_params["originId"])))


async def replace_origin(request: Request) -> Response:
    require_admin(request, "okta.trustedOrigins.manage")
    org = org_of(request)
    doc = _get(org, request.path_params["originId"])
    doc.update(_validate(org, await read_json(request, required=True), exclude=doc["id"]))
    doc["lastUpdated"] = now_iso()
    org.put(KIND, doc["id"], doc)
    return json_response(render(org, doc))


async def delete_origin(request: Request) -> Response:
    require_admin(request, "okta.trustedOrigins.manage")
    org = org_of(request)
    org.delete(KIND, _get(org, request.path_params["originId"])["id"])
    return no_content()


async def origin_lifecycle(request: Request) -> Response:
    require_admin(request, "okta.trustedOrigins.manage")
    org = org_of(request)
    doc = _get(org, request.path_params["originId"])
    action = lifecycle_action(request)
    doc["status"] = LIFECYCLE_STATUS[action]
    doc["lastUpdated"] = now_iso()
    org.put(KIND, doc["id"], doc)
    return json_response(render(org, doc))


routes = [
    Route("/api/v1/trustedOrigins", list_origins, methods=["GET"]),
    Route("/api/v1/trustedOrigins", create_origin, methods=["POST"]),
    Route("/api/v1/trustedOrigins/{originId}", get_origin, methods=["GET"]),
    Route("/api/v1/trustedOrigins/{originId}", replace_origin, methods=["PUT"]),
    Route("/api/v1/trustedOrigins/{originId}", delete_origin, methods=["DELETE"]),
    Route(
        "/api/v1/trustedOrigins/{originId}/lifecycle/{action}", origin_lifecycle, methods=["POST"]
    ),
]
