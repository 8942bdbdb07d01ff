"""Sandbox-only test hooks, mounted beside the Okta org under ``/__sandbox/``.

``POST /__sandbox/expired-token`` (SSWS API token required) answers an access token signed by
the authorization server's real key but already expired, so the verification stage can check
that the gateway answers 401 for expiry. No real org can do this (only it holds its key), so
against a real org the check reads ``OKTALAB_EXPIRED_TOKEN_FILE`` or is skipped.
Body: ``{"authorizationServer": "default", "clientId": "...", "username": "..."}``.
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


def with_test_hooks(org: OktaOrg, okta_app: ASGIApp) -> ASGIApp:
    async def expired_token(request: Request) -> JSONResponse:
        header = request.headers.get("authorization", "")
        if not header.startswith("SSWS ") or not org.check_api_token(header[5:].strip()):
            return _error(401, "E0000011", "Invalid token provided")
        try:
            body: dict[str, Any] = await request.json()
        except ValueError:
            return _error(400, "E0000003", "The request body was not well-formed.")
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

    return Starlette(
        routes=[
            Route("/__sandbox/expired-token", expired_token, methods=["POST"]),
            Mount("/", app=okta_app),
        ]
    )
