"""What a real Okta Identity Engine org does that the client must handle (issue 18): paginated
lists, the access policy of the authorization server, the issuer in the metadata, clock skew,
the org authorization server and the enrollment-policy mapping at teardown.

Everything talks HTTP to the session sandbox (``oktalab sandbox start``) through oktalab's own
client or the stages, as a real run does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from oktalab_support import ROOT

from oktalab import ParameterError, Secret, load_parameters, oidc, run_stage
from oktalab.errors import VerificationError
from oktalab.okta import OktaClient
from oktalab.params import ClaimParams
from oktalab.results import StageResult
from oktalab.settings import Environment
from oktalab.stages.claims import ensure_claims
from oktalab.stages.context import Context

PARAMS = ROOT / "parameters" / "sandbox.yaml"


@pytest.fixture
def okta(sandbox: dict[str, str]) -> Iterator[OktaClient]:
    client = OktaClient(sandbox["OKTA_ORG_URL"], Secret(sandbox["OKTA_API_TOKEN"]), page_size=1)
    yield client
    client.close()


def _uid() -> str:
    return uuid.uuid4().hex[:8]


# -- 5. every list is paginated ---------------------------------------------------------------


def test_every_list_the_client_reads_follows_next_links(okta: OktaClient) -> None:
    """At one item per page, objects on page 2 and later are still found."""
    server = "default"
    made = okta.create_claim(
        server,
        {
            "name": f"pg{_uid()}",
            "claimType": "RESOURCE",
            "valueType": "EXPRESSION",
            "value": "user.email",
            "conditions": {"scopes": []},
        },
    )
    try:
        before = okta.requests_made
        claims = okta.claims(server)
        assert made["id"] in {c["id"] for c in claims}
        assert okta.requests_made - before == len(claims) >= 2, "one request per item"
        assert len({c["id"] for c in claims}) == len(claims), "no item twice"
    finally:
        okta.delete_claim(server, made["id"])
    assert len(okta.scopes(server)) >= 7  # the system scopes, one page each
    policies = okta.as_policies(server)
    assert policies and okta.as_policy_rules(server, policies[0]["id"])
    assert okta.default_policy("PROFILE_ENROLLMENT") is not None

    group = okta.create_group(f"pg-{_uid()}")
    users = [
        okta.create_user(
            {
                "login": f"pg{_uid()}@example.com",
                "email": f"pg{_uid()}@example.com",
                "firstName": "P",
                "lastName": str(i),
            }
        )
        for i in range(3)
    ]
    for u in users:
        okta.add_user_to_group(group["id"], u["id"])
    assert {u["id"] for u in okta.group_users(group["id"])} == {u["id"] for u in users}

    app = okta.create_app(
        {
            "name": "oidc_client",
            "label": f"pg-{_uid()}",
            "signOnMode": "OPENID_CONNECT",
            "credentials": {"oauthClient": {"token_endpoint_auth_method": "client_secret_basic"}},
            "settings": {
                "oauthClient": {
                    "application_type": "web",
                    "grant_types": ["authorization_code"],
                    "response_types": ["code"],
                    "redirect_uris": ["http://localhost/cb"],
                }
            },
        }
    )
    okta.create_client_secret(app["id"])
    assert len(okta.client_secrets(app["id"])) == 2
    pe = okta.create_policy(
        {"type": "PROFILE_ENROLLMENT", "name": f"pg-{_uid()}", "status": "ACTIVE"}
    )
    okta.assign_app_policy(app["id"], pe["id"])
    assert [a["id"] for a in okta.policy_apps(pe["id"])] == [app["id"]]
    assert okta.policy_rules(pe["id"])
    assert okta.find_policy("PROFILE_ENROLLMENT", pe["name"])["id"] == pe["id"]


def test_a_claim_on_page_two_is_not_created_again(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    ps = load_parameters(PARAMS, {"name": f"pg-{_uid()}"})
    env = Environment.load(target="sandbox")
    ctx = Context(params=ps, run_dir=tmp_path, env=env)
    ctx._okta = OktaClient(env.okta_org_url or "", env.okta_api_token or Secret(""), page_size=1)
    want = [ClaimParams(name=f"p2{_uid()}", value="user.email")]
    try:
        first = StageResult(stage="claims", parameter_set=ps.name)
        ensure_claims(ctx, first, "default", want)
        assert [r.action for r in first.rows] == ["created"]
        listed = [c["name"] for c in ctx.okta.claims("default")]
        assert listed.index(want[0].name) >= 1, "the claim is past the first page"
        again = StageResult(stage="claims", parameter_set=ps.name)
        ensure_claims(ctx, again, "default", want)
        assert [r.action for r in again.rows] == ["unchanged"]
        named = [c for c in ctx.okta.claims("default") if c["name"] == want[0].name]
        assert len(named) == 1
    finally:
        for c in ctx.okta.claims("default"):
            if c["name"] == want[0].name:
                ctx.okta.delete_claim("default", c["id"])
        ctx.close()


# -- 6. time ------------------------------------------------------------------------------------


def test_rate_limit_wait_uses_the_servers_date_not_the_local_clock() -> None:
    """The server's clock is 1000 s behind ours; its bucket resets 5 s after its Date."""
    server_now = time.time() - 1000
    resp = httpx.Response(
        429,
        headers={
            "Date": formatdate(server_now, usegmt=True),
            "X-Rate-Limit-Limit": "10",
            "X-Rate-Limit-Remaining": "0",
            "X-Rate-Limit-Reset": str(int(server_now) + 5),
        },
    )
    delay = OktaClient._reset_delay(resp)
    assert 4.0 <= delay <= 6.1, delay  # by the local clock the reset was 995 s ago


def test_token_times_get_leeway_and_a_failure_reports_the_skew(
    sandbox_env: dict[str, str],
) -> None:
    org = sandbox_env["OKTA_ORG_URL"]
    meta = oidc.discover(org, "default")
    assert abs(meta.clock_skew) < 5
    jwks = oidc.fetch_jwks(meta.jwks_uri)
    okta = OktaClient(org, Secret(sandbox_env["OKTA_API_TOKEN"]))
    app = okta.create_app(
        {
            "name": "oidc_client",
            "label": f"skew-{_uid()}",
            "signOnMode": "OPENID_CONNECT",
            "credentials": {"oauthClient": {"token_endpoint_auth_method": "none"}},
            "settings": {
                "oauthClient": {
                    "application_type": "browser",
                    "grant_types": ["authorization_code"],
                    "response_types": ["code"],
                    "redirect_uris": ["http://localhost:4000/callback"],
                }
            },
        }
    )
    okta.close()
    expired = httpx.post(
        f"{org}/__sandbox/expired-token",
        json={
            "clientId": app["credentials"]["oauthClient"]["client_id"],
            "username": sandbox_env["OKTALAB_TEST_USERNAME"],
        },
        headers={"Authorization": f"SSWS {sandbox_env['OKTA_API_TOKEN']}"},
    ).json()["access_token"]
    with pytest.raises(VerificationError) as info:
        oidc.verify_token(expired, jwks, issuer=meta.issuer, leeway=120, clock_skew=meta.clock_skew)
    text = str(info.value)
    assert "120 s leeway" in text and "measured clock skew" in text and "Date header" in text
    # an hour-old expiry passes with more than an hour of leeway: the leeway really applies
    claims = oidc.verify_token(expired, jwks, issuer=meta.issuer, leeway=7300)
    assert claims["exp"] < time.time() - 3000
    with pytest.raises(jwt.InvalidSignatureError):
        head, body, sig = expired.split(".")
        oidc.verify_token(f"{head}.{body}.{sig[:-4]}AAAA", jwks, leeway=7300)


# -- 7. discovery ---------------------------------------------------------------------------------


def test_discovery_refuses_metadata_naming_another_issuer(sandbox: dict[str, str]) -> None:
    org = sandbox["OKTA_ORG_URL"]
    assert oidc.discover(org, "default").issuer == f"{org}/oauth2/default"
    with pytest.raises(VerificationError) as info:
        oidc.discover(org, "default", expected_issuer="https://dev-1.okta.com/oauth2/default")
    assert f"'{org}/oauth2/default'" in str(info.value)
    assert "'https://dev-1.okta.com/oauth2/default'" in str(info.value)
    assert "4.3" in str(info.value)


# -- 3. the org authorization server ---------------------------------------------------------------


@pytest.mark.parametrize("server", ["", "org"])
def test_org_authorization_server_is_refused_with_the_reason(server: str) -> None:
    with pytest.raises(ParameterError) as info:
        load_parameters(PARAMS, {"authorization_server": server})
    text = str(info.value)
    assert "authorization_server" in text and "org authorization server" in text
    assert "Gloo" in text


def test_org_server_access_tokens_are_signed_with_an_unpublished_key(
    sandbox: dict[str, str],
) -> None:
    """A service app's token from the org server works on Okta's API and at introspection,
    but no key in /oauth2/v1/keys verifies it; org-server ID tokens stay verifiable."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    org = sandbox["OKTA_ORG_URL"]
    admin = {"Authorization": f"SSWS {sandbox['OKTA_API_TOKEN']}"}
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1"}
    app = httpx.post(
        f"{org}/api/v1/apps",
        headers=admin,
        json={
            "name": "oidc_client",
            "label": f"svc-{_uid()}",
            "signOnMode": "OPENID_CONNECT",
            "credentials": {"oauthClient": {"token_endpoint_auth_method": "private_key_jwt"}},
            "settings": {
                "oauthClient": {
                    "application_type": "service",
                    "grant_types": ["client_credentials"],
                    "response_types": ["token"],
                    "jwks": {"keys": [public]},
                }
            },
        },
    )
    assert app.status_code == 200, app.text
    client_id = app.json()["credentials"]["oauthClient"]["client_id"]
    grant = httpx.post(
        f"{org}/api/v1/apps/{app.json()['id']}/grants",
        headers=admin,
        json={"scopeId": "okta.groups.read", "issuer": org},
    )
    assert grant.status_code in (200, 201), grant.text
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assertion = jwt.encode(
        {
            "iss": client_id,
            "sub": client_id,
            "aud": f"{org}/oauth2/v1/token",
            "exp": int(time.time()) + 300,
            "jti": uuid.uuid4().hex,
        },
        pem,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    tok = httpx.post(
        f"{org}/oauth2/v1/token",
        data={
            "grant_type": "client_credentials",
            "scope": "okta.groups.read",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    assert tok.status_code == 200, tok.text
    access = tok.json()["access_token"]
    assert (
        httpx.get(f"{org}/api/v1/groups", headers={"Authorization": f"Bearer {access}"}).status_code
        == 200
    )
    published = httpx.get(f"{org}/oauth2/v1/keys").json()
    kid = jwt.get_unverified_header(access)["kid"]
    assert kid not in {k["kid"] for k in published["keys"]}
    for k in published["keys"]:
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(
                access, jwt.PyJWK(k).key, algorithms=["RS256"], options={"verify_aud": False}
            )


# -- 2. the access policy ---------------------------------------------------------------------------


def _custom_server(org: str, token: str) -> dict[str, Any]:
    resp = httpx.post(
        f"{org}/api/v1/authorizationServers",
        headers={"Authorization": f"SSWS {token}"},
        json={
            "name": f"as-{_uid()}",
            "description": "oktalab test",
            "audiences": ["api://oktalab"],
        },
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_a_new_custom_server_has_no_policy_and_sign_in_is_diagnosed_then_admitted(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    org, token = sandbox_env["OKTA_ORG_URL"], sandbox_env["OKTA_API_TOKEN"]
    server = _custom_server(org, token)
    headers = {"Authorization": f"SSWS {token}"}
    base = f"{org}/api/v1/authorizationServers/{server['id']}"
    assert httpx.get(f"{base}/policies", headers=headers).json() == []
    name = f"ap-{_uid()}"
    over = {
        "name": name,
        "authorization_server": server["id"],
        "app": {"label": name},
        "claims": [],
    }
    ps = load_parameters(PARAMS, over)
    run_dir = tmp_path / "run"
    assert run_stage("okta_app", ps, run_dir=run_dir).ok
    refused = run_stage("claims", ps, run_dir=run_dir, raise_on_failure=False)
    row = next(r for r in refused.rows if r.step == "access policy")
    assert row.status == "failed" and "Policy evaluation failed" in row.detail
    assert "access_policy.create" in row.detail
    assert not any(r.step == "sign in" for r in refused.rows), "no sign-in attempted"

    ps2 = load_parameters(PARAMS, {**over, "access_policy": {"create": True, "name": name}})
    admitted = run_stage("claims", ps2, run_dir=run_dir, raise_on_failure=False)
    rows = {r.step: r for r in admitted.rows}
    assert rows["access policy"].action == "created"
    assert rows["sign in"].status == "ok", [r.as_dict() for r in admitted.rows]
    policies = httpx.get(f"{base}/policies", headers=headers).json()
    assert [p["name"] for p in policies] == [name]
    again = run_stage("claims", ps2, run_dir=run_dir, raise_on_failure=False)
    assert next(r for r in again.rows if r.step == "access policy").action == "checked"

    td = run_stage("teardown", ps2, run_dir=run_dir, raise_on_failure=False)
    assert ("AuthorizationServerPolicy", "deleted") in {(r.kind, r.action) for r in td.rows}
    assert httpx.get(f"{base}/policies", headers=headers).json() == []


def test_web_app_pkce_follows_the_guide() -> None:
    ps = load_parameters(ROOT / "parameters" / "sandbox-portal.yaml")
    assert ps.app.type == "web" and ps.app.pkce is False
    assert load_parameters(PARAMS).app.pkce is True
    on = load_parameters(
        ROOT / "parameters" / "sandbox-portal.yaml", {"app": {"pkce_required": True}}
    )
    assert on.app.pkce is True


# -- 11. OAuth 2.0 service app for Okta's APIs ------------------------------------------------------


def test_stages_run_with_a_private_key_jwt_service_app_and_the_least_scopes(
    sandbox: dict[str, str], tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from oktalab.errors import OktaAPIError
    from oktalab.okta import SERVICE_APP_SCOPES, PrivateKeyJWT

    org = sandbox["OKTA_ORG_URL"]
    admin = {"Authorization": f"SSWS {sandbox['OKTA_API_TOKEN']}"}
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "ci"}
    svc = httpx.post(
        f"{org}/api/v1/apps",
        headers=admin,
        json={
            "name": "oidc_client",
            "label": f"oktalab-automation-{_uid()}",
            "signOnMode": "OPENID_CONNECT",
            "credentials": {"oauthClient": {"token_endpoint_auth_method": "private_key_jwt"}},
            "settings": {
                "oauthClient": {
                    "application_type": "service",
                    "grant_types": ["client_credentials"],
                    "response_types": ["token"],
                    "jwks": {"keys": [public]},
                }
            },
        },
    ).json()
    for scope in SERVICE_APP_SCOPES:
        r = httpx.post(
            f"{org}/api/v1/apps/{svc['id']}/grants",
            headers=admin,
            json={"issuer": org, "scopeId": scope},
        )
        assert r.status_code in (200, 201), r.text
    pem = tmp_path / "okta-service-app.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pem.chmod(0o600)
    env = Environment.load(
        target="external",
        env={
            "OKTA_ORG_URL": org,
            "OKTA_CLIENT_ID": svc["credentials"]["oauthClient"]["client_id"],
            "OKTA_PRIVATE_KEY_FILE": str(pem),
            "OKTALAB_TEST_USERNAME": sandbox["OKTALAB_TEST_USERNAME"],
            "OKTALAB_TEST_PASSWORD": sandbox["OKTALAB_TEST_PASSWORD"],
            "OKTALAB_GATEWAY_URL": sandbox["OKTALAB_GATEWAY_URL"],
        },
    )
    assert env.okta_api_token is None and env.has_service_app
    assert "BEGIN" not in repr(env)
    name = f"svc-{_uid()}"
    ps = load_parameters(PARAMS, {"name": name, "app": {"label": name}})
    run_dir = tmp_path / "run"
    app = run_stage("okta_app", ps, run_dir=run_dir, env=env)
    assert [r.action for r in app.rows if r.kind == "OktaApp"] == ["created"]
    claims = run_stage("claims", ps, run_dir=run_dir, env=env, raise_on_failure=False)
    assert claims.ok, [r.as_dict() for r in claims.rows if r.status == "failed"]
    td = run_stage("teardown", ps, run_dir=run_dir, env=env, raise_on_failure=False)
    assert ("OktaApp", "deleted") in {(r.kind, r.action) for r in td.rows}

    auth = PrivateKeyJWT(svc["credentials"]["oauthClient"]["client_id"], Secret(pem.read_text()))
    with OktaClient(org, auth) as client:
        assert client.auth_scheme == "Bearer" and client.everyone_group()["type"] == "BUILT_IN"
        with pytest.raises(OktaAPIError) as info:
            client.app_groups_claim(svc["id"])
        assert "only an SSWS API token" in str(info.value)
    narrow = PrivateKeyJWT(
        svc["credentials"]["oauthClient"]["client_id"],
        Secret(pem.read_text()),
        scopes=("okta.logs.read",),
    )
    with OktaClient(org, narrow) as client, pytest.raises(OktaAPIError) as info:
        client.everyone_group()
    assert "okta.logs.read" in str(info.value)


# -- 9. teardown maps apps back to the default enrollment policy -----------------------------------


def test_teardown_maps_apps_back_to_the_default_enrollment_policy(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    from oktalab.errors import OktaAPIError
    from oktalab.stages.context import Ledger

    okta = OktaClient(sandbox_env["OKTA_ORG_URL"], Secret(sandbox_env["OKTA_API_TOKEN"]))
    name = f"pe-{_uid()}"
    app = okta.create_app(
        {
            "name": "oidc_client",
            "label": name,
            "signOnMode": "OPENID_CONNECT",
            "credentials": {"oauthClient": {"token_endpoint_auth_method": "client_secret_basic"}},
            "settings": {
                "oauthClient": {
                    "application_type": "web",
                    "grant_types": ["authorization_code"],
                    "response_types": ["code"],
                    "redirect_uris": ["http://localhost/cb"],
                }
            },
        }
    )
    policy = okta.create_policy({"type": "PROFILE_ENROLLMENT", "name": name, "status": "ACTIVE"})
    okta.assign_app_policy(app["id"], policy["id"])
    ps = load_parameters(PARAMS, {"name": name, "app": {"label": name}})
    Ledger(ps.name).record("okta_policy", policy["id"], name=name)  # the app is not ours
    # the org refuses deleting a user profile policy an app still uses (help.okta.com)
    with pytest.raises(OktaAPIError) as refused:
        okta.delete_policy(policy["id"])
    assert refused.value.status == 403 and app["id"] in str(refused.value)
    td = run_stage("teardown", ps, run_dir=tmp_path, raise_on_failure=False)
    assert ("Policy", "deleted") in {(r.kind, r.action) for r in td.rows}, [
        r.as_dict() for r in td.rows
    ]
    default = okta.default_policy("PROFILE_ENROLLMENT")
    assert default is not None
    assert app["id"] in {a["id"] for a in okta.policy_apps(default["id"])}
    assert okta.get_app(app["id"])["status"] == "ACTIVE", "an app not in the ledger stays"
    okta.close()
