"""Identity Engine sign-in and registration (interaction code flow, IDX API) on the sandbox org,
and oktalab's headless sign-in choosing between it and Classic ``/api/v1/authn``."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from okta_support import LOGOUT, REDIRECT, Sandbox, everyone_id

from oktalab import oidc
from oktalab.errors import OktaAPIError, ParameterError, VerificationError
from oktalab.settings import Secret

ION = "application/ion+json; okta-version=1.0.0"


def create_idx_spa(
    api: httpx.Client, label: str, *, grants: list[str] | None = None, redirect: str = REDIRECT
) -> dict:
    body = {
        "name": "oidc_client",
        "label": label,
        "signOnMode": "OPENID_CONNECT",
        "credentials": {
            "oauthClient": {"token_endpoint_auth_method": "none", "pkce_required": True}
        },
        "settings": {
            "oauthClient": {
                "application_type": "browser",
                "grant_types": grants or ["authorization_code", "interaction_code"],
                "response_types": ["code"],
                "redirect_uris": [redirect],
                "post_logout_redirect_uris": [LOGOUT],
            }
        },
    }
    r = api.post("/api/v1/apps", json=body)
    assert r.status_code == 200, r.text
    app = r.json()
    assert (
        api.put(f"/api/v1/apps/{app['id']}/groups/{everyone_id(api)}", json={}).status_code == 200
    )
    return app


def pipeline(api: httpx.Client, value: str) -> None:
    r = api.post("/__sandbox/pipeline", json={"pipeline": value})
    assert r.status_code == 200, r.text


@pytest.fixture
def classic(api: httpx.Client) -> Iterator[None]:
    pipeline(api, "v1")
    try:
        yield
    finally:
        pipeline(api, "idx")


def interact(sandbox: Sandbox, client_id: str) -> tuple[str, str]:
    """(interaction_handle, code_verifier)."""
    verifier, challenge = oidc.pkce_pair()
    r = httpx.post(
        f"{sandbox.url}/oauth2/default/v1/interact",
        data={
            "client_id": client_id,
            "scope": "openid profile",
            "redirect_uri": REDIRECT,
            "state": "st",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert r.status_code == 200, r.text
    return r.json()["interaction_handle"], verifier


def post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(url, json=body, headers={"Accept": ION, "Content-Type": ION})


def remediation(doc: dict[str, Any], name: str) -> dict[str, Any]:
    forms = {f["name"]: f for f in doc["remediation"]["value"]}
    assert name in forms, sorted(forms)
    return forms[name]


def meta(sandbox: Sandbox) -> oidc.Metadata:
    return oidc.discover(sandbox.url, "default")


def test_org_says_its_pipeline_and_classic_orgs_have_no_idx(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    org = httpx.get(f"{sandbox.url}/.well-known/okta-organization").json()
    assert org["pipeline"] == "idx" and org["id"].startswith("00o")
    assert org["_links"]["organization"]["href"] == sandbox.url
    assert oidc.choose_sign_in(sandbox.url) == "idx"
    pipeline(api, "v1")
    try:
        assert httpx.get(f"{sandbox.url}/.well-known/okta-organization").json()["pipeline"] == "v1"
        assert oidc.choose_sign_in(sandbox.url) == "authn"
        gone = httpx.post(f"{sandbox.url}/oauth2/default/v1/interact", data={"client_id": "x"})
        assert gone.status_code == 404
        assert (
            post(f"{sandbox.url}/idp/idx/introspect", {"interactionHandle": "x"}).status_code == 404
        )
    finally:
        pipeline(api, "idx")
    bad = api.post("/__sandbox/pipeline", json={"pipeline": "oie"})
    assert bad.status_code == 400 and "pipeline" in bad.text
    with pytest.raises(ParameterError, match="sign_in"):
        oidc.choose_sign_in(sandbox.url, "sso")


def test_bad_pipeline_setting_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from oktalab.sandbox.okta import idx

    monkeypatch.setenv("OKTALAB_SANDBOX_PIPELINE", "oie")
    with pytest.raises(ValueError, match="OKTALAB_SANDBOX_PIPELINE='oie'.*idx.*v1"):
        idx.check_environment()
    monkeypatch.setenv("OKTALAB_SANDBOX_PIPELINE", "v1")
    idx.check_environment()


def test_interaction_code_flow_in_okta_shapes(sandbox: Sandbox, api: httpx.Client) -> None:
    plain = create_idx_spa(api, "IDX no grant", grants=["authorization_code"])
    refused = httpx.post(
        f"{sandbox.url}/oauth2/default/v1/interact",
        data={
            "client_id": plain["id"],
            "scope": "openid",
            "redirect_uri": REDIRECT,
            "state": "s",
            "code_challenge": "c" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    no_pkce = httpx.post(
        f"{sandbox.url}/oauth2/default/v1/interact",
        data={"client_id": plain["id"], "scope": "openid", "redirect_uri": REDIRECT, "state": "s"},
    )
    assert no_pkce.status_code in (400, 401)

    app = create_idx_spa(api, "IDX SPA")
    handle, verifier = interact(sandbox, app["id"])
    r = post(f"{sandbox.url}/idp/idx/introspect", {"interactionHandle": handle})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ion+json")
    doc = r.json()
    assert doc["version"] == "1.0.0" and doc["stateHandle"] and doc["expiresAt"]
    identify = remediation(doc, "identify")
    assert identify["rel"] == ["create-form"] and identify["method"] == "POST"
    assert identify["href"] == f"{sandbox.url}/idp/idx/identify"
    fields = {f["name"]: f for f in identify["value"]}
    assert fields["stateHandle"]["value"] == doc["stateHandle"]
    assert fields["stateHandle"]["mutable"] is False and "identifier" in fields
    assert doc["cancel"]["href"].endswith("/idp/idx/cancel")
    assert doc["app"]["value"]["id"] == app["id"]
    assert doc["authenticators"]["value"][0]["key"] == "okta_password"

    unknown = post(
        identify["href"], {"identifier": "nobody@example.com", "stateHandle": doc["stateHandle"]}
    )
    assert unknown.status_code == 400
    assert "There is no account" in unknown.json()["messages"]["value"][0]["message"]

    r = post(identify["href"], {"identifier": sandbox.username, "stateHandle": doc["stateHandle"]})
    assert r.status_code == 200, r.text
    doc = r.json()
    challenge = remediation(doc, "challenge-authenticator")
    assert challenge["relatesTo"] == "$.currentAuthenticatorEnrollment"
    assert doc["currentAuthenticatorEnrollment"]["value"]["key"] == "okta_password"
    wrong = post(
        challenge["href"],
        {"credentials": {"passcode": "Wr0ngPassword"}, "stateHandle": doc["stateHandle"]},
    )
    assert wrong.status_code == 401
    assert wrong.json()["messages"]["value"][0]["message"] == "Password is incorrect"

    r = post(
        challenge["href"],
        {"credentials": {"passcode": sandbox.password}, "stateHandle": doc["stateHandle"]},
    )
    assert r.status_code == 200, r.text
    done = r.json()
    issue = done["successWithInteractionCode"]
    assert issue["name"] == "issue" and issue["href"] == f"{sandbox.url}/oauth2/default/v1/token"
    form = {f["name"]: f.get("value") for f in issue["value"]}
    assert form["grant_type"] == "interaction_code" and form["client_id"] == app["id"]
    code = form["interaction_code"]
    # the finished transaction is gone
    assert (
        post(f"{sandbox.url}/idp/idx/introspect", {"interactionHandle": handle}).status_code == 401
    )

    token_url = issue["href"]
    bad = httpx.post(
        token_url,
        data={
            "grant_type": "interaction_code",
            "interaction_code": code,
            "client_id": app["id"],
            "code_verifier": "x" * 43,
        },
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    # one use only, even after a failed attempt
    handle, verifier = interact(sandbox, app["id"])
    doc = post(f"{sandbox.url}/idp/idx/introspect", {"interactionHandle": handle}).json()
    doc = post(
        f"{sandbox.url}/idp/idx/identify",
        {
            "identifier": sandbox.username,
            "credentials": {"passcode": sandbox.password},
            "stateHandle": doc["stateHandle"],
        },
    ).json()
    code = next(
        f["value"]
        for f in doc["successWithInteractionCode"]["value"]
        if f["name"] == "interaction_code"
    )
    ok = httpx.post(
        token_url,
        data={
            "grant_type": "interaction_code",
            "interaction_code": code,
            "client_id": app["id"],
            "code_verifier": verifier,
        },
    )
    assert ok.status_code == 200, ok.text
    tokens = ok.json()
    assert tokens["token_type"] == "Bearer" and tokens["id_token"] and tokens["access_token"]
    again = httpx.post(
        token_url,
        data={
            "grant_type": "interaction_code",
            "interaction_code": code,
            "client_id": app["id"],
            "code_verifier": verifier,
        },
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_headless_login_picks_the_path_the_org_offers(sandbox: Sandbox, api: httpx.Client) -> None:
    app = create_idx_spa(api, "Headless both ways")
    kwargs: dict[str, Any] = {
        "org_url": sandbox.url,
        "metadata": meta(sandbox),
        "client_id": app["id"],
        "redirect_uri": REDIRECT,
        "username": sandbox.username,
        "password": Secret(sandbox.password),
        "scopes": ["openid", "profile"],
    }
    tokens = oidc.headless_login(**kwargs)
    assert tokens.sign_in == "idx" and tokens.id_claims()["sub"]
    assert oidc.headless_login(**kwargs, sign_in="authn").sign_in == "authn"
    pipeline(api, "v1")
    try:
        assert oidc.headless_login(**kwargs).sign_in == "authn"
        with pytest.raises(OktaAPIError):
            oidc.headless_login(**kwargs, sign_in="idx")
    finally:
        pipeline(api, "idx")
    with pytest.raises(VerificationError, match="Password is incorrect"):
        oidc.headless_login(**{**kwargs, "password": Secret("Wr0ng-password")})
    plain = create_idx_spa(api, "Headless no grant", grants=["authorization_code"])
    with pytest.raises(VerificationError, match="Interaction Code grant"):
        oidc.headless_login(**{**kwargs, "client_id": plain["id"]})


def new_user(api: httpx.Client, login: str, password: str) -> dict:
    r = api.post(
        "/api/v1/users",
        params={"activate": "true"},
        json={
            "profile": {"firstName": "Exp", "lastName": "Ired", "email": login, "login": login},
            "credentials": {"password": {"value": password}},
        },
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_expired_password_classic_and_identity_engine(sandbox: Sandbox, api: httpx.Client) -> None:
    app = create_idx_spa(api, "Expiry app")
    login = f"expiry-{secrets.token_hex(3)}@example.com"
    password = "Old-Passw0rd-1"
    user = new_user(api, login, password)
    r = api.post(f"/api/v1/users/{user['id']}/lifecycle/expire_password")
    assert r.status_code == 200 and r.json()["status"] == "PASSWORD_EXPIRED"
    assert api.get(f"/api/v1/users/{user['id']}").json()["status"] == "PASSWORD_EXPIRED"

    # Classic /authn: PASSWORD_EXPIRED with a stateToken for changePassword
    authn = httpx.post(
        f"{sandbox.url}/api/v1/authn", json={"username": login, "password": password}
    )
    assert authn.status_code == 200 and authn.json()["status"] == "PASSWORD_EXPIRED"
    assert authn.json()["_links"]["next"]["name"] == "changePassword"
    assert "sessionToken" not in authn.json()
    # the oktalab client names what Okta asks for, on either path
    kwargs: dict[str, Any] = {
        "org_url": sandbox.url,
        "metadata": meta(sandbox),
        "client_id": app["id"],
        "redirect_uri": REDIRECT,
        "username": login,
        "password": Secret(password),
        "scopes": ["openid"],
    }
    with pytest.raises(VerificationError, match="PASSWORD_EXPIRED.*changePassword"):
        oidc.headless_login(**kwargs, sign_in="authn")
    with pytest.raises(VerificationError, match="reenroll-authenticator"):
        oidc.headless_login(**kwargs)

    # IDX: the expired password is remediated with a new one
    handle, verifier = interact(sandbox, app["id"])
    doc = post(f"{sandbox.url}/idp/idx/introspect", {"interactionHandle": handle}).json()
    doc = post(
        f"{sandbox.url}/idp/idx/identify",
        {
            "identifier": login,
            "credentials": {"passcode": password},
            "stateHandle": doc["stateHandle"],
        },
    ).json()
    reenroll = remediation(doc, "reenroll-authenticator")
    same = post(
        reenroll["href"], {"credentials": {"passcode": password}, "stateHandle": doc["stateHandle"]}
    )
    assert same.status_code == 400
    weak = post(
        reenroll["href"], {"credentials": {"passcode": "short"}, "stateHandle": doc["stateHandle"]}
    )
    assert weak.status_code == 400 and "requirements" in weak.text
    r = post(
        reenroll["href"],
        {"credentials": {"passcode": "New-Passw0rd-2"}, "stateHandle": doc["stateHandle"]},
    )
    assert r.status_code == 200 and "successWithInteractionCode" in r.json()
    assert api.get(f"/api/v1/users/{user['id']}").json()["status"] == "ACTIVE"
    assert oidc.headless_login(**{**kwargs, "password": Secret("New-Passw0rd-2")}).sign_in == "idx"

    # Classic change_password on a second expiry
    assert api.post(f"/api/v1/users/{user['id']}/lifecycle/expire_password").status_code == 200
    state = httpx.post(
        f"{sandbox.url}/api/v1/authn", json={"username": login, "password": "New-Passw0rd-2"}
    ).json()["stateToken"]
    changed = httpx.post(
        f"{sandbox.url}/api/v1/authn/credentials/change_password",
        json={
            "stateToken": state,
            "oldPassword": "New-Passw0rd-2",
            "newPassword": "Third-Passw0rd-3",
        },
    )
    assert changed.status_code == 200 and changed.json()["status"] == "SUCCESS"
    assert changed.json()["sessionToken"]
    staged = api.post(
        "/api/v1/users",
        params={"activate": "false"},
        json={
            "profile": {
                "firstName": "S",
                "lastName": "T",
                "email": "st@example.com",
                "login": "st@example.com",
            }
        },
    ).json()
    assert api.post(f"/api/v1/users/{staged['id']}/lifecycle/expire_password").status_code == 403


def enrollment_policy(
    api: httpx.Client, app_id: str, group_id: str, *, password_first: bool
) -> None:
    r = api.post(
        "/api/v1/policies",
        json={
            "type": "PROFILE_ENROLLMENT",
            "name": f"IDX signup {secrets.token_hex(3)}",
            "status": "ACTIVE",
        },
    )
    assert r.status_code == 200, r.text
    policy = r.json()
    rule = api.get(f"/api/v1/policies/{policy['id']}/rules").json()[0]
    action = rule["actions"]["profileEnrollment"]
    assert "enrollAuthenticatorTypes" not in action  # Okta's default: password not on page one
    assert action["progressiveProfilingAction"] == "DISABLED"
    action.update(
        {
            "unknownUserAction": "REGISTER",
            "targetGroupIds": [group_id],
            "activationRequirements": {"emailVerification": False},
        }
    )
    if password_first:
        action["enrollAuthenticatorTypes"] = ["password"]
    r = api.put(f"/api/v1/policies/{policy['id']}/rules/{rule['id']}", json=rule)
    assert r.status_code == 200, r.text
    assert api.put(f"/api/v1/apps/{app_id}/policies/{policy['id']}").status_code == 204


@pytest.mark.parametrize("password_first", [False, True])
def test_self_service_registration_through_idx(
    sandbox: Sandbox, api: httpx.Client, password_first: bool
) -> None:
    app = create_idx_spa(api, f"Signup app {password_first}")
    group = api.post(
        "/api/v1/groups", json={"profile": {"name": f"Signups {secrets.token_hex(3)}"}}
    ).json()
    handle, verifier = interact(sandbox, app["id"])
    doc = post(f"{sandbox.url}/idp/idx/introspect", {"interactionHandle": handle}).json()
    names = [f["name"] for f in doc["remediation"]["value"]]
    assert "select-enroll-profile" not in names  # the default policy does not register
    refused = post(f"{sandbox.url}/idp/idx/enroll", {"stateHandle": doc["stateHandle"]})
    assert refused.status_code == 400

    enrollment_policy(api, app["id"], group["id"], password_first=password_first)
    doc = post(f"{sandbox.url}/idp/idx/introspect", {"interactionHandle": handle}).json()
    select = remediation(doc, "select-enroll-profile")
    doc = post(select["href"], {"stateHandle": doc["stateHandle"]}).json()
    enroll = remediation(doc, "enroll-profile")
    assert enroll["href"].endswith("/idp/idx/enroll/new")
    fields = {f["name"]: f for f in enroll["value"]}
    profile_fields = [f["name"] for f in fields["userProfile"]["form"]["value"]]
    assert profile_fields == ["email", "firstName", "lastName"]
    assert ("credentials" in fields) is password_first
    email = f"idx-signup-{secrets.token_hex(3)}@example.com"
    body: dict[str, Any] = {
        "userProfile": {"email": email, "firstName": "Ida", "lastName": "Ex"},
        "stateHandle": doc["stateHandle"],
    }
    blank = post(enroll["href"], {**body, "userProfile": {"email": email}})
    assert blank.status_code == 400 and "blank" in blank.text
    taken = post(
        enroll["href"], {**body, "userProfile": {**body["userProfile"], "email": sandbox.username}}
    )
    assert taken.status_code == 400 and "already exists" in taken.text
    if password_first:
        body["credentials"] = {"passcode": "Signup-Passw0rd-9"}
        done = post(enroll["href"], body).json()
    else:
        doc = post(enroll["href"], body).json()
        select_auth = remediation(doc, "select-authenticator-enroll")
        option = select_auth["value"][0]["options"][0]
        assert option["relatesTo"] == "$.authenticators.value[0]"
        auth_id = next(f["value"] for f in option["value"]["form"]["value"] if f["name"] == "id")
        doc = post(
            select_auth["href"],
            {
                "authenticator": {"id": auth_id, "methodType": "password"},
                "stateHandle": doc["stateHandle"],
            },
        ).json()
        enroll_pw = remediation(doc, "enroll-authenticator")
        weak = post(
            enroll_pw["href"],
            {"credentials": {"passcode": "weak"}, "stateHandle": doc["stateHandle"]},
        )
        assert weak.status_code == 400
        done = post(
            enroll_pw["href"],
            {"credentials": {"passcode": "Signup-Passw0rd-9"}, "stateHandle": doc["stateHandle"]},
        ).json()
    assert "successWithInteractionCode" in done
    user = api.get(f"/api/v1/users/{email}").json()
    assert user["status"] == "ACTIVE"
    members = [u["id"] for u in api.get(f"/api/v1/groups/{group['id']}/users").json()]
    assert user["id"] in members


def test_failures_name_the_remediation_okta_asked_for() -> None:
    """An MFA remediation in Okta's published shape (okta-auth-js test fixtures)."""
    doc = {
        "remediation": {
            "type": "array",
            "value": [
                {
                    "rel": ["create-form"],
                    "name": "select-authenticator-authenticate",
                    "href": "https://example.okta.com/idp/idx/challenge",
                    "method": "POST",
                    "value": [
                        {
                            "name": "authenticator",
                            "type": "object",
                            "options": [
                                {
                                    "label": "Okta Verify",
                                    "relatesTo": "$.authenticators.value[0]",
                                    "value": {"form": {"value": [{"name": "id", "value": "aut1"}]}},
                                },
                                {
                                    "label": "Phone",
                                    "relatesTo": "$.authenticators.value[1]",
                                    "value": {"form": {"value": [{"name": "id", "value": "aut2"}]}},
                                },
                            ],
                        }
                    ],
                }
            ],
        },
        "authenticators": {
            "type": "array",
            "value": [
                {"type": "app", "key": "okta_verify", "id": "aut1"},
                {"type": "phone", "key": "phone_number", "id": "aut2"},
            ],
        },
    }
    form = doc["remediation"]["value"][0]  # type: ignore[index]
    assert (
        oidc.describe_remediation(doc, form)
        == "select-authenticator-authenticate (okta_verify, phone_number)"
    )
