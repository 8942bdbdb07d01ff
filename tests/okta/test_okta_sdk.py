"""Okta's official Python SDK (okta 3.x) against the sandbox: typed models round-trip."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from okta_support import REDIRECT, Sandbox

okta_client = pytest.importorskip("okta.client")
from okta import models  # noqa: E402


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def ok(result: tuple) -> Any:
    """SDK calls return (model, response, error) or (response, error)."""
    *values, err = result
    assert err is None, err
    return values[0] if len(values) == 2 else None


@pytest.fixture(scope="module")
def client(sandbox: Sandbox) -> Any:
    # okta 3.x only honours the http-for-testing switch from the environment (see okta.md)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
        return okta_client.Client({"orgUrl": sandbox.url, "token": sandbox.token})


def test_sdk_apps_groups_users(client: Any, sandbox: Sandbox) -> None:
    async def scenario() -> None:
        app = ok(
            await client.create_application(
                models.OpenIdConnectApplication.from_dict(
                    {
                        "name": "oidc_client",
                        "label": "SDK Portal",
                        "signOnMode": "OPENID_CONNECT",
                        "credentials": {
                            "oauthClient": {
                                "token_endpoint_auth_method": "none",
                                "pkce_required": True,
                            }
                        },
                        "settings": {
                            "oauthClient": {
                                "application_type": "browser",
                                "grant_types": ["authorization_code", "refresh_token"],
                                "response_types": ["code"],
                                "redirect_uris": [REDIRECT],
                            }
                        },
                    }
                )
            )
        )
        assert isinstance(app, models.OpenIdConnectApplication)
        assert app.label == "SDK Portal" and app.status.value == "ACTIVE"
        assert app.settings.oauth_client.redirect_uris == [REDIRECT]
        assert app.credentials.oauth_client.token_endpoint_auth_method.value == "none"
        fetched = ok(await client.get_application(app.id))
        assert fetched.id == app.id
        listed = ok(await client.list_applications(q="SDK Port"))
        assert [a.id for a in listed] == [app.id]
        body = fetched.to_dict()
        body["label"] = "SDK Portal 2"
        replaced = ok(
            await client.replace_application(
                app.id, models.OpenIdConnectApplication.from_dict(body)
            )
        )
        assert replaced.label == "SDK Portal 2"

        # cursor pagination through Link headers (the SDK 3.x way: read the next cursor)
        from okta.pagination import PaginationHelper

        body["label"] = "SDK Portal B"
        body.pop("id", None)
        body["credentials"]["oauthClient"].pop("client_id", None)
        extra = ok(await client.create_application(models.OpenIdConnectApplication.from_dict(body)))
        page, resp, err = await client.list_applications(limit=1)
        assert err is None and len(page) == 1
        seen = [a.id for a in page]
        while after := PaginationHelper.extract_next_cursor(resp.headers):
            page, resp, err = await client.list_applications(limit=1, after=after)
            assert err is None
            seen.extend(a.id for a in page)
        assert {app.id, extra.id} <= set(seen) and len(seen) == len(set(seen))
        ok(await client.deactivate_application(extra.id))
        assert (await client.delete_application(extra.id))[-1] is None

        group = ok(
            await client.add_group(
                models.AddGroupRequest.from_dict(
                    {"profile": {"name": "SDKGroup", "description": "d"}}
                )
            )
        )
        assert group.profile.actual_instance.name == "SDKGroup" and group.type.value == "OKTA_GROUP"
        assert ok(await client.get_group(group.id)).id == group.id
        assert [g.id for g in ok(await client.list_groups(q="SDKG"))] == [group.id]

        user = ok(
            await client.create_user(
                models.CreateUserRequest.from_dict(
                    {
                        "profile": {
                            "firstName": "Sdk",
                            "lastName": "User",
                            "email": "sdk.user@example.com",
                            "login": "sdk.user@example.com",
                        },
                        "credentials": {"password": {"value": "Abcdefg12345"}},
                    }
                ),
                activate=True,
            )
        )
        assert user.status.value == "ACTIVE" and user.profile.login == "sdk.user@example.com"
        assert ok(await client.get_user(user.id)).profile.first_name == "Sdk"
        updated = ok(
            await client.update_user(
                user.id,
                models.UpdateUserRequest.from_dict({"profile": {"organization": "sdk-org"}}),
            )
        )
        assert updated.profile.organization == "sdk-org" and updated.profile.first_name == "Sdk"
        renamed = ok(
            await client.replace_group(
                group.id,
                models.AddGroupRequest.from_dict(
                    {"profile": {"name": "SDKGroup", "description": "renamed"}}
                ),
            )
        )
        assert renamed.profile.actual_instance.description == "renamed"
        assert user.id in [u.id for u in ok(await client.list_users())]

        assert (await client.assign_user_to_group(group.id, user.id))[-1] is None
        assert [u.id for u in ok(await client.list_group_users(group.id))] == [user.id]
        assignment = ok(await client.assign_group_to_application(app.id, group.id))
        assert assignment.id == group.id
        assert [a.id for a in ok(await client.list_application_group_assignments(app.id))] == [
            group.id
        ]
        assert (await client.unassign_application_from_group(app.id, group.id))[-1] is None
        assert (await client.unassign_user_from_group(group.id, user.id))[-1] is None

        ok(await client.deactivate_application(app.id))
        assert (await client.delete_application(app.id))[-1] is None
        err = (await client.get_application(app.id))[-1]
        assert err is not None and "E0000007" in str(err)
        assert (await client.delete_group(group.id))[-1] is None
        ok(await client.deactivate_user(user.id))
        assert (await client.delete_user(user.id))[-1] is None

    run(scenario())


def test_sdk_claims_and_policies(client: Any) -> None:
    async def scenario() -> None:
        server = ok(await client.get_authorization_server("default"))
        assert server.audiences == ["api://default"]
        claim = ok(
            await client.create_o_auth2_claim(
                "default",
                models.OAuth2Claim.from_dict(
                    {
                        "name": "petgroups",
                        "status": "ACTIVE",
                        "claimType": "IDENTITY",
                        "valueType": "GROUPS",
                        "group_filter_type": "STARTS_WITH",
                        "value": "Petstore",
                        "alwaysIncludeInToken": True,
                        "conditions": {"scopes": []},
                    }
                ),
            )
        )
        assert claim.name == "petgroups" and claim.group_filter_type.value == "STARTS_WITH"
        assert claim.id in [c.id for c in ok(await client.list_o_auth2_claims("default"))]
        assert ok(await client.get_o_auth2_claim("default", claim.id)).value == "Petstore"
        body = claim.to_dict()
        body["value"] = "Pet"
        replaced = ok(
            await client.replace_o_auth2_claim(
                "default", claim.id, models.OAuth2Claim.from_dict(body)
            )
        )
        assert replaced.value == "Pet"
        assert (await client.delete_o_auth2_claim("default", claim.id))[-1] is None

        policy = ok(
            await client.create_policy(
                models.Policy.from_dict(
                    {"type": "PROFILE_ENROLLMENT", "name": "SDK SSR", "status": "ACTIVE"}
                )
            )
        )
        assert isinstance(policy, models.ProfileEnrollmentPolicy) and policy.name == "SDK SSR"
        listed = ok(await client.list_policies(type="PROFILE_ENROLLMENT"))
        assert {p.name for p in listed} >= {"Default Policy", "SDK SSR"}
        renamed = ok(
            await client.replace_policy(
                policy.id,
                models.Policy.from_dict(
                    {"type": "PROFILE_ENROLLMENT", "name": "SDK SSR 2", "status": "ACTIVE"}
                ),
            )
        )
        assert renamed.name == "SDK SSR 2"
        rules = ok(await client.list_policy_rules(policy.id))
        assert len(rules) == 1 and rules[0].system is True
        body = rules[0].to_dict()
        body["actions"]["profileEnrollment"]["unknownUserAction"] = "REGISTER"
        body["actions"]["profileEnrollment"]["activationRequirements"] = {
            "emailVerification": False
        }
        updated = ok(
            await client.replace_policy_rule(
                policy.id, rules[0].id, models.PolicyRule.from_dict(body)
            )
        )
        action = updated.actions.profile_enrollment
        assert action.unknown_user_action == "REGISTER"
        assert action.activation_requirements.email_verification is False
        assert (await client.delete_policy(policy.id))[-1] is None

    run(scenario())


def test_sdk_oauth_private_key_mode(sandbox: Sandbox) -> None:
    """The SDK's own OAuth-for-Okta path: private_key_jwt at /oauth2/v1/token, then Bearer."""
    import json

    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": "sdk-key", "use": "sig", "alg": "RS256"})
    with sandbox.client() as api:
        svc = api.post(
            "/api/v1/apps",
            json={
                "name": "oidc_client",
                "label": "SDK service",
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
        for scope in ("okta.users.read", "okta.groups.read"):
            api.post(
                f"/api/v1/apps/{svc['id']}/grants", json={"issuer": sandbox.url, "scopeId": scope}
            )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
        oauth_client = okta_client.Client(
            {
                "orgUrl": sandbox.url,
                "authorizationMode": "PrivateKey",
                "clientId": svc["id"],
                "scopes": ["okta.users.read", "okta.groups.read"],
                "privateKey": pem,
                "kid": "sdk-key",
            }
        )

    async def scenario() -> None:
        users = ok(await oauth_client.list_users())
        assert sandbox.username in [u.profile.login for u in users]
        assert ok(await oauth_client.list_groups(q="Everyone"))[0].type.value == "BUILT_IN"
        err = (await oauth_client.list_applications())[-1]
        assert err is not None and "E0000006" in str(err)

    run(scenario())
