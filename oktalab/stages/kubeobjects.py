"""Applying the guides' Kubernetes objects from a stage: one row per object, owners respected.

Every write goes through :meth:`oktalab.kube.Kube.apply_owned` (server-side apply, field
manager ``oktalab``, strict field validation). An existing object this parameter set does
not own is never changed unless the parameter set adopts it (``adopt:`` /
``--adopt Kind/namespace/name``); an adopted object's prior state goes into the set's
ledger (file mode 0600) so teardown can put it back instead of deleting it.
"""

from __future__ import annotations

import json

from ..errors import KubeAPIError
from ..kube import ApplyConflict, KindNotServed, NotOwnedError, Obj
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


def apply_object(
    ctx: Context, result: StageResult, manifest: Obj, *, detail: str = ""
) -> Obj | None:
    """Apply ``manifest`` for this parameter set and add its row; None when it was refused.

    A refusal (not owned, a conflict with another field manager, a field the server does not
    know, a kind that is not installed) adds a ``failed`` row naming the object, and nothing
    is written.
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

    with result.timed() as t:
        try:
            res = ctx.kube.apply_owned(
                manifest,
                ps.name,
                adopt=ps.adopts(kind, name, ns),
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
