"""Management API over plain HTTP: status codes, error objects, headers, pagination, persistence."""

from __future__ import annotations

import re

import httpx
import pytest
from okta_support import REDIRECT, Sandbox, create_spa, create_web, everyone_id, start_sandbox

ERROR_KEYS = {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}


def assert_error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == ERROR_KEYS
    assert body["errorCode"] == code and body["errorLink"] == code
    assert body["errorId"].startswith("oae")
    return body


def test_ssws_auth_required(sandbox: Sandbox) -> None:
    for headers in ({}, {"Authorization": "SSWS wrong"}, {"Authorization": "Bearer x.y.z"}):
        r = httpx.get(f"{sandbox.url}/api/v1/apps", headers=headers)
        body = assert_error(r, 401, "E0000011")
        assert body["errorSummary"] == "Invalid token provided"


def test_common_headers(api: httpx.Client) -> None:
    r = api.get("/api/v1/users")
    assert r.headers["x-okta-request-id"]
    assert int(r.headers["x-rate-limit-limit"]) >= int(r.headers["x-rate-limit-remaining"])
    assert int(r.headers["x-rate-limit-reset"]) > 1_700_000_000
    assert_error(api.get("/api/v1/nothing-here"), 404, "E0000007")


def test_app_crud_and_lifecycle(sandbox: Sandbox, api: httpx.Client) -> None:
    app = create_spa(api, "CRUD SPA", assign=False)
    assert re.fullmatch(r"0oa[A-Za-z0-9]{17}", app["id"])
    assert app["status"] == "ACTIVE" and app["signOnMode"] == "OPENID_CONNECT"
    oauth = app["credentials"]["oauthClient"]
    assert oauth["client_id"] == app["id"] and oauth["pkce_required"] is True
    assert "client_secret" not in oauth
    assert app["_links"]["groups"]["href"] == f"{sandbox.url}/api/v1/apps/{app['id']}/groups"
    assert app["accessibility"]["selfService"] is False

    assert api.get(f"/api/v1/apps/{app['id']}").json()["label"] == "CRUD SPA"
    # replace (PUT): label and selfService
    body = api.get(f"/api/v1/apps/{app['id']}").json()
    body["label"] = "CRUD SPA renamed"
    body["accessibility"]["selfService"] = True
    r = api.put(f"/api/v1/apps/{app['id']}", json=body)
    assert r.status_code == 200 and r.json()["label"] == "CRUD SPA renamed"
    assert r.json()["accessibility"]["selfService"] is True

    assert_error(api.delete(f"/api/v1/apps/{app['id']}"), 403, "E0000056")
    assert api.post(f"/api/v1/apps/{app['id']}/lifecycle/deactivate").status_code == 200
    assert api.get(f"/api/v1/apps/{app['id']}").json()["status"] == "INACTIVE"
    assert api.delete(f"/api/v1/apps/{app['id']}").status_code == 204
    assert_error(api.get(f"/api/v1/apps/{app['id']}"), 404, "E0000007")


def test_app_validation_errors(api: httpx.Client) -> None:
    r = api.post("/api/v1/apps", json={"name": "oidc_client", "signOnMode": "OPENID_CONNECT"})
    body = assert_error(r, 400, "E0000001")
    assert "label" in body["errorSummary"] and body["errorCauses"]
    r = api.post(
        "/api/v1/apps",
        json={
            "name": "oidc_client",
            "label": "bad",
            "signOnMode": "OPENID_CONNECT",
            "credentials": {
                "oauthClient": {"token_endpoint_auth_method": "none", "pkce_required": False}
            },
            "settings": {
                "oauthClient": {
                    "application_type": "browser",
                    "redirect_uris": [REDIRECT],
                    "grant_types": ["authorization_code"],
                }
            },
        },
    )
    assert "pkce_required" in assert_error(r, 400, "E0000001")["errorSummary"]
    r = api.post(
        "/api/v1/apps",
        json={
            "name": "oidc_client",
            "label": "bad",
            "signOnMode": "OPENID_CONNECT",
            "settings": {
                "oauthClient": {"application_type": "web", "grant_types": ["authorization_code"]}
            },
        },
    )
    assert "redirect_uris" in assert_error(r, 400, "E0000001")["errorSummary"]
    r = api.post("/api/v1/apps", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "E0000003")
    r = api.post(
        "/api/v1/apps",
        json={
            "name": "oidc_client",
            "label": "short secret",
            "signOnMode": "OPENID_CONNECT",
            "credentials": {"oauthClient": {"client_secret": "tooshort"}},
            "settings": {"oauthClient": {"application_type": "web", "redirect_uris": [REDIRECT]}},
        },
    )
    body = assert_error(r, 400, "E0000001")
    assert "at least '14'" in body["errorCauses"][0]["errorSummary"]


def test_app_list_search_and_pagination(sandbox: Sandbox, api: httpx.Client) -> None:
    for i in range(3):
        create_spa(api, f"Paged App {i}", assign=False)
    r = api.get("/api/v1/apps", params={"q": "Paged App", "limit": 2})
    assert [a["label"] for a in r.json()] == ["Paged App 0", "Paged App 1"]
    links = r.headers.get_list("link")
    assert any('rel="self"' in link for link in links)
    nxt = next(link for link in links if 'rel="next"' in link)
    url = nxt[nxt.index("<") + 1 : nxt.index(">")]
    assert url.startswith(sandbox.url)
    page2 = api.get(url)
    assert [a["label"] for a in page2.json()] == ["Paged App 2"]
    assert not any('rel="next"' in link for link in page2.headers.get_list("link"))
    assert all(
        a["name"] == "oidc_client"
        for a in api.get("/api/v1/apps", params={"filter": 'name eq "oidc_client"'}).json()
    )
    inactive = api.get("/api/v1/apps", params={"filter": 'status eq "INACTIVE"'}).json()
    assert all(a["status"] == "INACTIVE" for a in inactive)
    assert_error(api.get("/api/v1/apps", params={"filter": 'label eq "x"'}), 400, "E0000031")


def test_app_group_assignments(api: httpx.Client) -> None:
    app = create_spa(api, "Assign SPA", assign=False)
    group = api.post("/api/v1/groups", json={"profile": {"name": "AssignGroup"}}).json()
    r = api.put(f"/api/v1/apps/{app['id']}/groups/{group['id']}", json={})
    assert r.status_code == 200 and r.json()["id"] == group["id"]
    assert (
        api.put(f"/api/v1/apps/{app['id']}/groups/{group['id']}").status_code == 200
    )  # idempotent
    assert api.get(f"/api/v1/apps/{app['id']}/groups/{group['id']}").status_code == 200
    assert [g["id"] for g in api.get(f"/api/v1/apps/{app['id']}/groups").json()] == [group["id"]]
    assert api.get(f"/api/v1/groups/{group['id']}/apps").json()[0]["id"] == app["id"]
    assert api.delete(f"/api/v1/apps/{app['id']}/groups/{group['id']}").status_code == 204
    assert_error(api.get(f"/api/v1/apps/{app['id']}/groups/{group['id']}"), 404, "E0000007")


def test_groups_and_memberships(sandbox: Sandbox, api: httpx.Client) -> None:
    everyone = api.get("/api/v1/groups", params={"filter": 'type eq "BUILT_IN"'}).json()
    assert [g["profile"]["name"] for g in everyone] == ["Everyone"]
    g = api.post("/api/v1/groups", json={"profile": {"name": "PetstoreAdmins", "description": "x"}})
    assert g.status_code == 200
    group = g.json()
    assert re.fullmatch(r"00g[A-Za-z0-9]{17}", group["id"]) and group["type"] == "OKTA_GROUP"
    dup = api.post("/api/v1/groups", json={"profile": {"name": "PetstoreAdmins"}})
    assert_error(dup, 400, "E0000001")
    assert [x["id"] for x in api.get("/api/v1/groups", params={"q": "PetstoreAd"}).json()] == [
        group["id"]
    ]
    user = api.get(f"/api/v1/users/{sandbox.username}").json()
    assert api.put(f"/api/v1/groups/{group['id']}/users/{user['id']}").status_code == 204
    assert [u["id"] for u in api.get(f"/api/v1/groups/{group['id']}/users").json()] == [user["id"]]
    names = [x["profile"]["name"] for x in api.get(f"/api/v1/users/{user['id']}/groups").json()]
    assert "Everyone" in names and "PetstoreAdmins" in names
    assert api.delete(f"/api/v1/groups/{group['id']}/users/{user['id']}").status_code == 204
    assert api.get(f"/api/v1/groups/{group['id']}/users").json() == []
    assert api.delete(f"/api/v1/groups/{group['id']}").status_code == 204
    assert_error(api.get(f"/api/v1/groups/{group['id']}"), 404, "E0000007")
    assert_error(api.delete(f"/api/v1/groups/{everyone_id(api)}"), 403, "E0000006")


def test_users_lifecycle_and_search(api: httpx.Client) -> None:
    profile = {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "login": "ada@example.com",
    }
    r = api.post("/api/v1/users", params={"activate": "false"}, json={"profile": profile})
    assert r.status_code == 200 and r.json()["status"] == "STAGED"
    staged = r.json()
    assert_error(api.post("/api/v1/users", json={"profile": profile}), 400, "E0000001")
    r = api.post(f"/api/v1/users/{staged['id']}/lifecycle/activate", params={"sendEmail": "false"})
    assert r.status_code == 200 and "activationToken" in r.json()
    assert api.get(f"/api/v1/users/{staged['id']}").json()["status"] == "PROVISIONED"

    with_pw = api.post(
        "/api/v1/users",
        json={
            "profile": {
                **profile,
                "email": "bob@example.com",
                "login": "bob@example.com",
                "firstName": "Bob",
            },
            "credentials": {"password": {"value": "Sup3rSecret!"}},
        },
    ).json()
    assert with_pw["status"] == "ACTIVE" and with_pw["credentials"]["provider"]["type"] == "OKTA"
    assert "value" not in with_pw["credentials"].get("password", {})
    weak = api.post(
        "/api/v1/users",
        json={
            "profile": {**profile, "email": "c@example.com", "login": "c@example.com"},
            "credentials": {"password": {"value": "weak"}},
        },
    )
    assert "password" in assert_error(weak, 400, "E0000001")["errorSummary"]
    custom = api.post(
        "/api/v1/users",
        json={
            "profile": {
                **profile,
                "email": "d@example.com",
                "login": "d@example.com",
                "shoeSize": 9,
            }
        },
    )
    body = assert_error(custom, 400, "E0000001")
    assert body["errorCauses"] == [
        {"errorSummary": "Property name 'shoeSize' is not defined in profile"}
    ]

    assert api.get("/api/v1/users/bob@example.com").json()["id"] == with_pw["id"]
    assert [u["id"] for u in api.get("/api/v1/users", params={"q": "Bob"}).json()] == [
        with_pw["id"]
    ]
    found = api.get("/api/v1/users", params={"filter": 'profile.login eq "bob@example.com"'}).json()
    assert [u["id"] for u in found] == [with_pw["id"]]
    found = api.get("/api/v1/users", params={"search": 'profile.firstName sw "Ad"'}).json()
    assert [u["id"] for u in found] == [staged["id"]]
    r = api.post(f"/api/v1/users/{with_pw['id']}", json={"profile": {"organization": "acme"}})
    assert (
        r.json()["profile"]["organization"] == "acme" and r.json()["profile"]["firstName"] == "Bob"
    )

    assert_error(api.post(f"/api/v1/users/{with_pw['id']}/lifecycle/activate"), 403, "E0000016")
    assert api.delete(f"/api/v1/users/{with_pw['id']}").status_code == 204
    assert api.get(f"/api/v1/users/{with_pw['id']}").json()["status"] == "DEPROVISIONED"
    assert api.delete(f"/api/v1/users/{with_pw['id']}").status_code == 204
    assert_error(api.get(f"/api/v1/users/{with_pw['id']}"), 404, "E0000007")


def test_authorization_servers_and_claims(sandbox: Sandbox, api: httpx.Client) -> None:
    servers = api.get("/api/v1/authorizationServers").json()
    default = next(s for s in servers if s["name"] == "default")
    assert default["audiences"] == ["api://default"]
    assert default["issuer"] == f"{sandbox.url}/oauth2/default"
    assert api.get("/api/v1/authorizationServers/default").json()["id"] == default["id"]
    assert api.get(f"/api/v1/authorizationServers/{default['id']}").status_code == 200
    claims = api.get("/api/v1/authorizationServers/default/claims").json()
    assert any(c["name"] == "sub" and c["system"] for c in claims)
    clash = api.post(
        "/api/v1/authorizationServers/default/claims",
        json={
            "name": "sub",
            "claimType": "RESOURCE",
            "valueType": "EXPRESSION",
            "value": "user.email",
            "conditions": {"scopes": []},
        },
    )
    assert_error(clash, 400, "E0000001")
    r = api.post(
        "/api/v1/authorizationServers/default/claims",
        json={
            "name": "dept",
            "status": "ACTIVE",
            "claimType": "RESOURCE",
            "valueType": "EXPRESSION",
            "value": "user.department",
            "conditions": {"scopes": []},
        },
    )
    assert r.status_code == 201
    claim = r.json()
    assert claim["id"].startswith("ocl") and claim["alwaysIncludeInToken"] is True
    url = f"/api/v1/authorizationServers/default/claims/{claim['id']}"
    assert api.get(url).json()["name"] == "dept"
    r = api.put(url, json={**claim, "value": "user.title"})
    assert r.status_code == 200 and r.json()["value"] == "user.title"
    bad = api.post(
        "/api/v1/authorizationServers/default/claims",
        json={
            "name": "broken",
            "claimType": "RESOURCE",
            "valueType": "EXPRESSION",
            "value": "user.(",
            "conditions": {"scopes": []},
        },
    )
    assert_error(bad, 400, "E0000001")
    assert api.delete(url).status_code == 204
    assert_error(api.get(url), 404, "E0000007")


def test_discovery_documents(sandbox: Sandbox) -> None:
    oidc = httpx.get(f"{sandbox.url}/oauth2/default/.well-known/openid-configuration").json()
    base = f"{sandbox.url}/oauth2/default/v1"
    assert oidc["authorization_endpoint"] == f"{base}/authorize"
    assert oidc["jwks_uri"] == f"{base}/keys" and oidc["end_session_endpoint"] == f"{base}/logout"
    assert oidc["code_challenge_methods_supported"] == ["S256"]
    assert "openid" in oidc["scopes_supported"]
    oauth = httpx.get(f"{sandbox.url}/oauth2/default/.well-known/oauth-authorization-server").json()
    assert (
        "userinfo_endpoint" not in oauth and "client_credentials" in oauth["grant_types_supported"]
    )
    keys = httpx.get(f"{base}/keys").json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig"
    org = httpx.get(f"{sandbox.url}/.well-known/openid-configuration").json()
    assert (
        org["issuer"] == sandbox.url and org["token_endpoint"] == f"{sandbox.url}/oauth2/v1/token"
    )
    assert (
        httpx.get(f"{sandbox.url}/oauth2/nope/.well-known/openid-configuration").status_code == 404
    )


def test_state_survives_restart(tmp_path: pytest.TempPathFactory) -> None:
    from oktalab.sandbox.store import Database

    db = Database(tmp_path / "restart.db")  # type: ignore[operator]
    box, server = start_sandbox(db)
    try:
        with box.client() as api:
            web = create_web(api, "Persistent Web")
            kid = httpx.get(f"{box.url}/oauth2/default/v1/keys").json()["keys"][0]["kid"]
    finally:
        server.stop()
    box2, server2 = start_sandbox(db)
    try:
        with box2.client() as api:
            assert api.get(f"/api/v1/apps/{web['id']}").json()["label"] == "Persistent Web"
            assert (
                len(
                    [
                        g
                        for g in api.get("/api/v1/groups").json()
                        if g["profile"]["name"] == "Everyone"
                    ]
                )
                == 1
            )
            assert len(api.get("/api/v1/users", params={"q": "Test"}).json()) == 1
        assert httpx.get(f"{box2.url}/oauth2/default/v1/keys").json()["keys"][0]["kid"] == kid
        # the client secret from before the restart still authenticates
        secret = web["credentials"]["oauthClient"]["client_secret"]
        r = httpx.post(
            f"{box2.url}/oauth2/default/v1/token",
            data={"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT},
            auth=(web["id"], secret),
        )
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    finally:
        server2.stop()
        db.close()
