"""Strategic merge patch for the built-in kinds (a port of apimachinery's ``strategicpatch``).

kubectl's client-side apply and the python client's ``patch_namespaced_*`` send SMP bodies
with directives (``$patch``, ``$setElementOrder/<f>``, ``$retainKeys``,
``$deleteFromPrimitiveList/<f>``); lists merge by the Go types' ``patchMergeKey``. The few
kinds served here have their merge keys in :data:`MERGE_KEYS`; every other list is replaced.
The same table tells server-side apply which lists are associative.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]


@dataclass
class ListMeta:
    """A list field: ``key`` set → merge by key; ``key`` None with merge → set of primitives."""

    key: str | None = None
    merge: bool = True
    item: dict[str, Any] = field(default_factory=dict)
    keys: tuple[str, ...] = ()  # server-side apply map keys when they differ from ``key``


_ENV: dict[str, Any] = {"valueFrom": {}}
_CONTAINER: dict[str, Any] = {
    "env": ListMeta("name", item=_ENV),
    "ports": ListMeta("containerPort", keys=("containerPort", "protocol")),
    "volumeMounts": ListMeta("mountPath"),
    "volumeDevices": ListMeta("devicePath"),
    "resizePolicy": ListMeta(None, merge=False),
}
_OBJECT_META: dict[str, Any] = {
    "finalizers": ListMeta(None),
    "ownerReferences": ListMeta("uid"),
}
_POD_SPEC: dict[str, Any] = {
    "containers": ListMeta("name", item=_CONTAINER),
    "initContainers": ListMeta("name", item=_CONTAINER),
    "ephemeralContainers": ListMeta("name", item=_CONTAINER),
    "volumes": ListMeta("name"),
    "imagePullSecrets": ListMeta("name"),
    "hostAliases": ListMeta("ip"),
    "topologySpreadConstraints": ListMeta("topologyKey", keys=("topologyKey", "whenUnsatisfiable")),
    "resourceClaims": ListMeta("name"),
    "schedulingGates": ListMeta("name"),
}
_POD_STATUS: dict[str, Any] = {
    "conditions": ListMeta("type"),
    "podIPs": ListMeta("ip"),
    "hostIPs": ListMeta("ip"),
}

MERGE_KEYS: dict[tuple[str, str], dict[str, Any]] = {
    ("", "pods"): {"metadata": _OBJECT_META, "spec": _POD_SPEC, "status": _POD_STATUS},
    ("", "services"): {
        "metadata": _OBJECT_META,
        "spec": {"ports": ListMeta("port", keys=("port", "protocol"))},
        "status": {"conditions": ListMeta("type")},
    },
    ("", "serviceaccounts"): {
        "metadata": _OBJECT_META,
        "secrets": ListMeta("name"),
        "imagePullSecrets": ListMeta("name"),
    },
    ("", "namespaces"): {"metadata": _OBJECT_META, "status": {"conditions": ListMeta("type")}},
    ("apps", "deployments"): {
        "metadata": _OBJECT_META,
        "spec": {"template": {"metadata": _OBJECT_META, "spec": _POD_SPEC}},
        "status": {"conditions": ListMeta("type")},
    },
}


def merge_schema(group: str, plural: str) -> dict[str, Any]:
    return MERGE_KEYS.get((group, plural), {"metadata": _OBJECT_META})


class PatchError(ValueError):
    """The patch is malformed (answered as 400/422 by the caller)."""


_DIRECTIVE = "$patch"
_RETAIN = "$retainKeys"
_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def strategic_merge(original: Obj, patch: Obj, schema: dict[str, Any]) -> Obj:
    """Apply ``patch`` to a copy of ``original``."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object")
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), schema)


def _strip(value: Any) -> Any:
    """Remove directives from a value that has nothing to merge into."""
    if isinstance(value, dict):
        if value.get(_DIRECTIVE) == "delete":
            return None
        return {
            k: _strip(v)
            for k, v in value.items()
            if not (k == _DIRECTIVE or k == _RETAIN or k.startswith((_ORDER, _DELETE_PRIMITIVE)))
            and v is not None
        }
    if isinstance(value, list):
        out = [
            _strip(v) for v in value if not (isinstance(v, dict) and v.get(_DIRECTIVE) == "delete")
        ]
        return [v for v in out if not (isinstance(v, dict) and v.get(_DIRECTIVE) == "replace")]
    return value


def _merge_map(original: Obj, patch: Obj, schema: dict[str, Any]) -> Obj:
    directive = patch.pop(_DIRECTIVE, None)
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise PatchError(f"Unknown patch type: {directive}")
    retain = patch.pop(_RETAIN, None)
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError("$retainKeys must be a list")
        for key in list(original):
            if key not in retain:
                del original[key]
    orders: dict[str, list[Any]] = {}
    for key in list(patch):
        if key.startswith(_ORDER):
            orders[key[len(_ORDER) :]] = patch.pop(key) or []
        elif key.startswith(_DELETE_PRIMITIVE):
            name = key[len(_DELETE_PRIMITIVE) :]
            remove = patch.pop(key) or []
            if isinstance(original.get(name), list):
                original[name] = [v for v in original[name] if v not in remove]
    for key, value in patch.items():
        sub = schema.get(key) if isinstance(schema, dict) else None
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or original[key] is None:
            cleaned = _strip(value)
            if isinstance(value, dict) and value.get(_DIRECTIVE) == "delete":
                continue
            original[key] = cleaned
            continue
        current = original[key]
        if isinstance(current, dict) and isinstance(value, dict):
            merged = _merge_map(current, value, sub if isinstance(sub, dict) else {})
            if value.get(_DIRECTIVE) == "delete" or (merged == {} and False):
                original.pop(key, None)
            else:
                original[key] = merged
        elif isinstance(current, list) and isinstance(value, list):
            original[key] = _merge_list(current, value, sub if isinstance(sub, ListMeta) else None)
        else:
            original[key] = _strip(value)
    for key, order in orders.items():
        if isinstance(original.get(key), list):
            meta = schema.get(key) if isinstance(schema, dict) else None
            original[key] = _apply_order(
                original[key], order, meta if isinstance(meta, ListMeta) else None
            )
    return original


def _merge_list(original: list[Any], patch: list[Any], meta: ListMeta | None) -> list[Any]:
    if meta is None or not meta.merge:
        return _strip(patch)
    if any(isinstance(p, dict) and p.get(_DIRECTIVE) == "replace" for p in patch):
        return _strip(
            [p for p in patch if not (isinstance(p, dict) and p.get(_DIRECTIVE) == "replace")]
        )
    if meta.key is None:  # set of primitives
        out = list(original)
        for p in patch:
            if isinstance(p, dict) and p.get(_DIRECTIVE) == "delete":
                continue
            if p not in out:
                out.append(p)
        return out
    key = meta.key
    out = list(original)
    for p in patch:
        if not isinstance(p, dict):
            raise PatchError(f"merging a list with merge key {key!r}: element is not an object")
        if key not in p:
            raise PatchError(f"map: {p} does not contain declared merge key: {key}")
        idx = next(
            (i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == p[key]), None
        )
        if p.get(_DIRECTIVE) == "delete":
            out = [o for o in out if not (isinstance(o, dict) and o.get(key) == p[key])]
            continue
        if idx is None:
            out.append(_strip(p))
        else:
            out[idx] = _merge_map(out[idx], dict(p), meta.item)
    return out


def _apply_order(items: list[Any], order: list[Any], meta: ListMeta | None) -> list[Any]:
    key = meta.key if meta else None

    def ident(v: Any) -> Any:
        return v.get(key) if key and isinstance(v, dict) else v

    wanted = [o.get(key) if key and isinstance(o, dict) else o for o in order]
    ordered = [i for w in wanted for i in items if ident(i) == w]
    seen = {id(i) for i in ordered}
    rest = [i for i in items if id(i) not in seen]
    return ordered + rest
