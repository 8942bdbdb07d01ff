"""Discovery, OpenAPI and authentication, checked over raw HTTP."""

from __future__ import annotations

from .kubeharness import KubeServer


def test_version_selects_kubectl_1_32(kube: KubeServer) -> None:
    with kube.http() as http:
        v = http.get("/version").json()
    assert (v["major"], v["minor"], v["gitVersion"]) == ("1", "32", "v1.32.4")


def test_missing_or_wrong_token_is_401_status(kube: KubeServer) -> None:
    expected = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    for token in ("", "wrong"):
        with kube.http(token=token) as http:
            for path in ("/version", "/api/v1/namespaces", "/openapi/v3", "/nothing"):
                r = http.get(path)
                assert r.status_code == 401
                assert r.json() == expected


def test_legacy_discovery(kube: KubeServer, widget_crd: str) -> None:
    with kube.http() as http:
        assert http.get("/api").json()["versions"] == ["v1"]
        groups = {g["name"]: g for g in http.get("/apis").json()["groups"]}
        assert (
            groups["apiextensions.k8s.io"]["preferredVersion"]["groupVersion"]
            == "apiextensions.k8s.io/v1"
        )
        assert "example.com" in groups
        core = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
        assert core["configmaps"]["shortNames"] == ["cm"]
        assert core["namespaces"]["namespaced"] is False
        assert core["services/status"]["verbs"] == ["get", "patch", "update"]
        crds = {r["name"]: r for r in http.get("/apis/apiextensions.k8s.io/v1").json()["resources"]}
        assert crds["customresourcedefinitions"]["shortNames"] == ["crd", "crds"]
        widgets = {r["name"]: r for r in http.get("/apis/example.com/v1").json()["resources"]}
        assert widgets["widgets"]["kind"] == "Widget"
        assert widgets["widgets"]["singularName"] == "widget"
        assert widgets["widgets"]["categories"] == ["all"]
        assert "widgets/status" in widgets
        assert http.get("/apis/example.com").json()["preferredVersion"]["version"] == "v1"


def test_openapi_v3_lists_every_group_version(kube: KubeServer, widget_crd: str) -> None:
    with kube.http() as http:
        paths = http.get("/openapi/v3").json()["paths"]
        assert {"api/v1", "apis/apiextensions.k8s.io/v1", "apis/example.com/v1"} <= set(paths)
        doc = http.get(paths["apis/example.com/v1"]["serverRelativeURL"]).json()
    patch = doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "example.com",
        "version": "v1",
        "kind": "Widget",
    }
    assert any(p["name"] == "fieldValidation" for p in patch["parameters"])
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    schema = doc["components"]["schemas"]["com.example.v1.Widget"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "kind": "Widget", "version": "v1"}
    ]
    assert schema["properties"]["spec"]["properties"]["size"]["type"] == "integer"


def test_unknown_paths_are_404_status(kube: KubeServer) -> None:
    with kube.http() as http:
        for path in ("/apis/nope.io/v1", "/api/v1/nothings", "/openapi/v2", "/apis/nope.io"):
            r = http.get(path)
            assert r.status_code == 404, path
            assert r.json()["message"] == "the server could not find the requested resource"


def test_crd_gets_established_status(kube: KubeServer, widget_crd: str) -> None:
    with kube.http() as http:
        crd = http.get(
            f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{widget_crd}"
        ).json()
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"
    assert crd["status"]["storedVersions"] == ["v1"]


def test_crd_seeded_directly_in_store_is_served(kube: KubeServer) -> None:
    """The Gloo controllers seed CRDs with store.create; the API must pick them up."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.seed.example.com"},
        "spec": {
            "group": "seed.example.com",
            "scope": "Cluster",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    kube.call(
        lambda: kube.store.create(
            "apiextensions.k8s.io", "customresourcedefinitions", "", crd["metadata"]["name"], crd
        )
    )
    with kube.http() as http:
        r = http.post(
            "/apis/seed.example.com/v1alpha1/gadgets",
            json={
                "apiVersion": "seed.example.com/v1alpha1",
                "kind": "Gadget",
                "metadata": {"name": "g"},
                "x": 1,
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["x"] == 1
        stored = http.get(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.seed.example.com"
        ).json()
        assert {c["type"] for c in stored["status"]["conditions"]} == {
            "NamesAccepted",
            "Established",
        }
        kube.call(
            lambda: kube.store.delete(
                "apiextensions.k8s.io", "customresourcedefinitions", "", "gadgets.seed.example.com"
            )
        )
        assert http.get("/apis/seed.example.com/v1alpha1/gadgets").status_code == 404
    assert kube.call(lambda: kube.store.list("seed.example.com", "gadgets", None)[0]) == []


def test_aggregated_discovery_when_asked(kube: KubeServer, widget_crd: str) -> None:
    accept = (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
    )
    with kube.http() as http:
        r = http.get("/apis", headers={"Accept": accept})
        assert (
            r.headers["content-type"]
            == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        )
        groups = {g["metadata"]["name"]: g for g in r.json()["items"]}
        widgets = groups["example.com"]["versions"][0]["resources"][0]
        assert widgets["resource"] == "widgets" and widgets["scope"] == "Namespaced"
        assert (
            widgets["shortNames"] == ["wd"]
            and widgets["subresources"][0]["subresource"] == "status"
        )
        core = http.get("/api", headers={"Accept": accept}).json()
        assert (
            core["kind"] == "APIGroupDiscoveryList" and core["items"][0]["metadata"]["name"] == ""
        )
        # plain JSON clients keep getting the legacy documents
        assert (
            http.get("/apis", headers={"Accept": "application/json"}).json()["kind"]
            == "APIGroupList"
        )


def test_pod_log_subresource_answers_empty_text(kube: KubeServer, ns: str) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    with kube.http() as http:
        assert http.post(f"/api/v1/namespaces/{ns}/pods", json=pod).status_code == 201
        r = http.get(f"/api/v1/namespaces/{ns}/pods/p/log")
        assert r.status_code == 200 and r.text == ""
        assert http.get(f"/api/v1/namespaces/{ns}/pods/nope/log").status_code == 404
