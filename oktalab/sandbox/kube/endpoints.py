"""Endpoints and EndpointSlices, computed from Services and Pods when read.

A cluster's endpoint controllers keep these objects in step with the Pods a Service selects;
``kubectl describe service`` and ``kubectl get endpoints`` show them. The sandbox has no
controllers running, and Pods arrive both through the API and straight into the store (the
Gloo seeds), so the objects are derived on every read instead of stored: read-only, always
current, never stale after a restart.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .store import ObjectStore

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or not status.get("podIP"):
        return False
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    return ready is None or ready.get("status") == "True"


def _selected(service: Obj, pods: list[Obj]) -> list[Obj]:
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return []
    return [
        p
        for p in pods
        if all(
            ((p.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in selector.items()
        )
        and not (p.get("metadata") or {}).get("deletionTimestamp")
    ]


def _target_port(port: Obj, pods: list[Obj]) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    for pod in pods:  # a named port: look it up in the containers
        for c in (pod.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("name") == target:
                    return int(p.get("containerPort", 0))
    return None


def _ports(service: Obj, pods: list[Obj], *, always_named: bool = False) -> list[Obj]:
    """Ports as the controllers write them; slices always carry ``name`` (kubectl dereferences it)."""
    out = []
    for port in (service.get("spec") or {}).get("ports") or []:
        if not isinstance(port, dict):
            continue
        number = _target_port(port, pods)
        if number is None:
            continue
        entry: Obj = {"port": number, "protocol": port.get("protocol", "TCP")}
        if port.get("name") or always_named:
            entry = {"name": port.get("name", ""), **entry}
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        out.append(entry)
    return out


def _target_ref(pod: Obj) -> Obj:
    meta = pod.get("metadata") or {}
    return {
        "kind": "Pod",
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
    }


def _meta(service: Obj, name: str, rv: int, labels: dict[str, str]) -> Obj:
    smeta = service.get("metadata") or {}
    uid = hashlib.sha256(f"{smeta.get('uid')}/{name}".encode()).hexdigest()
    return {
        "name": name,
        "namespace": smeta.get("namespace", ""),
        "uid": f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}",
        "resourceVersion": str(rv),
        "creationTimestamp": smeta.get("creationTimestamp"),
        "labels": labels,
    }


def endpoints_for(service: Obj, pods: list[Obj], rv: int) -> Obj:
    selected = _selected(service, pods)
    ready = [p for p in selected if _ready(p)]
    labels = dict((service.get("metadata") or {}).get("labels") or {})
    obj: Obj = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": _meta(service, (service.get("metadata") or {}).get("name", ""), rv, labels),
    }
    if ready:
        obj["subsets"] = [
            {
                "addresses": [
                    {
                        "ip": p["status"]["podIP"],
                        "nodeName": (p.get("spec") or {}).get("nodeName", ""),
                        "targetRef": _target_ref(p),
                    }
                    for p in ready
                ],
                "ports": _ports(service, selected),
            }
        ]
    return obj


def slice_for(service: Obj, pods: list[Obj], rv: int) -> Obj:
    selected = _selected(service, pods)
    smeta = service.get("metadata") or {}
    name = smeta.get("name", "")
    suffix = hashlib.sha256(f"{smeta.get('uid')}".encode()).hexdigest()[:5]
    labels = {
        **(smeta.get("labels") or {}),
        SERVICE_NAME_LABEL: name,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    meta = _meta(service, f"{name}-{suffix}", rv, labels)
    meta["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": name,
            "uid": smeta.get("uid", ""),
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta,
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [p["status"]["podIP"]],
                "conditions": {"ready": _ready(p), "serving": _ready(p), "terminating": False},
                "nodeName": (p.get("spec") or {}).get("nodeName", ""),
                "targetRef": _target_ref(p),
            }
            for p in selected
            if (p.get("status") or {}).get("podIP")
        ],
        "ports": _ports(service, selected, always_named=True),
    }


def compute(store: ObjectStore, plural: str, namespace: str | None) -> list[Obj]:
    """Every Endpoints (``plural="endpoints"``) or EndpointSlice object of a namespace (or all)."""
    services, rv = store.list("", "services", namespace)
    pods, _ = store.list("", "pods", namespace)
    by_ns: dict[str, list[Obj]] = {}
    for pod in pods:
        by_ns.setdefault((pod.get("metadata") or {}).get("namespace", ""), []).append(pod)
    build = endpoints_for if plural == "endpoints" else slice_for
    out = []
    for svc in services:
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            continue
        if plural == "endpointslices" and not spec.get("selector"):
            continue  # the slice controller only manages Services with a selector
        ns = (svc.get("metadata") or {}).get("namespace", "")
        out.append(build(svc, by_ns.get(ns, []), rv))
    return out
