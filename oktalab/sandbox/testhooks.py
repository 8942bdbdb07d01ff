"""Sandbox-only test hooks, mounted beside the Okta org under ``/__sandbox/``.

``POST /__sandbox/expired-token`` (SSWS API token required) answers an access token signed by
the authorization server's real key but already expired, so the verification stage can check
that the gateway answers 401 for expiry. No real org can do this (only it holds its key), so
against a real org the check reads ``OKTALAB_EXPIRED_TOKEN_FILE`` or is skipped.
Body: ``{"authorizationServer": "default", "clientId": "...", "username": "..."}``.

``POST /__sandbox/next-key`` (SSWS) publishes the authorization server's NEXT signing key, as
Okta does some weeks before an automatic rotation (its key-rotation concept page: "New keys
are normally generated a few weeks before the rotation occurs"); a manual
``credentials/lifecycle/keyRotate`` then makes it ACTIVE. Body: ``{"authorizationServer": id}``;
answers the server's key list (``credentials/keys`` shape).

``GET /__sandbox/writes`` (SSWS) answers the write requests the Okta and Kubernetes servers
received (:mod:`oktalab.sandbox.writes`), so a test can prove that ``oktalab plan`` wrote
nothing; ``GET /__sandbox/reads`` (SSWS) their read requests, e.g. ``{"okta": 40, "kube": 31,
"okta-signin": 9}``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from .okta import OktaOrg, apps as okta_apps, authz, tokens, users
from .writes import WriteCounts


def _error(status: int, code: str, summary: str) -> JSONResponse:
    return JSONResponse(
        {
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": "oaeSandboxHook",
            "errorCauses": [],
        },
        status,
    )


def with_test_hooks(org: OktaOrg, okta_app: ASGIApp, writes: WriteCounts | None = None) -> ASGIApp:
    def refused(request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("SSWS ") or not org.check_api_token(header[5:].strip()):
            return _error(401, "E0000011", "Invalid token provided")
        return None

    async def body_of(request: Request) -> dict[str, Any] | JSONResponse:
        if (no := refused(request)) is not None:
            return no
        try:
            body: dict[str, Any] = await request.json()
        except ValueError:
            return _error(400, "E0000003", "The request body was not well-formed.")
        return body

    async def expired_token(request: Request) -> JSONResponse:
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        server = authz.resolve_server(org, str(body.get("authorizationServer") or "default"))
        app = okta_apps.find_by_client_id(org, str(body.get("clientId", "")))
        user = users.find_by_login(org, str(body.get("username", "")))
        if app is None or user is None:
            return _error(404, "E0000007", "Not found: Resource not found: clientId or username")
        _, claims = tokens.mint_access_token(
            org,
            server,
            client_id=str(body["clientId"]),
            app_id=app.get("id"),
            user=user,
            scopes=["openid"],
            auth_time=int(time.time()) - 7200,
            lifetime=3600,
        )
        claims["iat"] = int(time.time()) - 7200
        claims["exp"] = int(time.time()) - 3600
        return JSONResponse(
            {
                "token_type": "Bearer",
                "access_token": tokens.sign(org, server, claims),
                "expires_in": -3600,
            }
        )

    async def next_key(request: Request) -> JSONResponse:
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        server = authz.resolve_server(org, str(body.get("authorizationServer") or "default"))
        org.publish_next_key(server["id"])
        return JSONResponse(
            [{"status": status, **k.jwk()} for k, status in org.key_statuses(server["id"])]
        )

    async def write_counts(request: Request) -> JSONResponse:
        if (no := refused(request)) is not None:
            return no
        return JSONResponse((writes or WriteCounts()).snapshot())

    async def read_counts(request: Request) -> JSONResponse:
        if (no := refused(request)) is not None:
            return no
        return JSONResponse(dict((writes or WriteCounts()).reads))

    return Starlette(
        routes=[
            Route("/__sandbox/writes", write_counts, methods=["GET"]),
            Route("/__sandbox/reads", read_counts, methods=["GET"]),
            Route("/__sandbox/expired-token", expired_token, methods=["POST"]),
            Route("/__sandbox/next-key", next_key, methods=["POST"]),
            Mount("/", app=okta_app),
        ]
    )
