"""What Gloo's ext-auth-service does with an AuthConfig: validate it, then judge requests.

Only ``oauth2.accessTokenValidation`` with a local or remote JWKS is implemented (what the
guide configures). The HTTP codes follow ext-auth-service >= 0.19.19: no/unparseable token,
unknown ``kid``, bad signature, future ``nbf``/``iat``, wrong issuer or scopes -> 403;
expired ``exp`` -> 401. Every other config kind fails closed (403), as an auth server that
cannot evaluate a config denies the request.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from jwt import PyJWK

from .gojson import GoJSONError, go_type_name, loads as go_loads

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SUPPORTED_ALGS = {
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
}
KNOWN_KTY = {"RSA", "EC", "OKP", "oct"}
#: Verified tokens a key set remembers (least recently used dropped first).
VERIFIED_TOKENS = 1024


def parse_jwks(text: str) -> Obj:
    """Parse a JWKS the way the Go service does; raise ValueError with its wording."""
    try:
        doc = go_loads(text)
    except GoJSONError:
        raise
    if not isinstance(doc, dict):
        raise ValueError(
            f"json: cannot unmarshal {go_type_name(doc)} into Go value of type jose.JSONWebKeySet"
        )
    keys = doc.get("keys")
    if keys is None:
        raise ValueError("invalid JWKS: no keys array")
    if not isinstance(keys, list):
        raise ValueError(
            f"json: cannot unmarshal {go_type_name(keys)} into Go struct field "
            "JSONWebKeySet.keys of type []jose.JSONWebKey"
        )
    for key in keys:
        if not isinstance(key, dict):
            raise ValueError(
                f"json: cannot unmarshal {go_type_name(key)} into Go struct field "
                "JSONWebKeySet.keys of type jose.JSONWebKey"
            )
        kty = key.get("kty", "")
        if kty not in KNOWN_KTY:
            raise ValueError(f"square/go-jose: unknown json web key type '{kty}'")
        if kty == "RSA" and (not key.get("n") or not key.get("e")):
            raise ValueError("square/go-jose: invalid RSA key, missing n/e values")
    return doc


class KeySet:
    """A parsed JWKS ready for verification: the signing keys by ``kid`` (``use: sig``), a
    verifier per key and algorithm built on first use and kept (building an RSA public key
    from ``n``/``e`` costs more than checking a signature with it), and the claims of the
    last :data:`VERIFIED_TOKENS` tokens whose signature these keys verified, so a client
    sending the same access token again costs no second signature check (as Envoy's
    ``jwt_authn`` keeps verified tokens, its ``jwt_cache_config``). Time, issuer, audience
    and scope checks still run on every request.
    """

    def __init__(self, doc: Obj) -> None:
        self.doc = doc
        self.by_kid: dict[str, Obj] = {}
        for k in doc.get("keys") or []:
            if isinstance(k, dict) and k.get("use") == "sig" and k.get("kid"):
                self.by_kid.setdefault(k["kid"], k)  # the first key with a kid wins
        self._verifiers: dict[tuple[str, str], PyJWK] = {}
        self._verified: OrderedDict[tuple[str, str, str], Obj] = OrderedDict()

    def verified(self, token: str, kid: str, alg: str) -> Obj | None:
        """The claims of ``token`` if these keys verified its signature before, else None."""
        hit = self._verified.get((token, kid, alg))
        if hit is not None:
            self._verified.move_to_end((token, kid, alg))
        return hit

    def remember(self, token: str, kid: str, alg: str, claims: Obj) -> None:
        self._verified[(token, kid, alg)] = claims
        while len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)

    def verifier(self, kid: str, alg: str) -> PyJWK:
        """The key for ``kid`` as a PyJWT verifier for ``alg``; raises what PyJWK raises."""
        hit = self._verifiers.get((kid, alg))
        if hit is None:
            hit = self._verifiers[(kid, alg)] = PyJWK(self.by_kid[kid], algorithm=alg)
        return hit


@functools.lru_cache(maxsize=64)
def inline_keyset(text: str) -> KeySet:
    """``localJwks.inlineString`` parsed once per distinct text (an AuthConfig keeps it until
    it changes); raises ValueError like :func:`parse_jwks` (errors are not cached)."""
    return KeySet(parse_jwks(text))


def _token_header(token: str) -> Obj | None:
    """The JOSE header of a compact JWS (RFC 7515 §7.1), or None when it is not one; the
    signature check (:func:`jwt.decode`) then parses the whole token strictly."""
    head, dot, _ = token.partition(".")
    if not dot or not head:
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):
        return None
    return header if isinstance(header, dict) else None


def validate_authconfig_spec(spec: Obj) -> str | None:
    """The reason an ext-auth-service would reject this AuthConfig spec, or None."""
    configs = spec.get("configs")
    if not isinstance(configs, list) or not configs:
        return "no auth configs specified"
    for cfg in configs:
        atv = ((cfg or {}).get("oauth2") or {}).get("accessTokenValidation") or {}
        jwt_cfg = atv.get("jwt")
        if jwt_cfg is None:
            continue
        local = jwt_cfg.get("localJwks")
        if local is not None:
            try:
                parse_jwks(str(local.get("inlineString", "")))
            except ValueError as err:
                return str(err)
        elif not (jwt_cfg.get("remoteJwks") or {}).get("url"):
            return "jwt validation requires either localJwks or remoteJwks"
    return None


@dataclass
class Decision:
    """The ext-auth verdict: ``status`` 200 lets the request through."""

    status: int
    reason: str = ""
    upstream_headers: dict[str, str] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.status == 200


DENY = 403
UNKNOWN_KID = "no signing key matches the token kid"


class JwksCache:
    """Remote JWKS fetched server-side and kept for ``refreshInterval`` (default 5 minutes).

    ``refresh=True`` refetches before the interval ends: the gateway does this once when a
    token names a ``kid`` the cached set lacks, so a key rotation at the authorization server
    (the new ACTIVE key) is picked up at the first token it signed.
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, KeySet]] = {}

    async def get(self, url: str, ttl: float = 300.0, *, refresh: bool = False) -> KeySet | None:
        hit = self._cache.get(url)
        if hit and not refresh and time.monotonic() - hit[0] < ttl:
            return hit[1]
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                resp = await client.get(url)
            resp.raise_for_status()
            keys = KeySet(parse_jwks(resp.text))
        except (httpx.HTTPError, ValueError) as err:
            log.warning("remote JWKS %s unavailable: %s", url, err)
            return hit[1] if hit else None
        self._cache[url] = (time.monotonic(), keys)
        return keys


def bearer_token(headers: Any) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _duration_seconds(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return float(value.rstrip("s"))
    except ValueError:
        return default


def _token_scopes(claims: Obj) -> set[str]:
    scopes: set[str] = set()
    for name in ("scope", "scp"):
        v = claims.get(name)
        if isinstance(v, str):
            scopes.update(v.split())
        elif isinstance(v, list):
            scopes.update(str(s) for s in v)
    return scopes


def check_jwt(token: str, jwks: Obj | KeySet, jwt_cfg: Obj, atv: Obj) -> Decision:
    """Validate one access token against one ``accessTokenValidation`` config.

    ``jwks``: a JWKS document, or a :class:`KeySet` kept across requests (the gateway's way:
    the set is parsed and its verifier keys built once, not per request).
    """
    keys = jwks if isinstance(jwks, KeySet) else KeySet(jwks)
    header = _token_header(token)
    if header is None:
        return Decision(DENY, "malformed token")
    kid, alg = header.get("kid"), header.get("alg")
    if not kid or not alg or not isinstance(kid, str) or not isinstance(alg, str):
        return Decision(DENY, "token header lacks kid or alg")
    if alg not in SUPPORTED_ALGS:
        return Decision(DENY, f"unsupported alg {alg}")
    key_data = keys.by_kid.get(kid)
    if key_data is None:
        return Decision(DENY, UNKNOWN_KID)
    if key_data.get("alg") and key_data["alg"] != alg:
        return Decision(DENY, "token alg does not match the key")
    claims = keys.verified(token, kid, alg)
    if claims is None:
        try:
            claims = jwt.decode(
                token,
                key=keys.verifier(kid, alg),
                algorithms=[alg],
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError) as err:
            return Decision(DENY, f"invalid token: {type(err).__name__}")
        keys.remember(token, kid, alg, claims)
    now = time.time()
    exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
    for value in (exp, nbf, iat):
        if value is not None and not isinstance(value, int | float):
            return Decision(DENY, "non-numeric time claim")
    if exp is not None and now >= exp:
        return Decision(401, "token expired")
    if nbf is not None and now < nbf:
        return Decision(DENY, "token not valid yet (nbf)")
    if iat is not None and now < iat:
        return Decision(DENY, "token issued in the future (iat)")
    issuer = jwt_cfg.get("issuer")
    if issuer and claims.get("iss") != issuer:
        return Decision(DENY, "issuer mismatch")
    audiences = jwt_cfg.get("audiences") or []
    if audiences:
        aud = claims.get("aud")
        token_aud = {aud} if isinstance(aud, str) else set(aud or [])
        if not token_aud.intersection(audiences):
            return Decision(DENY, "audience mismatch")
    required = ((atv.get("requiredScopes") or {}).get("scope")) or []
    if required and not set(required).issubset(_token_scopes(claims)):
        return Decision(DENY, "missing required scopes")
    headers: dict[str, str] = {}
    for mapping in atv.get("claimsToHeaders") or []:
        claim, name = mapping.get("claim"), mapping.get("header")
        if not claim or not name or claim not in claims:
            continue
        value = claims[claim]
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if mapping.get("append") and name.lower() in headers:
            headers[name.lower()] += "," + text
        else:
            headers[name.lower()] = text
    return Decision(200, "ok", headers)


async def authorize(headers: Any, spec: Obj, cache: JwksCache) -> Decision:
    """Run every config of an AuthConfig spec (all must pass: the default booleanExpr is AND)."""
    configs = spec.get("configs") or []
    if not configs:
        return Decision(DENY, "empty auth config")
    upstream: dict[str, str] = {}
    for cfg in configs:
        atv = ((cfg or {}).get("oauth2") or {}).get("accessTokenValidation")
        if not atv or "jwt" not in atv:
            return Decision(DENY, "unsupported auth config in the sandbox")
        token = bearer_token(headers)
        if token is None:
            return Decision(DENY, "no bearer token")
        jwt_cfg = atv.get("jwt") or {}
        if jwt_cfg.get("localJwks") is not None:
            try:
                jwks: KeySet | None = inline_keyset(
                    str(jwt_cfg["localJwks"].get("inlineString", ""))
                )
            except ValueError:
                jwks = None
        else:
            remote = jwt_cfg.get("remoteJwks") or {}
            ttl = _duration_seconds(remote.get("refreshInterval"), 300.0)
            jwks = await cache.get(remote.get("url", ""), ttl) if remote.get("url") else None
        if jwks is None:
            return Decision(DENY, "JWKS unavailable")
        decision = check_jwt(token, jwks, jwt_cfg, atv)
        if decision.reason == UNKNOWN_KID and jwt_cfg.get("localJwks") is None:
            fresh = await cache.get(remote["url"], ttl, refresh=True)
            if fresh is not None:
                decision = check_jwt(token, fresh, jwt_cfg, atv)
        if not decision.allowed:
            return decision
        upstream.update(decision.upstream_headers)
    return Decision(200, "ok", upstream)
