"""The gateway over real HTTP: routing, ext-auth enforcement, live reaction to store changes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from gloo_helpers import (
    ADMIN,
    BAD_CERT_KEYS,
    NETWORKING,
    SECURITY,
    LiveGateway,
    Signer,
    apply,
    ext_auth_policy,
    ext_auth_server,
)


@pytest.fixture
def client(gateway: LiveGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=5) as c:
        yield c


@pytest.fixture
def guide_policy(gateway: LiveGateway, signer: Signer) -> Iterator[None]:
    """The guide's ExtAuthServer + ExtAuthPolicy, removed afterwards."""
    apply(gateway.store, ADMIN, "extauthservers", ext_auth_server())
    apply(gateway.store, SECURITY, "extauthpolicies", ext_auth_policy(signer.jwks))
    yield
    for group, plural, name in [
        (SECURITY, "extauthpolicies", "oauth-okta"),
        (ADMIN, "extauthservers", "ext-auth-server"),
    ]:
        if gateway.store.get(group, plural, "gloo-mesh-addons", name):
            gateway.store.delete(group, plural, "gloo-mesh-addons", name)


def eventually(check: Callable[[], bool], timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_routes_open_without_policy(client: httpx.Client) -> None:
    r = client.get("/productpage")
    assert r.status_code == 200 and r.json()["app"] == "productpage" and r.json()["version"] == "v1"
    assert r.headers["server"] == "istio-envoy"
    assert client.get("/details/0").json()["author"] == "William Shakespeare"
    assert client.get("/ratings/0").json()["ratings"] == {"Reviewer1": 5, "Reviewer2": 4}
    assert client.get("/reviews/0").status_code == 200
    assert client.get("/nothing-here").status_code == 404
    assert client.get("/productpage", headers={"Host": "bookinfo.example.com"}).status_code == 200


@pytest.mark.usefixtures("guide_policy")
def test_access_token_enforcement(client: httpx.Client, signer: Signer) -> None:
    assert client.get("/productpage").status_code == 403
    assert (
        client.get("/productpage", headers={"Authorization": "Basic Zm9vOmJhcg=="}).status_code
        == 403
    )
    assert client.get("/productpage", headers=bearer("not-a-jwt")).status_code == 403
    good = signer.token()
    r = client.get("/productpage", headers=bearer(good))
    assert r.status_code == 200 and r.json()["app"] == "productpage"
    assert "authorization" not in r.json()["requestHeaders"]
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    assert client.get("/productpage", headers=bearer(tampered)).status_code == 403
    assert (
        client.get("/productpage", headers=bearer(signer.token(kid="unknown"))).status_code == 403
    )
    assert client.get("/productpage", headers=bearer(signer.token(kid=""))).status_code == 403
    assert client.get("/productpage", headers=bearer(signer.token(ttl=-60))).status_code == 401
    future = int(time.time()) + 600
    assert client.get("/productpage", headers=bearer(signer.token(nbf=future))).status_code == 403
    assert (
        client.get(
            "/productpage", headers=bearer(signer.token(iat=future, exp=future + 60))
        ).status_code
        == 403
    )
    other = Signer(kid=signer.kid)  # same kid, different key: bad signature
    assert client.get("/productpage", headers=bearer(other.token())).status_code == 403
    # unselected routes stay open
    assert client.get("/reviews/1").status_code == 200
    assert client.get("/details/1").status_code == 200


@pytest.mark.usefixtures("guide_policy")
def test_a_remembered_token_is_still_checked_for_time(client: httpx.Client, signer: Signer) -> None:
    """The gateway keeps verified tokens (no second signature check), never their verdict:
    a token it let through is refused once it expires, and a tampered copy is refused."""
    token = signer.token(ttl=2)
    assert client.get("/productpage").status_code == 403
    assert client.get("/productpage", headers=bearer(token)).status_code == 200
    assert client.get("/productpage", headers=bearer(token)).status_code == 200
    assert client.get("/productpage", headers=bearer(token[:-2] + "xx")).status_code == 403
    time.sleep(2.2)
    assert client.get("/productpage", headers=bearer(token)).status_code == 401


def test_a_jwks_is_parsed_once_and_its_keys_built_once(signer: Signer) -> None:
    from oktalab.sandbox.gloo.extauth import check_jwt, inline_keyset

    keys = inline_keyset(signer.jwks)
    assert inline_keyset(signer.jwks) is keys, "one parse per distinct inline JWKS"
    token = signer.token()
    assert check_jwt(token, keys, {}, {}).allowed
    verifier = keys.verifier(signer.kid, "RS256")
    assert check_jwt(signer.token(), keys, {}, {}).allowed
    assert keys.verifier(signer.kid, "RS256") is verifier, "one verifier key per kid and alg"
    assert keys.verified(token, signer.kid, "RS256") is not None


def test_enforcement_follows_store_changes(
    client: httpx.Client, gateway: LiveGateway, signer: Signer
) -> None:
    store = gateway.store
    apply(store, ADMIN, "extauthservers", ext_auth_server())
    try:
        apply(store, SECURITY, "extauthpolicies", ext_auth_policy(signer.jwks))
        assert eventually(lambda: client.get("/productpage").status_code == 403)
        token = signer.token(scp=["openid", "email"], email="user@example.com")
        assert client.get("/productpage", headers=bearer(token)).status_code == 200
        # required scopes + claimsToHeaders + issuer
        extra = {
            "requiredScopes": {"scope": ["email"]},
            "claimsToHeaders": [{"claim": "email", "header": "x-user-email"}],
        }
        policy = ext_auth_policy(signer.jwks, extra_atv=extra)
        policy["spec"]["config"]["glooAuth"]["configs"][0]["oauth2"]["accessTokenValidation"][
            "jwt"
        ]["issuer"] = "https://sandbox.okta.example/oauth2/default"
        apply(store, SECURITY, "extauthpolicies", policy)
        assert eventually(
            lambda: (
                client.get("/productpage", headers=bearer(signer.token(scp=["openid"]))).status_code
                == 403
            )
        )
        r = client.get("/productpage", headers=bearer(token))
        assert (
            r.status_code == 200
            and r.json()["requestHeaders"]["x-user-email"] == "user@example.com"
        )
        assert (
            client.get(
                "/productpage", headers=bearer(signer.token(scp=["email"], iss="https://evil"))
            ).status_code
            == 403
        )
        # the badly pasted JWKS: AuthConfig rejected -> ext auth fails closed
        apply(store, SECURITY, "extauthpolicies", ext_auth_policy(BAD_CERT_KEYS))
        assert eventually(
            lambda: client.get("/productpage", headers=bearer(token)).status_code == 403
        )
        # the guide's second sample JWKS holds only an encryption key: nothing validates
        enc = dict(signer.jwk, use="enc", alg="RSA-OAEP")
        import json

        apply(store, SECURITY, "extauthpolicies", ext_auth_policy(json.dumps({"keys": [enc]})))
        assert eventually(
            lambda: client.get("/productpage", headers=bearer(token)).status_code == 403
        )
        # relabel the route: policy no longer selects it
        apply(store, SECURITY, "extauthpolicies", ext_auth_policy(signer.jwks))
        rt = store.get(NETWORKING, "routetables", "bookinfo", "bookinfo")
        rt["spec"]["http"][1]["labels"] = {"oauth": "true"}  # reviews now protected too
        store.update(NETWORKING, "routetables", "bookinfo", "bookinfo", rt)
        assert eventually(lambda: client.get("/reviews/0").status_code == 403)
        rt["spec"]["http"][1].pop("labels")
        store.update(NETWORKING, "routetables", "bookinfo", "bookinfo", rt)
        assert eventually(lambda: client.get("/reviews/0").status_code == 200)
        # server removed -> policy INVALID -> fail closed even with a good token
        store.delete(ADMIN, "extauthservers", "gloo-mesh-addons", "ext-auth-server")
        assert eventually(
            lambda: client.get("/productpage", headers=bearer(token)).status_code == 403
        )
        apply(store, ADMIN, "extauthservers", ext_auth_server())
        assert eventually(
            lambda: client.get("/productpage", headers=bearer(token)).status_code == 200
        )
        # policy deleted -> open again
        store.delete(SECURITY, "extauthpolicies", "gloo-mesh-addons", "oauth-okta")
        assert eventually(lambda: client.get("/productpage").status_code == 200)
    finally:
        for group, plural, name in [
            (SECURITY, "extauthpolicies", "oauth-okta"),
            (ADMIN, "extauthservers", "ext-auth-server"),
        ]:
            if store.get(group, plural, "gloo-mesh-addons", name):
                store.delete(group, plural, "gloo-mesh-addons", name)


def test_route_table_matchers_and_delegation(client: httpx.Client, gateway: LiveGateway) -> None:
    store = gateway.store
    child = {
        "apiVersion": "networking.gloo.solo.io/v2",
        "kind": "RouteTable",
        "metadata": {"name": "child", "namespace": "bookinfo", "labels": {"expose": "true"}},
        "spec": {
            "http": [
                {
                    "name": "exact",
                    "matchers": [{"uri": {"exact": "/api/v1/exact"}}],
                    "directResponse": {"status": 418, "body": "teapot"},
                },
                {
                    "name": "pref",
                    "matchers": [{"uri": {"prefix": "/api/v1"}}],
                    "forwardTo": {
                        "destinations": [
                            {
                                "ref": {"name": "ratings", "namespace": "bookinfo"},
                                "port": {"number": 9080},
                            }
                        ]
                    },
                },
            ]
        },
    }
    parent = {
        "apiVersion": "networking.gloo.solo.io/v2",
        "kind": "RouteTable",
        "metadata": {"name": "parent", "namespace": "istio-gateways"},
        "spec": {
            "hosts": ["api.bookinfo.example"],
            "virtualGateways": [
                {"name": "north-south-gw", "namespace": "istio-gateways", "cluster": "cluster1"}
            ],
            "http": [
                {
                    "name": "to-child",
                    "matchers": [{"uri": {"prefix": "/api"}}],
                    "delegate": {"routeTables": [{"labels": {"expose": "true"}}]},
                }
            ],
        },
    }
    apply(store, NETWORKING, "routetables", child)
    apply(store, NETWORKING, "routetables", parent)
    try:
        host = {"Host": "api.bookinfo.example"}
        assert client.get("/api/v1/exact", headers=host).status_code == 418
        assert client.get("/api/v1/ratings", headers=host).json()["ratings"]["Reviewer1"] == 5
        assert client.get("/other", headers=host).status_code == 404
    finally:
        store.delete(NETWORKING, "routetables", "bookinfo", "child")
        store.delete(NETWORKING, "routetables", "istio-gateways", "parent")


def test_destination_selection_and_disable(
    client: httpx.Client, gateway: LiveGateway, signer: Signer
) -> None:
    """applyToDestinations protects every route to the Service; a later `disable` policy FAILS."""
    store = gateway.store
    apply(store, ADMIN, "extauthservers", ext_auth_server())
    policy = ext_auth_policy(signer.jwks, "ratings-auth")
    policy["spec"].pop("applyToRoutes")
    policy["spec"]["applyToDestinations"] = [
        {"selector": {"name": "ratings", "namespace": "bookinfo"}}
    ]
    off = {
        "apiVersion": "security.policy.gloo.solo.io/v2",
        "kind": "ExtAuthPolicy",
        "metadata": {"name": "reviews-off", "namespace": "gloo-mesh-addons"},
        "spec": {
            "applyToRoutes": [{"route": {"labels": {"auth": "off"}}}],
            "config": {
                "disable": True,
                "server": {"name": "ext-auth-server", "namespace": "gloo-mesh-addons"},
            },
        },
    }
    try:
        apply(store, SECURITY, "extauthpolicies", policy)
        st = store.get(SECURITY, "extauthpolicies", "gloo-mesh-addons", "ratings-auth")["status"]
        assert st["numSelectedDestinationPorts"] == 1 and st["numSelectedRoutes"] == 0
        assert eventually(lambda: client.get("/ratings/0").status_code == 403)
        assert client.get("/ratings/0", headers=bearer(signer.token())).status_code == 200
        assert client.get("/details/0").status_code == 200
        apply(store, SECURITY, "extauthpolicies", off)
        rt = store.get(NETWORKING, "routetables", "bookinfo", "bookinfo")
        rt["spec"]["http"][1]["labels"] = {"auth": "off"}
        store.update(NETWORKING, "routetables", "bookinfo", "bookinfo", rt)
        assert (
            store.get(SECURITY, "extauthpolicies", "gloo-mesh-addons", "reviews-off")["status"][
                "common"
            ]["State"]["approval"]
            == "ACCEPTED"
        )
        assert client.get("/reviews/0").status_code == 200
    finally:
        rt = store.get(NETWORKING, "routetables", "bookinfo", "bookinfo")
        rt["spec"]["http"][1].pop("labels", None)
        store.update(NETWORKING, "routetables", "bookinfo", "bookinfo", rt)
        for name in ("ratings-auth", "reviews-off"):
            if store.get(SECURITY, "extauthpolicies", "gloo-mesh-addons", name):
                store.delete(SECURITY, "extauthpolicies", "gloo-mesh-addons", name)
        store.delete(ADMIN, "extauthservers", "gloo-mesh-addons", "ext-auth-server")
