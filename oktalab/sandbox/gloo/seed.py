"""The cluster as the guide's "Before you begin" leaves it.

Gloo Mesh Gateway in one cluster, Bookinfo, an HTTP listener with basic routing, the
ext-auth-service running; plus Gloo Edge's gateway-proxy for the Gloo Portal guide. Seeding
creates only what is missing (CRDs are upgraded in place), so a restart on the same database
keeps whatever the user changed.
"""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import yaml

from ..kube.store import ObjectStore, StoreAlreadyExists
from .model import (
    ADMIN,
    CRD_GROUP,
    DEFAULT_GLOO_VERSION,
    ENTERPRISE,
    EXTAUTH,
    GLOO_VERSIONS,
    NETWORKING,
    SANDBOX_CONFIGMAP,
)

Obj = dict[str, Any]

NAMESPACES = (
    "default",
    "gloo-mesh",
    "gloo-mesh-addons",
    "istio-gateways",
    "bookinfo",
    "gloo-system",
)
BOOKINFO_APPS = ("productpage", "details", "reviews", "ratings")
POD_IP = "127.0.0.1"
GATEWAY_NODE_PORT = 32000


def load_crds(gloo_version: str = DEFAULT_GLOO_VERSION) -> list[Obj]:
    """The CRD manifests of one Gloo layout (see ``model.GLOO_VERSIONS``), in file-name order.

    ``crds/*.yaml`` are common; ``crds/<version>/`` holds a layout's own CRDs, which replace
    common ones of the same kind (2.14: AuthConfig in extauth.solo.io). The ExtAuthServer
    schema is the same in both: ``spec.statusOnError`` is already field 7 of the 2.5 proto
    (solo-apis gloo-mesh-v2.5.x ``admin/v2/ext_auth_server.proto``), as in the 2.14.0 CRD.
    """
    if gloo_version not in GLOO_VERSIONS:
        raise ValueError(f"unknown Gloo version {gloo_version!r}; expected one of {GLOO_VERSIONS}")
    root = resources.files(__package__).joinpath("crds")

    def read(folder: Any) -> list[Obj]:
        return [
            yaml.safe_load(e.read_text(encoding="utf-8"))
            for e in sorted(folder.iterdir(), key=lambda e: e.name)
            if e.name.endswith(".yaml")
        ]

    own = read(root.joinpath(gloo_version)) if root.joinpath(gloo_version).is_dir() else []
    kinds = {c["spec"]["names"]["kind"] for c in own}
    out = [c for c in read(root) if c["spec"]["names"]["kind"] not in kinds] + own
    for crd in out:
        if crd["spec"]["names"]["kind"] == "ExtAuthServer":
            crd["metadata"].setdefault("annotations", {})["crd.solo.io/version"] = (
                "2.14.0" if gloo_version == "2.14" else "2.5.0"
            )
    return sorted(out, key=lambda c: c["metadata"]["name"])


#: AuthConfig CRDs by layout; the other layout's is removed when the layout changes.
AUTHCONFIG_CRDS = {"2.5": f"authconfigs.{ENTERPRISE}", "2.14": f"authconfigs.{EXTAUTH}"}


def _crd_status(crd: Obj) -> Obj:
    names = crd["spec"]["names"]
    cond = {"lastTransitionTime": "2024-01-01T00:00:00Z", "status": "True"}
    return {
        "acceptedNames": copy.deepcopy(names),
        "conditions": [
            {
                **cond,
                "type": "NamesAccepted",
                "reason": "NoConflicts",
                "message": "no conflicts found",
            },
            {
                **cond,
                "type": "Established",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
            },
        ],
        "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
    }


def _ensure(store: ObjectStore, group: str, plural: str, namespace: str, obj: Obj) -> None:
    name = obj["metadata"]["name"]
    if store.get(group, plural, namespace, name) is not None:
        return
    try:
        store.create(group, plural, namespace, name, obj)
    except StoreAlreadyExists:
        pass


def _ensure_crd(store: ObjectStore, crd: Obj) -> None:
    name = crd["metadata"]["name"]
    body = copy.deepcopy(crd)
    body["status"] = _crd_status(crd)
    current = store.get(CRD_GROUP, "customresourcedefinitions", "", name)
    if current is None:
        _ensure(store, CRD_GROUP, "customresourcedefinitions", "", body)
    elif current.get("spec") != body["spec"]:
        current["spec"] = body["spec"]
        current["status"] = body["status"]
        current["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
        store.update(CRD_GROUP, "customresourcedefinitions", "", name, current)


def _namespace(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _service(
    ns: str,
    name: str,
    selector: dict[str, str],
    ports: list[Obj],
    *,
    svc_type: str = "ClusterIP",
    cluster_ip: str,
) -> Obj:
    spec: Obj = {
        "type": svc_type,
        "selector": selector,
        "ports": [{"protocol": "TCP", **p} for p in ports],
        "clusterIP": cluster_ip,
        "clusterIPs": [cluster_ip],
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "sessionAffinity": "None",
        "internalTrafficPolicy": "Cluster",
    }
    status: Obj = {"loadBalancer": {}}
    if svc_type == "LoadBalancer":
        spec["externalTrafficPolicy"] = "Cluster"
        status = {"loadBalancer": {"ingress": [{"ip": POD_IP, "ipMode": "VIP"}]}}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": dict(selector)},
        "spec": spec,
        "status": status,
    }


def _pod(
    ns: str, name: str, container: str, labels: dict[str, str], image: str, ports: list[int]
) -> Obj:
    ts = "2024-01-01T00:00:00Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "containers": [
                {
                    "name": container,
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"containerPort": p, "protocol": "TCP"} for p in ports],
                }
            ],
            "nodeName": "sandbox-node",
            "restartPolicy": "Always",
            "serviceAccountName": container,
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": ts}
                for t in (
                    "PodReadyToStartContainers",
                    "Initialized",
                    "Ready",
                    "ContainersReady",
                    "PodScheduled",
                )
            ],
            "containerStatuses": [
                {
                    "name": container,
                    "image": image,
                    "imageID": image,
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": ts}},
                }
            ],
            "hostIP": POD_IP,
            "hostIPs": [{"ip": POD_IP}],
            "podIP": POD_IP,
            "podIPs": [{"ip": POD_IP}],
            "qosClass": "BestEffort",
            "startTime": ts,
        },
    }


def _deployment(ns: str, name: str, labels: dict[str, str], image: str, ports: list[int]) -> Obj:
    ts = "2024-01-01T00:00:00Z"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": dict(labels), "generation": 1},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "ports": [{"containerPort": p, "protocol": "TCP"} for p in ports],
                        }
                    ]
                },
            },
        },
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                    "lastTransitionTime": ts,
                    "lastUpdateTime": ts,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                    "message": f'ReplicaSet "{name}-5d8f7b9c4d" has successfully progressed.',
                    "lastTransitionTime": ts,
                    "lastUpdateTime": ts,
                },
            ],
        },
    }


def _workload(
    store: ObjectStore,
    ns: str,
    app: str,
    labels: dict[str, str],
    image: str,
    svc_ports: list[Obj],
    *,
    pod_suffix: str,
    svc_type: str = "ClusterIP",
    cluster_ip: str,
    deployment: str | None = None,
) -> None:
    container_ports = sorted({int(p.get("targetPort", p["port"])) for p in svc_ports})
    selector = {k: v for k, v in labels.items() if k != "version"}
    svc = _service(ns, app, selector, svc_ports, svc_type=svc_type, cluster_ip=cluster_ip)
    _ensure(store, "", "services", ns, svc)
    deployment = deployment or app
    _ensure(
        store,
        "apps",
        "deployments",
        ns,
        _deployment(ns, deployment, labels, image, container_ports),
    )
    pod = _pod(ns, f"{deployment}-{pod_suffix}", app, labels, image, container_ports)
    _ensure(store, "", "pods", ns, pod)


def _virtual_gateway(cluster: str) -> Obj:
    return {
        "apiVersion": f"{NETWORKING}/v2",
        "kind": "VirtualGateway",
        "metadata": {"name": "north-south-gw", "namespace": "istio-gateways"},
        "spec": {
            "workloads": [
                {"selector": {"labels": {"istio": "ingressgateway"}, "cluster": cluster}}
            ],
            "listeners": [
                {"http": {}, "port": {"number": 80}, "allowedRouteTables": [{"host": "*"}]}
            ],
        },
    }


def _bookinfo_route_table(cluster: str) -> Obj:
    def route(app: str, labels: dict[str, str] | None = None) -> Obj:
        r: Obj = {
            "name": app,
            "matchers": [{"uri": {"prefix": f"/{app}"}}],
            "forwardTo": {
                "destinations": [
                    {
                        "ref": {"name": app, "namespace": "bookinfo", "cluster": cluster},
                        "port": {"number": 9080},
                    }
                ]
            },
        }
        if labels:
            r["labels"] = labels
        return r

    return {
        "apiVersion": f"{NETWORKING}/v2",
        "kind": "RouteTable",
        "metadata": {"name": "bookinfo", "namespace": "bookinfo"},
        "spec": {
            "hosts": ["*"],
            "virtualGateways": [
                {"name": "north-south-gw", "namespace": "istio-gateways", "cluster": cluster}
            ],
            "http": [
                route("productpage", {"oauth": "true"}),
                route("reviews"),
                route("ratings"),
                route("details"),
            ],
        },
    }


def _workspace(cluster: str) -> Obj:
    return {
        "apiVersion": f"{ADMIN}/v2",
        "kind": "Workspace",
        "metadata": {
            "name": "bookinfo",
            "namespace": "gloo-mesh",
            "labels": {"allow_ingress": "true"},
        },
        "spec": {
            "workloadClusters": [
                {
                    "name": cluster,
                    "namespaces": [
                        {"name": n} for n in ("bookinfo", "istio-gateways", "gloo-mesh-addons")
                    ],
                }
            ]
        },
    }


def _publish_gateway_port(store: ObjectStore, port: int) -> None:
    """Point the gateway Services' HTTP nodePorts at the port the sandbox gateway listens on,
    so the guides' ``INGRESS_PORT=$(kubectl ... nodePort)`` finds the real port."""
    for ns, name, port_name in (
        ("gloo-system", "gateway-proxy", "http"),
        ("istio-gateways", "istio-ingressgateway", "http2"),
    ):
        svc = store.get("", "services", ns, name)
        if svc is None:
            continue
        ports = (svc.get("spec") or {}).get("ports") or []
        target = next((p for p in ports if p.get("name") == port_name), None)
        if target is None or target.get("nodePort") == port:
            continue
        target["nodePort"] = port
        store.update("", "services", ns, name, svc)


def _drop_crd(store: ObjectStore, name: str) -> None:
    """Remove a CRD and every object of its kind (as the API server does on CRD deletion)."""
    crd = store.get(CRD_GROUP, "customresourcedefinitions", "", name)
    if crd is None:
        return
    group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
    for obj in store.list(group, plural)[0]:
        m = obj.get("metadata") or {}
        store.delete(group, plural, m.get("namespace", ""), m.get("name", ""))
    store.delete(CRD_GROUP, "customresourcedefinitions", "", name)


def gloo_version_of(store: ObjectStore) -> str | None:
    """The Gloo layout a seeded store presents (None when not seeded yet)."""
    cm = store.get("", "configmaps", *SANDBOX_CONFIGMAP)
    return ((cm or {}).get("data") or {}).get("glooVersion") if cm else None


def seed_cluster(
    store: ObjectStore,
    *,
    cluster_name: str = "cluster1",
    gateway_port: int | None = None,
    gloo_version: str | None = None,
) -> str:
    """Install the Gloo CRDs and the guide's starting objects; idempotent. Returns the layout.

    ``gateway_port`` (optional): the sandbox gateway's listening port, published as the
    ``http`` nodePort of ``gloo-system/gateway-proxy`` and ``istio-gateways/istio-ingressgateway``
    (updated on every call, since the port may change between restarts).
    ``gloo_version``: the Gloo layout (``2.5`` or ``2.14``); None keeps the store's current
    one (``2.5`` for a new store). Changing it swaps the AuthConfig CRD (objects of the
    removed one go with it, as on a real API server).
    """
    version = gloo_version or gloo_version_of(store) or DEFAULT_GLOO_VERSION
    for crd in load_crds(version):
        _ensure_crd(store, crd)
    for other, name in AUTHCONFIG_CRDS.items():
        if other != version:
            _drop_crd(store, name)
    for ns in NAMESPACES:
        _ensure(store, "", "namespaces", "", _namespace(ns))
    _ensure(
        store,
        "",
        "configmaps",
        SANDBOX_CONFIGMAP[0],
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": SANDBOX_CONFIGMAP[1], "namespace": SANDBOX_CONFIGMAP[0]},
            "data": {"clusterName": cluster_name},
        },
    )
    cm = store.get("", "configmaps", *SANDBOX_CONFIGMAP)
    if cm is not None and (cm.get("data") or {}).get("glooVersion") != version:
        cm.setdefault("data", {})["glooVersion"] = version
        store.update("", "configmaps", SANDBOX_CONFIGMAP[0], SANDBOX_CONFIGMAP[1], cm)
    _workload(
        store,
        "gloo-mesh-addons",
        "ext-auth-service",
        {"app": "ext-auth-service"},
        "gcr.io/gloo-mesh/ext-auth-service:0.51.2",
        [
            {"name": "grpc", "port": 8083, "targetPort": 8083},
            {"name": "health", "port": 8082, "targetPort": 8082},
        ],
        pod_suffix="7c9d8f6b5-x2k4p",
        cluster_ip="10.96.20.10",
    )
    _workload(
        store,
        "gloo-mesh",
        "gloo-mesh-portal-server",
        {"app": "gloo-mesh-portal-server"},
        "gcr.io/gloo-mesh/gloo-mesh-portal-server:2.5.0",
        [{"name": "http", "port": 8080, "targetPort": 8080}],
        pod_suffix="6b7f9d4c8-q8w2e",
        cluster_ip="10.96.20.20",
    )
    _workload(
        store,
        "gloo-mesh",
        "portal-frontend",
        {"app": "portal-frontend"},
        "gcr.io/solo-public/docs/portal-frontend:latest",
        [{"name": "http", "port": 4000, "targetPort": 4000}],
        pod_suffix="5c8d7b6f9-m3n7k",
        cluster_ip="10.96.20.21",
    )
    for i, app in enumerate(BOOKINFO_APPS):
        _workload(
            store,
            "bookinfo",
            app,
            {"app": app, "version": "v1"},
            f"docker.io/istio/examples-bookinfo-{app}-v1:1.18.0",
            [{"name": "http", "port": 9080, "targetPort": 9080}],
            pod_suffix=f"6b7f{i}c9d4-abc{i}d",
            deployment=f"{app}-v1",
            cluster_ip=f"10.96.30.{10 + i}",
        )
    _workload(
        store,
        "istio-gateways",
        "istio-ingressgateway",
        {"app": "istio-ingressgateway", "istio": "ingressgateway"},
        "docker.io/istio/proxyv2:1.18.3",
        [
            {"name": "http2", "port": 80, "targetPort": 8080, "nodePort": 31080},
            {"name": "https", "port": 443, "targetPort": 8443, "nodePort": 31443},
        ],
        pod_suffix="5d8c7b9f6-q7w8e",
        svc_type="LoadBalancer",
        cluster_ip="10.96.40.10",
    )
    _workload(
        store,
        "gloo-system",
        "gateway-proxy",
        {"gloo": "gateway-proxy", "gateway-proxy-id": "gateway-proxy"},
        "quay.io/solo-io/gloo-ee-envoy-wrapper:1.14.0",
        [
            {"name": "http", "port": 80, "targetPort": 8080, "nodePort": GATEWAY_NODE_PORT},
            {"name": "https", "port": 443, "targetPort": 8443, "nodePort": 32443},
        ],
        pod_suffix="6f7d9c8b5-m3n4b",
        svc_type="LoadBalancer",
        cluster_ip="10.96.50.10",
    )
    _ensure(store, NETWORKING, "virtualgateways", "istio-gateways", _virtual_gateway(cluster_name))
    _ensure(store, NETWORKING, "routetables", "bookinfo", _bookinfo_route_table(cluster_name))
    _ensure(store, ADMIN, "workspaces", "gloo-mesh", _workspace(cluster_name))
    if gateway_port is not None:
        _publish_gateway_port(store, gateway_port)
    return version
