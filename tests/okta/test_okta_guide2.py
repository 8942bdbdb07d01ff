"""Guide 2 surface: client secrets, profile-enrollment (SSR) policies, sign-up, org-AS groups claim."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
from okta_support import REDIRECT, Sandbox, create_spa, create_web, session_token


def _code_params(client_id: str, **extra: str) -> dict[str, str]:
    return {
        "client_id": client_id,
        "response_type": "code",
        "scope": "openid profile email",
        "redirect_uri": REDIRECT,
        "state": "s",
        "nonce": "n",
        **extra,
    }


def test_client_secret_lifecycle(sandbox: Sandbox, api: httpx.Client) -> None:
    web = create_web(api, "Secrets Web")
    first = web["credentials"]["oauthClient"]["client_secret"]
    base = f"/api/v1/apps/{web['id']}/credentials/secrets"
    listed = api.get(base).json()
    assert len(listed) == 1 and listed[0]["status"] == "ACTIVE"
    # as recorded real Okta traffic shows (terraform-provider-okta VCR, Identity Engine org):
    # the list carries the value itself, and a secret_hash
    assert listed[0]["id"].startswith("ocs") and listed[0]["client_secret"] == first
    assert listed[0]["secret_hash"]
    assert "deactivate" in listed[0]["_links"]

    r = api.post(base, json={})
    assert r.status_code == 201
    second = r.json()
    assert len(second["client_secret"]) >= 14 and second["status"] == "ACTIVE"
    third = api.post(base, json={"client_secret": "x" * 20, "status": "ACTIVE"})
    assert third.status_code == 400 and third.json()["errorCode"] == "E0000001"
    assert "maximum number of client secrets" in third.json()["errorSummary"]

    active_delete = api.delete(f"{base}/{second['id']}")
    assert active_delete.status_code == 400 and active_delete.json()["errorCode"] == "E0000001"

    token_url = f"{sandbox.url}/oauth2/default/v1/token"
    probe = {"grant_type": "authorization_code", "code": "nope", "redirect_uri": REDIRECT}
    assert (
        httpx.post(token_url, data=probe, auth=(web["id"], second["client_secret"])).json()["error"]
        == "invalid_grant"
    )
    r = api.post(f"{base}/{listed[0]['id']}/lifecycle/deactivate")
    assert r.status_code == 200 and r.json()["status"] == "INACTIVE"
    assert set(r.json()["_links"]) >= {"activate", "delete"}
    refused = httpx.post(token_url, data=probe, auth=(web["id"], first))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    only = api.post(f"{base}/{second['id']}/lifecycle/deactivate")
    assert only.status_code == 400
    assert api.delete(f"{base}/{listed[0]['id']}").status_code == 204
    assert [s["id"] for s in api.get(base).json()] == [second["id"]]


def test_profile_enrollment_policy_api(api: httpx.Client) -> None:
    defaults = api.get("/api/v1/policies", params={"type": "PROFILE_ENROLLMENT"}).json()
    default = next(p for p in defaults if p["system"])
    assert default["name"] == "Default Policy" and default["id"].startswith("rst")
    r = api.get("/api/v1/policies")
    assert r.status_code == 400
    policy = api.post(
        "/api/v1/policies",
        json={"type": "PROFILE_ENROLLMENT", "name": "API SSR", "status": "ACTIVE"},
    ).json()
    assert policy["conditions"] is None
    rules = api.get(f"/api/v1/policies/{policy['id']}/rules").json()
    assert len(rules) == 1
    rule = rules[0]
    assert rule["system"] is True and rule["priority"] == 99 and rule["id"].startswith("rul")
    action = rule["actions"]["profileEnrollment"]
    assert action["unknownUserAction"] == "DENY"
    assert action["activationRequirements"] == {"emailVerification": True}
    assert [a["name"] for a in action["profileAttributes"]] == ["email", "firstName", "lastName"]
    extra = api.post(
        f"/api/v1/policies/{policy['id']}/rules",
        json={"name": "another", "type": "PROFILE_ENROLLMENT"},
    )
    assert extra.status_code == 400 and extra.json()["errorCode"] == "E0000001"
    g1 = api.post("/api/v1/groups", json={"profile": {"name": "PE-A"}}).json()
    g2 = api.post("/api/v1/groups", json={"profile": {"name": "PE-B"}}).json()
    action["targetGroupIds"] = [g1["id"], g2["id"]]
    assert (
        api.put(f"/api/v1/policies/{policy['id']}/rules/{rule['id']}", json=rule).status_code == 400
    )
    action["targetGroupIds"] = [g1["id"]]
    action["profileAttributes"].append(
        {"name": "shoeSize", "label": "Shoe size", "required": False}
    )
    assert (
        api.put(f"/api/v1/policies/{policy['id']}/rules/{rule['id']}", json=rule).status_code == 400
    )
    action["profileAttributes"].pop()
    action["unknownUserAction"] = "REGISTER"
    r = api.put(f"/api/v1/policies/{policy['id']}/rules/{rule['id']}", json=rule)
    assert r.status_code == 200
    assert r.json()["actions"]["profileEnrollment"]["uiSchemaId"] == action["uiSchemaId"]
    assert api.delete(f"/api/v1/policies/{policy['id']}/rules/{rule['id']}").status_code == 403
    assert api.delete(f"/api/v1/policies/{default['id']}").status_code == 403
    # a user profile policy still assigned to an app is not deleted (help.okta.com, "Delete a
    # user profile policy"): reassign the app first
    app = create_spa(api, "PE in use", assign=False)
    assert api.put(f"/api/v1/apps/{app['id']}/policies/{policy['id']}").status_code == 204
    in_use = api.delete(f"/api/v1/policies/{policy['id']}")
    assert in_use.status_code == 403 and in_use.json()["errorCode"] == "E0000001", in_use.text
    assert app["id"] in in_use.json()["errorCauses"][0]["errorSummary"]
    assert api.get(f"/api/v1/policies/{policy['id']}").status_code == 200
    assert api.put(f"/api/v1/apps/{app['id']}/policies/{default['id']}").status_code == 204
    assert api.delete(f"/api/v1/policies/{policy['id']}").status_code == 204


def _ssr_app(
    api: httpx.Client, label: str, *, verify: bool, group_name: str
) -> tuple[dict, dict, dict]:
    app = create_spa(api, label, assign=False)
    group = api.post("/api/v1/groups", json={"profile": {"name": group_name}}).json()
    api.put(f"/api/v1/apps/{app['id']}/groups/{group['id']}", json={})
    policy = api.post(
        "/api/v1/policies",
        json={"type": "PROFILE_ENROLLMENT", "name": f"{label} SSR", "status": "ACTIVE"},
    ).json()
    rule = api.get(f"/api/v1/policies/{policy['id']}/rules").json()[0]
    rule["actions"]["profileEnrollment"].update(
        {
            "unknownUserAction": "REGISTER",
            "targetGroupIds": [group["id"]],
            "activationRequirements": {"emailVerification": verify},
        }
    )
    assert (
        api.put(f"/api/v1/policies/{policy['id']}/rules/{rule['id']}", json=rule).status_code == 200
    )
    return app, group, policy


def _signin_page(sandbox: Sandbox, client_id: str) -> tuple[httpx.Client, httpx.Response]:
    browser = httpx.Client(base_url=sandbox.url, follow_redirects=False)
    params = _code_params(client_id, code_challenge="c" * 43, code_challenge_method="S256")
    r = browser.get("/oauth2/default/v1/authorize", params=params)
    assert r.status_code == 302
    return browser, browser.get(r.headers["location"])


def test_sign_up_link_only_with_register_policy(sandbox: Sandbox, api: httpx.Client) -> None:
    app, _, policy = _ssr_app(api, "Link SPA", verify=False, group_name="LinkUsers")
    browser, page = _signin_page(sandbox, app["id"])
    assert "Sign up" not in page.text  # policy not mapped yet
    assert api.put(f"/api/v1/apps/{app['id']}/policies/{policy['id']}").status_code == 204
    assert [a["id"] for a in api.get(f"/api/v1/policies/{policy['id']}/app").json()] == [app["id"]]
    _, page = _signin_page(sandbox, app["id"])
    assert ">Sign up</a>" in page.text
    assert api.post(f"/api/v1/policies/{policy['id']}/lifecycle/deactivate").status_code == 204
    _, page = _signin_page(sandbox, app["id"])
    assert "Sign up" not in page.text
    browser.close()


def test_sign_up_with_email_verification(sandbox: Sandbox, api: httpx.Client) -> None:
    app, group, policy = _ssr_app(api, "Verify SPA", verify=True, group_name="VerifyUsers")
    api.put(f"/api/v1/apps/{app['id']}/policies/{policy['id']}")
    browser, page = _signin_page(sandbox, app["id"])
    href = (
        re.search(r'href="([^"]*/signin/register\?[^"]+)"', page.text)
        .group(1)
        .replace("&amp;", "&")
    )
    from_uri = parse_qs(urlsplit(href).query)["fromURI"][0]
    form = browser.get(href)
    assert form.status_code == 200 and 'for="signup-email"' in form.text
    weak = browser.post(
        "/signin/register",
        data={
            "fromURI": from_uri,
            "email": "v@example.com",
            "firstName": "V",
            "lastName": "W",
            "password": "x",
        },
    )
    assert weak.status_code == 400 and "Password requirements" in weak.text
    r = browser.post(
        "/signin/register",
        data={
            "fromURI": from_uri,
            "email": "verify.me@example.com",
            "firstName": "Verify",
            "lastName": "Me",
            "password": "Verify-Me-123",
        },
    )
    assert r.status_code == 200 and "Verify your email" in r.text
    user = api.get("/api/v1/users/verify.me@example.com").json()
    assert user["status"] == "PROVISIONED"
    link = re.search(r'href="([^"]*/signin/verify/[^"]+)"', r.text).group(1)
    r = browser.get(link)
    assert r.status_code == 302 and r.headers["location"].startswith(
        f"{sandbox.url}/oauth2/default/v1/authorize"
    )
    assert "sid" in r.cookies or "sid=" in r.headers.get("set-cookie", "")
    r = browser.get(r.headers["location"])
    assert r.status_code == 302 and "code=" in r.headers["location"]
    assert api.get(f"/api/v1/users/{user['id']}").json()["status"] == "ACTIVE"
    names = {g["profile"]["name"] for g in api.get(f"/api/v1/users/{user['id']}/groups").json()}
    assert names == {"Everyone", "VerifyUsers"} and group["profile"]["name"] in names
    browser.close()


def test_internal_id_token_groups_claim_on_org_server(sandbox: Sandbox, api: httpx.Client) -> None:
    web = create_web(api, "Org AS Web")
    url = f"/api/v1/internal/apps/{web['id']}/settings/oauth/idToken"
    current = api.get(url).json()
    assert current["name"] == "" and current["audience"] == web["id"]
    group = api.post("/api/v1/groups", json={"profile": {"name": "PetstoreOrgAS"}}).json()
    me = api.get(f"/api/v1/users/{sandbox.username}").json()
    api.put(f"/api/v1/groups/{group['id']}/users/{me['id']}")
    body = {
        "valueType": "GROUPS",
        "groupFilterType": "STARTS_WITH",
        "name": "groups",
        "value": "Petstore",
        "issuerMode": "ORG_URL",
    }
    r = api.post(url + "?issuerHint=true", json=body)
    assert r.status_code == 200 and r.json()["name"] == "groups"
    assert api.get(url).json()["groupFilterType"] == "STARTS_WITH"
    bearer = httpx.get(f"{sandbox.url}{url}", headers={"Authorization": "Bearer abc.def.ghi"})
    assert bearer.status_code == 403 and bearer.json()["errorCode"] == "E0000005"

    secret = web["credentials"]["oauthClient"]["client_secret"]

    def id_token(as_path: str, scope: str) -> dict:
        params = _code_params(web["id"], scope=scope, sessionToken=session_token(sandbox))
        r = httpx.get(f"{sandbox.url}{as_path}/v1/authorize?{urlencode(params)}")
        code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
        tok = httpx.post(
            f"{sandbox.url}{as_path}/v1/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
            auth=(web["id"], secret),
        ).json()
        keys = httpx.get(f"{sandbox.url}{as_path}/v1/keys").json()
        key = jwt.PyJWK.from_dict(keys["keys"][0])
        iss = sandbox.url if as_path == "/oauth2" else f"{sandbox.url}{as_path}"
        return jwt.decode(
            tok["id_token"], key.key, algorithms=["RS256"], audience=web["id"], issuer=iss
        )

    org_claims = id_token("/oauth2", "openid groups")
    assert org_claims["groups"] == ["PetstoreOrgAS"] and org_claims["iss"] == sandbox.url
    assert "groups" not in id_token("/oauth2", "openid")
    assert "groups" not in id_token("/oauth2/default", "openid profile")
    api.post(url, json={"name": "", "value": "", "valueType": "", "issuerMode": ""})
    assert "groups" not in id_token("/oauth2", "openid groups")


def test_custom_profile_attribute_via_user_schema(sandbox: Sandbox, api: httpx.Client) -> None:
    schema = api.get("/api/v1/meta/schemas/user/default").json()
    assert "organization" in schema["definitions"]["base"]["properties"]
    r = api.post(
        "/api/v1/meta/schemas/user/default",
        json={
            "definitions": {
                "custom": {
                    "id": "#custom",
                    "type": "object",
                    "properties": {
                        "petName": {"title": "Pet name", "type": "string"},
                        "petCount": {"title": "Pet count", "type": "integer"},
                    },
                }
            }
        },
    )
    assert r.status_code == 200
    assert set(r.json()["definitions"]["custom"]["properties"]) >= {"petName", "petCount"}
    clash = api.post(
        "/api/v1/meta/schemas/user/default",
        json={
            "definitions": {"custom": {"properties": {"email": {"title": "x", "type": "string"}}}}
        },
    )
    assert clash.status_code == 400
    profile = {
        "firstName": "Pet",
        "lastName": "Owner",
        "email": "pets@example.com",
        "login": "pets@example.com",
    }
    ok = api.post("/api/v1/users", json={"profile": {**profile, "petName": "Rex", "petCount": 2}})
    assert ok.status_code == 200 and ok.json()["profile"]["petCount"] == 2
    bad = api.post(
        "/api/v1/users",
        json={
            "profile": {
                **profile,
                "email": "p2@example.com",
                "login": "p2@example.com",
                "petCount": "two",
            }
        },
    )
    assert bad.status_code == 400 and bad.json()["errorCode"] == "E0000001"
    policy = api.post(
        "/api/v1/policies", json={"type": "PROFILE_ENROLLMENT", "name": "Pet SSR"}
    ).json()
    rule = api.get(f"/api/v1/policies/{policy['id']}/rules").json()[0]
    rule["actions"]["profileEnrollment"]["profileAttributes"].append(
        {"name": "petName", "label": "Pet name", "required": False}
    )
    assert (
        api.put(f"/api/v1/policies/{policy['id']}/rules/{rule['id']}", json=rule).status_code == 200
    )
    r = api.post(
        "/api/v1/meta/schemas/user/default",
        json={"definitions": {"custom": {"properties": {"petCount": None}}}},
    )
    assert "petCount" not in r.json()["definitions"]["custom"]["properties"]
