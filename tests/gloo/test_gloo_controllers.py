"""Statuses, AuthConfig translation and seed state, driven through the object store."""

from __future__ import annotations

import asyncio
import base64

from gloo_helpers import (
    ADMIN,
    BAD_CERT_KEYS,
    ENTERPRISE,
    NETWORKING,
    SECURITY,
    Signer,
    apply,
    approval,
    ext_auth_policy,
    ext_auth_server,
    status_of,
)

from oktalab.sandbox.gloo import GlooControllers, seed_cluster
from oktalab.sandbox.kube.store import ObjectStore
from oktalab.sandbox.store import Database

CRD = "apiextensions.k8s.io"


def test_seed_matches_before_you_begin(store: ObjectStore) -> None:
    ns_names = {o["metadata"]["name"] for o in store.list("", "namespaces")[0]}
    assert {
        "default",
        "gloo-mesh",
        "gloo-mesh-addons",
        "istio-gateways",
        "bookinfo",
        "gloo-system",
    } <= ns_names
    svc = store.get("", "services", "gloo-mesh-addons", "ext-auth-service")
    assert svc and {"name": "grpc", "port": 8083} in [
        {k: p[k] for k in ("name", "port")} for p in svc["spec"]["ports"]
    ]
    pods = [
        p
        for p in store.list("", "pods")[0]
        if p["metadata"]["labels"].get("app") == "ext-auth-service"
    ]
    assert len(pods) == 1 and pods[0]["status"]["phase"] == "Running"
    assert pods[0]["status"]["podIP"] == "127.0.0.1"
    assert all(c["ready"] for c in pods[0]["status"]["containerStatuses"])
    for app in ("productpage", "details", "reviews", "ratings"):
        assert store.get("", "services", "bookinfo", app)
    gw = store.get("", "services", "gloo-system", "gateway-proxy")
    assert gw and gw["spec"]["ports"][0]["name"] == "http"
    assert any(
        p["metadata"]["labels"].get("gloo") == "gateway-proxy"
        for p in store.list("", "pods", "gloo-system")[0]
    )
    assert any(
        p["metadata"]["labels"].get("istio") == "ingressgateway"
        for p in store.list("", "pods", "istio-gateways")[0]
    )
    rt = store.get(NETWORKING, "routetables", "bookinfo", "bookinfo")
    assert rt and [r["name"] for r in rt["spec"]["http"]] == [
        "productpage",
        "reviews",
        "ratings",
        "details",
    ]
    assert rt["spec"]["http"][0]["labels"] == {"oauth": "true"}
    assert approval(store, NETWORKING, "routetables", "bookinfo", "bookinfo") == "ACCEPTED"
    assert (
        approval(store, NETWORKING, "virtualgateways", "istio-gateways", "north-south-gw")
        == "ACCEPTED"
    )
    vg_status = status_of(store, NETWORKING, "virtualgateways", "istio-gateways", "north-south-gw")
    assert vg_status["routeTablesCount"] == 1 and vg_status["selectedWorkloadsCount"] == 1


def test_seed_is_idempotent_and_keeps_user_changes(tmp_path) -> None:
    path = tmp_path / "sandbox.db"
    st = ObjectStore(Database(path))
    seed_cluster(st)
    rt = st.get(NETWORKING, "routetables", "bookinfo", "bookinfo")
    rt["spec"]["hosts"] = ["bookinfo.example.com"]
    st.update(NETWORKING, "routetables", "bookinfo", "bookinfo", rt)
    rv = st.current_rv()
    st2 = ObjectStore(Database(path))
    seed_cluster(st2)
    assert st2.current_rv() == rv
    assert st2.get(NETWORKING, "routetables", "bookinfo", "bookinfo")["spec"]["hosts"] == [
        "bookinfo.example.com"
    ]


def test_crds_seeded_with_names_and_columns(store: ObjectStore) -> None:
    crds = {o["metadata"]["name"]: o for o in store.list(CRD, "customresourcedefinitions")[0]}
    eas = crds["extauthservers.admin.gloo.solo.io"]
    assert eas["spec"]["names"]["shortNames"] == ["ess", "eas"]
    assert (
        eas["spec"]["versions"][0]["additionalPrinterColumns"][0]["jsonPath"]
        == ".status.common.State.approval"
    )
    assert eas["spec"]["versions"][0]["subresources"] == {"status": {}}
    ac = crds["authconfigs.enterprise.gloo.solo.io"]
    assert "subresources" not in ac["spec"]["versions"][0]
    assert ac["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "required"
    ] == ["configs"]
    assert crds["extauthpolicies.security.policy.gloo.solo.io"]["spec"]["names"]["shortNames"] == [
        "extauth"
    ]
    assert crds["routetables.networking.gloo.solo.io"]["spec"]["names"]["shortNames"] == ["rt"]
    assert crds["virtualgateways.networking.gloo.solo.io"]["spec"]["names"]["shortNames"] == ["vg"]
    for kind in ("portals", "groups", "apiproducts", "environments"):
        v = crds[f"{kind}.portal.gloo.solo.io"]["spec"]["versions"][0]
        assert (
            v["name"] == "v1beta1"
            and v["additionalPrinterColumns"][0]["jsonPath"] == ".status.state"
        )
    assert all(c["status"]["conditions"][-1]["type"] == "Established" for c in crds.values())


def test_ext_auth_server_states(store: ObjectStore) -> None:
    apply(store, ADMIN, "extauthservers", ext_auth_server())
    assert (
        approval(store, ADMIN, "extauthservers", "gloo-mesh-addons", "ext-auth-server")
        == "ACCEPTED"
    )
    st = status_of(store, ADMIN, "extauthservers", "gloo-mesh-addons", "ext-auth-server")
    assert (
        st["common"]["State"]["observedGeneration"] == 1 and st["numSelectedBackingServices"] == 1
    )
    apply(store, ADMIN, "extauthservers", ext_auth_server(port_name="http"))
    st = status_of(store, ADMIN, "extauthservers", "gloo-mesh-addons", "ext-auth-server")
    assert st["common"]["State"]["approval"] == "INVALID"
    assert "port named http" in st["common"]["State"]["message"]
    assert st["common"]["State"]["observedGeneration"] == 2
    apply(store, ADMIN, "extauthservers", ext_auth_server(cluster="cluster2"))
    st = status_of(store, ADMIN, "extauthservers", "gloo-mesh-addons", "ext-auth-server")
    assert (
        st["common"]["State"]["approval"] == "INVALID"
        and "cluster2" in st["common"]["State"]["message"]
    )


def test_policy_invalid_until_server_exists(store: ObjectStore, signer: Signer) -> None:
    apply(store, SECURITY, "extauthpolicies", ext_auth_policy(signer.jwks))
    st = status_of(store, SECURITY, "extauthpolicies", "gloo-mesh-addons", "oauth-okta")
    assert st["common"]["State"]["approval"] == "INVALID"
    assert "gloo-mesh-addons/ext-auth-server" in st["common"]["State"]["message"]
    apply(store, ADMIN, "extauthservers", ext_auth_server())
    st = status_of(store, SECURITY, "extauthpolicies", "gloo-mesh-addons", "oauth-okta")
    assert st["common"]["State"] == {"approval": "ACCEPTED", "observedGeneration": 1}
    assert st["numSelectedRoutes"] == 1 and st["numSelectedDestinationPorts"] == 0
    server = status_of(store, ADMIN, "extauthservers", "gloo-mesh-addons", "ext-auth-server")
    assert server["numAppliedPolicies"] == 1
    rt = status_of(store, NETWORKING, "routetables", "bookinfo", "bookinfo")
    assert rt["numAppliedRoutePolicies"] == {
        "security.policy.gloo.solo.io/v2, Kind=ExtAuthPolicy": 1
    }


def test_authconfig_generated_updated_deleted(store: ObjectStore, signer: Signer) -> None:
    apply(store, ADMIN, "extauthservers", ext_auth_server())
    policy = apply(store, SECURITY, "extauthpolicies", ext_auth_policy(signer.jwks))
    ac = store.get(ENTERPRISE, "authconfigs", "gloo-mesh-addons", "oauth-okta")
    assert ac is not None
    assert ac["spec"] == policy["spec"]["config"]["glooAuth"]
    owner = ac["metadata"]["ownerReferences"][0]
    assert (
        owner["kind"] == "ExtAuthPolicy"
        and owner["uid"] == policy["metadata"]["uid"]
        and owner["controller"]
    )
    assert (
        owner["apiVersion"] == "security.policy.gloo.solo.io/v2" and owner["name"] == "oauth-okta"
    )
    assert ac["status"] == {
        "statuses": {"gloo-mesh-addons": {"reportedBy": "ext-auth-service", "state": "Accepted"}}
    }
    # the guide's badly pasted $CERT_KEYS: AuthConfig rejected with Go's wording, policy still accepted
    apply(store, SECURITY, "extauthpolicies", ext_auth_policy(BAD_CERT_KEYS))
    ac = store.get(ENTERPRISE, "authconfigs", "gloo-mesh-addons", "oauth-okta")
    assert (
        ac["spec"]["configs"][0]["oauth2"]["accessTokenValidation"]["jwt"]["localJwks"][
            "inlineString"
        ]
        == BAD_CERT_KEYS
    )
    entry = ac["status"]["statuses"]["gloo-mesh-addons"]
    assert entry["state"] == "Rejected"
    assert entry["reason"] == "invalid character 'k' looking for beginning of object key string"
    assert (
        approval(store, SECURITY, "extauthpolicies", "gloo-mesh-addons", "oauth-okta") == "ACCEPTED"
    )
    # valid JSON that is not a JWKS
    apply(store, SECURITY, "extauthpolicies", ext_auth_policy('{"kty":"RSA"}'))
    entry = store.get(ENTERPRISE, "authconfigs", "gloo-mesh-addons", "oauth-okta")["status"][
        "statuses"
    ]["gloo-mesh-addons"]
    assert entry["state"] == "Rejected" and "keys" in entry["reason"]
    store.delete(SECURITY, "extauthpolicies", "gloo-mesh-addons", "oauth-okta")
    assert store.get(ENTERPRISE, "authconfigs", "gloo-mesh-addons", "oauth-okta") is None


def test_second_policy_on_same_route_fails(store: ObjectStore, signer: Signer) -> None:
    apply(store, ADMIN, "extauthservers", ext_auth_server())
    apply(store, SECURITY, "extauthpolicies", ext_auth_policy(signer.jwks, "first"))
    apply(store, SECURITY, "extauthpolicies", ext_auth_policy(signer.jwks, "second"))
    assert approval(store, SECURITY, "extauthpolicies", "gloo-mesh-addons", "first") == "ACCEPTED"
    st = status_of(store, SECURITY, "extauthpolicies", "gloo-mesh-addons", "second")
    assert st["common"]["State"]["approval"] == "FAILED"
    assert "gloo-mesh-addons/first" in st["common"]["State"]["message"]
    assert "productpage" in st["common"]["State"]["message"]
    store.delete(SECURITY, "extauthpolicies", "gloo-mesh-addons", "first")
    assert approval(store, SECURITY, "extauthpolicies", "gloo-mesh-addons", "second") == "ACCEPTED"


def test_status_written_only_on_change(store: ObjectStore, signer: Signer) -> None:
    apply(store, ADMIN, "extauthservers", ext_auth_server())
    apply(store, SECURITY, "extauthpolicies", ext_auth_policy(signer.jwks))
    rv = store.current_rv()
    GlooControllers(store).reconcile()
    assert store.current_rv() == rv


def test_controllers_on_event_loop(signer: Signer) -> None:
    """On a running loop, statuses follow writes within a loop turn or two (well under 1 s)."""

    async def main() -> tuple[str, str]:
        st = ObjectStore(Database())
        seed_cluster(st)
        ctl = GlooControllers(st)
        ctl.start()
        apply(st, ADMIN, "extauthservers", ext_auth_server())
        apply(st, SECURITY, "extauthpolicies", ext_auth_policy(signer.jwks))
        assert (
            st.get(ENTERPRISE, "authconfigs", "gloo-mesh-addons", "oauth-okta") is None
        )  # not inline
        for _ in range(100):
            await asyncio.sleep(0.005)
            if (
                approval(st, SECURITY, "extauthpolicies", "gloo-mesh-addons", "oauth-okta")
                == "ACCEPTED"
            ):
                break
        ac = st.get(ENTERPRISE, "authconfigs", "gloo-mesh-addons", "oauth-okta")
        rv = st.current_rv()
        await asyncio.sleep(0.05)
        assert st.current_rv() == rv  # settled: no listener loop
        ctl.stop()
        return approval(st, SECURITY, "extauthpolicies", "gloo-mesh-addons", "oauth-okta"), ac[
            "status"
        ]["statuses"]["gloo-mesh-addons"]["state"]

    assert asyncio.run(main()) == ("ACCEPTED", "Accepted")


def _secret(value: bytes) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "petstore-portaloidc-secret", "namespace": "default"},
        "data": {"client_secret": base64.b64encode(value).decode()},
    }


def test_portal_states(store: ObjectStore) -> None:
    from gloo_helpers import PORTAL
    from gloo_portal_manifests import api_doc, api_product, environment, group, portal

    apply(store, PORTAL, "apiproducts", api_product())
    st = status_of(store, PORTAL, "apiproducts", "default", "petstore-product")
    assert st["state"] == "Invalid" and "APIDoc default/petstore-schema not found" in st["reason"]
    apply(store, PORTAL, "apidocs", api_doc(fetch_url="http://petstore.default:8080/swagger.json"))
    st = status_of(store, PORTAL, "apidocs", "default", "petstore-schema")
    assert st["state"] == "Failed" and "petstore.default" in st["reason"]
    apply(store, PORTAL, "apidocs", api_doc())
    st = status_of(store, PORTAL, "apidocs", "default", "petstore-schema")
    assert (
        st["state"] == "Succeeded"
        and st["displayName"] == "Swagger Petstore"
        and st["version"] == "1.0.0"
    )
    assert {
        "operationId": "findPets",
        "path": "/pets",
        "summary": "Returns all pets",
        "verb": "GET",
    } in st["openApi"]["operations"]
    apply(store, PORTAL, "environments", environment())
    apply(store, PORTAL, "portals", portal(issuer="https://example.okta.com/oauth2/default"))
    assert (
        status_of(store, PORTAL, "apiproducts", "default", "petstore-product")["state"]
        == "Succeeded"
    )
    assert status_of(store, PORTAL, "environments", "default", "dev")["state"] == "Succeeded"
    st = status_of(store, PORTAL, "portals", "default", "petstore-portal")
    assert st["state"] == "Invalid" and "default/petstore-portaloidc-secret" in st["reason"]
    store.create("", "secrets", "default", "petstore-portaloidc-secret", _secret(b"s3cret\n"))
    st = status_of(store, PORTAL, "portals", "default", "petstore-portal")
    assert st["state"] == "Succeeded" and st["observedGeneration"] == 1
    apply(store, PORTAL, "groups", group())
    gs = status_of(store, PORTAL, "groups", "default", "oidc-group")
    assert gs["state"] == "Succeeded"
    assert gs["accessLevel"]["apiProducts"][0]["name"] == "petstore-product"
    assert gs["accessLevel"]["apiProducts"][0]["environments"] == [
        {"name": "dev", "namespace": "default"}
    ]
    dup = group()
    dup["metadata"]["name"] = "oidc-group-2"
    apply(store, PORTAL, "groups", dup)
    gs2 = status_of(store, PORTAL, "groups", "default", "oidc-group-2")
    assert (
        gs2["state"] == "Invalid"
        and "PetstoreUsers" in gs2["reason"]
        and "default/oidc-group" in gs2["reason"]
    )
    other = portal(issuer="https://example.okta.com/oauth2/default")
    other["metadata"]["name"] = "copycat"
    apply(store, PORTAL, "portals", other)
    st = status_of(store, PORTAL, "portals", "default", "copycat")
    assert st["state"] == "Invalid" and "default/petstore-portal" in st["reason"]
    bad = group()
    bad["metadata"]["name"] = "bad-refs"
    bad["spec"]["oidcGroup"] = {"groupName": "Other"}
    bad["spec"]["accessLevel"]["portals"] = [{"name": "nope", "namespace": "default"}]
    apply(store, PORTAL, "groups", bad)
    assert "default/nope" in status_of(store, PORTAL, "groups", "default", "bad-refs")["reason"]


def test_seed_publishes_gateway_port() -> None:
    st = ObjectStore(Database())
    seed_cluster(st, gateway_port=40000)
    seed_cluster(st, gateway_port=40001)
    ports = st.get("", "services", "gloo-system", "gateway-proxy")["spec"]["ports"]
    assert next(p for p in ports if p["name"] == "http")["nodePort"] == 40001
    ports = st.get("", "services", "istio-gateways", "istio-ingressgateway")["spec"]["ports"]
    assert next(p for p in ports if p["name"] == "http2")["nodePort"] == 40001
    rv = st.current_rv()
    seed_cluster(st, gateway_port=40001)
    assert st.current_rv() == rv


def test_group_with_unknown_environment_is_invalid(store: ObjectStore) -> None:
    from gloo_helpers import PORTAL
    from gloo_portal_manifests import api_doc, api_product, group

    apply(store, PORTAL, "apidocs", api_doc())
    apply(store, PORTAL, "apiproducts", api_product())
    apply(store, PORTAL, "groups", group())
    st = status_of(store, PORTAL, "groups", "default", "oidc-group")
    # the portal is missing too; the first problem found is reported
    assert st["state"] == "Invalid" and "Portal default/petstore-portal not found" in st["reason"]
    g = group()
    g["spec"]["accessLevel"]["portals"] = []
    apply(store, PORTAL, "groups", g)
    st = status_of(store, PORTAL, "groups", "default", "oidc-group")
    assert (
        st["state"] == "Invalid"
        and st["reason"] == "Environment dev not found in namespaces default"
    )
    assert st["observedGeneration"] == 2


def test_restart_on_same_database_rewrites_nothing(tmp_path, signer: Signer) -> None:
    path = tmp_path / "sandbox.db"
    db = Database(path)
    st = ObjectStore(db)
    seed_cluster(st)
    ctl = GlooControllers(st)
    ctl.start()
    apply(st, ADMIN, "extauthservers", ext_auth_server())
    apply(st, SECURITY, "extauthpolicies", ext_auth_policy(BAD_CERT_KEYS))
    ctl.stop()
    rv = st.current_rv()
    db.close()
    st2 = ObjectStore(Database(path))
    seed_cluster(st2)
    ctl2 = GlooControllers(st2)
    ctl2.start()
    assert st2.current_rv() == rv
    ac = st2.get(ENTERPRISE, "authconfigs", "gloo-mesh-addons", "oauth-okta")
    assert ac["status"]["statuses"]["gloo-mesh-addons"]["state"] == "Rejected"
    ctl2.stop()


def test_gloo_214_layout_generates_a_labelled_authconfig_and_collects_it(signer: Signer) -> None:
    """2.14: AuthConfig in extauth.solo.io, a generated name, parent labels, no owner
    reference; it goes when its policy goes (matched by the labels)."""
    from oktalab.sandbox.gloo.model import EXTAUTH
    from oktalab.sandbox.gloo.seed import load_crds

    db = Database()
    st = ObjectStore(db)
    assert seed_cluster(st, gloo_version="2.14") == "2.14"
    ctl = GlooControllers(st)
    ctl.start()
    try:
        apply(st, ADMIN, "extauthservers", ext_auth_server())
        apply(st, SECURITY, "extauthpolicies", ext_auth_policy(signer.jwks))
        assert st.get(ENTERPRISE, "authconfigs", "gloo-mesh-addons", "oauth-okta") is None
        name = "oauth-okta-gloo-mesh-addons-extauth"
        ac = st.get(EXTAUTH, "authconfigs", "gloo-mesh-addons", name)
        assert ac is not None and "ownerReferences" not in ac["metadata"]
        assert ac["metadata"]["labels"]["gloo.solo.io/parent_name"] == "oauth-okta"
        assert ac["status"]["statuses"]["gloo-mesh-addons"]["state"] == "Accepted"
        st.delete(SECURITY, "extauthpolicies", "gloo-mesh-addons", "oauth-okta")
        assert st.get(EXTAUTH, "authconfigs", "gloo-mesh-addons", name) is None
    finally:
        ctl.stop()
        db.close()
    by_kind = {c["spec"]["names"]["kind"]: c for c in load_crds("2.5")}
    assert by_kind["AuthConfig"]["spec"]["group"] == ENTERPRISE
    assert {
        c["spec"]["group"] for c in load_crds("2.14") if c["spec"]["names"]["kind"] == "AuthConfig"
    } == {EXTAUTH}
