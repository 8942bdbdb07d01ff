"""The ``scale`` subresource: an ``autoscaling/v1`` Scale view of a replica count.

``kubectl scale`` finds the subresource in discovery, then GETs and PATCHes the Scale; the
write lands on the object's replicas path (``spec.replicas`` for Deployments, the CRD's
``specReplicasPath`` for custom resources).
"""

from __future__ import annotations

from typing import Any

from .resources import Resource

Obj = dict[str, Any]
SCALE = Resource("autoscaling", "scales", "scale", "Scale", True, ["v1"], "v1")


def view(res: Resource, obj: Obj) -> Obj:
    """The ``autoscaling/v1`` Scale view of an object (``kubectl scale`` reads and patches it)."""
    assert res.scale is not None
    spec_path, status_path, selector_path = res.scale
    meta = obj.get("metadata") or {}
    if res.group == "apps" and res.plural == "deployments":
        labels = (((obj.get("spec") or {}).get("selector")) or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    else:
        found = _get_path(obj, selector_path) if selector_path else None
        selector = found if isinstance(found, str) else ""
    status: Obj = {"replicas": _get_path(obj, status_path) or 0}
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": _get_path(obj, spec_path) or 0},
        "status": status,
    }


def set_replicas(res: Resource, obj: Obj, replicas: int) -> None:
    assert res.scale is not None
    _set_path(obj, res.scale[0], replicas)


def _get_path(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _set_path(obj: Obj, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        obj = obj.setdefault(part, {})
    obj[parts[-1]] = value
