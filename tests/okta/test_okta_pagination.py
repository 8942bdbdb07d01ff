"""Every list oktalab reads pages as Okta's do, and a new org holds what a real one holds.

Each list is walked with a small ``limit`` by following ``Link: <…>; rel="next"`` with plain
httpx (the way Okta tells clients to page: treat the link as opaque), every page is validated
against Okta's published management spec (the conformance test's checker), and the pages
together must be exactly the unpaged list.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from okta_support import Sandbox, create_service, create_web, everyone_id
from test_okta_spec_conformance import SPEC, Checker, load_spec

yaml = pytest.importorskip("yaml")


@pytest.fixture(scope="module")
def checker() -> Checker:
    if not SPEC.exists():
        pytest.skip("Okta management spec not available")
    return Checker(load_spec())


def _next(response: httpx.Response) -> str | None:
    for link in response.headers.get_list("link"):
        url, _, rel = link.partition(";")
        if rel.strip() == 'rel="next"':
            return url.strip().strip("<>")
    return None


def walk(api: httpx.Client, checker: Checker, template: str, path: str, **params: Any) -> int:
    """Page through ``path`` two at a time; returns how many pages it took."""
    everything = api.get(path, params=params)
    assert everything.status_code == 200, everything.text
    r = checker.check("GET", template, api.get(path, params={**params, "limit": 2}))
    assert r.status_code == 200, r.text
    assert r.headers.get_list("link")[0].endswith('>; rel="self"')
    ids, pages = [], 0
    while True:
        pages += 1
        page = r.json()
        assert len(page) <= 2
        ids += [item["id"] for item in page]
        url = _next(r)
        if url is None:
            break
        assert "limit=2" in url and "after=" in url
        r = checker.check("GET", template, api.get(url))
    assert ids == [item["id"] for item in everything.json()], path
    assert len(set(ids)) == len(ids)
    return pages


def test_every_list_pages_with_link_next(sandbox: Sandbox, checker: Checker) -> None:
    api = sandbox.client()
    # enough of everything for three pages of two
    group = api.post("/api/v1/groups", json={"profile": {"name": "Paged members"}}).json()
    for i in range(5):
        profile = {"firstName": "P", "lastName": f"{i}", "email": f"p{i}@example.com"}
        user = api.post("/api/v1/users", json={"profile": {**profile, "login": profile["email"]}})
        api.put(f"/api/v1/groups/{group['id']}/users/{user.json()['id']}")
    apps = [create_web(api, f"Paged app {i}", assign=False) for i in range(5)]
    for app in apps:
        api.put(f"/api/v1/apps/{app['id']}/groups/{group['id']}", json={})
        api.put(f"/api/v1/apps/{app['id']}/groups/{everyone_id(api)}", json={})
    app = apps[0]
    other = api.post("/api/v1/groups", json={"profile": {"name": "Paged other"}}).json()
    api.put(f"/api/v1/apps/{app['id']}/groups/{other['id']}", json={})
    api.post(f"/api/v1/apps/{app['id']}/credentials/secrets", json={})
    for i in range(5):
        origin = {"name": f"paged {i}", "origin": f"https://p{i}.example.com"}
        api.post("/api/v1/trustedOrigins", json={**origin, "scopes": [{"type": "CORS"}]})
    server = api.post(
        "/api/v1/authorizationServers",
        json={"name": "Paged AS", "description": "d", "audiences": ["api://paged"]},
    ).json()
    base = f"/api/v1/authorizationServers/{server['id']}"
    api.post(
        "/api/v1/authorizationServers",
        json={"name": "Paged AS 2", "description": "d", "audiences": ["api://paged2"]},
    )
    for i in range(3):
        api.post(f"{base}/scopes", json={"name": f"paged:{i}"})
    policy_body = {"description": "d", "conditions": {"clients": {"include": ["ALL_CLIENTS"]}}}
    policies = [
        api.post(f"{base}/policies", json={"name": f"P{i}", **policy_body}).json() for i in range(3)
    ]
    rule = {
        "conditions": {
            "people": {"groups": {"include": ["EVERYONE"]}},
            "grantTypes": {"include": ["client_credentials"]},
            "scopes": {"include": ["*"]},
        }
    }
    for i in range(3):
        api.post(f"{base}/policies/{policies[0]['id']}/rules", json={"name": f"R{i}", **rule})
    enrollment = api.post(
        "/api/v1/policies", json={"type": "PROFILE_ENROLLMENT", "name": "Paged sign-up"}
    ).json()
    for one in apps:
        api.put(f"/api/v1/apps/{one['id']}/policies/{enrollment['id']}")
    access = api.get("/api/v1/policies", params={"type": "ACCESS_POLICY"}).json()
    sign_on = {"actions": {"appSignOn": {"access": "ALLOW"}}}
    for i in range(2):
        api.post(f"/api/v1/policies/{access[1]['id']}/rules", json={"name": f"S{i}", **sign_on})

    lists = [
        ("/api/v1/apps", "/api/v1/apps", {}),
        ("/api/v1/groups", "/api/v1/groups", {}),
        ("/api/v1/users", "/api/v1/users", {}),
        ("/api/v1/authorizationServers", "/api/v1/authorizationServers", {}),
        ("/api/v1/trustedOrigins", "/api/v1/trustedOrigins", {}),
        ("/api/v1/policies", "/api/v1/policies", {"type": "ACCESS_POLICY"}),
        ("/api/v1/policies/{policyId}/app", f"/api/v1/policies/{enrollment['id']}/app", {}),
        ("/api/v1/policies/{policyId}/rules", f"/api/v1/policies/{access[1]['id']}/rules", {}),
        ("/api/v1/groups/{groupId}/users", f"/api/v1/groups/{group['id']}/users", {}),
        ("/api/v1/groups/{groupId}/apps", f"/api/v1/groups/{group['id']}/apps", {}),
        ("/api/v1/apps/{appId}/groups", f"/api/v1/apps/{app['id']}/groups", {}),
        ("/api/v1/apps/{appId}/users", f"/api/v1/apps/{app['id']}/users", {}),
        (
            "/api/v1/apps/{appId}/credentials/secrets",
            f"/api/v1/apps/{app['id']}/credentials/secrets",
            {},
        ),
        ("/api/v1/authorizationServers/{authServerId}/claims", f"{base}/claims", {}),
        ("/api/v1/authorizationServers/{authServerId}/scopes", f"{base}/scopes", {}),
        ("/api/v1/authorizationServers/{authServerId}/policies", f"{base}/policies", {}),
        (
            "/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules",
            f"{base}/policies/{policies[0]['id']}/rules",
            {},
        ),
    ]
    pages = {path: walk(api, checker, template, path, **params) for template, path, params in lists}
    assert checker.failures == []
    # a list of one or two objects is one page; every other list needed more
    assert [p for p, n in pages.items() if n < 2] == [
        f"/api/v1/apps/{app['id']}/credentials/secrets"
    ]
    api.close()


def test_a_new_org_holds_the_preset_access_policies(api: httpx.Client) -> None:
    """help.okta.com, "Preset authentication policies": "Any two factors" is the default."""
    found = api.get("/api/v1/policies", params={"type": "ACCESS_POLICY"}).json()
    names = [p["name"] for p in found]
    assert names[:3] == ["Any two factors", "Password only", "One factor access"]
    default = found[0]
    assert default["system"] is True and default["id"].startswith("rst")
    assert api.delete(f"/api/v1/policies/{default['id']}").status_code == 403
    (rule,) = api.get(f"/api/v1/policies/{default['id']}/rules").json()
    assert rule["name"] == "Catch-all Rule" and rule["system"] is True
    assert rule["actions"]["appSignOn"]["verificationMethod"]["factorMode"] == "2FA"


def test_a_new_server_has_the_system_claims_and_no_policy(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    """A custom server is born with ``sub`` and the OIDC identity claims (recorded Okta
    traffic), and without an access policy: sign-in fails until one exists."""
    server = api.post(
        "/api/v1/authorizationServers",
        json={"name": "Bare AS", "description": "d", "audiences": ["api://bare"]},
    ).json()
    base = f"/api/v1/authorizationServers/{server['id']}"
    claims = {c["name"]: c for c in api.get(f"{base}/claims").json()}
    assert claims["sub"]["valueType"] == "EXPRESSION" and claims["sub"]["claimType"] == "RESOURCE"
    identity = {n for n, c in claims.items() if c["claimType"] == "IDENTITY"}
    assert {"email", "email_verified", "name", "preferred_username", "address"} <= identity
    assert all(claims[n]["valueType"] == "SYSTEM" and claims[n]["system"] for n in identity)
    assert claims["email"]["conditions"] == {"scopes": ["email"]}
    email = claims["email"]
    r = api.put(f"{base}/claims/{email['id']}", json={**email, "value": "user.login"})
    assert r.status_code == 403 and r.json()["errorCode"] == "E0000111"
    assert api.get(f"{base}/policies").json() == []

    app = create_service(api, "Bare service")
    api.post(f"{base}/scopes", json={"name": "bare:read"})
    r = httpx.post(
        f"{sandbox.url}/oauth2/{server['id']}/v1/token",
        data={"grant_type": "client_credentials", "scope": "bare:read"},
        auth=(app["id"], app["credentials"]["oauthClient"]["client_secret"]),
    )
    assert r.status_code in (400, 403) and "Policy evaluation failed" in r.text
    # the default server of a new org does have its default policy
    default = api.get("/api/v1/authorizationServers/default/policies").json()
    assert [p["name"] for p in default] == ["Default Policy"]
