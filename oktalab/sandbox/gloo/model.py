"""Read-side model of the Gloo objects shared by the controllers and the gateway.

Both need the same answers (which routes does an ExtAuthPolicy select, which policy owns a
route, which Service does a reference name), so these rules live in one place and the gateway
enforces exactly what the statuses report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..kube.store import ObjectStore

Obj = dict[str, Any]

ADMIN = "admin.gloo.solo.io"
NETWORKING = "networking.gloo.solo.io"
SECURITY = "security.policy.gloo.solo.io"
ENTERPRISE = "enterprise.gloo.solo.io"
#: The AuthConfig group of gloo-platform-crds 2.14.0 (crd/gloo-mesh-extauth-solo-io-v1-crds.yaml).
EXTAUTH = "extauth.solo.io"
PORTAL = "portal.gloo.solo.io"
APIM = "apimanagement.gloo.solo.io"
CRD_GROUP = "apiextensions.k8s.io"

#: (group, plural) of every kind the controllers and the gateway read.
WATCHED: tuple[tuple[str, str], ...] = (
    ("", "services"),
    ("", "secrets"),
    ("", "pods"),
    (ADMIN, "extauthservers"),
    (ADMIN, "workspaces"),
    (ADMIN, "workspacesettings"),
    (SECURITY, "extauthpolicies"),
    (NETWORKING, "routetables"),
    (NETWORKING, "virtualgateways"),
    (ENTERPRISE, "authconfigs"),
    (EXTAUTH, "authconfigs"),
    (PORTAL, "portals"),
    (PORTAL, "groups"),
    (PORTAL, "environments"),
    (PORTAL, "apiproducts"),
    (PORTAL, "apidocs"),
    (APIM, "portals"),
    (APIM, "portalgroups"),
)
WATCHED_GROUPS = frozenset(g for g, _ in WATCHED)

#: Where Gloo's ext-auth-service runs; generated AuthConfig statuses are keyed by it.
EXT_AUTH_NAMESPACE = "gloo-mesh-addons"
#: ExtAuthPolicy.config.server / ExtAuthServer.destinationServer default (GMG 2.5 proto comment).
DEFAULT_EXT_AUTH_SERVICE = ("gloo-mesh", "ext-auth-service")
#: The sandbox's record of the registered cluster name and Gloo layout (written by seed_cluster).
SANDBOX_CONFIGMAP = ("gloo-mesh", "oktalab-sandbox")

#: Gloo releases the sandbox can present (``oktalab sandbox start --gloo-version``).
#: 2.5: the layout the guide was written for (solo-apis gloo-mesh-v2.5.x): AuthConfig in
#: enterprise.gloo.solo.io, generated with an owner reference to its ExtAuthPolicy.
#: 2.14: gloo-platform-crds 2.14.0: AuthConfig in extauth.solo.io; the generated AuthConfig
#: carries only Gloo's parent labels (no owner reference) and a name derived from the policy.
#: ExtAuthServer (statusOnError included) is the same in both.
GLOO_VERSIONS = ("2.5", "2.14")
DEFAULT_GLOO_VERSION = "2.5"


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def ns_of(obj: Obj) -> str:
    return meta(obj).get("namespace", "")


def name_of(obj: Obj) -> str:
    return meta(obj).get("name", "")


def key_of(obj: Obj) -> str:
    return f"{ns_of(obj)}/{name_of(obj)}"


def order_key(obj: Obj) -> tuple[str, int, str, str]:
    """Tie-break for conflicting objects: oldest first; within the same second (timestamps
    have second resolution) the one already holding the claim keeps it, then by name."""
    status = obj.get("status") or {}
    holding = status.get("state") == "Succeeded" or approval(obj) == "ACCEPTED"
    return (meta(obj).get("creationTimestamp", ""), 0 if holding else 1, ns_of(obj), name_of(obj))


def approval(obj: Obj | None) -> str:
    if not obj:
        return ""
    return (((obj.get("status") or {}).get("common") or {}).get("State") or {}).get("approval", "")


def labels_match(selector: dict[str, str] | None, labels: dict[str, str] | None) -> bool:
    """True when every selector label is present with the same value (empty selector matches)."""
    labels = labels or {}
    return all(labels.get(k) == v for k, v in (selector or {}).items())


@dataclass
class Snapshot:
    """Every watched object, read once so a reconcile or a request sees one consistent state."""

    objects: dict[tuple[str, str], list[Obj]] = field(default_factory=dict)
    cluster_name: str | None = None
    gloo_version: str = DEFAULT_GLOO_VERSION

    @property
    def authconfig_group(self) -> str:
        return authconfig_group(self.gloo_version)

    @classmethod
    def load(cls, store: ObjectStore) -> Snapshot:
        snap = cls()
        for group, plural in WATCHED:
            snap.objects[(group, plural)] = store.list(group, plural)[0]
        cm = store.get("", "configmaps", *SANDBOX_CONFIGMAP)
        if cm:
            snap.cluster_name = (cm.get("data") or {}).get("clusterName")
            snap.gloo_version = (cm.get("data") or {}).get("glooVersion") or DEFAULT_GLOO_VERSION
        return snap

    def all(self, group: str, plural: str) -> list[Obj]:
        return self.objects.get((group, plural), [])

    def get(self, group: str, plural: str, namespace: str, name: str) -> Obj | None:
        for obj in self.all(group, plural):
            if ns_of(obj) == namespace and name_of(obj) == name:
                return obj
        return None

    def cluster_known(self, cluster: str | None) -> bool:
        return not cluster or self.cluster_name is None or cluster == self.cluster_name


# -- routes --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RouteRef:
    """One ``spec.http[]`` entry of one RouteTable."""

    table_ns: str
    table_name: str
    index: int

    def describe(self, route: Obj) -> str:
        label = route.get("name") or f"#{self.index}"
        return f"route {label} in RouteTable {self.table_ns}/{self.table_name}"


def iter_routes(snap: Snapshot) -> Iterator[tuple[RouteRef, Obj, Obj]]:
    """(ref, route table, http route) for every HTTP route of every RouteTable."""
    for rt in snap.all(NETWORKING, "routetables"):
        for i, route in enumerate((rt.get("spec") or {}).get("http") or []):
            yield RouteRef(ns_of(rt), name_of(rt), i), rt, route


def route_destinations(rt: Obj, route: Obj) -> list[tuple[str, str]]:
    """(namespace, name) of the Services a route forwards to."""
    out = []
    for dest in (route.get("forwardTo") or {}).get("destinations") or []:
        ref = dest.get("ref") or {}
        if ref.get("name") and dest.get("kind", "SERVICE") == "SERVICE":
            out.append((ref.get("namespace") or ns_of(rt), ref["name"]))
    return out


def destination_selected(sel: Obj, svc: Obj, default_ns: str) -> bool:
    """DestinationSelector (kind SERVICE only) against a Service."""
    if sel.get("kind", "SERVICE") != "SERVICE":
        return False
    s = sel.get("selector") or {}
    if s.get("name") and s["name"] != name_of(svc):
        return False
    if s.get("namespace") and s["namespace"] != ns_of(svc):
        return False
    return labels_match(s.get("labels"), meta(svc).get("labels"))


def policy_selects_route(policy: Obj, rt: Obj, route: Obj, snap: Snapshot) -> bool:
    """ExtAuthPolicy route selection: route labels (or the table's labels), or destinations."""
    spec = policy.get("spec") or {}
    for selector in spec.get("applyToRoutes") or []:
        if "route" in selector:
            rs = selector.get("route") or {}
            if rs.get("namespace") and rs["namespace"] != ns_of(rt):
                continue
            if rs.get("cluster") and not snap.cluster_known(rs["cluster"]):
                continue
            want = rs.get("labels") or {}
            if labels_match(want, route.get("labels")) or labels_match(
                want, meta(rt).get("labels")
            ):
                return True
        elif "withDestinations" in selector:
            dsel = selector.get("withDestinations") or {}
            for ns, name in route_destinations(rt, route):
                svc = snap.get("", "services", ns, name)
                if svc and destination_selected(dsel, svc, ns_of(policy)):
                    return True
    return False


def policy_selected_services(policy: Obj, snap: Snapshot) -> list[Obj]:
    """Services selected by applyToDestinations (all Services when both selectors are omitted)."""
    spec = policy.get("spec") or {}
    if "applyToRoutes" not in spec and "applyToDestinations" not in spec:
        return list(snap.all("", "services"))
    out = []
    for svc in snap.all("", "services"):
        if any(
            destination_selected(d, svc, ns_of(policy))
            for d in spec.get("applyToDestinations") or []
        ):
            out.append(svc)
    return out


def policy_applies_to_route(policy: Obj, rt: Obj, route: Obj, snap: Snapshot) -> bool:
    """Route selected directly, or forwarding to a destination the policy selects."""
    if policy_selects_route(policy, rt, route, snap):
        return True
    spec = policy.get("spec") or {}
    if "applyToDestinations" not in spec:
        return False
    chosen = {(ns_of(s), name_of(s)) for s in policy_selected_services(policy, snap)}
    return any(d in chosen for d in route_destinations(rt, route))


def policy_server_ref(policy: Obj) -> tuple[str, str, str] | None:
    """(namespace, name, cluster) of the ExtAuthServer a policy names, or None when omitted."""
    server = ((policy.get("spec") or {}).get("config") or {}).get("server")
    if not server or not server.get("name"):
        return None
    return server.get("namespace") or ns_of(policy), server["name"], server.get("cluster", "")


def server_service_ref(server: Obj) -> tuple[str, str, Obj]:
    """(namespace, name, destinationServer) of the Service behind an ExtAuthServer."""
    dest = (server.get("spec") or {}).get("destinationServer") or {}
    ref = dest.get("ref")
    if not ref:
        return DEFAULT_EXT_AUTH_SERVICE[0], DEFAULT_EXT_AUTH_SERVICE[1], dest
    return ref.get("namespace") or ns_of(server), ref.get("name", ""), dest


def authconfig_group(gloo_version: str) -> str:
    return EXTAUTH if gloo_version == "2.14" else ENTERPRISE


def generated_authconfig_name(
    policy: Obj, gloo_version: str = DEFAULT_GLOO_VERSION
) -> tuple[str, str]:
    """Where the AuthConfig translated from an ExtAuthPolicy lives: the policy's namespace
    (so the guide's ``kubectl get authconfig -n <ns>`` finds it); named after the policy in
    2.5, ``<policy>-<namespace>-extauth`` in 2.14 (clients must match labels, not names)."""
    if gloo_version == "2.14":
        return ns_of(policy), f"{name_of(policy)}-{ns_of(policy)}-extauth"[:63].rstrip("-")
    return ns_of(policy), name_of(policy)


def authconfig_state(ac: Obj | None) -> tuple[str, str]:
    """(state, reason) reported by the ext-auth-service, ("", "") when not reported yet."""
    if not ac:
        return "", ""
    statuses = ((ac.get("status") or {}).get("statuses")) or {}
    for st in statuses.values():
        if isinstance(st, dict):
            return str(st.get("state", "")), str(st.get("reason", ""))
    return "", ""
