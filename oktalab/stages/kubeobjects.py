"""Applying the guides' Kubernetes objects from a stage: one row per object, owners respected.

Every write goes through :meth:`oktalab.kube.Kube.apply_owned` (server-side apply, field
manager ``oktalab``, strict field validation). An existing object this parameter set does
not own is never changed unless the parameter set adopts it (``adopt:`` /
``--adopt Kind/namespace/name``); an adopted object's prior state goes into the set's
ledger (file mode 0600) so teardown can put it back instead of deleting it.
"""

from __future__ import annotations

import json

from ..errors import KubeAPIError, NotAcceptedError
from ..kube import (
    ApplyConflict,
    ApplyResult,
    KindNotServed,
    NotOwnedError,
    Obj,
    accepted_check,
    gmg_state,
    kind_is_secret,
)
from ..results import StageResult
from .context import Context

#: Ledger kind of an adopted Kubernetes object; key ``Kind/namespace/name``.
LEDGER_KIND = "kube_adopted"


def ledger_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def prior_state(obj: Obj) -> Obj:
    """What teardown needs to restore an adopted object: content, labels, annotations, managers."""
    meta = obj.get("metadata") or {}
    keep = ("name", "namespace", "labels", "annotations", "managedFields")
    out = {k: v for k, v in obj.items() if k not in ("status", "metadata")}
    out["metadata"] = {k: meta[k] for k in keep if k in meta}
    return out


def _summary(value: object) -> str:
    """A short, readable form of one field value (a JWKS string shows its key IDs)."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        try:
            doc = json.loads(value)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("keys"), list):
            kids = [str(k.get("kid")) for k in doc["keys"] if isinstance(k, dict)]
            return "JWKS kids [" + ", ".join(kids) + "]"
        text = value
    else:
        text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "..."


def _get_path(obj: object, path: str) -> object:
    for part in path.strip(".").split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _leaves(before: object, after: object, path: str) -> list[tuple[str, object, object]]:
    """(path, old, new) at the deepest level where they differ; lists of equal length are
    compared item by item (``path[i]``)."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            leaf
            for key in sorted(set(before) | set(after))
            for leaf in _leaves(before.get(key), after.get(key), f"{path}.{key}")
        ]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            leaf
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for leaf in _leaves(b, a, f"{path}[{i}]")
        ]
    return [(path, before, after)]


def field_diff(before: Obj | None, after: Obj, paths: tuple[str, ...], *, secret: bool) -> str:
    """``path: old -> new`` for each changed leaf; a Secret's ``data``/``stringData`` values
    are shown as ``(masked)``, never as text. ``create`` when there is no ``before``."""
    if before is None:
        return "create"
    parts = []
    for path in paths:
        if secret and path.split(".")[1:2] in (["data"], ["stringData"]):
            parts.append(f"{path}: (masked) -> (masked)")
            continue
        for leaf, old, new in _leaves(_get_path(before, path), _get_path(after, path), path):
            parts.append(f"{leaf}: {_summary(old)} -> {_summary(new)}")
    return "; ".join(parts)


def apply_object(
    ctx: Context, result: StageResult, manifest: Obj, *, detail: str = ""
) -> Obj | None:
    """Apply ``manifest`` for this parameter set and add its row; None when it was refused.

    A refusal (not owned, a conflict with another field manager, a field the server does not
    know, a kind that is not installed) adds a ``failed`` row naming the object, and nothing
    is written. In ``plan`` and ``check`` modes the apply is a server-side dry run
    (``dryRun=All``): ``plan`` adds an ``action: planned`` row whose detail starts with
    ``create`` / ``update`` (with a field-level diff, Secret values masked) / ``unchanged``;
    ``check`` adds a ``checked`` row that fails when the live object differs from the
    parameters (drift), naming the fields and the command that repairs it. Both return the
    live object (None when it does not exist).
    """
    kind = manifest["kind"]
    meta = manifest["metadata"]
    ns, name = meta.get("namespace", ""), meta["name"]
    label = f"{ns}/{name}" if ns else name
    ps = ctx.params

    def record(prior: Obj) -> None:
        ctx.ledger.record(
            LEDGER_KIND,
            ledger_key(kind, ns, name),
            api_version=manifest.get("apiVersion", ""),
            prior=json.dumps(prior_state(prior), sort_keys=True),
        )

    before = (
        None if ctx.writes else ctx.kube.get(kind, name, ns, api_version=manifest.get("apiVersion"))
    )
    with result.timed() as t:
        try:
            res = ctx.kube.apply_owned(
                manifest,
                ps.name,
                adopt=ps.adopts(kind, name, ns),
                dry_run=not ctx.writes,
                force=ps.kubernetes.force_conflicts,
                on_adopt=record,
            )
        except NotOwnedError as exc:
            result.add("apply", kind, label, "unchanged", "failed", str(exc), seconds=t["s"])
            return None
        except ApplyConflict as exc:
            who = ", ".join(exc.managers) or "another field manager"
            result.add(
                "apply",
                kind,
                label,
                "unchanged",
                "failed",
                f"conflict with field manager {who} on {', '.join(exc.fields)}; nothing changed "
                "(set kubernetes.force_conflicts to take these fields)",
                seconds=t["s"],
            )
            return None
        except KindNotServed as exc:
            result.add("apply", kind, label, "unchanged", "failed", str(exc), seconds=t["s"])
            return None
        except KubeAPIError as exc:
            if exc.status not in (400, 422):
                raise
            result.add("apply", kind, label, "unchanged", "failed", str(exc), seconds=t["s"])
            return None
    if not ctx.writes:
        return _report_dry_run(ctx, result, manifest, before, res, t["s"])
    if (
        res.action == "unchanged"
        and not res.live.get("metadata", {}).get("labels", {}).get("oktalab.io/parameter-set")
        == ps.name
    ):
        detail = (detail + "; " if detail else "") + "owned by others; already as wanted"
    elif res.changed and res.action in ("updated", "adopted"):
        detail = (detail + "; " if detail else "") + "changed " + ", ".join(res.changed[:8])
    result.add("apply", kind, label, res.action, detail=detail, seconds=t["s"])
    return res.live


def _report_dry_run(
    ctx: Context,
    result: StageResult,
    manifest: Obj,
    before: Obj | None,
    res: ApplyResult,
    seconds: float,
) -> Obj | None:
    kind, meta = manifest["kind"], manifest["metadata"]
    label = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
    change = {"created": "create", "updated": "update", "adopted": "adopt"}.get(res.action)
    diff = (
        ""
        if change in (None, "create")
        else field_diff(before, res.live, res.changed, secret=kind_is_secret(manifest))
    )
    ctx.dry_row(result, kind, label, change, diff, seconds)
    return before


def status_now(ctx: Context, result: StageResult, obj: Obj, stage: str) -> bool:
    """Check mode: ``obj``'s status as it is now, without waiting; adds one ``status`` row,
    failed (naming the repair) unless healthy. Healthy: Gloo Platform (GMG v2) kinds
    ``status.common.State.approval`` ACCEPTED at the current generation; Gloo Portal
    (``portal.gloo.solo.io`` v1beta1) kinds ``status.state`` Succeeded at the current
    generation. Returns whether it is healthy."""
    kind, meta = obj["kind"], obj["metadata"]
    label = f"{meta.get('namespace')}/{meta['name']}" if meta.get("namespace") else meta["name"]
    st = obj.get("status") or {}
    generation = meta.get("generation")
    if "state" in st and "common" not in st:  # Gloo Portal: status.state / observedGeneration
        state = str(st.get("state"))
        current = st.get("observedGeneration") in (None, generation)
        ok, healthy = state == "Succeeded" and current, "Succeeded"
        why = f"{state}: {st.get('reason', '')}".rstrip(": ")
        if not current:
            why += f" (not yet at generation {generation})"
    else:
        healthy = "ACCEPTED"
        try:
            ok = accepted_check(kind)(obj)
            why = f"{gmg_state(obj)[0]} (not yet at generation {generation})"
        except NotAcceptedError as exc:
            ok, why = False, str(exc)
    if ok:
        result.add("status", kind, label, "checked", detail=healthy)
    else:
        result.add(
            "status", kind, label, "checked", "failed", f"{why}; repair: {ctx.repair(stage)}"
        )
    return ok
