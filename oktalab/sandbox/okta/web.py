"""HTTP plumbing shared by the Management API modules: auth, bodies, responses.

Pagination and the generic collection handlers are in :mod:`.rest`.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import OktaApiError, not_found
from .state import ORG_ACCESS_TOKEN_KEYS, OrgState


def org_of(request: Request) -> OrgState:
    return request.app.state.org


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(data, status_code=status, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)


async def read_json(request: Request, *, required: bool = False) -> dict[str, Any]:
    """Parse a JSON object body; malformed → E0000003 like Okta. Empty body → ``{}``."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise OktaApiError("E0000003")
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise OktaApiError("E0000003") from exc
    if not isinstance(data, dict):
        raise OktaApiError("E0000003")
    return data


def _bearer_claims(org: OrgState, token: str) -> dict[str, Any] | None:
    """Claims of an org-AS access token (OAuth for Okta service apps), or None."""
    try:
        header = jwt.get_unverified_header(token)
        key = org.key_by_kid(ORG_ACCESS_TOKEN_KEYS, header.get("kid"))
        if key is None:
            return None
        claims = jwt.decode(
            token, key.public, algorithms=["RS256"], audience=org.org_url, issuer=org.org_url
        )
    except jwt.PyJWTError:
        return None
    if org.get("revoked", claims.get("jti", "")) is not None:
        return None
    return claims


def require_admin(request: Request, scope: str | None = None, *, ssws_only: bool = False) -> None:
    """SSWS API token, or an org-AS Bearer token carrying ``scope`` (``…manage`` implies ``…read``)."""
    org = org_of(request)
    header = request.headers.get("authorization", "").strip()
    # Okta's Python SDK 3.x sends "SSWS<token>" without a space; Okta accepts both.
    kind, value = "", ""
    for scheme in ("SSWS", "Bearer"):
        if header[: len(scheme)].lower() == scheme.lower():
            kind, value = scheme, header[len(scheme) :].strip()
            break
    if kind == "SSWS" and value and org.check_api_token(value):
        return
    if kind == "Bearer" and value:
        if ssws_only:
            raise OktaApiError("E0000005")
        claims = _bearer_claims(org, value)
        if claims is None:
            raise OktaApiError("E0000011")
        granted = set(claims.get("scp") or [])
        if scope is None:
            return
        accepted = {scope}
        if scope.endswith(".read"):
            accepted.add(scope[: -len(".read")] + ".manage")
        if not granted & accepted:
            raise OktaApiError(
                "E0000006",
                headers={
                    "WWW-Authenticate": 'Bearer authorization_uri="'
                    + org.url("/oauth2/v1/authorize")
                    + '", realm="'
                    + org.org_url
                    + '", scope="'
                    + scope
                    + '", error="insufficient_scope", error_description="The access token '
                    'provided does not contain the required scopes.", resource="'
                    + request.url.path
                    + '"'
                },
            )
        return
    raise OktaApiError("E0000011")


LIFECYCLE_STATUS = {"activate": "ACTIVE", "deactivate": "INACTIVE"}


def lifecycle_action(request: Request) -> str:
    """The ``{action}`` of a ``…/lifecycle/{action}`` path; anything else is Okta's 404."""
    action = str(request.path_params["action"])
    if action not in LIFECYCLE_STATUS:
        raise not_found(f"Resource not found: {action} (Lifecycle)")
    return action


def bool_param(request: Request, name: str, default: bool) -> bool:
    """A boolean query parameter (``?activate=false``): only ``true`` is true, as in Okta."""
    raw = request.query_params.get(name)
    return default if raw is None else raw.lower() == "true"
