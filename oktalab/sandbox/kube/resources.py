"""What the server serves: the built-in kinds plus one entry per CRD found in the store.

The Gloo controllers seed CRDs with ``store.create`` directly, so the set of custom resources
cannot be a side effect of the API's own CRD handler: the registry re-reads the
``customresourcedefinitions`` objects whenever the store reports a change to one of them.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

from .store import Obj, ObjectStore, WatchEvent, now_rfc3339

CRD_GROUP = "apiextensions.k8s.io"
CRD_PLURAL = "customresourcedefinitions"
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class Resource:
    """One REST resource (``group/plural``) and how to treat its objects."""

    group: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    versions: list[str]
    storage_version: str
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    status_subresource: bool = False
    # scale subresource: (specReplicasPath, statusReplicasPath, labelSelectorPath) as dotted paths
    scale: tuple[str, str, str] | None = None
    builtin: bool = True
    # per version: the openAPIV3Schema of a CRD (None for built-ins)
    schemas: dict[str, Obj | None] = field(default_factory=dict)
    printer_columns: dict[str, list[Obj]] = field(default_factory=dict)
    # per version: CRD ``selectableFields`` paths usable in fieldSelector (without the dot)
    selectable_fields: dict[str, list[str]] = field(default_factory=dict)
    crd_name: str = ""
    verbs: list[str] = field(default_factory=lambda: list(ALL_VERBS))

    @property
    def computed(self) -> bool:
        """Read-only, derived on every read (Endpoints): see :mod:`.endpoints`."""
        return self.verbs == ["get", "list", "watch"]

    @property
    def virtual(self) -> bool:
        """A create-only review resource: answered, never stored (SelfSubjectAccessReview)."""
        return self.verbs == ["create"]

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def schema(self, version: str) -> Obj | None:
        return self.schemas.get(version)


def _builtin(plural: str, singular: str, kind: str, namespaced: bool, **kw: Any) -> Resource:
    group = kw.pop("group", "")
    return Resource(group, plural, singular, kind, namespaced, ["v1"], "v1", **kw)


BUILTINS: list[Resource] = [
    _builtin(
        "namespaces", "namespace", "Namespace", False, short_names=["ns"], status_subresource=True
    ),
    _builtin("nodes", "node", "Node", False, short_names=["no"], status_subresource=True),
    _builtin("configmaps", "configmap", "ConfigMap", True, short_names=["cm"]),
    _builtin("secrets", "secret", "Secret", True),
    _builtin(
        "services",
        "service",
        "Service",
        True,
        short_names=["svc"],
        categories=["all"],
        status_subresource=True,
    ),
    _builtin(
        "pods", "pod", "Pod", True, short_names=["po"], categories=["all"], status_subresource=True
    ),
    _builtin("events", "event", "Event", True, short_names=["ev"]),
    _builtin(
        "endpoints",
        "endpoints",
        "Endpoints",
        True,
        short_names=["ep"],
        verbs=["get", "list", "watch"],
    ),
    _builtin(
        "endpointslices",
        "endpointslice",
        "EndpointSlice",
        True,
        group="discovery.k8s.io",
        verbs=["get", "list", "watch"],
    ),
    _builtin("serviceaccounts", "serviceaccount", "ServiceAccount", True, short_names=["sa"]),
    _builtin(
        "deployments",
        "deployment",
        "Deployment",
        True,
        group="apps",
        short_names=["deploy"],
        categories=["all"],
        status_subresource=True,
        scale=("spec.replicas", "status.replicas", "status.selector"),
    ),
    _builtin(
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        False,
        group="authorization.k8s.io",
        verbs=["create"],
    ),
    _builtin(
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        "SelfSubjectRulesReview",
        False,
        group="authorization.k8s.io",
        verbs=["create"],
    ),
    _builtin(
        "selfsubjectreviews",
        "selfsubjectreview",
        "SelfSubjectReview",
        False,
        group="authentication.k8s.io",
        verbs=["create"],
    ),
    _builtin(
        CRD_PLURAL,
        "customresourcedefinition",
        "CustomResourceDefinition",
        False,
        group=CRD_GROUP,
        short_names=["crd", "crds"],
        categories=["api-extensions"],
        status_subresource=True,
    ),
]


def resource_from_crd(crd: Obj) -> Resource | None:
    """The Resource a CRD object describes, or None when it is too broken to serve."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not (group and plural and kind):
        return None
    served = [v for v in spec.get("versions") or [] if v.get("served", True) and v.get("name")]
    if not served:
        return None
    storage = next((v["name"] for v in served if v.get("storage")), served[0]["name"])
    schemas: dict[str, Obj | None] = {}
    columns: dict[str, list[Obj]] = {}
    selectable: dict[str, list[str]] = {}
    status = False
    scale: tuple[str, str, str] | None = None
    for v in served:
        schemas[v["name"]] = ((v.get("schema") or {}).get("openAPIV3Schema")) or {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
        }
        columns[v["name"]] = list(v.get("additionalPrinterColumns") or [])
        selectable[v["name"]] = [
            str(f.get("jsonPath", "")).lstrip(".")
            for f in v.get("selectableFields") or []
            if f.get("jsonPath")
        ]
        subresources = v.get("subresources") or {}
        if "status" in subresources:
            status = True
        if isinstance(subresources.get("scale"), dict):
            sc = subresources["scale"]
            scale = (
                str(sc.get("specReplicasPath", ".spec.replicas")).lstrip("."),
                str(sc.get("statusReplicasPath", ".status.replicas")).lstrip("."),
                str(sc.get("labelSelectorPath") or "").lstrip("."),
            )
    return Resource(
        group=group,
        plural=plural,
        singular=names.get("singular") or kind.lower(),
        kind=kind,
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        versions=[v["name"] for v in served],
        storage_version=storage,
        short_names=list(names.get("shortNames") or []),
        categories=list(names.get("categories") or []),
        status_subresource=status,
        scale=scale,
        builtin=False,
        schemas=schemas,
        printer_columns=columns,
        selectable_fields=selectable,
        crd_name=(crd.get("metadata") or {}).get("name", ""),
    )


def crd_status(crd: Obj) -> Obj:
    """The status an apiserver gives an accepted CRD (conditions kept when already set)."""
    spec = crd.get("spec") or {}
    names = copy.deepcopy(spec.get("names") or {})
    if names.get("kind") and "listKind" not in names:
        names["listKind"] = names["kind"] + "List"
    if names.get("kind") and "singular" not in names:
        names["singular"] = names["kind"].lower()
    old = crd.get("status") or {}
    old_conditions = {c.get("type"): c for c in old.get("conditions") or []}
    now = now_rfc3339()
    conditions = []
    for ctype, reason, message in (
        ("NamesAccepted", "NoConflicts", "no conflicts found"),
        ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ):
        prev = old_conditions.get(ctype)
        if prev and prev.get("status") == "True":
            conditions.append(prev)
        else:
            conditions.append(
                {
                    "type": ctype,
                    "status": "True",
                    "lastTransitionTime": now,
                    "reason": reason,
                    "message": message,
                }
            )
    stored = list(old.get("storedVersions") or [])
    storage = next((v.get("name") for v in spec.get("versions") or [] if v.get("storage")), None)
    if storage and storage not in stored:
        stored.append(storage)
    return {"conditions": conditions, "acceptedNames": names, "storedVersions": stored}


def _status_settled(crd: Obj) -> bool:
    status = crd.get("status") or {}
    want = crd_status(crd)
    return (
        status.get("acceptedNames") == want["acceptedNames"]
        and status.get("storedVersions") == want["storedVersions"]
        and [c.get("type") for c in status.get("conditions") or []]
        == [c["type"] for c in want["conditions"]]
        and all(c.get("status") == "True" for c in status.get("conditions") or [])
    )


class Registry:
    """Resolves URLs to Resources; refreshed lazily after any CRD write."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._dirty = True
        self._custom: list[Resource] = []
        store.add_listener(self._on_event)

    def _on_event(self, event: WatchEvent) -> None:
        if event.group == CRD_GROUP and event.plural == CRD_PLURAL:
            self._dirty = True
            # Run follow-up writes after every listener has seen this event, so that
            # watchers receive events in resourceVersion order.
            if event.type == "DELETED":
                self._soon(self._delete_objects_of, event.object)
            else:
                self._soon(self.refresh)

    @staticmethod
    def _soon(fn: Any, *args: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            fn(*args)  # no loop (seeding before start-up): nobody is watching yet
            return
        loop.call_soon(fn, *args)

    def _delete_objects_of(self, crd: Obj) -> None:
        res = resource_from_crd(crd)
        if res is None:
            return
        objs, _ = self.store.list(res.group, res.plural, None)
        for obj in objs:
            meta = obj.get("metadata") or {}
            try:
                self.store.delete(
                    res.group, res.plural, meta.get("namespace", ""), meta.get("name", "")
                )
            except Exception:  # already gone: a concurrent delete won
                pass

    def refresh(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        crds, _ = self.store.list(CRD_GROUP, CRD_PLURAL, "")
        custom = []
        for crd in crds:
            if not _status_settled(crd):
                crd = copy.deepcopy(crd)
                crd["status"] = crd_status(crd)
                try:
                    self.store.update(CRD_GROUP, CRD_PLURAL, "", crd["metadata"]["name"], crd)
                except Exception:
                    pass
                self._dirty = False
            res = resource_from_crd(crd)
            if res is not None and not any(
                r.group == res.group and r.plural == res.plural for r in BUILTINS
            ):
                custom.append(res)
        self._custom = custom

    def all(self) -> list[Resource]:
        self.refresh()
        return BUILTINS + self._custom

    def groups(self) -> dict[str, list[str]]:
        """group -> versions (preferred first), in a stable order."""
        out: dict[str, list[str]] = {}
        for r in self.all():
            versions = out.setdefault(r.group, [])
            ordered = [r.storage_version] + [v for v in r.versions if v != r.storage_version]
            for v in ordered:
                if v not in versions:
                    versions.append(v)
        return out

    def lookup(self, group: str, version: str, plural: str) -> Resource | None:
        for r in self.all():
            if r.group == group and r.plural == plural and version in r.versions:
                return r
        return None

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        return [r for r in self.all() if r.group == group and version in r.versions]
