"""A small standard OIDC provider for the portal tests (discovery, authorize, token, JWKS).

It auto-approves the user set in ``IdP.user`` (the consent/login UI is the real Okta
sandbox's business; here only the protocol matters) and checks exactly what a strict IdP
checks: client id and secret (byte for byte), redirect_uri, PKCE S256, one-time codes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route


@dataclass
class IdP:
    client_id: str = "0oaportaltest"
    client_secret: str = "portal-secret"
    redirect_uris: list[str] = field(default_factory=list)
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "00u1",
            "email": "new.user@example.com",
            "groups": ["PetstoreUsers"],
        }
    )
    issuer: str = ""
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": "idp-kid", "use": "sig", "alg": "RS256"})
        self.jwk = jwk

    def app(self) -> Starlette:
        async def discovery(request: Request) -> JSONResponse:
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/v1/authorize",
                    "token_endpoint": f"{self.issuer}/v1/token",
                    "jwks_uri": f"{self.issuer}/v1/keys",
                    "end_session_endpoint": f"{self.issuer}/v1/logout",
                    "response_types_supported": ["code"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                }
            )

        async def keys(request: Request) -> JSONResponse:
            return JSONResponse({"keys": [self.jwk]})

        async def authorize(request: Request) -> Any:
            q = request.query_params
            if q.get("client_id") != self.client_id:
                return JSONResponse({"error": "invalid_client"}, status_code=400)
            if self.redirect_uris and q.get("redirect_uri") not in self.redirect_uris:
                return JSONResponse(
                    {"error": "invalid_request", "error_description": "redirect_uri not allowed"},
                    status_code=400,
                )
            code = secrets.token_urlsafe(16)
            self.codes[code] = dict(q)
            return RedirectResponse(
                f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}",
                status_code=302,
            )

        async def token(request: Request) -> JSONResponse:
            form = await request.form()
            auth = request.headers.get("authorization", "")
            cid, _, secret = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
            self.token_requests.append({"client_id": cid, "secret_len": len(secret)})
            if cid != self.client_id or secret != self.client_secret:
                return JSONResponse(
                    {
                        "error": "invalid_client",
                        "error_description": "Invalid value for 'client_id' parameter.",
                    },
                    status_code=401,
                )
            req = self.codes.pop(str(form.get("code")), None)
            if req is None or form.get("redirect_uri") != req.get("redirect_uri"):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            verifier = str(form.get("code_verifier", ""))
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if challenge != req.get("code_challenge"):
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "PKCE verification failed"},
                    status_code=400,
                )
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "aud": self.client_id,
                "iat": now,
                "exp": now + 3600,
                "nonce": req.get("nonce"),
                **self.user,
            }
            if "groups" not in req.get("scope", "").split():
                claims.pop("groups", None)
            id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "idp-kid"})
            return JSONResponse(
                {
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "access_token": "at-" + secrets.token_urlsafe(8),
                    "id_token": id_token,
                    "scope": req.get("scope"),
                }
            )

        return Starlette(
            routes=[
                Route("/oauth2/default/.well-known/openid-configuration", discovery),
                Route("/oauth2/default/v1/keys", keys),
                Route("/oauth2/default/v1/authorize", authorize),
                Route("/oauth2/default/v1/token", token, methods=["POST"]),
            ]
        )
