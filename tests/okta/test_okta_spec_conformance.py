"""Responses of the sandbox validated against Okta's published OpenAPI (management-minimal.yaml).

The spec lives outside the project (``../shared/specs/okta`` beside the repository) and is read, never copied; the
test is skipped without it. OpenAPI 3.0 ``nullable`` is translated to JSON Schema before
validation; ``$ref``s (including response-level refs) are resolved against the spec document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import yaml
from okta_support import REDIRECT, Sandbox, create_spa, create_web
from oktalab_support import SHARED

SPEC = SHARED / "specs" / "okta" / "management-minimal.yaml"
jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")
from referencing.jsonschema import DRAFT4  # noqa: E402

# (METHOD, spec path, status) of every operation/response the scenario below must exercise.
COVERED: list[tuple[str, str, int]] = [
    ("POST", "/api/v1/apps", 200),
    ("POST", "/api/v1/apps", 400),
    ("GET", "/api/v1/apps", 200),
    ("GET", "/api/v1/apps/{appId}", 200),
    ("GET", "/api/v1/apps/{appId}", 404),
    ("PUT", "/api/v1/apps/{appId}", 200),
    ("DELETE", "/api/v1/apps/{appId}", 204),
    ("POST", "/api/v1/apps/{appId}/lifecycle/deactivate", 200),
    ("POST", "/api/v1/apps/{appId}/lifecycle/activate", 200),
    ("PUT", "/api/v1/apps/{appId}/groups/{groupId}", 200),
    ("GET", "/api/v1/apps/{appId}/groups/{groupId}", 200),
    ("PATCH", "/api/v1/apps/{appId}/groups/{groupId}", 200),
    ("GET", "/api/v1/apps/{appId}/groups", 200),
    ("DELETE", "/api/v1/apps/{appId}/groups/{groupId}", 204),
    ("GET", "/api/v1/apps/{appId}/users", 200),
    ("GET", "/api/v1/apps/{appId}/credentials/secrets", 200),
    ("POST", "/api/v1/apps/{appId}/credentials/secrets", 201),
    ("GET", "/api/v1/apps/{appId}/credentials/secrets/{secretId}", 200),
    ("POST", "/api/v1/apps/{appId}/credentials/secrets/{secretId}/lifecycle/deactivate", 200),
    ("POST", "/api/v1/apps/{appId}/credentials/secrets/{secretId}/lifecycle/activate", 200),
    ("DELETE", "/api/v1/apps/{appId}/credentials/secrets/{secretId}", 204),
    ("PUT", "/api/v1/apps/{appId}/policies/{policyId}", 204),
    ("POST", "/api/v1/groups", 200),
    ("GET", "/api/v1/groups", 200),
    ("GET", "/api/v1/groups/{groupId}", 200),
    ("PUT", "/api/v1/groups/{groupId}", 200),
    ("PUT", "/api/v1/groups/{groupId}/users/{userId}", 204),
    ("GET", "/api/v1/groups/{groupId}/users", 200),
    ("GET", "/api/v1/groups/{groupId}/apps", 200),
    ("DELETE", "/api/v1/groups/{groupId}/users/{userId}", 204),
    ("DELETE", "/api/v1/groups/{groupId}", 204),
    ("POST", "/api/v1/users", 200),
    ("POST", "/api/v1/users", 400),
    ("GET", "/api/v1/users", 200),
    ("GET", "/api/v1/users/{id}", 200),
    ("GET", "/api/v1/users/{id}", 404),
    ("POST", "/api/v1/users/{id}", 200),
    ("GET", "/api/v1/users/{id}/groups", 200),
    ("POST", "/api/v1/users/{id}/lifecycle/deactivate", 200),
    ("POST", "/api/v1/users/{id}/lifecycle/activate", 200),
    ("DELETE", "/api/v1/users/{id}", 204),
    ("GET", "/api/v1/authorizationServers", 200),
    ("GET", "/api/v1/authorizationServers/{authServerId}", 200),
    ("GET", "/api/v1/authorizationServers/{authServerId}/claims", 200),
    ("POST", "/api/v1/authorizationServers/{authServerId}/claims", 201),
    ("POST", "/api/v1/authorizationServers/{authServerId}/claims", 400),
    ("GET", "/api/v1/authorizationServers/{authServerId}/claims/{claimId}", 200),
    ("PUT", "/api/v1/authorizationServers/{authServerId}/claims/{claimId}", 200),
    ("DELETE", "/api/v1/authorizationServers/{authServerId}/claims/{claimId}", 204),
    ("GET", "/api/v1/authorizationServers/{authServerId}/scopes", 200),
    ("POST", "/api/v1/authorizationServers/{authServerId}/scopes", 201),
    ("DELETE", "/api/v1/authorizationServers/{authServerId}/scopes/{scopeId}", 204),
    ("GET", "/api/v1/authorizationServers/{authServerId}/policies", 200),
    ("POST", "/api/v1/authorizationServers/{authServerId}/policies", 201),
    ("GET", "/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules", 200),
    ("POST", "/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules", 201),
    ("DELETE", "/api/v1/authorizationServers/{authServerId}/policies/{policyId}", 204),
    ("GET", "/api/v1/policies", 200),
    ("POST", "/api/v1/policies", 200),
    ("GET", "/api/v1/policies/{policyId}", 200),
    ("PUT", "/api/v1/policies/{policyId}", 200),
    ("GET", "/api/v1/policies/{policyId}/rules", 200),
    ("PUT", "/api/v1/policies/{policyId}/rules/{ruleId}", 200),
    ("GET", "/api/v1/policies/{policyId}/app", 200),
    ("DELETE", "/api/v1/policies/{policyId}", 204),
    ("DELETE", "/api/v1/apps/{appId}", 403),
    ("DELETE", "/api/v1/groups/{groupId}", 404),
    ("POST", "/api/v1/users/{id}/lifecycle/activate", 403),
    ("POST", "/api/v1/apps/{appId}/credentials/secrets", 400),
    ("GET", "/api/v1/apps", 429),
    ("POST", "/api/v1/apps/{appId}/grants", 201),
    ("GET", "/api/v1/apps/{appId}/grants", 200),
    ("POST", "/api/v1/trustedOrigins", 200),
    ("POST", "/api/v1/trustedOrigins", 400),
    ("GET", "/api/v1/trustedOrigins", 200),
    ("DELETE", "/api/v1/trustedOrigins/{trustedOriginId}", 204),
    ("POST", "/api/v1/authorizationServers", 201),
    ("GET", "/api/v1/authorizationServers/{authServerId}/policies/{policyId}", 200),
    ("GET", "/api/v1/authorizationServers/{authServerId}/scopes/{scopeId}", 200),
    ("GET", "/api/v1/authorizationServers/{authServerId}/credentials/keys", 200),
    ("POST", "/api/v1/authorizationServers/{authServerId}/credentials/lifecycle/keyRotate", 200),
    ("GET", "/api/v1/sessions/{sessionId}", 200),
    ("POST", "/api/v1/sessions/{sessionId}/lifecycle/refresh", 200),
    ("DELETE", "/api/v1/sessions/{sessionId}", 204),
    ("GET", "/api/v1/sessions/{sessionId}", 404),
    ("GET", "/api/v1/meta/schemas/user/{schemaId}", 200),
    ("POST", "/api/v1/meta/schemas/user/{schemaId}", 200),
]


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` → JSON Schema that also accepts null."""
    if isinstance(node, list):
        return [_nullable(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "type" not in out:
            return {"anyOf": [out, {"type": "null"}]}
    return out


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip("Okta management spec not available")
    return load_spec()


def load_spec() -> dict[str, Any]:
    """Okta's management spec as JSON Schema (nullable resolved), with one known fix."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC.open() as fh:
        doc = yaml.load(fh, Loader=loader)
    # The base Policy schema types every _embedded value as an object, while its own
    # AccessPolicy subschema (and recorded Identity Engine traffic) has _embedded.resourceType
    # "APP", a string; the checker ignores discriminators, so give the base that property.
    embedded = doc["components"]["schemas"]["Policy"]["properties"]["_embedded"]
    embedded.setdefault("properties", {})["resourceType"] = {"type": "string"}
    return _nullable(doc)


class Checker:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        resource = referencing.Resource(contents=spec, specification=DRAFT4)
        self.registry = referencing.Registry().with_resource("urn:okta-spec", resource)
        self.seen: set[tuple[str, str, int]] = set()
        self.failures: list[str] = []

    def _deref(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def check(self, method: str, template: str, r: httpx.Response) -> httpx.Response:
        op = self.spec["paths"][template][method.lower()]
        status = r.status_code
        responses = op["responses"]
        declared = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
        if declared is None:
            self.failures.append(f"{method} {template}: status {status} not declared")
            return r
        declared = self._deref(declared)
        self.seen.add((method, template, status))
        content = declared.get("content") or {}
        if not content:
            if status >= 400:  # undocumented error body: must still be Okta's error object
                if "errorCode" not in r.json():
                    self.failures.append(f"{method} {template} {status}: not an Okta error")
            elif r.content not in (b"", b"{}"):
                self.failures.append(f"{method} {template} {status}: unexpected body {r.text[:80]}")
            return r
        media = content.get("application/json") or next(iter(content.values()))
        schema = media.get("schema")
        if schema is None:
            return r
        # "#/components/..." refs inside the schema resolve against the spec document
        validator = jsonschema.Draft4Validator(_rebase(schema), registry=self.registry)
        errors = sorted(validator.iter_errors(r.json()), key=lambda e: list(e.path))
        for err in errors[:3]:
            self.failures.append(
                f"{method} {template} {status}: {'/'.join(map(str, err.path))}: {err.message[:200]}"
            )
        return r


def _rebase(node: Any) -> Any:
    if isinstance(node, list):
        return [_rebase(x) for x in node]
    if isinstance(node, dict):
        return {
            k: (
                "urn:okta-spec" + v
                if k == "$ref" and isinstance(v, str) and v.startswith("#")
                else _rebase(v)
            )
            for k, v in node.items()
        }
    return node


def test_responses_match_spec(spec: dict[str, Any], sandbox: Sandbox) -> None:
    c = Checker(spec)
    api = sandbox.client()
    chk: Callable[[str, str, httpx.Response], httpx.Response] = c.check

    # apps
    bad = api.post("/api/v1/apps", json={"signOnMode": "OPENID_CONNECT", "name": "oidc_client"})
    chk("POST", "/api/v1/apps", bad)
    r = chk("POST", "/api/v1/apps", api.post("/api/v1/apps", json=_web_body("Spec Web")))
    web = r.json()
    spa = create_spa(api, "Spec SPA", assign=False)
    chk("GET", "/api/v1/apps", api.get("/api/v1/apps", params={"limit": 5}))
    chk("GET", "/api/v1/apps/{appId}", api.get(f"/api/v1/apps/{spa['id']}"))
    chk("GET", "/api/v1/apps/{appId}", api.get("/api/v1/apps/0oaNOPENOPENOPENOPEN"))
    body = api.get(f"/api/v1/apps/{web['id']}").json()
    body["label"] = "Spec Web 2"
    chk("PUT", "/api/v1/apps/{appId}", api.put(f"/api/v1/apps/{web['id']}", json=body))
    secrets = chk(
        "GET",
        "/api/v1/apps/{appId}/credentials/secrets",
        api.get(f"/api/v1/apps/{web['id']}/credentials/secrets"),
    ).json()
    new = chk(
        "POST",
        "/api/v1/apps/{appId}/credentials/secrets",
        api.post(f"/api/v1/apps/{web['id']}/credentials/secrets", json={}),
    ).json()
    base = f"/api/v1/apps/{web['id']}/credentials/secrets"
    tmpl = "/api/v1/apps/{appId}/credentials/secrets/{secretId}"
    chk("GET", tmpl, api.get(f"{base}/{new['id']}"))
    chk(
        "POST",
        tmpl + "/lifecycle/deactivate",
        api.post(f"{base}/{secrets[0]['id']}/lifecycle/deactivate"),
    )
    chk(
        "POST",
        tmpl + "/lifecycle/activate",
        api.post(f"{base}/{secrets[0]['id']}/lifecycle/activate"),
    )
    api.post(f"{base}/{new['id']}/lifecycle/deactivate")
    chk("DELETE", tmpl, api.delete(f"{base}/{new['id']}"))

    # groups and users
    group = chk(
        "POST",
        "/api/v1/groups",
        api.post("/api/v1/groups", json={"profile": {"name": "SpecGroup"}}),
    ).json()
    chk("GET", "/api/v1/groups", api.get("/api/v1/groups"))
    chk("GET", "/api/v1/groups/{groupId}", api.get(f"/api/v1/groups/{group['id']}"))
    chk(
        "PUT",
        "/api/v1/groups/{groupId}",
        api.put(
            f"/api/v1/groups/{group['id']}",
            json={"profile": {"name": "SpecGroup", "description": "d"}},
        ),
    )
    profile = {
        "firstName": "Spec",
        "lastName": "User",
        "email": "spec@example.com",
        "login": "spec@example.com",
    }
    user = chk(
        "POST",
        "/api/v1/users",
        api.post(
            "/api/v1/users",
            json={"profile": profile, "credentials": {"password": {"value": "Sp3cPassword"}}},
        ),
    ).json()
    chk("POST", "/api/v1/users", api.post("/api/v1/users", json={"profile": profile}))
    chk("GET", "/api/v1/users", api.get("/api/v1/users"))
    chk("GET", "/api/v1/users/{id}", api.get(f"/api/v1/users/{user['id']}"))
    chk("GET", "/api/v1/users/{id}", api.get("/api/v1/users/00uNOPENOPENOPENOPEN"))
    chk(
        "POST",
        "/api/v1/users/{id}",
        api.post(f"/api/v1/users/{user['id']}", json={"profile": {"title": "x"}}),
    )
    chk(
        "PUT",
        "/api/v1/groups/{groupId}/users/{userId}",
        api.put(f"/api/v1/groups/{group['id']}/users/{user['id']}"),
    )
    chk("GET", "/api/v1/groups/{groupId}/users", api.get(f"/api/v1/groups/{group['id']}/users"))
    chk("GET", "/api/v1/users/{id}/groups", api.get(f"/api/v1/users/{user['id']}/groups"))
    t = "/api/v1/apps/{appId}/groups/{groupId}"
    chk("PUT", t, api.put(f"/api/v1/apps/{spa['id']}/groups/{group['id']}", json={"priority": 0}))
    chk("GET", t, api.get(f"/api/v1/apps/{spa['id']}/groups/{group['id']}"))
    patched = chk(
        "PATCH",
        t,
        api.patch(
            f"/api/v1/apps/{spa['id']}/groups/{group['id']}",
            json=[
                {"op": "replace", "path": "/profile/manager", "value": "Carlo Ancelotti"},
                {"op": "replace", "path": "/priority", "value": 3},
            ],
        ),
    ).json()
    assert patched["profile"] == {"manager": "Carlo Ancelotti"} and patched["priority"] == 3
    chk("GET", "/api/v1/apps/{appId}/groups", api.get(f"/api/v1/apps/{spa['id']}/groups"))
    chk("GET", "/api/v1/apps/{appId}/users", api.get(f"/api/v1/apps/{spa['id']}/users"))
    chk("GET", "/api/v1/groups/{groupId}/apps", api.get(f"/api/v1/groups/{group['id']}/apps"))
    chk("DELETE", t, api.delete(f"/api/v1/apps/{spa['id']}/groups/{group['id']}"))
    chk(
        "DELETE",
        "/api/v1/groups/{groupId}/users/{userId}",
        api.delete(f"/api/v1/groups/{group['id']}/users/{user['id']}"),
    )
    chk(
        "POST",
        "/api/v1/users/{id}/lifecycle/deactivate",
        api.post(f"/api/v1/users/{user['id']}/lifecycle/deactivate"),
    )
    chk(
        "POST",
        "/api/v1/users/{id}/lifecycle/activate",
        api.post(f"/api/v1/users/{user['id']}/lifecycle/activate", params={"sendEmail": "false"}),
    )
    api.post(f"/api/v1/users/{user['id']}/lifecycle/deactivate")
    chk("DELETE", "/api/v1/users/{id}", api.delete(f"/api/v1/users/{user['id']}"))
    chk("DELETE", "/api/v1/groups/{groupId}", api.delete(f"/api/v1/groups/{group['id']}"))

    # authorization servers
    as_t = "/api/v1/authorizationServers/{authServerId}"
    chk("GET", "/api/v1/authorizationServers", api.get("/api/v1/authorizationServers"))
    chk("GET", as_t, api.get("/api/v1/authorizationServers/default"))
    chk("GET", as_t + "/claims", api.get("/api/v1/authorizationServers/default/claims"))
    claim_body = {
        "name": "spec_claim",
        "status": "ACTIVE",
        "claimType": "RESOURCE",
        "valueType": "EXPRESSION",
        "value": "user.email",
        "conditions": {"scopes": []},
    }
    claim = chk(
        "POST",
        as_t + "/claims",
        api.post("/api/v1/authorizationServers/default/claims", json=claim_body),
    ).json()
    chk(
        "POST",
        as_t + "/claims",
        api.post("/api/v1/authorizationServers/default/claims", json={**claim_body, "name": "sub"}),
    )
    ct = as_t + "/claims/{claimId}"
    curl = f"/api/v1/authorizationServers/default/claims/{claim['id']}"
    chk("GET", ct, api.get(curl))
    chk("PUT", ct, api.put(curl, json={**claim_body, "value": "user.login"}))
    chk("DELETE", ct, api.delete(curl))
    chk("GET", as_t + "/scopes", api.get("/api/v1/authorizationServers/default/scopes"))
    scope = chk(
        "POST",
        as_t + "/scopes",
        api.post(
            "/api/v1/authorizationServers/default/scopes",
            json={"name": "spec:read", "consent": "IMPLICIT"},
        ),
    ).json()
    chk(
        "DELETE",
        as_t + "/scopes/{scopeId}",
        api.delete(f"/api/v1/authorizationServers/default/scopes/{scope['id']}"),
    )
    chk("GET", as_t + "/policies", api.get("/api/v1/authorizationServers/default/policies"))
    policy = chk(
        "POST",
        as_t + "/policies",
        api.post(
            "/api/v1/authorizationServers/default/policies",
            json={
                "type": "OAUTH_AUTHORIZATION_POLICY",
                "name": "Spec Policy",
                "description": "Spec policy",
                "status": "ACTIVE",
                "priority": 2,
                "conditions": {"clients": {"include": ["ALL_CLIENTS"]}},
            },
        ),
    ).json()
    purl = f"/api/v1/authorizationServers/default/policies/{policy['id']}"
    chk(
        "POST",
        as_t + "/policies/{policyId}/rules",
        api.post(
            purl + "/rules",
            json={
                "type": "RESOURCE_ACCESS",
                "name": "Spec Rule",
                "priority": 1,
                "conditions": {
                    "people": {"groups": {"include": ["EVERYONE"]}},
                    "grantTypes": {"include": ["authorization_code"]},
                    "scopes": {"include": ["*"]},
                },
                "actions": {"token": {"accessTokenLifetimeMinutes": 60}},
            },
        ),
    )
    chk("GET", as_t + "/policies/{policyId}/rules", api.get(purl + "/rules"))
    chk("DELETE", as_t + "/policies/{policyId}", api.delete(purl))

    # policies (profile enrollment)
    chk(
        "GET",
        "/api/v1/policies",
        api.get("/api/v1/policies", params={"type": "PROFILE_ENROLLMENT"}),
    )
    pe = chk(
        "POST",
        "/api/v1/policies",
        api.post(
            "/api/v1/policies",
            json={"type": "PROFILE_ENROLLMENT", "name": "Spec SSR", "status": "ACTIVE"},
        ),
    ).json()
    chk("GET", "/api/v1/policies/{policyId}", api.get(f"/api/v1/policies/{pe['id']}"))
    chk(
        "PUT",
        "/api/v1/policies/{policyId}",
        api.put(
            f"/api/v1/policies/{pe['id']}",
            json={"type": "PROFILE_ENROLLMENT", "name": "Spec SSR 2"},
        ),
    )
    rules = chk(
        "GET", "/api/v1/policies/{policyId}/rules", api.get(f"/api/v1/policies/{pe['id']}/rules")
    ).json()
    rule = rules[0]
    rule["actions"]["profileEnrollment"]["unknownUserAction"] = "REGISTER"
    chk(
        "PUT",
        "/api/v1/policies/{policyId}/rules/{ruleId}",
        api.put(f"/api/v1/policies/{pe['id']}/rules/{rule['id']}", json=rule),
    )
    chk(
        "PUT",
        "/api/v1/apps/{appId}/policies/{policyId}",
        api.put(f"/api/v1/apps/{spa['id']}/policies/{pe['id']}"),
    )
    chk("GET", "/api/v1/policies/{policyId}/app", api.get(f"/api/v1/policies/{pe['id']}/app"))
    # a user profile policy in use is not deleted: hand the app back to the default one first
    chk("DELETE", "/api/v1/policies/{policyId}", api.delete(f"/api/v1/policies/{pe['id']}"))
    default_pe = next(
        p
        for p in api.get("/api/v1/policies", params={"type": "PROFILE_ENROLLMENT"}).json()
        if p["system"]
    )
    api.put(f"/api/v1/apps/{spa['id']}/policies/{default_pe['id']}")
    chk("DELETE", "/api/v1/policies/{policyId}", api.delete(f"/api/v1/policies/{pe['id']}"))

    # error responses, grants, trusted origins, authorization servers
    chk("DELETE", "/api/v1/apps/{appId}", api.delete(f"/api/v1/apps/{spa['id']}"))
    chk("DELETE", "/api/v1/groups/{groupId}", api.delete("/api/v1/groups/00gNOPENOPENOPENOPEN"))
    me = api.get(f"/api/v1/users/{sandbox.username}").json()
    chk(
        "POST",
        "/api/v1/users/{id}/lifecycle/activate",
        api.post(f"/api/v1/users/{me['id']}/lifecycle/activate"),
    )
    api.post(f"{base}", json={})
    chk("POST", "/api/v1/apps/{appId}/credentials/secrets", api.post(base, json={}))
    chk(
        "POST",
        "/api/v1/apps/{appId}/grants",
        api.post(
            f"/api/v1/apps/{web['id']}/grants",
            json={"issuer": sandbox.url, "scopeId": "okta.users.read"},
        ),
    )
    chk("GET", "/api/v1/apps/{appId}/grants", api.get(f"/api/v1/apps/{web['id']}/grants"))
    origin = chk(
        "POST",
        "/api/v1/trustedOrigins",
        api.post(
            "/api/v1/trustedOrigins",
            json={
                "name": "Spec origin",
                "origin": "https://spec.example.com",
                "scopes": [{"type": "CORS"}],
            },
        ),
    ).json()
    chk("POST", "/api/v1/trustedOrigins", api.post("/api/v1/trustedOrigins", json={"name": "x"}))
    chk("GET", "/api/v1/trustedOrigins", api.get("/api/v1/trustedOrigins"))
    chk(
        "DELETE",
        "/api/v1/trustedOrigins/{trustedOriginId}",
        api.delete(f"/api/v1/trustedOrigins/{origin['id']}"),
    )
    server = chk(
        "POST",
        "/api/v1/authorizationServers",
        api.post(
            "/api/v1/authorizationServers",
            json={"name": "Spec AS", "description": "spec", "audiences": ["api://spec"]},
        ),
    ).json()
    sbase = f"/api/v1/authorizationServers/{server['id']}"
    spol = api.post(
        f"{sbase}/policies",
        json={
            "name": "P",
            "description": "p",
            "conditions": {"clients": {"include": ["ALL_CLIENTS"]}},
        },
    ).json()
    chk("GET", as_t + "/policies/{policyId}", api.get(f"{sbase}/policies/{spol['id']}"))
    sc = api.get(f"{sbase}/scopes").json()[0]
    chk("GET", as_t + "/scopes/{scopeId}", api.get(f"{sbase}/scopes/{sc['id']}"))
    chk("GET", as_t + "/credentials/keys", api.get(f"{sbase}/credentials/keys"))
    chk(
        "POST",
        as_t + "/credentials/lifecycle/keyRotate",
        api.post(f"{sbase}/credentials/lifecycle/keyRotate", json={"use": "sig"}),
    )
    from okta_support import session_token

    sess = api.post("/api/v1/sessions", json={"sessionToken": session_token(sandbox)}).json()
    st = "/api/v1/sessions/{sessionId}"
    chk("GET", st, api.get(f"/api/v1/sessions/{sess['id']}"))
    chk(
        "POST",
        st + "/lifecycle/refresh",
        api.post(f"/api/v1/sessions/{sess['id']}/lifecycle/refresh"),
    )
    chk("DELETE", st, api.delete(f"/api/v1/sessions/{sess['id']}"))
    chk("GET", st, api.get(f"/api/v1/sessions/{sess['id']}"))
    chk("GET", "/api/v1/meta/schemas/user/{schemaId}", api.get("/api/v1/meta/schemas/user/default"))
    chk(
        "POST",
        "/api/v1/meta/schemas/user/{schemaId}",
        api.post(
            "/api/v1/meta/schemas/user/default",
            json={
                "definitions": {
                    "custom": {"properties": {"specAttr": {"title": "Spec", "type": "string"}}}
                }
            },
        ),
    )
    api.post("/__sandbox/ratelimits", json={"apps": 0})
    try:
        chk("GET", "/api/v1/apps", api.get("/api/v1/apps"))
    finally:
        api.post("/__sandbox/ratelimits", json={})

    # app lifecycle and delete last
    chk(
        "POST",
        "/api/v1/apps/{appId}/lifecycle/deactivate",
        api.post(f"/api/v1/apps/{spa['id']}/lifecycle/deactivate"),
    )
    chk(
        "POST",
        "/api/v1/apps/{appId}/lifecycle/activate",
        api.post(f"/api/v1/apps/{spa['id']}/lifecycle/activate"),
    )
    api.post(f"/api/v1/apps/{spa['id']}/lifecycle/deactivate")
    chk("DELETE", "/api/v1/apps/{appId}", api.delete(f"/api/v1/apps/{spa['id']}"))
    api.close()

    missing = [op for op in COVERED if op not in c.seen]
    assert not missing, f"operations not exercised: {missing}"
    assert not c.failures, "\n".join(c.failures)


def _web_body(label: str) -> dict[str, Any]:
    return {
        "name": "oidc_client",
        "label": label,
        "signOnMode": "OPENID_CONNECT",
        "credentials": {"oauthClient": {"token_endpoint_auth_method": "client_secret_basic"}},
        "settings": {
            "oauthClient": {
                "application_type": "web",
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "redirect_uris": [REDIRECT],
            }
        },
    }


def test_create_web_helper_is_spec_shaped(sandbox: Sandbox) -> None:
    with sandbox.client() as api:
        assert create_web(api, "Spec Helper Web", assign=False)["credentials"]["oauthClient"][
            "client_secret"
        ]


OAUTH_SPEC = SHARED / "specs" / "okta" / "oauth-minimal.yaml"
OAUTH_COVERED: list[tuple[str, str, int]] = [
    ("GET", "/.well-known/openid-configuration", 200),
    ("GET", "/oauth2/{authorizationServerId}/.well-known/openid-configuration", 200),
    ("GET", "/oauth2/{authorizationServerId}/.well-known/oauth-authorization-server", 200),
    ("GET", "/oauth2/{authorizationServerId}/.well-known/openid-configuration", 404),
    ("GET", "/oauth2/{authorizationServerId}/v1/keys", 200),
    ("GET", "/oauth2/v1/keys", 200),
    ("POST", "/oauth2/{authorizationServerId}/v1/token", 200),
    ("POST", "/oauth2/{authorizationServerId}/v1/token", 400),
    ("POST", "/oauth2/{authorizationServerId}/v1/token", 401),
    ("POST", "/oauth2/{authorizationServerId}/v1/introspect", 200),
    ("POST", "/oauth2/{authorizationServerId}/v1/revoke", 200),
    ("GET", "/oauth2/{authorizationServerId}/v1/userinfo", 200),
    ("POST", "/oauth2/v1/token", 200),
]


def test_oauth_responses_match_spec(sandbox: Sandbox) -> None:
    if not OAUTH_SPEC.exists():
        pytest.skip("Okta OAuth spec not available")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with OAUTH_SPEC.open() as fh:
        c = Checker(_nullable(yaml.load(fh, Loader=loader)))
    from urllib.parse import parse_qs, urlencode, urlsplit

    from okta_support import session_token

    base = f"{sandbox.url}/oauth2/default"
    as_t = "/oauth2/{authorizationServerId}"
    c.check(
        "GET",
        "/.well-known/openid-configuration",
        httpx.get(f"{sandbox.url}/.well-known/openid-configuration"),
    )
    c.check(
        "GET",
        as_t + "/.well-known/openid-configuration",
        httpx.get(f"{base}/.well-known/openid-configuration"),
    )
    c.check(
        "GET",
        as_t + "/.well-known/oauth-authorization-server",
        httpx.get(f"{base}/.well-known/oauth-authorization-server"),
    )
    c.check(
        "GET",
        as_t + "/.well-known/openid-configuration",
        httpx.get(f"{sandbox.url}/oauth2/ausNOPE/.well-known/openid-configuration"),
    )
    c.check("GET", as_t + "/v1/keys", httpx.get(f"{base}/v1/keys"))
    c.check("GET", "/oauth2/v1/keys", httpx.get(f"{sandbox.url}/oauth2/v1/keys"))

    with sandbox.client() as api:
        web = create_web(api, "OAuth spec web", grants=["authorization_code", "refresh_token"])
    auth = (web["id"], web["credentials"]["oauthClient"]["client_secret"])
    params = {
        "client_id": web["id"],
        "response_type": "code",
        "scope": "openid profile email offline_access",
        "redirect_uri": REDIRECT,
        "state": "s",
        "sessionToken": session_token(sandbox),
    }
    loc = httpx.get(f"{base}/v1/authorize?{urlencode(params)}").headers["location"]
    code = parse_qs(urlsplit(loc).query)["code"][0]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    tok = c.check(
        "POST", as_t + "/v1/token", httpx.post(f"{base}/v1/token", data=data, auth=auth)
    ).json()
    c.check("POST", as_t + "/v1/token", httpx.post(f"{base}/v1/token", data=data, auth=auth))
    c.check(
        "POST",
        as_t + "/v1/token",
        httpx.post(f"{base}/v1/token", data=data, auth=(web["id"], "x" * 20)),
    )
    c.check(
        "POST",
        as_t + "/v1/introspect",
        httpx.post(f"{base}/v1/introspect", data={"token": tok["access_token"]}, auth=auth),
    )
    c.check(
        "GET",
        as_t + "/v1/userinfo",
        httpx.get(
            f"{base}/v1/userinfo", headers={"Authorization": f"Bearer {tok['access_token']}"}
        ),
    )
    c.check(
        "POST",
        as_t + "/v1/revoke",
        httpx.post(f"{base}/v1/revoke", data={"token": tok["refresh_token"]}, auth=auth),
    )
    r = httpx.post(
        f"{sandbox.url}/oauth2/v1/token",
        data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": REDIRECT},
        auth=auth,
    )
    assert r.status_code == 400
    params["sessionToken"] = session_token(sandbox)
    loc = httpx.get(f"{sandbox.url}/oauth2/v1/authorize?{urlencode(params)}").headers["location"]
    data["code"] = parse_qs(urlsplit(loc).query)["code"][0]
    c.check(
        "POST",
        "/oauth2/v1/token",
        httpx.post(f"{sandbox.url}/oauth2/v1/token", data=data, auth=auth),
    )

    missing = [op for op in OAUTH_COVERED if op not in c.seen]
    assert not missing, f"operations not exercised: {missing}"
    assert not c.failures, "\n".join(c.failures)
