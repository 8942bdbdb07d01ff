"""Version and legacy discovery documents (``/version``, ``/api``, ``/apis``, ``/apis/<g>/<v>``).

Legacy discovery is what kubectl falls back to when the ``Content-Type`` is plain JSON; it
then reads ``/api/v1`` and every ``/apis/<g>/<v>``, which is all it needs for short names,
categories and scope.
"""

from __future__ import annotations

from typing import Any

from .resources import Registry, Resource

Obj = dict[str, Any]

VERSION: Obj = {
    "major": "1",
    "minor": "32",
    "emulationMajor": "1",
    "emulationMinor": "32",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "31",
    "gitVersion": "v1.32.4",
    "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T16:03:55Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(server_address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> Obj:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> Obj:
    groups = [_group(g, vs) for g, vs in registry.groups().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> Obj | None:
    versions = registry.groups().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def _entries(res: Resource) -> list[Obj]:
    entry: Obj = {
        "name": res.plural,
        "singularName": res.singular,
        "namespaced": res.namespaced,
        "kind": res.kind,
        "verbs": list(res.verbs),
    }
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    if res.categories:
        entry["categories"] = list(res.categories)
    out = [entry]
    if res.status_subresource:
        out.append(
            {
                "name": f"{res.plural}/status",
                "singularName": "",
                "namespaced": res.namespaced,
                "kind": res.kind,
                "verbs": ["get", "patch", "update"],
            }
        )
    if res.scale:
        out.append(
            {
                "name": f"{res.plural}/scale",
                "singularName": "",
                "namespaced": res.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }
        )
    if res.plural == "pods" and not res.group:
        out.append(
            {
                "name": "pods/log",
                "singularName": "",
                "namespaced": True,
                "kind": "Pod",
                "verbs": ["get"],
            }
        )
    return out


def resource_list(registry: Registry, group: str, version: str) -> Obj | None:
    resources = registry.in_group_version(group, version)
    if not resources:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [e for r in resources for e in _entries(r)],
    }


AGGREGATED = "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"


def aggregated_version(accept: str | None) -> str | None:
    """``v2``/``v2beta1`` when the client accepts aggregated discovery (kubectl does)."""
    for part in (accept or "").split(","):
        params = {
            k.strip(): v.strip() for k, _, v in (p.partition("=") for p in part.split(";")[1:])
        }
        if params.get("as") == "APIGroupDiscoveryList" and params.get("g") == "apidiscovery.k8s.io":
            if params.get("v") in ("v2", "v2beta1"):
                return params["v"]
        elif part.strip():
            return None
    return None


def _aggregated_resource(res: Resource, version: str) -> Obj:
    entry: Obj = {
        "resource": res.plural,
        "responseKind": {"group": res.group, "version": version, "kind": res.kind},
        "scope": "Namespaced" if res.namespaced else "Cluster",
        "singularResource": res.singular,
        "verbs": list(res.verbs),
    }
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    if res.categories:
        entry["categories"] = list(res.categories)
    subresources = []
    if res.status_subresource:
        subresources.append(
            {
                "subresource": "status",
                "responseKind": {"group": res.group, "version": version, "kind": res.kind},
                "verbs": ["get", "patch", "update"],
            }
        )
    if res.scale:
        subresources.append(
            {
                "subresource": "scale",
                "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                "verbs": ["get", "patch", "update"],
            }
        )
    if res.plural == "pods" and not res.group:
        subresources.append(
            {
                "subresource": "log",
                "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
                "verbs": ["get"],
            }
        )
    if subresources:
        entry["subresources"] = subresources
    return entry


def aggregated(registry: Registry, *, core: bool, version: str) -> Obj:
    """``/api`` (core) or ``/apis`` as one APIGroupDiscoveryList: two requests instead of N+2."""
    items = []
    for group, versions in registry.groups().items():
        if bool(group) == core:
            continue
        items.append(
            {
                "metadata": {"name": group},
                "versions": [
                    {
                        "version": v,
                        "resources": [
                            _aggregated_resource(r, v) for r in registry.in_group_version(group, v)
                        ],
                        "freshness": "Current",
                    }
                    for v in versions
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": items,
    }
