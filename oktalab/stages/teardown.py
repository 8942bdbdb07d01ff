"""Teardown: remove what this parameter set created, and only that.

Kubernetes objects are removed only when they carry this parameter set's ownership labels;
Okta objects only when the ledger says oktalab created them (an app or claim that existed
before is left alone). Objects already gone are reported, not treated as errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

from ..errors import KubeAPIError, OktaAPIError
from ..kube import owned_by
from ..results import StageResult
from .context import Context
from .kubeobjects import LEDGER_KIND, ledger_key

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
            key = ledger_key(kind, ns, name)
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

    if not (ctx.env.okta_org_url and ctx.env.okta_api_token):
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
    for entry in ctx.ledger.items("okta_user"):
        _okta_delete(
            ctx,
            result,
            "OktaUser",
            entry["key"],
            entry.get("login", entry["key"]),
            lambda k: okta.delete_user(k),
        )
    for entry in ctx.ledger.items("okta_claim"):
        server = entry.get("server", ps.authorization_server)
        _okta_delete(
            ctx,
            result,
            "AuthorizationServerClaim",
            entry["key"],
            entry.get("name", entry["key"]),
            partial(okta.delete_claim, server),
            ledger_kind="okta_claim",
        )
    for entry in ctx.ledger.items("okta_scope"):
        server = entry.get("server", ps.authorization_server)
        _okta_delete(
            ctx,
            result,
            "AuthorizationServerScope",
            entry["key"],
            entry.get("name", entry["key"]),
            partial(okta.delete_scope, server),
            ledger_kind="okta_scope",
        )
    for entry in ctx.ledger.items("okta_policy"):
        _okta_delete(
            ctx,
            result,
            "Policy",
            entry["key"],
            entry.get("name", entry["key"]),
            lambda k: okta.delete_policy(k),
            ledger_kind="okta_policy",
        )
    for entry in ctx.ledger.items("okta_trusted_origin"):
        _okta_delete(
            ctx,
            result,
            "TrustedOrigin",
            entry["key"],
            entry.get("origin", entry["key"]),
            lambda k: okta.delete_trusted_origin(k),
            ledger_kind="okta_trusted_origin",
        )
    for entry in ctx.ledger.items("okta_app"):

        def drop_app(k: str) -> None:
            okta.deactivate_app(k)
            okta.delete_app(k)

        _okta_delete(
            ctx,
            result,
            "OktaApp",
            entry["key"],
            entry.get("label", entry["key"]),
            drop_app,
            ledger_kind="okta_app",
        )
    for entry in ctx.ledger.items("okta_group"):
        _okta_delete(
            ctx,
            result,
            "Group",
            entry["key"],
            entry.get("name", entry["key"]),
            lambda k: okta.delete_group(k),
            ledger_kind="okta_group",
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
