"""Teardown: remove what this parameter set created, and only that.

Kubernetes objects are removed only when they carry this parameter set's ownership labels;
Okta objects only when the ledger says oktalab created them (an app or claim that existed
before is left alone). Objects already gone are reported, not treated as errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from ..errors import KubeAPIError, OktaAPIError
from ..kube import owned_by
from ..okta import OktaClient
from ..results import StageResult
from .context import Context
from .kubeobjects import LEDGER_KIND, ledger_key
from .okta_app import reconcile_secrets
from .trusted_origins import origin_of

STAGE = "teardown"


# Kubernetes kinds in deletion order (dependents first) with the parameters naming them.
def _kube_targets(ctx: Context) -> list[tuple[str, str, str]]:
    ps = ctx.params
    targets = [
        ("ExtAuthPolicy", ps.extauth.namespace, ps.extauth.policy_name),
        ("ExtAuthServer", ps.extauth.namespace, ps.extauth.server_name),
    ]
    gp = ps.gateway_portal
    if gp is not None:  # guide 1's Gloo Platform Portal: dependents first
        targets = [
            *[("PortalGroup", gp.namespace, g.name) for g in gp.groups],
            ("Portal.apimanagement.gloo.solo.io", gp.namespace, gp.name),
            ("RouteTable", gp.namespace, gp.route_table),
            *[("RouteTable", x.namespace, x.table_name) for x in gp.api_products],
            ("ConfigMap", gp.frontend.namespace, gp.frontend_config),
            *targets,
        ]
    portal = getattr(ps, "portal", None)
    if portal is not None:
        targets = [
            ("Group", portal.namespace, portal.group_name),
            ("Portal", portal.namespace, portal.name),
            ("Secret", portal.namespace, portal.secret_name),
            *[(k, portal.namespace, n) for k, n in portal.prerequisite_names()],
        ]
    return targets


def run(ctx: Context, result: StageResult) -> None:
    ps = ctx.params
    if ctx.env.kubeconfig:
        for kind, ns, name in _kube_targets(ctx):
            # adoption records the manifest's kind ("Portal"), the targets may name the group
            key = ledger_key(kind.split(".")[0], ns, name)
            adopted = next((e for e in ctx.ledger.items(LEDGER_KIND) if e["key"] == key), None)
            if adopted is not None:
                _restore(ctx, result, kind, ns, name, adopted)
                continue
            with result.timed() as t:
                live = ctx.kube.get(kind, name, ns)
                if live is None:
                    action, status, detail = "unchanged", "ok", "not present"
                elif not owned_by(live, ps.name):
                    action, status, detail = (
                        "unchanged",
                        "skipped",
                        "not created by this parameter set; left alone",
                    )
                else:
                    ctx.kube.delete(kind, name, ns)
                    action, status, detail = "deleted", "ok", ""
            result.add("delete", kind, f"{ns}/{name}", action, status, detail, seconds=t["s"])

    if not (ctx.env.okta_org_url and (ctx.env.okta_api_token or ctx.env.has_service_app)):
        result.add(
            "okta",
            "Stage",
            STAGE,
            "checked",
            "skipped",
            "no Okta settings: Okta objects left alone",
        )
        return
    okta = ctx.okta
    _reconcile_intents(ctx, result)
    for entry in ctx.ledger.items("okta_user"):
        _okta_delete(
            ctx,
            result,
            "OktaUser",
            entry["key"],
            entry.get("login", entry["key"]),
            lambda k: okta.delete_user(k),
        )
    for entry in ctx.ledger.items("okta_as_policy", "created", "adopted", "used"):
        server = entry.get("server", ps.authorization_server)
        base = f"/api/v1/authorizationServers/{server}/policies"

        def restore_as_policy(e: dict[str, Any], base: str = base) -> None:
            okta.put(f"{base}/{e['key']}", e["prior"])
            prior_rule = e.get("rule_prior")
            for rule in okta.list_all(f"{base}/{e['key']}/rules"):
                if prior_rule and rule["id"] == prior_rule.get("id"):
                    okta.put(f"{base}/{e['key']}/rules/{rule['id']}", prior_rule)
                elif not prior_rule and rule.get("name") == e["name"]:  # the rule we added
                    okta.delete(f"{base}/{e['key']}/rules/{rule['id']}")

        _okta_release(
            ctx,
            result,
            entry,
            "AuthorizationServerPolicy",
            delete=partial(okta.delete_as_policy, server),
            restore=restore_as_policy,
        )
    for kind, row_kind, path in (
        ("okta_claim", "AuthorizationServerClaim", "claims"),
        ("okta_scope", "AuthorizationServerScope", "scopes"),
    ):
        for entry in ctx.ledger.items(kind, "created", "adopted", "used"):
            server = entry.get("server", ps.authorization_server)
            base = f"/api/v1/authorizationServers/{server}/{path}"
            _okta_release(
                ctx,
                result,
                entry,
                row_kind,
                delete=partial(_delete_under, okta, base),
                restore=partial(_restore_under, okta, base),
            )
    for entry in ctx.ledger.items("okta_policy", "created", "adopted", "used"):

        def drop_policy(k: str) -> None:
            # Okta (Identity Engine) maps an app to exactly one enrollment policy: hand the
            # apps back to the org's default policy before the policy goes (issue 18 item 9)
            default = okta.default_policy("PROFILE_ENROLLMENT")
            if default is not None:
                for mapped in okta.policy_apps(k):
                    okta.assign_app_policy(mapped["id"], default["id"])
            okta.delete_policy(k)

        def restore_policy(e: dict[str, Any]) -> None:
            okta.replace_policy(e["key"], e["prior"])
            if e.get("rule_prior", {}).get("id"):
                okta.replace_policy_rule(e["key"], e["rule_prior"]["id"], e["rule_prior"])

        _okta_release(ctx, result, entry, "Policy", delete=drop_policy, restore=restore_policy)
    for entry in ctx.ledger.items("okta_app_group", "created"):
        app_id, _, group_id = entry["key"].partition("/")
        if ctx.ledger.items("okta_app", "adopted") and any(
            e["key"] == app_id for e in ctx.ledger.items("okta_app", "adopted")
        ):
            _okta_delete(
                ctx,
                result,
                "AppGroupAssignment",
                entry["key"],
                entry["name"],
                lambda k: okta.unassign_group(*k.split("/", 1)),
                ledger_kind="okta_app_group",
            )
        else:  # deleting the app removes its assignments
            ctx.ledger.forget("okta_app_group", entry["key"])
    for intent in ctx.ledger.intents("okta_client_secret"):
        try:
            reconcile_secrets(ctx, intent["app"])
        except OktaAPIError as exc:  # the app is gone: so are its secrets
            if exc.status != 404:
                raise
            ctx.ledger.forget("okta_client_secret", "", name=intent["name"])
    for entry in ctx.ledger.items("okta_client_secret", "created"):
        if any(e["key"] == entry.get("app") for e in ctx.ledger.items("okta_app", "adopted")):
            _okta_delete(
                ctx,
                result,
                "ClientSecret",
                entry["key"],
                entry["name"],
                partial(okta.delete_client_secret, entry["app"]),
                ledger_kind="okta_client_secret",
            )
        else:
            ctx.ledger.forget("okta_client_secret", entry["key"])
    for entry in ctx.ledger.items("okta_trusted_origin", "created", "adopted", "used"):
        entry.setdefault("name", entry.get("origin", entry["key"]))

        def restore_origin(e: dict[str, Any]) -> None:
            prior = e["prior"]
            okta.replace_trusted_origin(
                e["key"], {k: prior[k] for k in ("name", "origin", "scopes") if k in prior}
            )
            if prior.get("status") == "INACTIVE":
                okta.post(f"/api/v1/trustedOrigins/{e['key']}/lifecycle/deactivate")

        _okta_release(
            ctx,
            result,
            entry,
            "TrustedOrigin",
            delete=lambda k: okta.delete_trusted_origin(k),
            restore=restore_origin,
        )
    for entry in ctx.ledger.items("okta_app", "created", "adopted", "used"):

        def drop_app(k: str) -> None:
            okta.deactivate_app(k)
            okta.delete_app(k)

        def restore_app(e: dict[str, Any]) -> None:
            okta.replace_app(e["key"], e["prior"])
            if e["prior"].get("status") == "INACTIVE":
                okta.deactivate_app(e["key"])

        _okta_release(ctx, result, entry, "OktaApp", delete=drop_app, restore=restore_app)
    for entry in ctx.ledger.items("okta_group", "created", "adopted", "used"):
        _okta_release(
            ctx,
            result,
            entry,
            "Group",
            delete=lambda k: okta.delete_group(k),
            restore=lambda e: okta.replace_group(e["key"], e["prior"].get("profile") or {}),
        )


def _restore(
    ctx: Context, result: StageResult, kind: str, ns: str, name: str, entry: dict[str, str]
) -> None:
    """Put an adopted object back as the ledger recorded it before adoption."""
    prior = json.loads(entry["prior"])
    prior.setdefault("apiVersion", entry.get("api_version", ""))
    prior.setdefault("kind", kind)
    with result.timed() as t:
        try:
            back = ctx.kube.restore(prior)
        except KubeAPIError as exc:
            result.add(
                "restore", kind, f"{ns}/{name}", "checked", "failed", str(exc), seconds=t["s"]
            )
            return
    ctx.ledger.forget(LEDGER_KIND, entry["key"])
    if back is None:
        result.add(
            "restore", kind, f"{ns}/{name}", "unchanged", detail="not present", seconds=t["s"]
        )
    else:
        result.add(
            "restore",
            kind,
            f"{ns}/{name}",
            "restored",
            detail="adopted object put back as it was before adoption",
            seconds=t["s"],
        )


def _delete_under(okta: OktaClient, base: str, key: str) -> None:
    okta.delete(f"{base}/{key}")


def _restore_under(okta: OktaClient, base: str, entry: dict[str, Any]) -> None:
    okta.put(f"{base}/{entry['key']}", entry["prior"])


def _reconcile_intents(ctx: Context, result: StageResult) -> None:
    """Creates a crash interrupted: the object may exist without a recorded id. Find it by
    its stable key; when no other parameter set owns it, it is ours and is deleted."""
    okta = ctx.okta
    server = ctx.params.authorization_server
    finders: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
        "okta_app": lambda e: okta.find_app(e["name"]),
        "okta_group": lambda e: okta.find_group(e["name"]),
        "okta_policy": lambda e: okta.find_policy("PROFILE_ENROLLMENT", e["name"]),
        "okta_as_policy": lambda e: next(
            (p for p in okta.as_policies(e.get("server", server)) if p.get("name") == e["name"]),
            None,
        ),
        "okta_trusted_origin": lambda e: next(
            (o for o in okta.trusted_origins() if origin_of(o.get("origin", "")) == e["name"]),
            None,
        ),
        "okta_claim": lambda e: next(
            (c for c in okta.claims(e.get("server", server)) if c["name"] == e["name"]), None
        ),
        "okta_scope": lambda e: next(
            (c for c in okta.scopes(e.get("server", server)) if c["name"] == e["name"]), None
        ),
    }
    for kind, find in finders.items():
        for entry in ctx.ledger.intents(kind):
            found = find(entry)
            if found is None or ctx.ledger.owner_of(kind, found["id"]):
                ctx.ledger.forget(kind, "", name=entry["name"])
                continue
            ctx.ledger.created(
                kind,
                found["id"],
                name=entry["name"],
                **{k: v for k, v in entry.items() if k not in ("kind", "key", "name", "status")},
            )


def _okta_release(
    ctx: Context,
    result: StageResult,
    entry: dict[str, Any],
    kind: str,
    *,
    delete: Callable[[str], None],
    restore: Callable[[dict[str, Any]], Any],
) -> None:
    """Created: deleted (or handed to a set that uses it as it is); adopted: restored to the
    recorded state; used: forgotten."""
    key, name, status = entry["key"], entry["name"], entry["status"]
    if status == "used":
        ctx.ledger.forget(entry["kind"], key)
        result.add(
            "release",
            kind,
            name,
            "unchanged",
            detail="not created by this parameter set; left as it is",
        )
        return
    if status == "created":
        heir = ctx.ledger.hand_over(entry["kind"], key)
        if heir:
            result.add(
                "release",
                kind,
                name,
                "unchanged",
                detail=f"still used by parameter set {heir!r}, which now owns it",
            )
            return
        _okta_delete(ctx, result, kind, key, name, delete, ledger_kind=entry["kind"])
        return
    with result.timed() as t:
        try:
            restore(entry)
            action, detail = "restored", "adopted object put back as it was before adoption"
        except OktaAPIError as exc:
            if exc.status != 404:
                result.add("restore", kind, name, "checked", "failed", str(exc), seconds=t["s"])
                return
            action, detail = "unchanged", "not present"
    ctx.ledger.forget(entry["kind"], key)
    result.add("restore", kind, name, action, detail=detail, seconds=t["s"])


def _okta_delete(
    ctx: Context,
    result: StageResult,
    kind: str,
    key: str,
    label: str,
    fn: Callable[[str], None],
    ledger_kind: str = "okta_user",
) -> None:
    with result.timed() as t:
        try:
            fn(key)
            action, detail = "deleted", ""
        except OktaAPIError as exc:
            if exc.status != 404:
                result.add("delete", kind, label, "checked", "failed", str(exc), seconds=t["s"])
                return
            action, detail = "unchanged", "not present"
    ctx.ledger.forget(ledger_kind, key)
    result.add("delete", kind, label, action, detail=detail, seconds=t["s"])
