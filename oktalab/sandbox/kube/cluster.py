"""What a cluster's controllers do, done at once: bootstrap objects, namespace contents, GC.

A real cluster has kube-system, a ``default/kubernetes`` Service, a Node and a ``default``
ServiceAccount in every namespace, and its garbage collector deletes dependents by
``ownerReferences``. Clients and guides look at these, so the sandbox keeps them, writing
synchronously to the store instead of running controllers.
"""

from __future__ import annotations

from . import builtins
from .resources import BUILTINS
from .store import ObjectStore, StoreAlreadyExists, StoreNotFound, now_rfc3339

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAMESPACES = next(r for r in BUILTINS if r.plural == "namespaces" and not r.group)


def bootstrap(store: ObjectStore) -> None:
    """Create what every cluster starts with (idempotent: a restart finds them in the store)."""
    for ns in DEFAULT_NAMESPACES:
        if store.get("", "namespaces", "", ns) is None:
            obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            _create(store, "", "namespaces", "", ns, builtins.default(_NAMESPACES, obj, None))
            populate_namespace(store, ns)
    _ensure_kubernetes_service(store)
    if not store.list("", "nodes", "")[0]:
        node = builtins.sandbox_node(builtins.NODE_NAME, now_rfc3339())
        _create(store, "", "nodes", "", builtins.NODE_NAME, node)


def _create(
    store: ObjectStore, group: str, plural: str, ns: str, name: str, obj: builtins.Obj
) -> None:
    try:
        store.create(group, plural, ns, name, obj)
    except StoreAlreadyExists:
        pass


def _ensure_kubernetes_service(store: ObjectStore) -> None:
    """``default/kubernetes``, the Service every cluster has for its API server."""
    if store.get("", "services", "default", "kubernetes") is not None:
        return
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.1",
            "clusterIPs": ["10.96.0.1"],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    }
    try:
        store.create("", "services", "default", "kubernetes", svc)
    except StoreAlreadyExists:
        pass


def populate_namespace(store: ObjectStore, ns: str) -> None:
    """What the namespace controllers add: the ``default`` ServiceAccount."""
    if store.get("", "serviceaccounts", ns, "default") is None:
        sa = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": ns},
        }
        try:
            store.create("", "serviceaccounts", ns, "default", sa)
        except StoreAlreadyExists:
            pass


def collect_garbage(store: ObjectStore, uid: str, policy: str) -> None:
    """The garbage collector, done at once: dependents go with their owner, or are orphaned."""
    for group, plural, ns, name, obj in store.dependents(uid):
        if policy == "Orphan":
            meta = obj["metadata"]
            meta["ownerReferences"] = [r for r in meta["ownerReferences"] if r.get("uid") != uid]
            if not meta["ownerReferences"]:
                del meta["ownerReferences"]
            try:
                store.update(group, plural, ns, name, obj)
            except StoreNotFound:
                pass
            continue
        try:
            gone = store.delete(group, plural, ns, name)
        except StoreNotFound:
            continue
        child = (gone.get("metadata") or {}).get("uid")
        if child:
            collect_garbage(store, child, policy)
