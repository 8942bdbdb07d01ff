"""OIDC from the client side: discovery, JWKS, and a headless authorization-code + PKCE login.

The headless login is what a person does in the guide's Token Preview: sign a user in and
look at the tokens. It uses Okta's primary authentication (``/api/v1/authn``) for a one-time
``sessionToken``, then ``/authorize`` with PKCE (without following the redirect) and
``/token``. It needs only that password alone satisfies the org's sign-on policy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt

from .errors import OktaAPIError, VerificationError
from .settings import Secret

Json = dict[str, Any]


@dataclass(frozen=True)
class Metadata:
    """The authorization server endpoints the guide exports as environment variables."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    raw: Json = field(default_factory=dict, repr=False, compare=False)


def issuer_url(org_url: str, server_id: str) -> str:
    return f"{org_url.rstrip('/')}/oauth2/{server_id}"


def discover(
    org_url: str, server_id: str = "default", *, http: httpx.Client | None = None
) -> Metadata:
    """Read ``/.well-known/openid-configuration`` of a custom authorization server."""
    url = issuer_url(org_url, server_id) + "/.well-known/openid-configuration"
    client = http or httpx.Client(timeout=15)
    try:
        resp = client.get(url)
    finally:
        if http is None:
            client.close()
    if resp.status_code != 200:
        raise OktaAPIError.from_response(resp.status_code, "GET", url, _json_or_none(resp))
    doc = resp.json()
    missing = [
        k
        for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not doc.get(k)
    ]
    if missing:
        raise VerificationError(f"discovery document at {url} lacks {', '.join(missing)}")
    return Metadata(
        issuer=doc["issuer"],
        authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"],
        end_session_endpoint=doc.get("end_session_endpoint", ""),
        jwks_uri=doc["jwks_uri"],
        userinfo_endpoint=doc.get("userinfo_endpoint"),
        raw=doc,
    )


def fetch_jwks(jwks_uri: str, *, http: httpx.Client | None = None) -> Json:
    client = http or httpx.Client(timeout=15)
    try:
        resp = client.get(jwks_uri)
    finally:
        if http is None:
            client.close()
    if resp.status_code != 200:
        raise OktaAPIError.from_response(resp.status_code, "GET", jwks_uri, _json_or_none(resp))
    return resp.json()


def signing_keys(jwks: Any) -> list[Json]:
    """Keys Gloo's ext-auth can use: ``use: sig`` with a ``kid`` (others are ignored by Gloo)."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise VerificationError('the JWKS is not a JSON object with a "keys" array')
    return [
        k
        for k in jwks["keys"]
        if isinstance(k, dict) and k.get("use", "sig") == "sig" and k.get("kid")
    ]


def check_jwks(jwks: Any) -> list[str]:
    """Validate a JWKS before it is inlined into a policy; return the signing key ids."""
    keys = signing_keys(jwks)
    if not keys:
        raise VerificationError(
            "the JWKS holds no signing keys (use=sig with a kid); Gloo would validate no token with it"
        )
    for k in keys:
        try:
            jwt.PyJWK(k)
        except jwt.PyJWKError as exc:
            raise VerificationError(
                f"JWKS key {k.get('kid')!r} is not a usable key: {exc}"
            ) from None
    return [k["kid"] for k in keys]


def pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(48)).rstrip(b"=").decode()
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


@dataclass(frozen=True)
class Tokens:
    """Tokens from a login. The raw values are secrets: display :attr:`claims` instead."""

    access_token: Secret = field(repr=False)
    id_token: Secret | None = field(default=None, repr=False)
    refresh_token: Secret | None = field(default=None, repr=False)
    scope: str = ""

    def access_claims(self) -> Json:
        return decode_unverified(self.access_token.reveal())

    def id_claims(self) -> Json:
        return decode_unverified(self.id_token.reveal()) if self.id_token else {}

    def access_header(self) -> Json:
        return jwt.get_unverified_header(self.access_token.reveal())


def decode_unverified(token: str) -> Json:
    return jwt.decode(token, options={"verify_signature": False})


def verify_token(
    token: str, jwks: Json, *, audience: str | None = None, issuer: str | None = None
) -> Json:
    """Verify a JWT's signature and times with the JWKS (RS256)."""
    header = jwt.get_unverified_header(token)
    for k in signing_keys(jwks):
        if k.get("kid") == header.get("kid"):
            key = jwt.PyJWK(k)
            return jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=audience,
                issuer=issuer,
                options={"verify_aud": audience is not None},
            )
    raise VerificationError(f"no key with kid {header.get('kid')!r} in the JWKS")


def headless_login(
    *,
    org_url: str,
    metadata: Metadata,
    client_id: str,
    redirect_uri: str,
    username: str,
    password: Secret,
    scopes: list[str],
    client_secret: Secret | None = None,
    http: httpx.Client | None = None,
) -> Tokens:
    """Sign ``username`` in with authorization code + PKCE, without a browser."""
    client = http or httpx.Client(timeout=20)
    try:
        authn = client.post(
            f"{org_url.rstrip('/')}/api/v1/authn",
            json={"username": username, "password": password.reveal()},
            headers={"Accept": "application/json"},
        )
        if authn.status_code != 200:
            raise OktaAPIError.from_response(
                authn.status_code, "POST", "/api/v1/authn", _json_or_none(authn)
            )
        body = authn.json()
        if body.get("status") != "SUCCESS":
            raise VerificationError(
                f"primary authentication for {username} ended in {body.get('status')}, not SUCCESS"
            )
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        nonce = secrets.token_urlsafe(16)
        resp = client.get(
            metadata.authorization_endpoint,
            params={
                "client_id": client_id,
                "response_type": "code",
                "scope": " ".join(scopes),
                "redirect_uri": redirect_uri,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "sessionToken": body["sessionToken"],
            },
            follow_redirects=False,
        )
        if resp.status_code not in (302, 303):
            raise VerificationError(
                f"/authorize answered {resp.status_code}, expected a redirect to {redirect_uri}"
            )
        location = resp.headers.get("location", "")
        query = parse_qs(urlparse(location).query)
        if "error" in query:
            raise OktaAPIError(
                status=resp.status_code,
                method="GET",
                url="/authorize",
                error_code=query["error"][0],
                summary=query.get("error_description", [""])[0],
            )
        if not location.startswith(redirect_uri) or "code" not in query:
            raise VerificationError(
                "/authorize did not redirect to the app with a code (is the redirect URI registered?)"
            )
        if query.get("state", [""])[0] != state:
            raise VerificationError("/authorize returned a different state: refusing the code")
        form = {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        auth: httpx.Auth | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT
        if client_secret is not None:
            auth = httpx.BasicAuth(client_id, client_secret.reveal())
        else:
            form["client_id"] = client_id
        tok = client.post(
            metadata.token_endpoint, data=form, auth=auth, headers={"Accept": "application/json"}
        )
        if tok.status_code != 200:
            raise OktaAPIError.from_response(tok.status_code, "POST", "/token", _json_or_none(tok))
        t = tok.json()
        tokens = Tokens(
            access_token=Secret(t["access_token"]),
            id_token=Secret(t["id_token"]) if t.get("id_token") else None,
            refresh_token=Secret(t["refresh_token"]) if t.get("refresh_token") else None,
            scope=t.get("scope", ""),
        )
        if tokens.id_token and tokens.id_claims().get("nonce") != nonce:
            raise VerificationError("the ID token's nonce does not match the one sent")
        return tokens
    finally:
        if http is None:
            client.close()


def client_credentials_valid(
    metadata: Metadata, client_id: str, secret: Secret, *, http: httpx.Client | None = None
) -> bool:
    """Ask the introspection endpoint with these client credentials: 401 means they are wrong.

    Introspecting a dummy token changes nothing and answers ``{"active": false}`` to a client
    that authenticated, so a stored secret can be checked without knowing the real one.
    """
    endpoint = metadata.raw.get("introspection_endpoint") or metadata.token_endpoint.replace(
        "/token", "/introspect"
    )
    client = http or httpx.Client(timeout=15)
    try:
        resp = client.post(
            endpoint,
            data={"token": "oktalab-credential-check", "token_type_hint": "access_token"},
            auth=(client_id, secret.reveal()),
            headers={"Accept": "application/json"},
        )
    finally:
        if http is None:
            client.close()
    if resp.status_code == 200:
        return True
    if resp.status_code in (400, 401):
        return False
    raise OktaAPIError.from_response(resp.status_code, "POST", endpoint, _json_or_none(resp))


def _json_or_none(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except (ValueError, json.JSONDecodeError):
        return None
