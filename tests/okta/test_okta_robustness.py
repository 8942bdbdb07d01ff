"""Malformed input never becomes a 500: every field of valid bodies is swapped for wrong types."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from okta_support import REDIRECT, Sandbox, create_web, start_sandbox

from oktalab.sandbox.store import Database

WRONG: list[Any] = [None, 1, "x", [], {}, [1], True]


def spec_checker() -> Any:
    """The conformance checker over Okta's management spec, or None without the spec."""
    import test_okta_spec_conformance as conformance
    import yaml

    if not conformance.SPEC.exists():
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with conformance.SPEC.open() as fh:
        return conformance.Checker(conformance._nullable(yaml.load(fh, Loader=loader)))


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _mutations(body: dict) -> Iterator[Any]:
    for path in _paths(body):
        for value in WRONG:
            mutated = copy.deepcopy(body)
            target = mutated
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            yield mutated
    yield from ([], "x", 1, None)


LISTS = [
    ("/api/v1/apps", "/api/v1/apps"),
    ("/api/v1/users", "/api/v1/users"),
    ("/api/v1/groups", "/api/v1/groups"),
    ("/api/v1/authorizationServers", "/api/v1/authorizationServers"),
    (
        "/api/v1/authorizationServers/default/claims",
        "/api/v1/authorizationServers/{authServerId}/claims",
    ),
    (
        "/api/v1/authorizationServers/default/scopes",
        "/api/v1/authorizationServers/{authServerId}/scopes",
    ),
    (
        "/api/v1/authorizationServers/default/policies",
        "/api/v1/authorizationServers/{authServerId}/policies",
    ),
    ("/api/v1/trustedOrigins", "/api/v1/trustedOrigins"),
    ("/api/v1/meta/schemas/user/default", "/api/v1/meta/schemas/user/{schemaId}"),
]


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A private org: the garbage these tests try to store must not leak into other tests."""
    db = Database(tmp_path / "robust.db")
    box, server = start_sandbox(db)
    try:
        yield box
    finally:
        server.stop()
        db.close()


def test_wrongly_typed_bodies_are_4xx(own_sandbox: Sandbox) -> None:
    sandbox = own_sandbox
    api = sandbox.client()
    web = create_web(api, "Robust web")
    group = api.post("/api/v1/groups", json={"profile": {"name": "RobustGroup"}}).json()
    pe = api.post(
        "/api/v1/policies", json={"type": "PROFILE_ENROLLMENT", "name": "Robust PE"}
    ).json()
    rule = api.get(f"/api/v1/policies/{pe['id']}/rules").json()[0]
    as_pol = api.get("/api/v1/authorizationServers/default/policies").json()[0]
    cases: list[tuple[str, str, dict]] = [
        (
            "POST",
            "/api/v1/apps",
            {
                "name": "oidc_client",
                "label": "Robust",
                "signOnMode": "OPENID_CONNECT",
                "credentials": {
                    "oauthClient": {
                        "token_endpoint_auth_method": "client_secret_post",
                        "client_secret": "s" * 20,
                        "pkce_required": False,
                    }
                },
                "settings": {
                    "oauthClient": {
                        "application_type": "web",
                        "grant_types": ["authorization_code", "refresh_token"],
                        "response_types": ["code"],
                        "redirect_uris": [REDIRECT],
                        "refresh_token": {"rotation_type": "ROTATE", "leeway": 5},
                    }
                },
                "accessibility": {"selfService": False},
                "visibility": {"hide": {"web": True}},
            },
        ),
        (
            "POST",
            "/api/v1/users",
            {
                "profile": {
                    "login": "r@example.com",
                    "email": "r@example.com",
                    "firstName": "R",
                    "lastName": "S",
                },
                "credentials": {"password": {"value": "Robust-Pass-1"}},
                "groupIds": [group["id"]],
            },
        ),
        ("POST", "/api/v1/groups", {"profile": {"name": "Robust2", "description": "d"}}),
        (
            "PUT",
            f"/api/v1/groups/{group['id']}",
            {"profile": {"name": "RobustGroup", "description": "d"}},
        ),
        (
            "POST",
            "/api/v1/authorizationServers/default/claims",
            {
                "name": "robust",
                "status": "ACTIVE",
                "claimType": "IDENTITY",
                "valueType": "GROUPS",
                "group_filter_type": "REGEX",
                "value": ".*",
                "alwaysIncludeInToken": True,
                "conditions": {"scopes": ["openid"]},
            },
        ),
        (
            "POST",
            "/api/v1/authorizationServers/default/scopes",
            {"name": "robust:read", "consent": "IMPLICIT", "metadataPublish": "NO_CLIENTS"},
        ),
        (
            "POST",
            "/api/v1/authorizationServers",
            {"name": "Robust AS", "description": "d", "audiences": ["api://robust"]},
        ),
        (
            "POST",
            f"/api/v1/authorizationServers/default/policies/{as_pol['id']}/rules",
            {
                "name": "robust",
                "priority": 2,
                "conditions": {
                    "people": {"groups": {"include": ["EVERYONE"]}},
                    "grantTypes": {"include": ["authorization_code"]},
                    "scopes": {"include": ["*"]},
                },
                "actions": {"token": {"accessTokenLifetimeMinutes": 60}},
            },
        ),
        (
            "POST",
            "/api/v1/authorizationServers/default/policies",
            {
                "name": "robust",
                "description": "d",
                "priority": 3,
                "conditions": {"clients": {"include": ["ALL_CLIENTS"]}},
            },
        ),
        ("PUT", f"/api/v1/policies/{pe['id']}/rules/{rule['id']}", rule),
        (
            "POST",
            "/api/v1/policies",
            {"type": "PROFILE_ENROLLMENT", "name": "Robust PE 2", "status": "ACTIVE"},
        ),
        (
            "POST",
            "/api/v1/trustedOrigins",
            {"name": "robust", "origin": "https://robust.example", "scopes": [{"type": "CORS"}]},
        ),
        (
            "POST",
            f"/api/v1/apps/{web['id']}/grants",
            {"issuer": sandbox.url, "scopeId": "okta.users.read"},
        ),
        ("PUT", f"/api/v1/apps/{web['id']}/groups/{group['id']}", {"priority": 1, "profile": {}}),
        (
            "POST",
            f"/api/v1/internal/apps/{web['id']}/settings/oauth/idToken",
            {
                "valueType": "GROUPS",
                "groupFilterType": "REGEX",
                "name": "groups",
                "value": ".*",
                "issuerMode": "ORG_URL",
            },
        ),
        (
            "POST",
            "/api/v1/authn",
            {"username": sandbox.username, "password": "wrong", "options": {}},
        ),
        (
            "POST",
            "/__sandbox/faults",
            {
                "seed": 1,
                "rules": [
                    {
                        "path": "^/nowhere$",
                        "status": 503,
                        "rate": 0.5,
                        "latency_ms": 0,
                        "drop": False,
                        "method": "GET",
                    }
                ],
            },
        ),
        ("POST", "/__sandbox/ratelimits", {"nowhere": 100}),
        (
            "POST",
            "/api/v1/meta/schemas/user/default",
            {
                "definitions": {
                    "custom": {
                        "properties": {
                            "robust": {"title": "R", "type": "array", "items": {"type": "string"}}
                        }
                    }
                }
            },
        ),
    ]
    failures = []
    client = sandbox.client()
    for method, path, body in cases:
        for mutated in _mutations(body):
            try:
                r = client.request(method, path, json=mutated)
            except httpx.TransportError as exc:  # a crashed handler drops the connection
                failures.append(f"{method} {path} {str(mutated)[:160]} -> {exc!r}")
                client.close()
                client = sandbox.client()
                continue
            if r.status_code >= 500 or "application/json" not in r.headers.get("content-type", ""):
                failures.append(f"{method} {path} {str(mutated)[:160]} -> {r.status_code}")
    client.delete("/__sandbox/faults")
    client.post("/__sandbox/ratelimits", json={})
    # whatever was accepted must still be a valid Okta object
    checker = spec_checker()
    if checker is not None:
        for path, template in LISTS:
            checker.check("GET", template, client.get(path, params={"limit": 200}))
        for p in client.get("/api/v1/authorizationServers/default/policies").json():
            rules = client.get(f"/api/v1/authorizationServers/default/policies/{p['id']}/rules")
            checker.check(
                "GET",
                "/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules",
                rules,
            )
        for ptype in ("PROFILE_ENROLLMENT",):
            checker.check(
                "GET", "/api/v1/policies", client.get("/api/v1/policies", params={"type": ptype})
            )
            for p in client.get("/api/v1/policies", params={"type": ptype}).json():
                checker.check(
                    "GET",
                    "/api/v1/policies/{policyId}/rules",
                    client.get(f"/api/v1/policies/{p['id']}/rules"),
                )
        assert len(checker.seen) >= len(LISTS)
        failures.extend(checker.failures)
    client.close()
    api.close()
    assert not failures, "\n".join(failures[:30])
