"""Level-3 fidelity: access policies, scopes, rate limits, fault injection, OAuth for Okta."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from okta_support import (
    REDIRECT,
    Sandbox,
    create_service as _service_app,
    create_spa,
    create_web,
    session_token,
)

from oktalab.sandbox.okta.faults import Faults


def test_custom_server_scopes_and_access_policy(sandbox: Sandbox, api: httpx.Client) -> None:
    r = api.post(
        "/api/v1/authorizationServers",
        json={"name": "Petstore API", "description": "pets", "audiences": ["api://petstore"]},
    )
    assert r.status_code == 201, r.text
    server = r.json()
    assert server["issuer"] == f"{sandbox.url}/oauth2/{server['id']}"
    base = f"/api/v1/authorizationServers/{server['id']}"
    assert api.post(f"{base}/scopes", json={"name": "pets:read"}).status_code == 201
    assert api.post(f"{base}/scopes", json={"name": "pets:read"}).status_code == 400
    policy = api.post(
        f"{base}/policies",
        json={
            "name": "Services",
            "description": "cc only",
            "priority": 1,
            "conditions": {"clients": {"include": ["ALL_CLIENTS"]}},
        },
    ).json()
    rule = {
        "name": "cc",
        "priority": 1,
        "conditions": {
            "people": {"groups": {"include": ["EVERYONE"]}},
            "grantTypes": {"include": ["client_credentials"]},
            "scopes": {"include": ["pets:read"]},
        },
        "actions": {"token": {"accessTokenLifetimeMinutes": 15}},
    }
    created = api.post(f"{base}/policies/{policy['id']}/rules", json=rule)
    assert created.status_code == 201 and created.json()["id"].startswith("0pr")

    svc = _service_app(api, "Pet service")
    secret = svc["credentials"]["oauthClient"]["client_secret"]
    token_url = f"{sandbox.url}/oauth2/{server['id']}/v1/token"
    r = httpx.post(
        token_url,
        data={"grant_type": "client_credentials", "scope": "pets:read"},
        auth=(svc["id"], secret),
    )
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] == 900 and "refresh_token" not in r.json()
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "api://petstore" and claims["sub"] == svc["id"] and "uid" not in claims
    r = httpx.post(
        token_url,
        data={"grant_type": "client_credentials", "scope": "openid"},
        auth=(svc["id"], secret),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = httpx.post(
        token_url,
        data={"grant_type": "client_credentials", "scope": "pets:write"},
        auth=(svc["id"], secret),
    )
    assert r.json()["error"] == "invalid_scope"

    # a web app's authorization_code request is not allowed by any rule of this server
    web = create_web(api, "Pet web")
    params = {
        "client_id": web["id"],
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": REDIRECT,
        "state": "s",
        "sessionToken": session_token(sandbox),
    }
    r = httpx.get(f"{sandbox.url}/oauth2/{server['id']}/v1/authorize?{urlencode(params)}")
    assert parse_qs(urlsplit(r.headers["location"]).query)["error"] == ["access_denied"]

    # flip the rule to authorization_code only: client_credentials is refused at /token
    rule["conditions"]["grantTypes"]["include"] = ["authorization_code"]
    rid = created.json()["id"]
    assert api.put(f"{base}/policies/{policy['id']}/rules/{rid}", json=rule).status_code == 200
    r = httpx.post(
        token_url,
        data={"grant_type": "client_credentials", "scope": "pets:read"},
        auth=(svc["id"], secret),
    )
    assert r.status_code == 400 and r.json()["error"] == "access_denied"
    # the app itself may not use a grant it was not configured with
    r = httpx.post(
        token_url,
        data={"grant_type": "password", "username": "x", "password": "y"},
        auth=(svc["id"], secret),
    )
    assert r.json()["error"] == "unauthorized_client"


def test_groups_scope_needs_to_be_created(sandbox: Sandbox, api: httpx.Client) -> None:
    spa = create_spa(api, "Groups scope SPA")
    params = {
        "client_id": spa["id"],
        "response_type": "code",
        "scope": "openid groups",
        "redirect_uri": REDIRECT,
        "state": "s",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
    }
    url = f"{sandbox.url}/oauth2/default/v1/authorize?{urlencode(params)}"
    q = parse_qs(
        urlsplit(
            httpx.get(url + "&sessionToken=" + session_token(sandbox)).headers["location"]
        ).query
    )
    assert q["error"] == ["invalid_scope"]
    scope = api.post(
        "/api/v1/authorizationServers/default/scopes",
        json={"name": "groups", "consent": "IMPLICIT"},
    )
    assert scope.status_code == 201
    try:
        q = parse_qs(
            urlsplit(
                httpx.get(url + "&sessionToken=" + session_token(sandbox)).headers["location"]
            ).query
        )
        assert "code" in q
    finally:
        api.delete(f"/api/v1/authorizationServers/default/scopes/{scope.json()['id']}")


def test_rate_limit_buckets(sandbox: Sandbox, api: httpx.Client) -> None:
    assert api.post("/__sandbox/ratelimits", json={"apps": 2}).status_code == 200
    try:
        assert api.get("/api/v1/apps").status_code == 200
        assert api.get("/api/v1/apps").headers["x-rate-limit-remaining"] == "0"
        r = api.get("/api/v1/apps")
        assert r.status_code == 429 and r.json()["errorCode"] == "E0000047"
        assert r.json()["errorSummary"] == "API call exceeded rate limit due to too many requests."
        assert r.headers["x-rate-limit-limit"] == "2" and r.headers["x-rate-limit-remaining"] == "0"
        assert int(r.headers["x-rate-limit-reset"]) >= int(time.time())
        assert api.get("/api/v1/users").status_code == 200  # separate bucket
        # Okta's published Enterprise limits (rl-global-mgmt): /api/v1/apps is 100 a minute
        preset = api.post("/__sandbox/ratelimits", json={"preset": "okta-defaults"})
        assert preset.status_code == 200 and preset.json()["apps"] == 100
        assert api.get("/api/v1/apps").headers["x-rate-limit-limit"] == "100"
        bad = api.post("/__sandbox/ratelimits", json={"preset": "fast"})
        assert bad.status_code == 400 and "okta-defaults" in bad.text
    finally:
        api.post("/__sandbox/ratelimits", json={})
    assert api.get("/api/v1/apps").status_code == 200
    assert api.get("/api/v1/apps").headers["x-rate-limit-limit"] == "600"


def test_fault_injection(sandbox: Sandbox, api: httpx.Client) -> None:
    unauth = httpx.post(f"{sandbox.url}/__sandbox/faults", json={"rules": []})
    assert unauth.status_code == 401
    config = {
        "seed": 1,
        "rules": [
            {"path": "^/api/v1/groups$", "method": "GET", "status": 503},
            {"path": "^/api/v1/users$", "latency_ms": 150},
            {"path": "^/api/v1/authorizationServers$", "drop": True},
        ],
    }
    assert api.post("/__sandbox/faults", json=config).status_code == 200
    try:
        r = api.get("/api/v1/groups")
        assert r.status_code == 503 and r.json()["errorCode"] == "E0000009"
        assert r.headers["x-okta-request-id"]
        start = time.perf_counter()
        assert api.get("/api/v1/users").status_code == 200
        assert time.perf_counter() - start >= 0.15
        with pytest.raises(httpx.HTTPError):
            api.get("/api/v1/authorizationServers")
        assert api.get("/__sandbox/faults").json()["rules"][0]["status"] == 503
        bad = api.post("/__sandbox/faults", json={"rules": [{"path": "("}]})
        assert bad.status_code == 400
    finally:
        assert api.delete("/__sandbox/faults").status_code == 204
    assert api.get("/api/v1/groups").status_code == 200


def test_fault_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "OKTALAB_SANDBOX_FAULTS",
        json.dumps({"seed": 7, "rules": [{"path": "^/api/v1/apps", "status": 503, "rate": 0.5}]}),
    )
    faults = Faults.from_env()
    hits = [faults.decide("GET", "/api/v1/apps").status for _ in range(200)]
    assert 60 < hits.count(503) < 140
    again = Faults.from_env()
    assert [again.decide("GET", "/api/v1/apps").status for _ in range(200)] == hits
    assert faults.decide("GET", "/api/v1/users").status is None


def test_oauth_for_okta_service_app(sandbox: Sandbox, api: httpx.Client) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = "svc-key-1"
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": kid, "use": "sig", "alg": "RS256"})
    svc = _service_app(api, "Okta API service", jwks={"keys": [public]})
    assert "client_secret" not in svc["credentials"]["oauthClient"]
    grant = api.post(
        f"/api/v1/apps/{svc['id']}/grants",
        json={"issuer": sandbox.url, "scopeId": "okta.users.read"},
    )
    assert grant.status_code == 201 and grant.json()["scopeId"] == "okta.users.read"
    token_url = f"{sandbox.url}/oauth2/v1/token"

    def assertion() -> str:
        now = int(time.time())
        claims = {
            "iss": svc["id"],
            "sub": svc["id"],
            "aud": token_url,
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    def request_token(scope: str, client_assertion: str | None = None) -> httpx.Response:
        return httpx.post(
            token_url,
            data={
                "grant_type": "client_credentials",
                "scope": scope,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": client_assertion or assertion(),
            },
        )

    r = request_token("okta.users.read")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (
        body["token_type"] == "Bearer"
        and body["expires_in"] == 3600
        and body["scope"] == "okta.users.read"
    )
    used = assertion()
    assert request_token("okta.users.read", used).status_code == 200
    assert request_token("okta.users.read", used).json()["error"] == "invalid_client"  # jti replay
    assert request_token("okta.users.manage").json()["error"] == "invalid_scope"  # not granted

    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    users = httpx.get(f"{sandbox.url}/api/v1/users", headers=bearer)
    assert users.status_code == 200 and any(
        u["profile"]["login"] == sandbox.username for u in users.json()
    )
    denied = httpx.post(f"{sandbox.url}/api/v1/users", headers=bearer, json={"profile": {}})
    assert denied.status_code == 403 and denied.json()["errorCode"] == "E0000006"
    assert "insufficient_scope" in denied.headers["www-authenticate"]
    assert httpx.get(f"{sandbox.url}/api/v1/apps", headers=bearer).status_code == 403
    internal = httpx.get(
        f"{sandbox.url}/api/v1/internal/apps/{svc['id']}/settings/oauth/idToken", headers=bearer
    )
    assert internal.status_code == 403 and internal.json()["errorCode"] == "E0000005"

    wrong_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    forged = jwt.encode(
        {"iss": svc["id"], "sub": svc["id"], "aud": token_url, "iat": now, "exp": now + 60},
        wrong_key,
        algorithm="RS256",
        headers={"kid": kid},
    )
    assert request_token("okta.users.read", forged).status_code == 401


def test_trusted_origins_gate_cors(sandbox: Sandbox, api: httpx.Client) -> None:
    origin = "http://portal.example.com"
    keys = f"{sandbox.url}/oauth2/default/v1/keys"
    assert "access-control-allow-origin" not in httpx.get(keys, headers={"Origin": origin}).headers
    r = api.post(
        "/api/v1/trustedOrigins",
        json={
            "name": "Portal",
            "origin": origin,
            "scopes": [{"type": "CORS"}, {"type": "REDIRECT"}],
        },
    )
    assert r.status_code == 200 and r.json()["id"].startswith("tos")
    try:
        got = httpx.get(keys, headers={"Origin": origin})
        assert got.headers["access-control-allow-origin"] == origin
        pre = httpx.options(
            f"{sandbox.url}/oauth2/default/v1/token",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert pre.status_code == 204 and "POST" in pre.headers["access-control-allow-methods"]
        assert (
            "access-control-allow-origin"
            not in httpx.get(keys, headers={"Origin": "http://evil"}).headers
        )
        # the Management API itself is never CORS-enabled
        mgmt = httpx.get(f"{sandbox.url}/api/v1/users", headers={"Origin": origin})
        assert "access-control-allow-origin" not in mgmt.headers
    finally:
        assert api.delete(f"/api/v1/trustedOrigins/{r.json()['id']}").status_code == 204


def test_public_org_url_is_used_for_every_absolute_url(tmp_path: object) -> None:
    """Binder mode: the org is reached through a proxy, so URLs must come from org_url."""
    from okta_support import API_TOKEN, PASSWORD, USERNAME, ServerThread

    from oktalab.sandbox.okta import OktaOrg, create_okta_app
    from oktalab.sandbox.store import Database

    db = Database(tmp_path / "proxied.db")  # type: ignore[operator]
    public = "https://hub.example.org/user/me/proxy/9999"
    org = OktaOrg(db, org_url=public + "/")
    org.seed(api_token=API_TOKEN, test_username=USERNAME, test_password=PASSWORD)
    server = ServerThread(create_okta_app(org))
    server.start()
    local = f"http://127.0.0.1:{server.port}"
    try:
        meta = httpx.get(f"{local}/oauth2/default/.well-known/openid-configuration").json()
        assert meta["issuer"] == f"{public}/oauth2/default"
        assert all(
            v.startswith(public)
            for k, v in meta.items()
            if k.endswith("_endpoint") or k == "jwks_uri"
        )
        api = httpx.Client(base_url=local, headers={"Authorization": f"SSWS {API_TOKEN}"})
        spa = create_spa(api, "Proxied SPA")
        links = api.get("/api/v1/apps", params={"limit": 1}).headers.get_list("link")
        assert all(link.startswith(f"<{public}/api/v1/apps") for link in links)
        assert spa["_links"]["groups"]["href"].startswith(public)
        params = {
            "client_id": spa["id"],
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": REDIRECT,
            "state": "s",
            "code_challenge": "c" * 43,
            "code_challenge_method": "S256",
        }
        r = httpx.get(f"{local}/oauth2/default/v1/authorize?{urlencode(params)}")
        assert r.headers["location"].startswith(
            f"{public}/login/login.htm?fromURI=%2Foauth2%2Fdefault"
        )
        page = httpx.get(
            f"{local}/login/login.htm", params={"fromURI": "/oauth2/default/v1/authorize"}
        )
        assert f'action="{public}/login/login.htm"' in page.text
        st = httpx.post(
            f"{local}/api/v1/authn", json={"username": USERNAME, "password": PASSWORD}
        ).json()
        r = httpx.get(
            f"{local}/oauth2/default/v1/authorize?{urlencode(params)}&sessionToken={st['sessionToken']}"
        )
        assert "Secure" in r.headers["set-cookie"]
        api.close()
    finally:
        server.stop()
        db.close()


def test_rate_limits_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from oktalab.sandbox.okta.ratelimit import RateLimiter, family

    monkeypatch.setenv("OKTALAB_SANDBOX_RATE_LIMITS", '{"apps": 1}')
    limiter = RateLimiter()
    assert limiter.hit(family("/api/v1/apps/0oa1/groups")).allowed
    assert not limiter.hit("apps").allowed
    assert limiter.hit(family("/api/v1/apps/0oa1")).allowed  # Okta: "/api/v1/apps/{id} only"
    assert limiter.hit(family("/api/v1/users")).allowed
    assert family("/__sandbox/faults") is None and family("/oauth2/default/v1/token") == "oauth2"
    assert family("/api/v1/users/00u1", "GET") == "user_get"
    assert family("/api/v1/users/00u1", "DELETE") == "user_write"
    assert family("/oauth2/default/v1/keys") == "metadata"
    monkeypatch.setenv("OKTALAB_SANDBOX_RATE_LIMITS", "okta-defaults")
    assert RateLimiter().limits["apps"] == 100, "Okta's Enterprise /api/v1/apps row"
    monkeypatch.setenv("OKTALAB_SANDBOX_RATE_LIMITS", "fast")
    with pytest.raises(ValueError, match="okta-defaults"):
        RateLimiter()


def test_key_rotation_keeps_previous_key_published(sandbox: Sandbox, api: httpx.Client) -> None:
    server = api.post(
        "/api/v1/authorizationServers",
        json={"name": "Rotating", "description": "rotation", "audiences": ["api://rotating"]},
    ).json()
    base = f"/api/v1/authorizationServers/{server['id']}"
    api.post(f"{base}/scopes", json={"name": "r:read"})
    pol = api.post(
        f"{base}/policies",
        json={
            "name": "all",
            "description": "all",
            "conditions": {"clients": {"include": ["ALL_CLIENTS"]}},
        },
    ).json()
    api.post(
        f"{base}/policies/{pol['id']}/rules",
        json={
            "name": "cc",
            "conditions": {
                "people": {"groups": {"include": ["EVERYONE"]}},
                "grantTypes": {"include": ["client_credentials"]},
                "scopes": {"include": ["*"]},
            },
        },
    )
    svc = _service_app(api, "Rotating service")
    auth = (svc["id"], svc["credentials"]["oauthClient"]["client_secret"])
    token_url = f"{sandbox.url}/oauth2/{server['id']}/v1/token"
    old = httpx.post(
        token_url, data={"grant_type": "client_credentials", "scope": "r:read"}, auth=auth
    ).json()
    old_kid = jwt.get_unverified_header(old["access_token"])["kid"]
    rotated = api.post(f"{base}/credentials/lifecycle/keyRotate", json={"use": "sig"})
    assert rotated.status_code == 200 and rotated.json()[0]["kid"] != old_kid
    r = httpx.Response(200, json=rotated.json()[0])
    keys = httpx.get(f"{sandbox.url}/oauth2/{server['id']}/v1/keys").json()["keys"]
    assert [k["kid"] for k in keys] == [r.json()["kid"], old_kid]
    assert [k["status"] for k in api.get(f"{base}/credentials/keys").json()] == [
        "ACTIVE",
        "EXPIRED",
    ]
    new = httpx.post(
        token_url, data={"grant_type": "client_credentials", "scope": "r:read"}, auth=auth
    ).json()
    assert jwt.get_unverified_header(new["access_token"])["kid"] == r.json()["kid"]
    intro = f"{sandbox.url}/oauth2/{server['id']}/v1/introspect"
    assert (
        httpx.post(intro, data={"token": old["access_token"]}, auth=auth).json()["active"] is True
    )
    assert api.get(base).json()["credentials"]["signing"]["kid"] == r.json()["kid"]


def test_refresh_token_absolute_lifetime_from_rule(
    sandbox: Sandbox, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = api.post(
        "/api/v1/authorizationServers",
        json={"name": "Short refresh", "description": "rt", "audiences": ["api://short"]},
    ).json()
    base = f"/api/v1/authorizationServers/{server['id']}"
    pol = api.post(
        f"{base}/policies",
        json={
            "name": "all",
            "description": "all",
            "conditions": {"clients": {"include": ["ALL_CLIENTS"]}},
        },
    ).json()
    api.post(
        f"{base}/policies/{pol['id']}/rules",
        json={
            "name": "code",
            "conditions": {
                "people": {"groups": {"include": ["EVERYONE"]}},
                "grantTypes": {"include": ["authorization_code"]},
                "scopes": {"include": ["*"]},
            },
            "actions": {
                "token": {
                    "accessTokenLifetimeMinutes": 5,
                    "refreshTokenLifetimeMinutes": 60,
                    "refreshTokenWindowMinutes": 30,
                }
            },
        },
    )
    spa = create_spa(api, "Short refresh SPA", leeway=0)
    import base64
    import hashlib

    verifier = "v" * 50
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )
    params = {
        "client_id": spa["id"],
        "response_type": "code",
        "scope": "openid offline_access",
        "redirect_uri": REDIRECT,
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "sessionToken": session_token(sandbox),
    }
    loc = httpx.get(
        f"{sandbox.url}/oauth2/{server['id']}/v1/authorize?{urlencode(params)}"
    ).headers["location"]
    code = parse_qs(urlsplit(loc).query)["code"][0]
    token_url = f"{sandbox.url}/oauth2/{server['id']}/v1/token"
    tok = httpx.post(
        token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": spa["id"],
            "code_verifier": verifier,
        },
    ).json()
    assert tok["expires_in"] == 300
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 25 * 60)  # inside the 30-minute idle window
    r = httpx.post(
        token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tok["refresh_token"],
            "client_id": spa["id"],
        },
    )
    assert r.status_code == 200, r.text
    monkeypatch.setattr(time, "time", lambda: real() + 50 * 60)  # idle window renewed by rotation
    r = httpx.post(
        token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": r.json()["refresh_token"],
            "client_id": spa["id"],
        },
    )
    assert r.status_code == 200, r.text
    monkeypatch.setattr(time, "time", lambda: real() + 61 * 60)  # past the 60-minute lifetime
    r = httpx.post(
        token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": r.json()["refresh_token"],
            "client_id": spa["id"],
        },
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_eventual_consistency_fault(api: httpx.Client) -> None:
    config = {"rules": [{"path": "^/api/v1/groups$", "method": "GET", "hide_recent_ms": 400}]}
    assert api.post("/__sandbox/faults", json=config).json()["rules"][0]["hide_recent_ms"] == 400
    try:
        group = api.post("/api/v1/groups", json={"profile": {"name": "LaggyGroup"}}).json()
        assert api.get("/api/v1/groups", params={"q": "LaggyGroup"}).json() == []
        assert api.get(f"/api/v1/groups/{group['id']}").status_code == 200  # direct reads are fresh
        time.sleep(0.45)
        assert [g["id"] for g in api.get("/api/v1/groups", params={"q": "LaggyGroup"}).json()] == [
            group["id"]
        ]
    finally:
        api.delete("/__sandbox/faults")
