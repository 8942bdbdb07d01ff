"""Gloo Portal 1.x access rules: which Groups a user is in and which API products they see.

Shared by the Group status (``status.accessLevel``) and the portal web app, so the UI shows
exactly what the status reports.
"""

from __future__ import annotations

from typing import Any

from .model import PORTAL, Snapshot, meta, name_of, ns_of, order_key

Obj = dict[str, Any]


def _label_requirements_match(reqs: list[Obj] | None, labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    for req in reqs or []:
        key, op = req.get("key", ""), (req.get("operator") or "Equals")
        values = [str(v) for v in req.get("values") or []]
        if op in ("Equals", "In"):
            if labels.get(key) not in values:
                return False
        elif op in ("NotEquals", "NotIn"):
            if labels.get(key) in values:
                return False
        elif op == "Exists":
            if key not in labels:
                return False
        elif op == "DoesNotExist":
            if key in labels:
                return False
    return True


def resource_selected(selector: Obj | None, obj: Obj, default_ns: str) -> bool:
    """A ResourceSelector ``{names, namespaces, labels}``; namespaces default to the Group's."""
    selector = selector or {}
    names = selector.get("names") or []
    namespaces = selector.get("namespaces") or [default_ns]
    if names and name_of(obj) not in names:
        return False
    if "*" not in namespaces and ns_of(obj) not in namespaces:
        return False
    return _label_requirements_match(selector.get("labels"), meta(obj).get("labels"))


def group_api_access(group: Obj, snap: Snapshot) -> list[tuple[Obj, list[Obj]]]:
    """(APIProduct, [Environment]) pairs a Group grants, in product order."""
    spec = group.get("spec") or {}
    access = spec.get("accessLevel") or {}
    default_ns = ns_of(group)
    products = snap.all(PORTAL, "apiproducts")
    envs = snap.all(PORTAL, "environments")
    grants: dict[tuple[str, str], tuple[Obj, list[Obj]]] = {}
    for api in access.get("apis") or []:
        for product in products:
            if not resource_selected(api.get("products"), product, default_ns):
                continue
            entry = grants.setdefault((ns_of(product), name_of(product)), (product, []))
            for env in envs:
                if (
                    resource_selected(api.get("environments"), env, default_ns)
                    and env not in entry[1]
                ):
                    entry[1].append(env)
    # devportal.solo.io/v1alpha1 shape: accessLevel.apiProducts[{name, namespace, environments}]
    for ref in access.get("apiProducts") or []:
        product = snap.get(
            PORTAL, "apiproducts", ref.get("namespace") or default_ns, ref.get("name", "")
        )
        if not product:
            continue
        entry = grants.setdefault((ns_of(product), name_of(product)), (product, []))
        for env_ref in ref.get("environments") or []:
            env = snap.get(
                PORTAL,
                "environments",
                env_ref.get("namespace") or default_ns,
                env_ref.get("name", ""),
            )
            if env and env not in entry[1]:
                entry[1].append(env)
    return [grants[k] for k in sorted(grants)]


def group_portals(group: Obj) -> list[tuple[str, str]]:
    access = (group.get("spec") or {}).get("accessLevel") or {}
    return [
        (p.get("namespace") or ns_of(group), p.get("name", "")) for p in access.get("portals") or []
    ]


def oidc_group_names(group: Obj) -> list[str]:
    oidc = (group.get("spec") or {}).get("oidcGroup") or {}
    names = list(oidc.get("groupNames") or [])
    if oidc.get("groupName"):
        names.insert(0, oidc["groupName"])
    return names


def groups_for_user(portal: Obj, claim_groups: list[str], snap: Snapshot) -> list[Obj]:
    """Succeeded Groups reaching this Portal whose OIDC group names the user carries."""
    key = (ns_of(portal), name_of(portal))
    out = []
    for group in sorted(snap.all(PORTAL, "groups"), key=order_key):
        if (group.get("status") or {}).get("state") != "Succeeded":
            continue
        if key not in group_portals(group):
            continue
        if set(oidc_group_names(group)) & set(claim_groups):
            out.append(group)
    return out


def products_for_user(
    portal: Obj, claim_groups: list[str], snap: Snapshot
) -> list[tuple[Obj, list[Obj]]]:
    """Union of the API products granted by the user's Groups on this Portal."""
    merged: dict[tuple[str, str], tuple[Obj, list[Obj]]] = {}
    for group in groups_for_user(portal, claim_groups, snap):
        for product, envs in group_api_access(group, snap):
            entry = merged.setdefault((ns_of(product), name_of(product)), (product, []))
            for env in envs:
                if env not in entry[1]:
                    entry[1].append(env)
    return [merged[k] for k in sorted(merged)]


def environment_products(snap: Snapshot, env: Obj) -> list[Obj]:
    """The APIProducts an Environment publishes (by names/namespaces/labels or name refs)."""
    out: list[Obj] = []
    for sel in (env.get("spec") or {}).get("apiProducts") or []:
        for product in snap.all(PORTAL, "apiproducts"):
            if product in out:
                continue
            if sel.get("name"):
                if name_of(product) == sel["name"] and ns_of(product) == (
                    sel.get("namespace") or ns_of(env)
                ):
                    out.append(product)
            elif resource_selected(sel, product, ns_of(env)):
                out.append(product)
    return out
