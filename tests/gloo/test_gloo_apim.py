"""Gloo Platform Portal (apimanagement.gloo.solo.io/v2): statuses, and the portal server and
frontend behind the gateway, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gloo_helpers import (
    ADMIN,
    CLUSTER,
    NETWORKING,
    SECURITY,
    LiveGateway,
    Signer,
    apply,
    approval,
    ext_auth_policy,
    ext_auth_server,
    status_of,
)

from oktalab.sandbox.kube.store import ObjectStore

APIM = "apimanagement.gloo.solo.io"
NS = "gloo-mesh"
HOST = "portal.localhost"


def product_table(name: str, product: str, *, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": f"{NETWORKING}/v2",
        "kind": "RouteTable",
        "metadata": {"name": name, "namespace": "bookinfo", "labels": labels},
        "spec": {
            "portalMetadata": {
                "apiProductId": product,
                "apiProductDisplayName": product.title(),
                "apiVersion": "v1",
                "title": f"{product} API",
            },
            "http": [
                {
                    "name": name,
                    "matchers": [{"uri": {"prefix": f"/{product}"}}],
                    "forwardTo": {
                        "destinations": [{"ref": {"name": "reviews", "namespace": "bookinfo"}}]
                    },
                }
            ],
        },
    }


def portal_route_table(labels: dict[str, str]) -> dict[str, Any]:
    def dest(name: str, port: int) -> dict[str, Any]:
        return {
            "destinations": [{"ref": {"name": name, "namespace": NS}, "port": {"number": port}}]
        }

    return {
        "apiVersion": f"{NETWORKING}/v2",
        "kind": "RouteTable",
        "metadata": {"name": "portal", "namespace": NS},
        "spec": {
            "hosts": [HOST],
            "virtualGateways": [
                {"name": "north-south-gw", "namespace": "istio-gateways", "cluster": CLUSTER}
            ],
            "http": [
                {
                    "name": "portal-api",
                    "labels": labels,
                    "matchers": [{"uri": {"prefix": "/v1"}}],
                    "forwardTo": dest("gloo-mesh-portal-server", 8080),
                },
                {
                    "name": "portal-frontend",
                    "matchers": [{"uri": {"prefix": "/"}}],
                    "forwardTo": dest("portal-frontend", 4000),
                },
            ],
        },
    }


def portal(**spec: Any) -> dict[str, Any]:
    body = {
        "portalBackendSelectors": [{"selector": {"labels": {"app": "gloo-mesh-portal-server"}}}],
        "domains": [HOST],
        "apis": [{"labels": {"portal": "dev"}}],
        "usagePlans": [{"name": "bronze"}],
    }
    body.update(spec)
    return {
        "apiVersion": f"{APIM}/v2",
        "kind": "Portal",
        "metadata": {"name": "dev-portal", "namespace": NS},
        "spec": body,
    }


def group(name: str, claims: list[dict[str, str]], apis: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": f"{APIM}/v2",
        "kind": "PortalGroup",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "name": name,
            "membership": [{"claims": claims}],
            "accessLevel": {"apis": apis},
        },
    }


def test_portal_and_group_statuses(store: ObjectStore) -> None:
    apply(store, APIM, "portals", portal())
    # no route table carries portal metadata yet: the selector selects nothing
    st = status_of(store, APIM, "portals", NS, "dev-portal")
    assert st["common"]["State"]["approval"] == "WARNING", st
    assert "apis[0] selects no route table" in st["common"]["State"]["message"]
    apply(
        store,
        NETWORKING,
        "routetables",
        product_table("ratings-api", "ratings", labels={"portal": "dev"}),
    )
    st = status_of(store, APIM, "portals", NS, "dev-portal")
    assert st["common"]["State"]["approval"] == "ACCEPTED", st
    assert st["routeTablesCount"] == 1 and st["portalBackendCount"] == 1
    assert st["common"]["State"]["observedGeneration"] == 1

    # a second portal on the same domain is INVALID with the owner named
    second = portal()
    second["metadata"]["name"] = "other-portal"
    apply(store, APIM, "portals", second)
    msg = status_of(store, APIM, "portals", NS, "other-portal")["common"]["State"]
    assert msg["approval"] == "INVALID" and "gloo-mesh/dev-portal" in msg["message"]

    # a portal whose backend selector matches no running portal server
    lonely = portal(
        domains=["lonely.localhost"],
        portalBackendSelectors=[{"selector": {"labels": {"app": "nope"}}}],
    )
    lonely["metadata"]["name"] = "lonely"
    apply(store, APIM, "portals", lonely)
    assert approval(store, APIM, "portals", NS, "lonely") == "INVALID"

    apply(
        store,
        APIM,
        "portalgroups",
        group(
            "orgs", [{"key": "organization", "value": "oktalab"}], [{"labels": {"portal": "dev"}}]
        ),
    )
    assert approval(store, APIM, "portalgroups", NS, "orgs") == "ACCEPTED"
    apply(
        store,
        APIM,
        "portalgroups",
        group(
            "empty-value", [{"key": "organization", "value": ""}], [{"labels": {"portal": "dev"}}]
        ),
    )
    st = status_of(store, APIM, "portalgroups", NS, "empty-value")["common"]["State"]
    assert st["approval"] == "INVALID" and "membership[0].claims[0]" in st["message"]
    apply(
        store,
        APIM,
        "portalgroups",
        group("nothing", [{"key": "a", "value": "b"}], [{"name": "missing"}]),
    )
    assert approval(store, APIM, "portalgroups", NS, "nothing") == "WARNING"


@pytest.fixture
def devportal(gateway: LiveGateway, signer: Signer) -> Iterator[LiveGateway]:
    st = gateway.store
    objs = [
        (ADMIN, "extauthservers", ext_auth_server()),
        (SECURITY, "extauthpolicies", ext_auth_policy(signer.jwks)),
        (
            NETWORKING,
            "routetables",
            product_table("ratings-api", "ratings", labels={"portal": "dev", "tier": "open"}),
        ),
        (
            NETWORKING,
            "routetables",
            product_table("reviews-api", "reviews", labels={"portal": "dev", "tier": "partner"}),
        ),
        (NETWORKING, "routetables", portal_route_table({"oauth": "true"})),
        (APIM, "portals", portal()),
        (
            APIM,
            "portalgroups",
            group(
                "everyone",
                [{"key": "email_verified", "value": "true"}],
                [{"labels": {"tier": "open"}}],
            ),
        ),
        (
            APIM,
            "portalgroups",
            group(
                "oktalab",
                [{"key": "organization", "value": "oktalab"}],
                [{"labels": {"tier": "partner"}}],
            ),
        ),
    ]
    for g, plural, obj in objs:
        apply(st, g, plural, obj)
    yield gateway
    for g, plural, obj in reversed(objs):
        md = obj["metadata"]
        if st.get(g, plural, md["namespace"], md["name"]) is not None:
            st.delete(g, plural, md["namespace"], md["name"])


def test_portal_server_grants_by_claims(devportal: LiveGateway, signer: Signer) -> None:
    with httpx.Client(base_url=devportal.url, headers={"Host": HOST}, timeout=5) as c:
        # the API route carries oauth: "true", so the guide's ExtAuthPolicy guards it
        assert c.get("/v1/me").status_code == 403
        assert c.get("/v1/apis").status_code == 403
        forged = Signer("sandbox-kid").token(organization="oktalab")
        assert c.get("/v1/apis", headers={"Authorization": f"Bearer {forged}"}).status_code == 403

        member = signer.token(
            sub="ann@example.com",
            email="ann@example.com",
            organization="oktalab",
            email_verified="true",
        )
        r = c.get("/v1/me", headers={"Authorization": f"Bearer {member}"})
        assert r.status_code == 200 and r.json()["email"] == "ann@example.com"
        assert r.json()["username"] == "ann@example.com"
        r = c.get("/v1/apis", headers={"Authorization": f"Bearer {member}"})
        assert r.status_code == 200
        apis = {a["apiProductId"]: a for a in r.json()}
        assert set(apis) == {"ratings", "reviews"}
        assert apis["reviews"]["apiId"] == "reviews-api-bookinfo-cluster1"
        assert apis["reviews"]["apiVersion"] == "v1" and apis["reviews"]["usagePlans"] == ["bronze"]

        outsider = signer.token(
            sub="bob@example.com", organization="elsewhere", email_verified="true"
        )
        r = c.get("/v1/apis", headers={"Authorization": f"Bearer {outsider}"})
        assert [a["apiProductId"] for a in r.json()] == ["ratings"]
        nobody = signer.token(sub="eve@example.com")
        assert c.get("/v1/apis", headers={"Authorization": f"Bearer {nobody}"}).json() == []

        # the frontend is public: its page and settings need no token
        page = c.get("/callback?code=x&state=y")
        assert page.status_code == 200 and "code_challenge_method" in page.text
        cfg = c.get("/config.json").json()
        assert set(cfg) >= {"VITE_CLIENT_ID", "VITE_TOKEN_ENDPOINT", "VITE_AUTH_ENDPOINT"}


def test_portal_server_without_ext_auth_is_anonymous(
    devportal: LiveGateway, signer: Signer
) -> None:
    """Unlabelled API routes: the portal server trusts no token, so /me is 401 and nothing is listed."""
    st = devportal.store
    apply(st, NETWORKING, "routetables", portal_route_table({"oauth": "false"}))
    member = signer.token(organization="oktalab", email_verified="true")
    with httpx.Client(base_url=devportal.url, headers={"Host": HOST}, timeout=5) as c:
        assert c.get("/v1/me", headers={"Authorization": f"Bearer {member}"}).status_code == 401
        assert c.get("/v1/apis", headers={"Authorization": f"Bearer {member}"}).json() == []


def test_portal_through_jupyter_server_proxy(devportal: LiveGateway, signer: Signer) -> None:
    """Behind the proxy the Host is Jupyter's: the portal is named by path, as guide 2's is."""
    prefix = "/proxy/8123"
    proxied = {
        "Host": "jupyter.test:8888",
        "X-Forwarded-Prefix": prefix,
        "X-Forwarded-Context": prefix,
    }
    base = "/portals/gloo-mesh/dev-portal"
    with httpx.Client(base_url=devportal.url, headers=proxied, timeout=5) as c:
        r = c.get(base)
        assert r.status_code == 302
        assert r.headers["location"] == f"http://jupyter.test:8888{prefix}{base}/"
        page = c.get(base + "/")
        assert page.status_code == 200 and "code_challenge_method" in page.text
        assert c.get(base + "/callback?code=x&state=y").status_code == 200
        assert "VITE_CLIENT_ID" in c.get(base + "/config.json").json()
        assert c.get(base + "/v1/apis").status_code == 403
        member = signer.token(organization="oktalab", email_verified="true")
        apis = c.get(base + "/v1/apis", headers={"Authorization": f"Bearer {member}"}).json()
        assert {a["apiProductId"] for a in apis} == {"ratings", "reviews"}
        assert c.get("/portals/gloo-mesh/no-such-portal/").status_code == 404
    # a direct request (no proxy headers) is routed by Host, as before
    with httpx.Client(base_url=devportal.url, timeout=5) as c:
        assert c.get(base + "/config.json").status_code == 404
