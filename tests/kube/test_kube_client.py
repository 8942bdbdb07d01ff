"""The official ``kubernetes`` python client against the server."""

from __future__ import annotations

import base64
import os
import threading
import uuid
from typing import Any

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

from .kubeharness import KubeServer


@pytest.fixture
def api(kube: KubeServer) -> Any:
    with kube.api_client() as c:
        yield c


def test_namespaces_round_trip(api: Any) -> None:
    core = client.CoreV1Api(api)
    name = "py-" + uuid.uuid4().hex[:6]
    created = core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"a": "b"}))
    )
    assert created.metadata.uid and created.status.phase == "Active"
    names = [n.metadata.name for n in core.list_namespace(label_selector="a=b").items]
    assert name in names and "default" not in names
    with pytest.raises(ApiException) as exc:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    assert exc.value.status == 409 and "AlreadyExists" in exc.value.body
    core.delete_namespace(name)
    with pytest.raises(ApiException) as exc:
        core.read_namespace(name)
    assert exc.value.status == 404


def test_secret_round_trips_byte_for_byte(api: Any, ns: str) -> None:
    core = client.CoreV1Api(api)
    payload = os.urandom(64)
    data = {
        "blob": base64.b64encode(payload).decode(),
        "text": base64.b64encode(b"hello\n").decode(),
    }
    core.create_namespaced_secret(
        ns, client.V1Secret(metadata=client.V1ObjectMeta(name="s"), data=data, type="Opaque")
    )
    got = core.read_namespaced_secret("s", ns)
    assert got.data == data and base64.b64decode(got.data["blob"]) == payload
    core.patch_namespaced_secret("s", ns, {"stringData": {"extra": "plain"}})
    got = core.read_namespaced_secret("s", ns)
    assert got.string_data is None
    assert base64.b64decode(got.data["extra"]) == b"plain" and got.data["blob"] == data["blob"]


def test_stale_resource_version_conflicts(api: Any, ns: str) -> None:
    core = client.CoreV1Api(api)
    cm = core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"a": "1"})
    )
    cm.data["a"] = "2"
    core.replace_namespaced_config_map("c", ns, cm)
    cm.data["a"] = "3"
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("c", ns, cm)
    assert exc.value.status == 409 and '"reason":"Conflict"' in exc.value.body


def test_strategic_merge_and_json_patch_from_python(api: Any, ns: str) -> None:
    core = client.CoreV1Api(api)
    svc = client.V1Service(
        metadata=client.V1ObjectMeta(name="svc"),
        spec=client.V1ServiceSpec(
            ports=[
                client.V1ServicePort(port=80, name="http"),
                client.V1ServicePort(port=81, name="b"),
            ]
        ),
    )
    core.create_namespaced_service(ns, svc)
    # a dict body is sent as a strategic merge patch: ports merge by "port"
    core.patch_namespaced_service(
        "svc", ns, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    )
    ports = {p.port: p for p in core.read_namespaced_service("svc", ns).spec.ports}
    assert set(ports) == {80, 81} and ports[80].target_port == 9090 and ports[80].name == "http"
    core.patch_namespaced_service(
        "svc", ns, {"spec": {"ports": [{"port": 81, "$patch": "delete"}]}}
    )
    assert [p.port for p in core.read_namespaced_service("svc", ns).spec.ports] == [80]
    # a list body is a JSON patch
    core.patch_namespaced_service(
        "svc", ns, [{"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}]
    )
    assert core.read_namespaced_service("svc", ns).metadata.labels == {"x": "y"}


def test_custom_objects_crud_and_status(api: Any, ns: str, widget_crd: str) -> None:
    co = client.CustomObjectsApi(api)
    args = ("example.com", "v1", ns, "widgets")
    body = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 2},
        "status": {"state": "ignored"},
    }
    created = co.create_namespaced_custom_object(*args, body)
    assert created["spec"] == {"size": 2, "color": "red"}
    assert "status" not in created  # the main endpoint ignores status
    assert created["metadata"]["generation"] == 1
    listed = co.list_namespaced_custom_object(*args)
    assert listed["kind"] == "WidgetList" and [i["metadata"]["name"] for i in listed["items"]] == [
        "w"
    ]
    patched = co.patch_namespaced_custom_object(*args, "w", {"spec": {"size": 5}})
    assert patched["spec"]["size"] == 5 and patched["metadata"]["generation"] == 2
    status = co.patch_namespaced_custom_object_status(
        *args, "w", {"status": {"state": "Ready"}, "spec": {"size": 99}}
    )
    assert status["status"] == {"state": "Ready"} and status["spec"]["size"] == 5
    assert status["metadata"]["generation"] == 2  # status changes do not bump generation
    labelled = co.patch_namespaced_custom_object(*args, "w", {"metadata": {"labels": {"k": "v"}}})
    assert labelled["metadata"]["generation"] == 2
    current = co.get_namespaced_custom_object(*args, "w")
    current["spec"]["tags"] = ["x"]
    replaced = co.replace_namespaced_custom_object(*args, "w", current)
    assert replaced["spec"]["tags"] == ["x"] and replaced["status"] == {"state": "Ready"}
    with pytest.raises(ApiException) as exc:
        co.replace_namespaced_custom_object(*args, "w", current)  # stale resourceVersion
    assert exc.value.status == 409
    with pytest.raises(ApiException) as exc:
        co.patch_namespaced_custom_object(*args, "w", {"spec": {"size": "big"}})
    assert exc.value.status == 422 and "FieldValueTypeInvalid" in exc.value.body
    deleted = co.delete_namespaced_custom_object(*args, "w")
    assert deleted["metadata"]["name"] == "w"
    with pytest.raises(ApiException) as exc:
        co.get_namespaced_custom_object(*args, "w")
    assert exc.value.status == 404


def test_apiextensions_create_crd_then_use_it(api: Any) -> None:
    ext = client.ApiextensionsV1Api(api)
    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"things.{group}"},
        "spec": {
            "group": group,
            "scope": "Cluster",
            "names": {"plural": "things", "kind": "Thing"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    created = ext.create_custom_resource_definition(crd)
    assert created.status.accepted_names.kind == "Thing"
    co = client.CustomObjectsApi(api)
    co.create_cluster_custom_object(
        group,
        "v1",
        "things",
        {
            "apiVersion": f"{group}/v1",
            "kind": "Thing",
            "metadata": {"name": "t"},
            "spec": {"any": {"thing": 1}},
            "junk": 1,
        },
    )
    got = co.get_cluster_custom_object(group, "v1", "things", "t")
    assert got["spec"] == {"any": {"thing": 1}} and "junk" not in got  # pruned
    ext.delete_custom_resource_definition(f"things.{group}")
    with pytest.raises(ApiException) as exc:
        co.get_cluster_custom_object(group, "v1", "things", "t")
    assert exc.value.status == 404


def test_watch_stream_and_resume(api: Any, ns: str) -> None:
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map(ns).metadata.resource_version

    def writer() -> None:
        with client.ApiClient(api.configuration) as c2:
            core2 = client.CoreV1Api(c2)
            core2.create_namespaced_config_map(
                ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w"), data={"a": "1"})
            )
            core2.patch_namespaced_config_map("w", ns, {"data": {"a": "2"}})
            core2.delete_namespaced_config_map("w", ns)

    w = watch.Watch()
    seen: list[tuple[str, str]] = []
    t = threading.Thread(target=writer)
    t.start()
    for event in w.stream(
        core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=5
    ):
        seen.append((event["type"], (event["object"].data or {}).get("a", "")))
        if event["type"] == "DELETED":
            w.stop()
    t.join()
    assert seen == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]
    # resuming from the ADDED event's resourceVersion replays what came after it
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=1
        )
    )
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    added_rv = events[0]["object"].metadata.resource_version
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map, ns, resource_version=added_rv, timeout_seconds=1
        )
    )
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]


def test_dynamic_client_server_side_apply(api: Any, ns: str) -> None:
    dyn = dynamic.DynamicClient(api, cache_file=f"/tmp/oktalab-kube-test-{uuid.uuid4().hex}.json")
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ssa", "namespace": ns},
        "data": {"k": "v"},
    }
    first = cms.server_side_apply(body=body, field_manager="oktalab", namespace=ns)
    second = cms.server_side_apply(body=body, field_manager="oktalab", namespace=ns)
    assert first.metadata.resourceVersion == second.metadata.resourceVersion  # no-op apply
    assert second.metadata.managedFields[0].manager == "oktalab"


def test_watch_custom_objects(api: Any, ns: str, widget_crd: str) -> None:
    co = client.CustomObjectsApi(api)
    args = ("example.com", "v1", ns, "widgets")
    body = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "ww"},
        "spec": {"size": 1},
    }
    co.create_namespaced_custom_object(*args, body)
    co.patch_namespaced_custom_object_status(*args, "ww", {"status": {"state": "Ready"}})
    events = list(
        watch.Watch().stream(
            co.list_namespaced_custom_object, *args, resource_version="0", timeout_seconds=1
        )
    )
    assert [e["type"] for e in events] == ["ADDED"]
    assert events[0]["object"]["status"] == {"state": "Ready"}
