"""Status controllers for the Gloo kinds, plus the ExtAuthPolicy -> AuthConfig translation.

One level-triggered reconcile recomputes every status from a snapshot of the store and writes
only what changed, so our own status writes (which fire the store listener again) settle
after one extra, write-free pass. On an event loop the reconcile is coalesced with
``call_soon_threadsafe``; without a running loop (unit tests, scripts) it runs inline.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..kube.store import ObjectStore, StoreAlreadyExists, StoreConflict, StoreNotFound, WatchEvent
from . import access, apim
from .apps import PETSTORE_OPENAPI
from .extauth import validate_authconfig_spec
from .model import (
    ADMIN,
    APIM,
    ENTERPRISE,
    EXT_AUTH_NAMESPACE,
    NETWORKING,
    PORTAL,
    SECURITY,
    WATCHED,
    Snapshot,
    authconfig_group,
    generated_authconfig_name,
    iter_routes,
    labels_match,
    meta,
    name_of,
    ns_of,
    order_key,
    policy_selected_services,
    policy_selects_route,
    policy_server_ref,
    server_service_ref,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WATCHED_KEYS = frozenset(WATCHED) | {("", "configmaps")}
REPORTER = "ext-auth-service"
GVK_EXT_AUTH_POLICY = "security.policy.gloo.solo.io/v2, Kind=ExtAuthPolicy"
PARENT_LABELS = "gloo.solo.io/parent_"


def gmg_status(obj: Obj, approval: str, message: str = "", **counters: Any) -> Obj:
    state: Obj = {"approval": approval, "observedGeneration": int(meta(obj).get("generation", 1))}
    if message:
        state["message"] = message
    return {"common": {"State": state}, **counters}


def portal_state(obj: Obj, state: str, reason: str = "", **extra: Any) -> Obj:
    out: Obj = {"observedGeneration": int(meta(obj).get("generation", 1)), "state": state}
    if reason:
        out["reason"] = reason
    out.update(extra)
    return out


def _port_ok(svc: Obj, port: Obj | None) -> str | None:
    """None when the Service exposes the selected port, else what is missing."""
    ports = (svc.get("spec") or {}).get("ports") or []
    port = port or {}
    if port.get("name"):
        if not any(p.get("name") == port["name"] for p in ports):
            return f"port named {port['name']}"
    elif port.get("number") is not None:
        if not any(p.get("port") == port["number"] for p in ports):
            return f"port {port['number']}"
    elif len(ports) != 1:
        return "a port selector (the Service has several ports)" if ports else "a port"
    return None


def apidoc_status(doc: Obj, snap: Snapshot) -> tuple[str, str, Obj]:
    """(state, reason, parsed fields) for an APIDoc, as the portal controller reports them."""
    content = (((doc.get("spec") or {}).get("openApi") or {}).get("content")) or {}
    try:
        parsed = load_openapi(content, ns_of(doc), snap)
    except ValueError as err:
        return "Failed", str(err), {}
    if parsed is None:
        return "Invalid", "spec.openApi.content needs fetchUrl, inlineString or configMap", {}
    info = parsed.get("info") or {}
    ops = []
    for path, verbs in (parsed.get("paths") or {}).items():
        for verb, op in (verbs or {}).items():
            if verb.lower() in (
                "get",
                "put",
                "post",
                "delete",
                "patch",
                "head",
                "options",
            ) and isinstance(op, dict):
                ops.append(
                    {
                        "operationId": str(op.get("operationId") or f"{verb}{path}"),
                        "path": str(path),
                        "summary": str(op.get("summary") or ""),
                        "verb": verb.upper(),
                    }
                )
    extra: Obj = {
        "description": str(info.get("description") or ""),
        "displayName": str(info.get("title") or name_of(doc)),
        "version": str(info.get("version") or ""),
        "openApi": {"operations": ops},
    }
    return "Succeeded", "", extra


def load_openapi(content: Obj, namespace: str, snap: Snapshot) -> Obj | None:
    """The OpenAPI document of an APIDoc; raises ValueError with the fetch/parse error."""
    text: str | None = None
    if content.get("inlineString"):
        text = str(content["inlineString"])
    elif content.get("configMap"):
        ref = content["configMap"] or {}
        cm = snap.get("", "configmaps", ref.get("namespace") or namespace, ref.get("name", ""))
        if cm is None:
            raise ValueError(
                f"ConfigMap {ref.get('namespace') or namespace}/{ref.get('name', '')} not found"
            )
        data = cm.get("data") or {}
        key = ref.get("key") or next(iter(data), "")
        if key not in data:
            raise ValueError(f"key {key} not found in ConfigMap {ns_of(cm)}/{name_of(cm)}")
        text = str(data[key])
    elif content.get("fetchUrl"):
        url = urlsplit(str(content["fetchUrl"]))
        host = (url.hostname or "").split(".")
        svc_ns = host[1] if len(host) > 1 else namespace
        if (
            host
            and host[0] == "petstore"
            and snap.get("", "services", svc_ns, "petstore") is not None
        ):
            return PETSTORE_OPENAPI
        raise ValueError(f"failed to fetch {content['fetchUrl']}: no such host in the sandbox")
    if text is None:
        return None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"failed to parse the OpenAPI document: {err}") from err
    if not isinstance(doc, dict):
        raise ValueError("failed to parse the OpenAPI document: not an object")
    return doc


def _parent_policy(ac: Obj) -> tuple[str, str] | None:
    """(namespace, name) of the ExtAuthPolicy named by Gloo's parent labels, if any."""
    labels = meta(ac).get("labels") or {}
    if labels.get(f"{PARENT_LABELS}kind") != "ExtAuthPolicy":
        return None
    return labels.get(f"{PARENT_LABELS}namespace", ""), labels.get(f"{PARENT_LABELS}name", "")


class GlooControllers:
    """Keeps Gloo statuses and generated AuthConfigs in step with the store."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._scheduled = False
        self._running = False
        self._dirty = False
        self._started = False

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._started = True
        self.store.add_listener(self._on_event)
        self._run_inline()

    def stop(self) -> None:
        self._started = False
        self.store.remove_listener(self._on_event)

    def _on_event(self, event: WatchEvent) -> None:
        if not self._started or (event.group, event.plural) not in WATCHED_KEYS:
            return
        if self._loop is None or self._loop.is_closed():
            self._run_inline()
            return
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._run_scheduled)
        except RuntimeError:  # the loop closed under us: nothing left to keep in step
            with self._lock:
                self._scheduled = False

    def _run_scheduled(self) -> None:
        with self._lock:
            self._scheduled = False
        self._run_inline()

    def _run_inline(self) -> None:
        with self._lock:
            if self._running:
                self._dirty = True
                return
            self._running = True
        try:
            for _ in range(20):
                self._dirty = False
                try:
                    self.reconcile()
                except Exception:  # a controller must survive any object it does not expect
                    log.exception("gloo reconcile failed")
                if not self._dirty:
                    break
        finally:
            with self._lock:
                self._running = False

    # -- writes -----------------------------------------------------------------------------
    def _set_status(self, group: str, plural: str, obj: Obj, status: Obj) -> None:
        if obj.get("status") == status:
            return
        new = copy.deepcopy(obj)
        new["status"] = status
        try:
            self.store.update(
                group,
                plural,
                ns_of(obj),
                name_of(obj),
                new,
                expect_rv=meta(obj).get("resourceVersion"),
            )
        except (StoreConflict, StoreNotFound):
            self._dirty = True

    # -- reconcile --------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Recompute everything once from a fresh snapshot."""
        snap = Snapshot.load(self.store)
        policy_states = self._reconcile_policies(snap)
        self._reconcile_servers(snap)
        self._reconcile_routing(snap, policy_states)
        self._reconcile_workspaces(snap)
        self._reconcile_authconfigs(snap)
        self._reconcile_portal(snap)
        self._reconcile_apim(snap)

    def _server_check(self, policy: Obj, snap: Snapshot) -> str | None:
        ref = policy_server_ref(policy)
        if ref is None:
            svc = snap.get("", "services", "gloo-mesh", "ext-auth-service")
            return (
                None
                if svc
                else "ExtAuthServer not set and Service gloo-mesh/ext-auth-service not found"
            )
        ns, name, cluster = ref
        if not snap.cluster_known(cluster):
            return f"ExtAuthServer {ns}/{name} refers to unknown cluster {cluster}"
        if snap.get(ADMIN, "extauthservers", ns, name) is None:
            return f"ExtAuthServer {ns}/{name} not found"
        return None

    def _reconcile_policies(self, snap: Snapshot) -> dict[tuple[str, str], str]:
        policies = sorted(snap.all(SECURITY, "extauthpolicies"), key=order_key)
        routes = list(iter_routes(snap))
        owners: dict[Any, Obj] = {}
        states: dict[tuple[str, str], str] = {}
        for policy in policies:
            selected = [
                (ref, rt, r) for ref, rt, r in routes if policy_selects_route(policy, rt, r, snap)
            ]
            spec = policy.get("spec") or {}
            ports = 0
            if "applyToDestinations" in spec or "applyToRoutes" not in spec:
                for svc in policy_selected_services(policy, snap):
                    ports += len((svc.get("spec") or {}).get("ports") or [])
            counters = {"numSelectedDestinationPorts": ports, "numSelectedRoutes": len(selected)}
            problem = self._server_check(policy, snap)
            if problem:
                approval, message = "INVALID", problem
            else:
                clash = next(((ref, r) for ref, _rt, r in selected if ref in owners), None)
                if clash:
                    ref, route = clash
                    earlier = owners[ref]
                    approval = "FAILED"
                    message = (
                        f"{ref.describe(route)} is already selected by ExtAuthPolicy "
                        f"{ns_of(earlier)}/{name_of(earlier)}; only one ExtAuthPolicy may apply to a route"
                    )
                else:
                    approval, message = "ACCEPTED", ""
                    for ref, _rt, _r in selected:
                        owners[ref] = policy
            states[(ns_of(policy), name_of(policy))] = approval
            self._set_status(
                SECURITY,
                "extauthpolicies",
                policy,
                gmg_status(policy, approval, message, **counters),
            )
        return states

    def _reconcile_servers(self, snap: Snapshot) -> None:
        policies = snap.all(SECURITY, "extauthpolicies")
        for server in snap.all(ADMIN, "extauthservers"):
            svc_ns, svc_name, dest = server_service_ref(server)
            ref = dest.get("ref") or {}
            kind = dest.get("kind", "SERVICE")
            message = ""
            if dest.get("awsLambda"):
                message = "AWS Lambda ext auth servers are not available in this cluster"
            elif kind != "SERVICE":
                message = f"destination kind {kind} {svc_ns}/{svc_name} not found"
            elif not snap.cluster_known(ref.get("cluster")):
                message = f"destination server {svc_ns}/{svc_name} refers to unknown cluster {ref.get('cluster')}"
            else:
                svc = snap.get("", "services", svc_ns, svc_name)
                if svc is None:
                    message = f"destination server Service {svc_ns}/{svc_name} not found"
                else:
                    missing = _port_ok(svc, dest.get("port"))
                    if missing:
                        message = f"destination server Service {svc_ns}/{svc_name} has no {missing}"
            applied = 0
            for policy in policies:
                pref = policy_server_ref(policy)
                if pref and (pref[0], pref[1]) == (ns_of(server), name_of(server)):
                    applied += 1
            status = gmg_status(
                server,
                "INVALID" if message else "ACCEPTED",
                message,
                numAppliedPolicies=applied,
                numSelectedBackingServices=0 if message else 1,
            )
            self._set_status(ADMIN, "extauthservers", server, status)

    def _reconcile_routing(self, snap: Snapshot, policy_states: dict[tuple[str, str], str]) -> None:
        tables = snap.all(NETWORKING, "routetables")
        gateways = snap.all(NETWORKING, "virtualgateways")
        policies = [
            p
            for p in snap.all(SECURITY, "extauthpolicies")
            if policy_states.get((ns_of(p), name_of(p))) == "ACCEPTED"
        ]
        workspace = self._workspace_for_namespace(snap)
        parents: dict[tuple[str, str], int] = {}
        for rt in tables:
            for route in (rt.get("spec") or {}).get("http") or []:
                for sel in (route.get("delegate") or {}).get("routeTables") or []:
                    for child in tables:
                        if child is rt:
                            continue
                        if sel.get("name") and sel["name"] != name_of(child):
                            continue
                        if (
                            sel.get("namespace") or (None if sel.get("labels") else ns_of(rt))
                        ) not in (
                            None,
                            ns_of(child),
                        ):
                            continue
                        if labels_match(sel.get("labels"), meta(child).get("labels")):
                            key = (ns_of(child), name_of(child))
                            parents[key] = parents.get(key, 0) + 1
        attached: dict[tuple[str, str], int] = {}
        for rt in tables:
            allowed = 0
            for ref in (rt.get("spec") or {}).get("virtualGateways") or []:
                key = (ref.get("namespace") or ns_of(rt), ref.get("name", ""))
                if any((ns_of(g), name_of(g)) == key for g in gateways) and snap.cluster_known(
                    ref.get("cluster")
                ):
                    allowed += 1
                    attached[key] = attached.get(key, 0) + 1
            applied = 0
            for route in (rt.get("spec") or {}).get("http") or []:
                if any(policy_selects_route(p, rt, route, snap) for p in policies):
                    applied += 1
            counters: Obj = {
                "numAllowedVirtualGateways": allowed,
                "numParentRouteTables": parents.get((ns_of(rt), name_of(rt)), 0),
                "ownedByWorkspace": workspace.get(ns_of(rt), ""),
            }
            if applied:
                counters["numAppliedRoutePolicies"] = {GVK_EXT_AUTH_POLICY: applied}
            self._set_status(
                NETWORKING, "routetables", rt, gmg_status(rt, "ACCEPTED", "", **counters)
            )
        pods = snap.all("", "pods")
        for gw in gateways:
            selected = 0
            for wl in (gw.get("spec") or {}).get("workloads") or []:
                sel = wl.get("selector") or {}
                for pod in pods:
                    if sel.get("namespace") and sel["namespace"] != ns_of(pod):
                        continue
                    if sel.get("name") and sel["name"] != name_of(pod):
                        continue
                    if labels_match(sel.get("labels"), meta(pod).get("labels")):
                        selected += 1
            status = gmg_status(
                gw,
                "ACCEPTED",
                "",
                externalServicesCount=0,
                routeTablesCount=attached.get((ns_of(gw), name_of(gw)), 0),
                selectedWorkloadsCount=selected,
            )
            self._set_status(NETWORKING, "virtualgateways", gw, status)

    @staticmethod
    def _workspace_for_namespace(snap: Snapshot) -> dict[str, str]:
        out: dict[str, str] = {}
        for ws in sorted(snap.all(ADMIN, "workspaces"), key=order_key):
            for cluster in (ws.get("spec") or {}).get("workloadClusters") or []:
                for nsel in cluster.get("namespaces") or []:
                    if nsel.get("name") and nsel["name"] != "*":
                        out.setdefault(nsel["name"], name_of(ws))
        return out

    def _reconcile_workspaces(self, snap: Snapshot) -> None:
        for ws in snap.all(ADMIN, "workspaces"):
            clusters = (ws.get("spec") or {}).get("workloadClusters") or []
            namespaces = sum(len(c.get("namespaces") or []) for c in clusters)
            settings = next(
                (
                    s
                    for s in snap.all(ADMIN, "workspacesettings")
                    if ns_of(s) and name_of(s) == name_of(ws)
                ),
                None,
            )
            extra: Obj = {"numSelectedClusters": len(clusters), "numSelectedNamespaces": namespaces}
            if settings:
                extra["workspaceSettings"] = {
                    "name": name_of(settings),
                    "namespace": ns_of(settings),
                }
            self._set_status(ADMIN, "workspaces", ws, gmg_status(ws, "ACCEPTED", "", **extra))
        for wss in snap.all(ADMIN, "workspacesettings"):
            ws_match = next(
                (w for w in snap.all(ADMIN, "workspaces") if name_of(w) == name_of(wss)), None
            )
            extra = {"numFederatedServices": 0, "numSelectedEastWestGateways": 0}
            if ws_match:
                extra["workspace"] = {"name": name_of(ws_match), "namespace": ns_of(ws_match)}
            self._set_status(
                ADMIN, "workspacesettings", wss, gmg_status(wss, "ACCEPTED", "", **extra)
            )

    # -- AuthConfigs ------------------------------------------------------------------------
    def _reconcile_authconfigs(self, snap: Snapshot) -> None:
        group, version = snap.authconfig_group, snap.gloo_version
        wanted: dict[tuple[str, str], Obj] = {}
        for policy in snap.all(SECURITY, "extauthpolicies"):
            glooauth = ((policy.get("spec") or {}).get("config") or {}).get("glooAuth")
            if glooauth is None:
                continue
            wanted[generated_authconfig_name(policy, version)] = policy
        existing = {(ns_of(a), name_of(a)): a for a in snap.all(group, "authconfigs")}
        policy_uids = {meta(p).get("uid") for p in wanted.values()}
        policy_keys = {(ns_of(p), name_of(p)) for p in wanted.values()}
        # garbage-collect AuthConfigs whose policy is gone or no longer uses glooAuth
        for key, ac in list(existing.items()):
            parent = _parent_policy(ac)
            owned = [
                o
                for o in meta(ac).get("ownerReferences") or []
                if o.get("kind") == "ExtAuthPolicy" and o.get("controller")
            ]
            gone = (owned and owned[0].get("uid") not in policy_uids) or (
                not owned and parent is not None and parent not in policy_keys
            )
            if gone:
                del existing[key]
                try:
                    self.store.delete(group, "authconfigs", *key)
                except StoreNotFound:
                    pass
        for key, policy in wanted.items():
            spec = copy.deepcopy(policy["spec"]["config"]["glooAuth"])
            ac = existing.get(key)
            reporter_ns = self._reporter_namespace(policy, snap)
            status = self._authconfig_status(spec, reporter_ns)
            if ac is None:
                body = self._generated_authconfig(policy, spec, status, version)
                try:
                    self.store.create(group, "authconfigs", key[0], key[1], body)
                except StoreAlreadyExists:
                    self._dirty = True
                continue
            owners = meta(ac).get("ownerReferences") or []
            ours = any(o.get("uid") == meta(policy).get("uid") for o in owners) or (
                not owners and _parent_policy(ac) == (ns_of(policy), name_of(policy))
            )
            if not ours:
                continue  # a user's own AuthConfig with the same name: leave it alone
            if ac.get("spec") != spec or ac.get("status") != status:
                new = copy.deepcopy(ac)
                if new.get("spec") != spec:
                    new["spec"] = spec
                    new["metadata"]["generation"] = int(meta(ac).get("generation", 1)) + 1
                new["status"] = status
                try:
                    self.store.update(
                        group,
                        "authconfigs",
                        *key,
                        new,
                        expect_rv=meta(ac).get("resourceVersion"),
                    )
                except (StoreConflict, StoreNotFound):
                    self._dirty = True
        # AuthConfigs written by users directly are validated too
        for key, ac in existing.items():
            if key in wanted:
                continue
            self._set_status(
                group,
                "authconfigs",
                ac,
                self._authconfig_status(ac.get("spec") or {}, EXT_AUTH_NAMESPACE),
            )

    @staticmethod
    def _reporter_namespace(policy: Obj, snap: Snapshot) -> str:
        ref = policy_server_ref(policy)
        if ref:
            server = snap.get(ADMIN, "extauthservers", ref[0], ref[1])
            if server:
                return server_service_ref(server)[0] or EXT_AUTH_NAMESPACE
        return EXT_AUTH_NAMESPACE

    @staticmethod
    def _authconfig_status(spec: Obj, reporter_ns: str) -> Obj:
        reason = validate_authconfig_spec(spec)
        entry: Obj = {"reportedBy": REPORTER, "state": "Rejected" if reason else "Accepted"}
        if reason:
            entry["reason"] = reason
        return {"statuses": {reporter_ns: entry}}

    @staticmethod
    def _generated_authconfig(policy: Obj, spec: Obj, status: Obj, version: str) -> Obj:
        pm = meta(policy)
        labels = {
            "reconciler.mesh.gloo.solo.io/name": "translator",
            f"{PARENT_LABELS}group": SECURITY,
            f"{PARENT_LABELS}kind": "ExtAuthPolicy",
            f"{PARENT_LABELS}name": pm.get("name", ""),
            f"{PARENT_LABELS}namespace": pm.get("namespace", ""),
            f"{PARENT_LABELS}version": "v2",
        }
        if version == "2.14":
            return {
                "apiVersion": f"{authconfig_group(version)}/v1",
                "kind": "AuthConfig",
                "metadata": {"labels": labels},
                "spec": spec,
                "status": status,
            }
        return {
            "apiVersion": f"{ENTERPRISE}/v1",
            "kind": "AuthConfig",
            "metadata": {
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": f"{SECURITY}/v2",
                        "kind": "ExtAuthPolicy",
                        "name": pm.get("name", ""),
                        "uid": pm.get("uid", ""),
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
            "status": status,
        }

    # -- Gloo Platform Portal (apimanagement.gloo.solo.io/v2) -------------------------------
    def _reconcile_apim(self, snap: Snapshot) -> None:
        workspace = self._workspace_for_namespace(snap)
        for portal, state, message, counters in apim.portal_statuses(snap, workspace):
            self._set_status(
                APIM, "portals", portal, gmg_status(portal, state, message, **counters)
            )
        for group in snap.all(APIM, "portalgroups"):
            state, message = apim.group_problem(group, snap)
            status = gmg_status(
                group, state, message, ownedByWorkspace=workspace.get(ns_of(group), "")
            )
            self._set_status(APIM, "portalgroups", group, status)

    # -- Gloo Portal 1.x --------------------------------------------------------------------
    def _reconcile_portal(self, snap: Snapshot) -> None:
        for doc in snap.all(PORTAL, "apidocs"):
            state, reason, extra = apidoc_status(doc, snap)
            self._set_status(PORTAL, "apidocs", doc, portal_state(doc, state, reason, **extra))
        for product in snap.all(PORTAL, "apiproducts"):
            reason = ""
            for version in (product.get("spec") or {}).get("versions") or []:
                for api in version.get("apis") or []:
                    ref = api.get("apiDoc") or {}
                    dns = ref.get("namespace") or ns_of(product)
                    if ref.get("name") and snap.get(PORTAL, "apidocs", dns, ref["name"]) is None:
                        reason = reason or f"APIDoc {dns}/{ref['name']} not found"
            state = "Invalid" if reason else "Succeeded"
            self._set_status(PORTAL, "apiproducts", product, portal_state(product, state, reason))
        envs = sorted(snap.all(PORTAL, "environments"), key=order_key)
        env_domains: dict[str, Obj] = {}
        for env in envs:
            clash = next(
                (d for d in (env.get("spec") or {}).get("domains") or [] if d in env_domains), None
            )
            if clash:
                other = env_domains[clash]
                status = portal_state(
                    env,
                    "Invalid",
                    f"domain {clash} is already used by Environment {ns_of(other)}/{name_of(other)}",
                )
            else:
                for d in (env.get("spec") or {}).get("domains") or []:
                    env_domains[d] = env
                status = portal_state(env, "Succeeded")
            self._set_status(PORTAL, "environments", env, status)
        portal_domains: dict[str, Obj] = {}
        for portal in sorted(snap.all(PORTAL, "portals"), key=order_key):
            reason = self._portal_problem(portal, snap, portal_domains, env_domains)
            if not reason:
                for d in (portal.get("spec") or {}).get("domains") or []:
                    portal_domains[d] = portal
            domains = (portal.get("spec") or {}).get("domains") or []
            extra = {"publishUrl": f"http://{domains[0]}/"} if domains and not reason else {}
            self._set_status(
                PORTAL,
                "portals",
                portal,
                portal_state(portal, "Invalid" if reason else "Succeeded", reason, **extra),
            )
        claimed: dict[tuple[str, str, str], Obj] = {}
        for group in sorted(snap.all(PORTAL, "groups"), key=order_key):
            reason = ""
            for pns, pname in access.group_portals(group):
                if snap.get(PORTAL, "portals", pns, pname) is None:
                    reason = f"Portal {pns}/{pname} not found"
                    break
            for ref in ((group.get("spec") or {}).get("accessLevel") or {}).get(
                "apiProducts"
            ) or []:
                pns = ref.get("namespace") or ns_of(group)
                if not reason and snap.get(PORTAL, "apiproducts", pns, ref.get("name", "")) is None:
                    reason = f"APIProduct {pns}/{ref.get('name', '')} not found"
            for api in ((group.get("spec") or {}).get("accessLevel") or {}).get("apis") or []:
                for kind, plural, sel in (
                    ("APIProduct", "apiproducts", api.get("products") or {}),
                    ("Environment", "environments", api.get("environments") or {}),
                ):
                    namespaces = sel.get("namespaces") or [ns_of(group)]
                    for wanted in sel.get("names") or []:
                        if reason or "*" in namespaces:
                            continue
                        if not any(snap.get(PORTAL, plural, n, wanted) for n in namespaces):
                            reason = (
                                f"{kind} {wanted} not found in namespaces {', '.join(namespaces)}"
                            )
            if not reason:
                for pkey in access.group_portals(group):
                    for gname in access.oidc_group_names(group):
                        other = claimed.get((*pkey, gname))
                        if other is not None and other is not group:
                            reason = (
                                f"oidcGroup groupName {gname} is already used by Group "
                                f"{ns_of(other)}/{name_of(other)} on Portal {pkey[0]}/{pkey[1]}"
                            )
                            break
                    if reason:
                        break
            if not reason:
                for pkey in access.group_portals(group):
                    for gname in access.oidc_group_names(group):
                        claimed[(*pkey, gname)] = group
            level = {
                "apiProducts": [
                    {
                        "name": name_of(product),
                        "namespace": ns_of(product),
                        "environments": [
                            {"name": name_of(e), "namespace": ns_of(e)} for e in envs_
                        ],
                    }
                    for product, envs_ in access.group_api_access(group, snap)
                ]
            }
            status = portal_state(
                group, "Invalid" if reason else "Succeeded", reason, accessLevel=level, users=[]
            )
            self._set_status(PORTAL, "groups", group, status)

    @staticmethod
    def _portal_problem(
        portal: Obj, snap: Snapshot, portal_domains: dict[str, Obj], env_domains: dict[str, Obj]
    ) -> str:
        spec = portal.get("spec") or {}
        for d in spec.get("domains") or []:
            if d in portal_domains:
                other = portal_domains[d]
                return f"domain {d} is already used by Portal {ns_of(other)}/{name_of(other)}"
            if d in env_domains:
                other = env_domains[d]
                return f"domain {d} is already used by Environment {ns_of(other)}/{name_of(other)}"
        for ref in spec.get("publishedEnvironments") or []:
            ens = ref.get("namespace") or ns_of(portal)
            if snap.get(PORTAL, "environments", ens, ref.get("name", "")) is None:
                return f"Environment {ens}/{ref.get('name', '')} not found"
        oidc = spec.get("oidcAuth")
        if oidc:
            ref = oidc.get("clientSecret") or {}
            sns, sname, skey = (
                ref.get("namespace") or ns_of(portal),
                ref.get("name", ""),
                ref.get("key", ""),
            )
            if not sname:
                return "oidcAuth.clientSecret is required"
            secret = snap.get("", "secrets", sns, sname)
            if secret is None:
                return f"Secret {sns}/{sname} not found"
            data = secret.get("data") or {}
            if skey not in data and skey not in (secret.get("stringData") or {}):
                return f"key {skey} not found in Secret {sns}/{sname}"
            if not oidc.get("issuer"):
                return "oidcAuth.issuer is required"
            if not oidc.get("clientId"):
                return "oidcAuth.clientId is required"
        return ""
