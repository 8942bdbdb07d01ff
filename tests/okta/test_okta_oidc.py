"""Authorization code + PKCE, refresh, introspection and the refusals, driven by Authlib."""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.jose import JsonWebKey, jwt
from okta_support import (
    LOGOUT,
    REDIRECT,
    Sandbox,
    create_spa,
    create_web,
    everyone_id,
    session_token,
)

SCOPES = "openid profile email offline_access"


def _discovery(sandbox: Sandbox, as_path: str = "/oauth2/default") -> dict:
    r = httpx.get(f"{sandbox.url}{as_path}/.well-known/openid-configuration")
    assert r.status_code == 200
    return r.json()


def _code(sandbox: Sandbox, url: str) -> dict[str, str]:
    """Drive /authorize headlessly with a sessionToken; read Location without following."""
    st = session_token(sandbox)
    r = httpx.get(url + "&sessionToken=" + st, follow_redirects=False)
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert location.startswith(REDIRECT), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()} | {"location": location}


def _validate_id_token(
    sandbox: Sandbox, meta: dict, id_token: str, client_id: str, nonce: str
) -> dict:
    jwks = httpx.get(meta["jwks_uri"]).json()
    claims = jwt.decode(
        id_token,
        JsonWebKey.import_key_set(jwks),
        claims_options={
            "iss": {"essential": True, "value": meta["issuer"]},
            "aud": {"essential": True, "value": client_id},
            "nonce": {"essential": True, "value": nonce},
        },
    )
    claims.validate()
    return claims


@pytest.fixture(scope="module")
def spa(sandbox: Sandbox) -> dict:
    with sandbox.client() as api:
        return create_spa(api, "Authlib SPA", leeway=0)


def test_code_pkce_flow_with_authlib(sandbox: Sandbox, spa: dict) -> None:
    meta = _discovery(sandbox)
    assert meta["issuer"] == f"{sandbox.url}/oauth2/default"
    client_id = spa["credentials"]["oauthClient"]["client_id"]
    client = OAuth2Client(
        client_id,
        redirect_uri=REDIRECT,
        scope=SCOPES,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = generate_token(64)
    nonce = generate_token(16)
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    result = _code(sandbox, url)
    assert result["state"] == state
    token = client.fetch_token(
        meta["token_endpoint"], authorization_response=result["location"], code_verifier=verifier
    )
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    assert set(token["scope"].split()) == set(SCOPES.split())
    claims = _validate_id_token(sandbox, meta, token["id_token"], client_id, nonce)
    assert claims["sub"].startswith("00u") and claims["ver"] == 1
    assert claims["jti"].startswith("ID.") and claims["amr"] == ["pwd"]
    assert claims["idp"].startswith("00o")
    assert claims["preferred_username"] == sandbox.username
    assert claims["email"] == sandbox.username
    assert claims["name"] == "Test User"
    assert "auth_time" in claims and "at_hash" in claims
    digest = hashlib.sha256(token["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).decode().rstrip("=")

    jwks = httpx.get(meta["jwks_uri"]).json()
    at = jwt.decode(token["access_token"], JsonWebKey.import_key_set(jwks))
    assert at["iss"] == meta["issuer"] and at["aud"] == "api://default"
    assert at["cid"] == client_id and at["uid"] == claims["sub"]
    assert at["sub"] == sandbox.username and at["jti"].startswith("AT.")
    assert sorted(at["scp"]) == sorted(SCOPES.split())

    info = httpx.get(
        meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"] and info.json()["email"] == sandbox.username

    intro = httpx.post(
        meta["introspection_endpoint"],
        data={"token": token["access_token"], "client_id": client_id},
    ).json()
    assert intro["active"] is True and intro["client_id"] == client_id

    # refresh with rotation (leeway 0): the old refresh token dies at once
    refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    r = httpx.post(
        meta["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": client_id,
        },
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

    # revoke the access token; introspection and userinfo then refuse it
    assert (
        httpx.post(
            meta["revocation_endpoint"],
            data={"token": refreshed["access_token"], "client_id": client_id},
        ).status_code
        == 200
    )
    intro = httpx.post(
        meta["introspection_endpoint"],
        data={"token": refreshed["access_token"], "client_id": client_id},
    ).json()
    assert intro == {"active": False}
    r = httpx.get(
        meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {refreshed['access_token']}"}
    )
    assert r.status_code == 401 and "invalid_token" in r.headers["www-authenticate"]

    # logout: registered post_logout_redirect_uri only
    bad = httpx.get(
        meta["end_session_endpoint"],
        params={"id_token_hint": token["id_token"], "post_logout_redirect_uri": "http://evil/"},
    )
    assert bad.status_code == 400
    ok = httpx.get(
        meta["end_session_endpoint"],
        params={
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": LOGOUT,
            "state": "bye",
        },
    )
    assert ok.status_code == 302 and ok.headers["location"] == LOGOUT + "?state=bye"


def _authorize_url(sandbox: Sandbox, client_id: str, **extra: str) -> str:
    verifier = extra.pop("verifier", "v" * 50)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )
    params = {
        "client_id": client_id,
        "response_type": "code",
        "scope": "openid profile",
        "redirect_uri": REDIRECT,
        "state": "st",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return str(httpx.URL(f"{sandbox.url}/oauth2/default/v1/authorize", params=params))


def _exchange(sandbox: Sandbox, **data: str) -> httpx.Response:
    return httpx.post(
        f"{sandbox.url}/oauth2/default/v1/token",
        data={"grant_type": "authorization_code", "redirect_uri": REDIRECT, **data},
    )


def test_unregistered_redirect_uri_is_not_redirected(sandbox: Sandbox, spa: dict) -> None:
    url = _authorize_url(sandbox, spa["id"], redirect_uri="http://evil.example.com/cb")
    r = httpx.get(url + "&sessionToken=" + session_token(sandbox), follow_redirects=False)
    assert r.status_code == 400 and "redirect_uri" in r.text


def test_public_client_requires_pkce(sandbox: Sandbox, spa: dict) -> None:
    url = _authorize_url(sandbox, spa["id"])
    url = url.replace("code_challenge=", "x=")
    r = httpx.get(url, follow_redirects=False)
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["error"] == ["invalid_request"] and "PKCE" in q["error_description"][0]


def test_wrong_or_missing_verifier_and_code_reuse(sandbox: Sandbox, spa: dict) -> None:
    code = _code(sandbox, _authorize_url(sandbox, spa["id"], verifier="a" * 50))["code"]
    r = _exchange(sandbox, client_id=spa["id"], code=code, code_verifier="b" * 50)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

    code = _code(sandbox, _authorize_url(sandbox, spa["id"], verifier="a" * 50))["code"]
    r = _exchange(sandbox, client_id=spa["id"], code=code)
    assert r.status_code == 400 and r.json()["error"] in ("invalid_request", "invalid_grant")

    code = _code(sandbox, _authorize_url(sandbox, spa["id"], verifier="a" * 50))["code"]
    ok = _exchange(sandbox, client_id=spa["id"], code=code, code_verifier="a" * 50)
    assert ok.status_code == 200, ok.text
    assert ok.headers["cache-control"] == "no-store"
    again = _exchange(sandbox, client_id=spa["id"], code=code, code_verifier="a" * 50)
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "The authorization code is invalid or has expired.",
    }


def test_confidential_client_secret_basic_and_wrong_secret(sandbox: Sandbox) -> None:
    with sandbox.client() as api:
        web = create_web(api, "Petstore Web")
    client_id = web["credentials"]["oauthClient"]["client_id"]
    secret = web["credentials"]["oauthClient"]["client_secret"]
    assert len(secret) >= 14
    url = _authorize_url(sandbox, client_id).replace("code_challenge", "x_cc")
    code = _code(sandbox, url)["code"]
    r = _exchange(sandbox, code=code, client_id=client_id, client_secret="wrong-secret-123456")
    # a wrong secret in the body is refused
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = httpx.post(
        f"{sandbox.url}/oauth2/default/v1/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(client_id, "not-the-secret-000"),
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # the right secret in the body (client_secret_post) is accepted too, as Okta does
    r = _exchange(sandbox, code=code, client_id=client_id, client_secret=secret)
    assert r.status_code == 200, r.text
    code = _code(sandbox, url)["code"]
    client = OAuth2Client(client_id, secret, token_endpoint_auth_method="client_secret_basic")
    token = client.fetch_token(
        f"{sandbox.url}/oauth2/default/v1/token", code=code, redirect_uri=REDIRECT
    )
    assert "id_token" in token and "refresh_token" not in token
    # the secret is shown once: GET does not return it
    with sandbox.client() as api:
        got = api.get(f"/api/v1/apps/{web['id']}").json()
    assert "client_secret" not in got["credentials"]["oauthClient"]


def test_no_session_redirects_to_hosted_sign_in_and_prompt_none(
    sandbox: Sandbox, spa: dict
) -> None:
    url = _authorize_url(sandbox, spa["id"])
    r = httpx.get(url, follow_redirects=False)
    assert r.status_code == 302
    assert r.headers["location"].startswith(f"{sandbox.url}/login/login.htm?fromURI=")
    r = httpx.get(url + "&prompt=none", follow_redirects=False)
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["error"] == ["login_required"] and q["state"] == ["st"]


def test_session_cookie_makes_prompt_none_work(sandbox: Sandbox, spa: dict) -> None:
    with httpx.Client(base_url=sandbox.url) as browser:
        r = browser.get(
            _authorize_url(sandbox, spa["id"]) + "&sessionToken=" + session_token(sandbox)
        )
        assert r.status_code == 302 and "code=" in r.headers["location"]
        cookie = r.headers["set-cookie"]
        assert (
            "sid=" in cookie
            and "HttpOnly" in cookie
            and "SameSite=lax" in cookie.replace("Lax", "lax")
        )
        r = browser.get(_authorize_url(sandbox, spa["id"]) + "&prompt=none")
        assert r.status_code == 302 and "code=" in r.headers["location"]


def test_session_token_is_one_time_and_bad_password(sandbox: Sandbox, spa: dict) -> None:
    st = session_token(sandbox)
    first = httpx.get(_authorize_url(sandbox, spa["id"]) + "&sessionToken=" + st)
    assert "code=" in first.headers["location"]
    second = httpx.get(_authorize_url(sandbox, spa["id"]) + "&sessionToken=" + st)
    assert "/login/login.htm" in second.headers["location"]
    bad = httpx.post(
        f"{sandbox.url}/api/v1/authn", json={"username": sandbox.username, "password": "nope"}
    )
    assert bad.status_code == 401 and bad.json()["errorCode"] == "E0000004"
    assert bad.json()["errorSummary"] == "Authentication failed"


def test_unassigned_user_is_denied(sandbox: Sandbox) -> None:
    with sandbox.client() as api:
        lonely = create_spa(api, "Unassigned SPA", assign=False)
    r = httpx.get(_authorize_url(sandbox, lonely["id"]) + "&sessionToken=" + session_token(sandbox))
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["error"] == ["access_denied"]


def test_unknown_scope_and_missing_state(sandbox: Sandbox, spa: dict) -> None:
    r = httpx.get(_authorize_url(sandbox, spa["id"], scope="openid groups"))
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["error"] == ["invalid_scope"]
    r = httpx.get(_authorize_url(sandbox, spa["id"], state=""))
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["error"] == ["invalid_request"]


def test_custom_claims_in_tokens(sandbox: Sandbox, spa: dict) -> None:
    with sandbox.client() as api:
        org_claim = api.post(
            "/api/v1/authorizationServers/default/claims",
            json={
                "name": "organization",
                "status": "ACTIVE",
                "claimType": "RESOURCE",
                "valueType": "EXPRESSION",
                "value": "user.organization",
                "conditions": {"scopes": []},
            },
        )
        assert org_claim.status_code == 201, org_claim.text
        email_claim = api.post(
            "/api/v1/authorizationServers/default/claims",
            json={
                "name": "email",
                "status": "ACTIVE",
                "claimType": "RESOURCE",
                "valueType": "EXPRESSION",
                "value": "user.email",
                "conditions": {"scopes": []},
            },
        )
        assert email_claim.status_code == 201
        groups_claim = api.post(
            "/api/v1/authorizationServers/default/claims",
            json={
                "name": "groups",
                "status": "ACTIVE",
                "claimType": "RESOURCE",
                "valueType": "GROUPS",
                "group_filter_type": "REGEX",
                "value": ".*",
                "conditions": {"scopes": ["openid"]},
            },
        )
        assert groups_claim.status_code == 201
        id_claim = api.post(
            "/api/v1/authorizationServers/default/claims",
            json={
                "name": "tier",
                "status": "ACTIVE",
                "claimType": "IDENTITY",
                "valueType": "EXPRESSION",
                "value": '"gold"',
                "alwaysIncludeInToken": True,
                "conditions": {"scopes": []},
            },
        )
        assert id_claim.status_code == 201
        userinfo_claim = api.post(
            "/api/v1/authorizationServers/default/claims",
            json={
                "name": "nick",
                "status": "ACTIVE",
                "claimType": "IDENTITY",
                "valueType": "EXPRESSION",
                "value": "user.firstName",
                "alwaysIncludeInToken": False,
                "conditions": {"scopes": []},
            },
        )
        assert userinfo_claim.status_code == 201
    try:
        code = _code(sandbox, _authorize_url(sandbox, spa["id"], verifier="c" * 50))["code"]
        tok = _exchange(sandbox, client_id=spa["id"], code=code, code_verifier="c" * 50).json()
        at = jwt.decode(
            tok["access_token"],
            JsonWebKey.import_key_set(httpx.get(f"{sandbox.url}/oauth2/default/v1/keys").json()),
        )
        assert at["organization"] == "oktalab"
        assert at["email"] == sandbox.username
        assert "Everyone" in at["groups"]
        idt = jwt.decode(
            tok["id_token"],
            JsonWebKey.import_key_set(httpx.get(f"{sandbox.url}/oauth2/default/v1/keys").json()),
        )
        assert idt["tier"] == "gold" and "organization" not in idt and "nick" not in idt
        info = httpx.get(
            f"{sandbox.url}/oauth2/default/v1/userinfo",
            headers={"Authorization": f"Bearer {tok['access_token']}"},
        ).json()
        assert info["nick"] == "Test" and info["tier"] == "gold"
    finally:
        with sandbox.client() as api:
            for c in (org_claim, email_claim, groups_claim, id_claim, userinfo_claim):
                api.delete(f"/api/v1/authorizationServers/default/claims/{c.json()['id']}")


def test_code_expires(sandbox: Sandbox, spa: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    code = _code(sandbox, _authorize_url(sandbox, spa["id"], verifier="d" * 50))["code"]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 301)
    r = _exchange(sandbox, client_id=spa["id"], code=code, code_verifier="d" * 50)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_implicit_flow_returns_tokens_in_fragment(sandbox: Sandbox) -> None:
    with sandbox.client() as api:
        body = {
            "name": "oidc_client",
            "label": "Implicit SPA",
            "signOnMode": "OPENID_CONNECT",
            "settings": {
                "oauthClient": {
                    "application_type": "browser",
                    "grant_types": ["implicit"],
                    "response_types": ["id_token", "token"],
                    "redirect_uris": [REDIRECT],
                }
            },
        }
        app = api.post("/api/v1/apps", json=body).json()
        api.put(f"/api/v1/apps/{app['id']}/groups/{everyone_id(api)}", json={})
    params = {
        "client_id": app["id"],
        "response_type": "id_token token",
        "scope": "openid email",
        "redirect_uri": REDIRECT,
        "state": "imp",
        "sessionToken": session_token(sandbox),
    }
    r = httpx.get(f"{sandbox.url}/oauth2/default/v1/authorize", params=params)
    q = parse_qs(urlsplit(r.headers["location"]).fragment)
    assert q["error"] == ["invalid_request"] and "nonce" in q["error_description"][0]
    params.update(nonce="nn", sessionToken=session_token(sandbox))
    r = httpx.get(f"{sandbox.url}/oauth2/default/v1/authorize", params=params)
    fragment = parse_qs(urlsplit(r.headers["location"]).fragment)
    assert fragment["state"] == ["imp"] and fragment["token_type"] == ["Bearer"]
    claims = jwt.decode(
        fragment["id_token"][0],
        JsonWebKey.import_key_set(httpx.get(f"{sandbox.url}/oauth2/default/v1/keys").json()),
    )
    assert claims["nonce"] == "nn" and claims["email"] == sandbox.username and "at_hash" in claims


def test_refresh_token_and_session_token_expire(
    sandbox: Sandbox, spa: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _authorize_url(sandbox, spa["id"], verifier="e" * 50, scope="openid offline_access")
    code = _code(sandbox, url)["code"]
    tok = _exchange(sandbox, client_id=spa["id"], code=code, code_verifier="e" * 50).json()
    stale_session_token = session_token(sandbox)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 8 * 24 * 3600)  # past the 7-day window
    r = httpx.post(
        f"{sandbox.url}/oauth2/default/v1/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tok["refresh_token"],
            "client_id": spa["id"],
        },
    )
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_grant",
        "error_description": "The refresh token is invalid or expired.",
    }
    r = httpx.get(_authorize_url(sandbox, spa["id"]) + "&sessionToken=" + stale_session_token)
    assert "/login/login.htm" in r.headers["location"]
