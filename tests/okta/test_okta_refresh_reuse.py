"""Refresh-token reuse detection, as Okta documents it (guides/refresh-tokens, "Refresh token
reuse detection"): a rotated refresh token used again after the grace period (``leeway``)
makes Okta invalidate the most recently issued refresh token and the access tokens issued
since the user authenticated. Within the grace period the old token still works."""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from okta_support import REDIRECT, Sandbox, create_spa, session_token


def _sign_in(sandbox: Sandbox, client_id: str) -> dict:
    verifier = "r" * 60
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )
    params = {
        "client_id": client_id,
        "response_type": "code",
        "scope": "openid offline_access",
        "redirect_uri": REDIRECT,
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "sessionToken": session_token(sandbox),
    }
    loc = httpx.get(f"{sandbox.url}/oauth2/default/v1/authorize?{urlencode(params)}").headers[
        "location"
    ]
    code = parse_qs(urlsplit(loc).query)["code"][0]
    tok = httpx.post(
        f"{sandbox.url}/oauth2/default/v1/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
    assert tok.status_code == 200, tok.text
    return tok.json()


def _refresh(sandbox: Sandbox, client_id: str, refresh: str) -> httpx.Response:
    return httpx.post(
        f"{sandbox.url}/oauth2/default/v1/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id},
    )


def _active(sandbox: Sandbox, client_id: str, token: str) -> bool:
    return bool(
        httpx.post(
            f"{sandbox.url}/oauth2/default/v1/introspect",
            data={"token": token, "client_id": client_id},
        ).json()["active"]
    )


def test_reuse_after_the_grace_period_revokes_the_newest_tokens(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    client_id = create_spa(api, "Reuse detection SPA", leeway=0)["id"]
    first = _sign_in(sandbox, client_id)
    second = _refresh(sandbox, client_id, first["refresh_token"])
    assert second.status_code == 200
    newest = second.json()
    assert _active(sandbox, client_id, newest["access_token"])
    time.sleep(0.01)  # past the zero-second grace period

    reused = _refresh(sandbox, client_id, first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # the newest refresh token and every access token of the chain are now invalid
    after = _refresh(sandbox, client_id, newest["refresh_token"])
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
    assert not _active(sandbox, client_id, newest["access_token"])
    assert not _active(sandbox, client_id, first["access_token"])


def test_reuse_within_the_grace_period_is_allowed(sandbox: Sandbox, api: httpx.Client) -> None:
    client_id = create_spa(api, "Grace period SPA", leeway=60)["id"]
    first = _sign_in(sandbox, client_id)
    second = _refresh(sandbox, client_id, first["refresh_token"])
    again = _refresh(sandbox, client_id, first["refresh_token"])  # a retry, e.g. a lost answer
    assert second.status_code == 200 and again.status_code == 200
    assert _refresh(sandbox, client_id, again.json()["refresh_token"]).status_code == 200
    assert _active(sandbox, client_id, second.json()["access_token"])
