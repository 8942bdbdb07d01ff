"""Assembly of the sandbox Okta org as one Starlette ASGI app.

A thin ASGI middleware gives every response Okta's cross-cutting headers (``X-Okta-Request-Id``,
``X-Rate-Limit-*``), enforces the per-family rate limits (429 / E0000047) and applies injected
faults (see :mod:`oktalab.sandbox.okta.faults`) before any endpoint runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import (
    apps,
    assignments,
    authn,
    authz,
    idx,
    oidc,
    origins,
    pages,
    resources,
    schemas,
    widget,
)
from .errors import OAuthError, OktaApiError
from .faults import Faults
from .org import OktaOrg
from .ratelimit import PRESETS, family
from .web import org_of, read_json, require_admin

log = logging.getLogger("oktalab.sandbox.okta")


class FaultInjected(Exception):
    """Raised after a partial response to make the server drop the connection."""


class OktaHeadersMiddleware:
    def __init__(self, app: ASGIApp, org: OktaOrg) -> None:
        self.app = app
        self.org = org

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        request_id = secrets.token_urlsafe(18)
        extra: dict[str, str] = {"X-Okta-Request-Id": request_id}
        bucket = family(path, scope["method"])
        decision = self.org.faults.decide(scope["method"], path) if bucket else None
        if decision is not None and decision.latency_ms:
            await asyncio.sleep(decision.latency_ms / 1000)
        if bucket is not None:
            verdict = self.org.rate_limiter.hit(bucket)
            extra.update(verdict.headers())
            if not verdict.allowed:
                await self._error(send, OktaApiError("E0000047"), extra)
                return
        if decision is not None and decision.drop:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"1000")],
                }
            )
            raise FaultInjected("connection dropped by fault injection")
        cors = self._cors_headers(scope, path)
        if cors is not None:
            extra.update(cors)
            if scope["method"] == "OPTIONS":
                await self._preflight(send, scope, extra)
                return
        if decision is not None and decision.status:
            code = "E0000047" if decision.status == 429 else "E0000009"
            err = OktaApiError(
                code,
                status=decision.status,
                summary=(
                    None
                    if decision.status in (429, 500)
                    else "Service unavailable (injected fault)"
                ),
            )
            await self._error(send, err, extra)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend((k.lower().encode(), v.encode()) for k, v in extra.items())
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _cors_headers(self, scope: Scope, path: str) -> dict[str, str] | None:
        """CORS headers for a trusted origin on a CORS-enabled endpoint, else None."""
        if not path.startswith(origins.CORS_PREFIXES):
            return None
        origin = next((v.decode() for k, v in scope["headers"] if k == b"origin"), None)
        if not origin or not origins.cors_allowed(self.org, origin):
            return None
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": "X-Okta-Request-Id, X-Rate-Limit-Limit, "
            "X-Rate-Limit-Remaining, X-Rate-Limit-Reset, Link, WWW-Authenticate",
            "Vary": "Origin",
        }

    @staticmethod
    async def _preflight(send: Send, scope: Scope, extra: dict[str, str]) -> None:
        requested = next(
            (v.decode() for k, v in scope["headers"] if k == b"access-control-request-headers"),
            "",
        )
        headers = {
            **extra,
            "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
            "Access-Control-Allow-Headers": requested
            or "Accept, Authorization, Content-Type, X-Okta-User-Agent-Extended",
            "Access-Control-Max-Age": "86400",
        }
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _error(send: Send, err: OktaApiError, extra: dict[str, str]) -> None:
        body = json.dumps(err.body()).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        headers.extend((k.lower().encode(), v.encode()) for k, v in extra.items())
        await send({"type": "http.response.start", "status": err.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _okta_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OktaApiError)
    return exc.response()


async def _oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return OktaApiError("E0000022").response()
    if exc.status_code == 404:
        return OktaApiError("E0000007", f"Resource not found: {request.url.path}").response()
    return JSONResponse(
        {"errorCode": "E0000009", "errorSummary": str(exc.detail)}, status_code=exc.status_code
    )


async def _server_error(request: Request, exc: Exception) -> Response:
    return OktaApiError("E0000009").response()


async def _shape_error(request: Request, exc: Exception) -> Response:
    """A body whose values have the wrong JSON types (``"label": []``) fails deep in a handler.

    Okta's deserializer rejects such bodies up front with E0000003, so answer exactly that for
    writes; anything else of this kind is a sandbox bug, logged and answered with E0000009.
    """
    if request.method in ("POST", "PUT", "PATCH"):
        log.debug("malformed body on %s %s: %r", request.method, request.url.path, exc)
        if request.url.path.startswith(("/oauth2/", "/.well-known/")):
            return OAuthError("invalid_request", "The request is malformed.").response()
        return OktaApiError("E0000003").response()
    log.error("error on %s %s", request.method, request.url.path, exc_info=exc)
    return OktaApiError("E0000009").response()


# ---- sandbox admin endpoints ------------------------------------------------------------------------


async def get_faults(request: Request) -> Response:
    require_admin(request)
    return JSONResponse(org_of(request).faults.to_json())


async def set_faults(request: Request) -> Response:
    require_admin(request)
    body: dict[str, Any] = await read_json(request, required=True)
    try:
        faults = Faults.parse(body)
    except (ValueError, TypeError) as exc:
        raise OktaApiError("E0000001", "faults", [str(exc)]) from exc
    org_of(request).faults = faults
    return JSONResponse(faults.to_json())


async def clear_faults(request: Request) -> Response:
    require_admin(request)
    org_of(request).faults = Faults()
    return Response(status_code=204)


async def get_rate_limits(request: Request) -> Response:
    require_admin(request)
    return JSONResponse(org_of(request).rate_limiter.limits)


async def get_refused(request: Request) -> Response:
    """The 429s answered per family since start-up, e.g. ``{"groups": 2}``."""
    require_admin(request)
    return JSONResponse(org_of(request).rate_limiter.refused)


async def set_rate_limits(request: Request) -> Response:
    """Shrink (or reset with ``{}``) the per-family buckets, e.g. ``{"apps": 3}``, or set a
    preset of Okta's published limits: ``{"preset": "okta-defaults"}``."""
    require_admin(request)
    body = await read_json(request)
    limiter = org_of(request).rate_limiter
    if not body:
        limiter.reset()
    elif isinstance(body, dict) and "preset" in body:
        name = body["preset"]
        if not isinstance(name, str) or name not in PRESETS or len(body) > 1:
            raise OktaApiError(
                "E0000001",
                "preset",
                [f"preset: must be one of {', '.join(sorted(PRESETS))}, alone"],
            )
        limiter.configure(PRESETS[name])
    else:
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in body.values()
        ):
            raise OktaApiError(
                "E0000001", "limits", ["limits: values must be non-negative integers"]
            )
        limiter.configure(body)
    return JSONResponse(limiter.limits)


admin_routes = [
    Route("/__sandbox/faults", get_faults, methods=["GET"]),
    Route("/__sandbox/faults", set_faults, methods=["POST"]),
    Route("/__sandbox/faults", clear_faults, methods=["DELETE"]),
    Route("/__sandbox/ratelimits", get_rate_limits, methods=["GET"]),
    Route("/__sandbox/ratelimits/refused", get_refused, methods=["GET"]),
    Route("/__sandbox/ratelimits", set_rate_limits, methods=["POST"]),
]


def create_okta_app(org: OktaOrg) -> ASGIApp:
    """The ASGI app serving ``org``: Management API, OIDC, authn and hosted pages."""
    idx.check_environment()  # OKTALAB_SANDBOX_PIPELINE: refuse a bad value at start
    widget.check_environment()
    routes = [
        *resources.routes,
        *apps.routes,
        *assignments.routes,
        *authz.routes,
        *authn.routes,
        *idx.routes,
        *widget.routes,
        *oidc.routes,
        *pages.routes,
        *schemas.routes,
        *admin_routes,
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            OktaApiError: _okta_error,
            OAuthError: _oauth_error,
            HTTPException: _http_error,
            TypeError: _shape_error,
            AttributeError: _shape_error,
            ValueError: _shape_error,
            KeyError: _shape_error,
            Exception: _server_error,
        },
    )
    app.state.org = org
    return OktaHeadersMiddleware(app, org)
