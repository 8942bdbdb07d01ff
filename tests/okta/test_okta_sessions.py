"""Classic Sessions API, sessionCookieRedirect, and the resource-owner password grant."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
from okta_support import REDIRECT, Sandbox, create_spa, everyone_id, session_token


def test_sessions_api_and_cookie_redirect(sandbox: Sandbox, api: httpx.Client) -> None:
    r = api.post("/api/v1/sessions", json={"sessionToken": session_token(sandbox)})
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["login"] == sandbox.username and session["status"] == "ACTIVE"
    assert session["amr"] == ["pwd"] and session["idp"]["type"] == "OKTA"
    assert api.get(f"/api/v1/sessions/{session['id']}").json()["userId"] == session["userId"]
    assert api.post(f"/api/v1/sessions/{session['id']}/lifecycle/refresh").status_code == 200
    # the session id is the browser cookie
    me = httpx.get(f"{sandbox.url}/api/v1/sessions/me", cookies={"sid": session["id"]})
    assert me.status_code == 200 and me.json()["id"] == session["id"]
    assert api.delete(f"/api/v1/sessions/{session['id']}").status_code == 204
    gone = httpx.get(f"{sandbox.url}/api/v1/sessions/me", cookies={"sid": session["id"]})
    assert gone.status_code == 404 and gone.json()["errorCode"] == "E0000007"
    reused = api.post("/api/v1/sessions", json={"sessionToken": "not-a-token"})
    assert reused.status_code == 403 and reused.json()["errorCode"] == "E0000005"

    spa = create_spa(api, "Cookie redirect SPA")
    params = {
        "client_id": spa["id"],
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": REDIRECT,
        "state": "s",
        "prompt": "none",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
    }
    authorize = f"{sandbox.url}/oauth2/default/v1/authorize?{urlencode(params)}"
    with httpx.Client() as browser:
        r = browser.get(
            f"{sandbox.url}/login/sessionCookieRedirect",
            params={"token": session_token(sandbox), "redirectUrl": authorize},
        )
        assert r.status_code == 302 and r.headers["location"] == authorize
        r = browser.get(authorize)
        assert "code=" in r.headers["location"]
        assert browser.delete(f"{sandbox.url}/api/v1/sessions/me").status_code == 204
        r = browser.get(authorize)
        assert "error=login_required" in r.headers["location"]
    bad = httpx.get(
        f"{sandbox.url}/login/sessionCookieRedirect",
        params={"token": session_token(sandbox), "redirectUrl": "https://evil.example/"},
    )
    assert bad.status_code == 400


def test_password_grant_for_native_apps(sandbox: Sandbox, api: httpx.Client) -> None:
    body = {
        "name": "oidc_client",
        "label": "Native CLI",
        "signOnMode": "OPENID_CONNECT",
        "credentials": {"oauthClient": {"token_endpoint_auth_method": "client_secret_post"}},
        "settings": {
            "oauthClient": {
                "application_type": "native",
                "grant_types": ["authorization_code", "password", "refresh_token"],
                "response_types": ["code"],
                "redirect_uris": ["com.example.cli:/callback"],
            }
        },
    }
    app = api.post("/api/v1/apps", json=body).json()
    api.put(f"/api/v1/apps/{app['id']}/groups/{everyone_id(api)}", json={})
    data = {
        "grant_type": "password",
        "username": sandbox.username,
        "password": sandbox.password,
        "scope": "openid offline_access",
        "client_id": app["id"],
        "client_secret": app["credentials"]["oauthClient"]["client_secret"],
    }
    token_url = f"{sandbox.url}/oauth2/default/v1/token"
    r = httpx.post(token_url, data=data)
    assert r.status_code == 200, r.text
    assert {"access_token", "id_token", "refresh_token"} <= set(r.json())
    r = httpx.post(token_url, data={**data, "password": "wrong"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_lockout_after_ten_failures_and_admin_unlock(sandbox: Sandbox, api: httpx.Client) -> None:
    login = "locked.out@example.com"
    user = api.post(
        "/api/v1/users",
        json={
            "profile": {"firstName": "Lock", "lastName": "Out", "email": login, "login": login},
            "credentials": {"password": {"value": "Right-Pass-123"}},
        },
    ).json()
    authn = f"{sandbox.url}/api/v1/authn"
    for _ in range(9):
        r = httpx.post(authn, json={"username": login, "password": "wrong"})
        assert r.status_code == 401 and r.json()["errorCode"] == "E0000004"
    r = httpx.post(authn, json={"username": login, "password": "wrong"})
    assert r.status_code == 200 and r.json()["status"] == "LOCKED_OUT"
    r = httpx.post(authn, json={"username": login, "password": "Right-Pass-123"})
    assert r.json()["status"] == "LOCKED_OUT" and "sessionToken" not in r.json()
    assert api.get(f"/api/v1/users/{user['id']}").json()["status"] == "LOCKED_OUT"
    assert api.post(f"/api/v1/users/{user['id']}/lifecycle/unlock").status_code == 200
    r = httpx.post(authn, json={"username": login, "password": "Right-Pass-123"})
    assert r.status_code == 200 and r.json()["status"] == "SUCCESS"
    unknown = httpx.post(authn, json={"username": "nobody@example.com", "password": "x"})
    assert unknown.status_code == 401 and unknown.json()["errorCode"] == "E0000004"
