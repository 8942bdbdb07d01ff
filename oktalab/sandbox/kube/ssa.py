"""Server-side apply and ``metadata.managedFields`` bookkeeping.

Ownership is tracked as sets of paths whose elements are the ``fieldsV1`` keys themselves
(``f:spec``, ``k:{"port":80}``, ``v:"x"``), so serialising to and from ``fieldsV1`` is a tree
conversion. Lists follow the schema: associative (``x-kubernetes-list-type: map`` or a Go
``patchMergeKey``), sets, or atomic (owned as a whole, the default for custom resources).
"""

from __future__ import annotations

import copy
import json
from typing import Any, Protocol

from . import schema as schemas
from .errors import ApiError
from .smp import ListMeta
from .store import now_rfc3339

Obj = dict[str, Any]
Path = tuple[str, ...]
META_TRACKED = ("labels", "annotations", "finalizers", "ownerReferences")


class Shape(Protocol):
    def child(self, key: str) -> Shape: ...
    def item(self) -> Shape: ...
    def list_kind(self) -> tuple[str, tuple[str, ...]]: ...


class SchemaShape:
    """List semantics from a CRD's openAPIV3Schema."""

    def __init__(self, schema: Obj | None) -> None:
        self.schema = schema

    def child(self, key: str) -> Shape:
        return SchemaShape(schemas.child(self.schema, key))

    def item(self) -> Shape:
        items = self.schema.get("items") if isinstance(self.schema, dict) else None
        return SchemaShape(items if isinstance(items, dict) else None)

    def list_kind(self) -> tuple[str, tuple[str, ...]]:
        return schemas.list_type(self.schema)


class TableShape:
    """List semantics from the built-in merge-key table (:mod:`.smp`)."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def child(self, key: str) -> Shape:
        return TableShape(self.node.get(key) if isinstance(self.node, dict) else None)

    def item(self) -> Shape:
        return TableShape(self.node.item if isinstance(self.node, ListMeta) else None)

    def list_kind(self) -> tuple[str, tuple[str, ...]]:
        meta = self.node
        if not isinstance(meta, ListMeta) or not meta.merge:
            return "atomic", ()
        if meta.key is None:
            return "set", ()
        return "map", meta.keys or (meta.key,)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _item_key(item: Any, keys: tuple[str, ...]) -> str | None:
    if not isinstance(item, dict) or not all(k in item for k in keys[:1]):
        return None
    return "k:" + _dumps({k: item[k] for k in keys if k in item})


def _same_item(live: Any, applied: Any, keys: tuple[str, ...]) -> bool:
    """Key fields the applied item leaves out (defaulted ones, like a port's protocol) match."""
    if not isinstance(live, dict) or not isinstance(applied, dict):
        return False
    return all(live.get(k) == applied[k] for k in keys if k in applied)


# -- field sets ------------------------------------------------------------------------------
def fields_of(obj: Obj, shape: Shape, *, status: bool | None) -> set[Path]:
    """Leaf paths set in ``obj``; ``status``: None = whole object, True = only, False = without."""
    out: set[Path] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            if status:
                continue
            for mkey in META_TRACKED:
                if isinstance(value, dict) and mkey in value:
                    _walk(
                        value[mkey],
                        shape.child("metadata").child(mkey),
                        ("f:metadata", "f:" + mkey),
                        out,
                    )
            continue
        if status is True and key != "status":
            continue
        if status is False and key == "status":
            continue
        _walk(value, shape.child(key), ("f:" + key,), out)
    return out


def _walk(value: Any, shape: Shape, path: Path, out: set[Path]) -> None:
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            _walk(sub, shape.child(key), (*path, "f:" + key), out)
    elif isinstance(value, list):
        kind, keys = shape.list_kind()
        if kind == "map" and keys and all(_item_key(i, keys) for i in value):
            for item in value:
                ipath = (*path, _item_key(item, keys) or "")
                out.add(ipath)
                for key, sub in item.items():
                    _walk(sub, shape.item().child(key), (*ipath, "f:" + key), out)
        elif kind == "set":
            for item in value:
                out.add((*path, "v:" + _dumps(item)))
        else:
            out.add(path)
    else:
        out.add(path)


def to_fields_v1(paths: set[Path]) -> Obj:
    tree: Obj = {}
    owned: set[Path] = set(paths)
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(part, {})

    def mark(node: Obj, prefix: Path) -> None:
        for key, child in node.items():
            p = (*prefix, key)
            if child and p in owned:
                child["."] = {}
            mark(child, p) if key != "." else None

    mark(tree, ())
    return tree


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    for key, child in tree.items():
        if key == ".":
            out.add(prefix)
            continue
        p = (*prefix, key)
        if not child:
            out.add(p)
        else:
            out |= from_fields_v1(child, p)
    return out


# -- path access ------------------------------------------------------------------------------
_MISSING = object()


def _find(container: Any, part: str) -> tuple[Any, Any]:
    """(key-or-index, value) of one path element inside ``container``."""
    kind, _, rest = part.partition(":")
    if kind == "f" and isinstance(container, dict):
        return rest, container.get(rest, _MISSING)
    if kind == "k" and isinstance(container, list):
        want = json.loads(rest)
        for i, item in enumerate(container):
            if isinstance(item, dict) and all(item.get(k) == v for k, v in want.items()):
                return i, item
    if kind == "v" and isinstance(container, list):
        want = json.loads(rest)
        for i, item in enumerate(container):
            if item == want:
                return i, item
    return None, _MISSING


def value_at(obj: Any, path: Path) -> Any:
    cur = obj
    for part in path:
        _, cur = _find(cur, part)
        if cur is _MISSING:
            return _MISSING
    return cur


def remove_at(obj: Any, path: Path) -> None:
    cur = obj
    for part in path[:-1]:
        _, cur = _find(cur, part)
        if cur is _MISSING:
            return
    key, value = _find(cur, path[-1])
    if value is not _MISSING:
        del cur[key]


# -- managedFields entries ---------------------------------------------------------------------
def _entries(obj: Obj | None) -> list[Obj]:
    return copy.deepcopy(((obj or {}).get("metadata") or {}).get("managedFields") or [])


def _same_entry(e: Obj, manager: str, operation: str, subresource: str) -> bool:
    return (
        e.get("manager") == manager
        and e.get("operation") == operation
        and (e.get("subresource") or "") == subresource
    )


def _set_entry(
    entries: list[Obj],
    manager: str,
    operation: str,
    api_version: str,
    subresource: str,
    paths: set[Path],
) -> list[Obj]:
    out = [e for e in entries if not _same_entry(e, manager, operation, subresource)]
    if paths:
        entry: Obj = {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": now_rfc3339(),
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(paths),
        }
        if subresource:
            entry["subresource"] = subresource
        idx = next(
            (i for i, e in enumerate(entries) if _same_entry(e, manager, operation, subresource)),
            None,
        )
        out.insert(idx if idx is not None else len(out), entry)
    return out


def _put(obj: Obj, entries: list[Obj]) -> None:
    meta = obj.setdefault("metadata", {})
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)


def record_update(
    old: Obj | None,
    new: Obj,
    manager: str,
    api_version: str,
    shape: Shape,
    *,
    subresource: str = "",
    status_scope: bool | None = None,
) -> None:
    """Give ``manager`` (operation Update) the fields this write changed; in place on ``new``."""
    requested = (new.get("metadata") or {}).get("managedFields")
    previous = ((old or {}).get("metadata") or {}).get("managedFields")
    if requested is not None and requested != previous:
        # An explicit rewrite of managedFields: [{}] clears them, anything else is taken as given.
        _put(new, [e for e in requested if isinstance(e, dict) and e])
        return
    entries = _entries(old)
    new_set = fields_of(new, shape, status=status_scope)
    old_set = fields_of(old, shape, status=status_scope) if old else set()
    changed = {p for p in new_set if p not in old_set or value_at(new, p) != value_at(old, p)}
    kept = []
    for e in entries:
        owned = from_fields_v1(e.get("fieldsV1"))
        scope_owned = {p for p in owned if _in_scope(p, status_scope)}
        rest = owned - scope_owned
        owned = rest | ((scope_owned & new_set) - changed)
        if owned:
            e["fieldsV1"] = to_fields_v1(owned)
            kept.append(e)
    mine = next((e for e in kept if _same_entry(e, manager, "Update", subresource)), None)
    mine_set = from_fields_v1(mine.get("fieldsV1")) if mine else set()
    if changed or mine:
        kept = _set_entry(kept, manager, "Update", api_version, subresource, mine_set | changed)
    _put(new, kept)


def _in_scope(path: Path, status_scope: bool | None) -> bool:
    if status_scope is None:
        return True
    return (path[:1] == ("f:status",)) == status_scope


def _merge(live: Any, applied: Any, shape: Shape) -> Any:
    if isinstance(live, dict) and isinstance(applied, dict):
        out = dict(live)
        for key, value in applied.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = _merge(live.get(key), value, shape.child(key))
        return out
    if isinstance(live, list) and isinstance(applied, list):
        kind, keys = shape.list_kind()
        if kind == "map" and keys:
            result = []
            used: set[int] = set()
            for item in applied:
                k = _item_key(item, keys)
                idx = next(
                    (
                        i
                        for i, o in enumerate(live)
                        if i not in used and k and _same_item(o, item, keys)
                    ),
                    None,
                )
                if idx is None:
                    result.append(copy.deepcopy(item))
                else:
                    used.add(idx)
                    result.append(_merge(live[idx], item, shape.item()))
            result.extend(o for i, o in enumerate(live) if i not in used)
            return result
        if kind == "set":
            return list(live) + [copy.deepcopy(v) for v in applied if v not in live]
    return copy.deepcopy(applied)


def _conflict_error(conflicts: list[tuple[str, str, Path]]) -> ApiError:
    def dotted(path: Path) -> str:
        text = ""
        for part in path:
            kind, _, rest = part.partition(":")
            if kind == "f":
                text += f".{rest}"
            elif kind == "k":
                keys = json.loads(rest)
                text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
            else:
                text += f"[={rest}]"
        return text

    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f'conflict with "{m}" using {v}',
            "field": dotted(p),
        }
        for m, v, p in conflicts
    ]
    if len(conflicts) == 1:
        m, v, p = conflicts[0]
        message = f'Apply failed with 1 conflict: conflict with "{m}" using {v}: {dotted(p)}'
    else:
        managers = sorted({m for m, _, _ in conflicts})
        lines = "\n".join(f"- {dotted(p)}" for _, _, p in conflicts)
        who = ", ".join(f'"{m}"' for m in managers)
        version = conflicts[0][1]
        message = f"Apply failed with {len(conflicts)} conflicts: conflicts with {who} using {version}:\n{lines}"
    return ApiError(409, "Conflict", message, {"causes": causes})


def apply(
    live: Obj | None,
    applied: Obj,
    manager: str,
    api_version: str,
    shape: Shape,
    *,
    force: bool,
    subresource: str = "",
    status_scope: bool | None = None,
) -> Obj:
    """The object after ``manager`` applies ``applied`` (raises 409 on conflicts)."""
    if (applied.get("metadata") or {}).get("managedFields") is not None:
        raise ApiError(400, "BadRequest", "metadata.managedFields must be nil")
    base = copy.deepcopy(live) if live is not None else {}
    entries = _entries(live)
    new_set = fields_of(applied, shape, status=status_scope)
    merged = _merge(base, applied, shape)
    non_leaf = {p[:i] for p in new_set for i in range(1, len(p))}
    conflicts: list[tuple[str, str, Path]] = []
    conflicting: dict[int, set[Path]] = {}
    for idx, e in enumerate(entries):
        if _same_entry(e, manager, "Apply", subresource):
            continue
        owned = from_fields_v1(e.get("fieldsV1"))
        for p in sorted(new_set & owned):
            if p in non_leaf or p[-1].startswith("k:"):
                continue  # a list item or map entry itself: only its leaves can conflict
            if value_at(base, p) != value_at(merged, p):
                conflicts.append((e.get("manager", ""), e.get("apiVersion", api_version), p))
                conflicting.setdefault(idx, set()).add(p)
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for idx, paths in conflicting.items():
        owned = from_fields_v1(entries[idx].get("fieldsV1")) - paths
        entries[idx]["fieldsV1"] = to_fields_v1(owned) if owned else {}
    entries = [e for e in entries if e.get("fieldsV1")]
    # Fields this manager applied before but not now: removed unless someone else owns them.
    mine = next((e for e in entries if _same_entry(e, manager, "Apply", subresource)), None)
    before = from_fields_v1(mine.get("fieldsV1")) if mine else set()
    others: set[Path] = set()
    for e in entries:
        if e is not mine:
            others |= from_fields_v1(e.get("fieldsV1"))
    for p in sorted(before - new_set, key=len):
        if any(o[: len(p)] == p for o in others | new_set):
            continue
        remove_at(merged, p)
    entries = _set_entry(entries, manager, "Apply", api_version, subresource, new_set)
    _put(merged, entries)
    return merged
