"""HTTP plumbing shared by the Management API modules: auth, bodies, pagination, responses."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import OktaApiError, not_found
from .org import OktaOrg, now_iso


def org_of(request: Request) -> OktaOrg:
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


def _bearer_claims(org: OktaOrg, token: str) -> dict[str, Any] | None:
    """Claims of an org-AS access token (OAuth for Okta service apps), or None."""
    try:
        header = jwt.get_unverified_header(token)
        key = org.key_by_kid("org", header.get("kid"))
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


def parse_limit(request: Request, default: int, maximum: int = 200) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise OktaApiError("E0000001", "limit", ["limit: must be an integer"]) from exc
    if value < 0:
        return default
    return min(value, maximum) if maximum > 0 else value


def paginate(
    request: Request,
    items: list[dict[str, Any]],
    *,
    default_limit: int = 200,
    max_limit: int = 200,
    key: str = "id",
) -> Response:
    """Cursor pagination with Okta's ``link`` headers (``rel="self"`` and, if more, ``rel="next"``)."""
    org = org_of(request)
    window = org.faults.hide_recent(request.method, request.url.path)
    if window:
        cutoff = now_iso(time.time() - window / 1000)
        items = [
            i for i in items if not isinstance(i.get("created"), str) or i["created"] <= cutoff
        ]
    limit = parse_limit(request, default_limit, max_limit)
    after = request.query_params.get("after")
    start = 0
    if after:
        for i, item in enumerate(items):
            if item.get(key) == after:
                start = i + 1
                break
        else:
            start = len(items)
    page = items[start : start + limit] if limit > 0 else items[start:]
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]
    base = org.url(request.url.path)
    self_qs = urlencode(list(request.query_params.multi_items()))
    response = JSONResponse(page)
    response.headers.append("link", f'<{base}{"?" + self_qs if self_qs else ""}>; rel="self"')
    if limit > 0 and start + limit < len(items) and page:
        next_qs = urlencode([*params, ("after", str(page[-1].get(key)))])
        response.headers.append("link", f'<{base}?{next_qs}>; rel="next"')
    return response


def epoch() -> int:
    return int(time.time())
