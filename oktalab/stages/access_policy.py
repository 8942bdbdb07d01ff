"""The authorization server's access policy: does a rule admit this app before anyone signs in?

A custom authorization server (and, on some new orgs, ``default``) may have no access policy,
or none naming this app. Okta then refuses every sign-in at ``/authorize`` and ``/token`` with
``access_denied`` / "Policy evaluation failed for this request, please check the policy
configurations." (developer.okta.com/docs/guides/configure-access-policy/; error listed in
developer.okta.com/docs/reference/api/oidc/#possible-errors). This step reads the policies the
way Okta evaluates them — ACTIVE policies whose ``conditions.clients.include`` names the client
or ``ALL_CLIENTS``, then their ACTIVE rules' grant types, scopes and people — and either
reports the gap, or (``access_policy.create: true``) creates one policy and rule for this
client, recorded in the ledger so teardown removes them.
"""

from __future__ import annotations

import copy
from typing import Any

from ..failpoints import failpoint
from ..results import StageResult
from .context import Context
from .ownership import take

#: Grant types an access-policy rule names (the app's ``refresh_token`` grant is governed by
#: the ``offline_access`` scope, not by a rule grant type) [Okta management spec,
#: AuthorizationServerPolicyRuleConditions.grantTypes].
RULE_GRANTS = {
    "authorization_code",
    "implicit",
    "password",
    "client_credentials",
    "interaction_code",
}


def needed_grants(ctx: Context, live_grants: list[str] | None = None) -> list[str]:
    """The rule grant types this app's sign-ins use: its grant types as Okta holds them (the
    okta_app stage may add ``interaction_code`` for Identity Engine sign-in), else as the
    parameters give them."""
    grants = set(live_grants if live_grants is not None else ctx.params.app.grant_types)
    return sorted(grants & RULE_GRANTS) or ["authorization_code"]


def needed_scopes(ctx: Context) -> list[str]:
    """Scopes the stages request: the token preview's, the custom ones, the portal's."""
    ps = ctx.params
    scopes = {"openid", "profile", "email", *ps.token_preview.scopes, *ps.scopes}
    if ps.portal is not None:
        scopes |= set(ps.portal.additional_scopes)
    if "refresh_token" in ps.app.grant_types:
        scopes.add("offline_access")
    return sorted(scopes)


def _people_admit(rule: dict[str, Any], user_id: str | None, group_ids: set[str]) -> bool:
    people = (rule.get("conditions") or {}).get("people") or {}
    users = people.get("users") or {}
    groups = people.get("groups") or {}
    if user_id and user_id in (users.get("exclude") or []):
        return False
    if group_ids & set(groups.get("exclude") or []):
        return False
    include = set(groups.get("include") or [])
    if "EVERYONE" in include or (group_ids & include):
        return True
    if user_id is None:  # no test user to evaluate: any included person may be the one
        return bool(include or users.get("include"))
    return user_id in (users.get("include") or [])


def admitting_rule(
    policies: list[tuple[dict[str, Any], list[dict[str, Any]]]],
    client_id: str,
    grants: list[str],
    scopes: list[str],
    user_id: str | None = None,
    group_ids: set[str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The first (policy, rule), in priority order, that admits this client, every grant type
    in ``grants``, the ``scopes`` and the user; None when Okta would refuse the sign-in.

    A rule without ``conditions.scopes.include`` (Okta accepts one) or with ``*`` admits any
    scope. ``group_ids`` includes the id of the built-in Everyone group when known.
    """
    group_ids = group_ids or set()
    active = [(p, r) for p, r in policies if p.get("status") == "ACTIVE"]
    for policy, rules in sorted(active, key=lambda pr: pr[0].get("priority", 99)):
        include = ((policy.get("conditions") or {}).get("clients") or {}).get("include") or []
        if "ALL_CLIENTS" not in include and client_id not in include:
            continue
        for rule in sorted(rules, key=lambda r: r.get("priority", 99)):
            if rule.get("status") != "ACTIVE":
                continue
            cond = rule.get("conditions") or {}
            rule_grants = set((cond.get("grantTypes") or {}).get("include") or [])
            if not set(grants) <= rule_grants:
                continue
            rule_scopes = (cond.get("scopes") or {}).get("include")
            if rule_scopes and "*" not in rule_scopes and not set(scopes) <= set(rule_scopes):
                continue
            if not _people_admit(rule, user_id, group_ids):
                continue
            return policy, rule
    return None


def ensure_access_policy(ctx: Context, result: StageResult, server_id: str) -> bool:
    """Check (or create) the access policy that admits this app; True when sign-in may proceed."""
    okta = ctx.okta
    ap = ctx.params.access_policy
    app = ctx.state.get("app")
    if not app:
        return True  # the preview reports the missing app itself
    client_id = app["client_id"]
    with result.timed() as t:
        live = okta.get_app(app["id"])
        live_grants = ((live.get("settings") or {}).get("oauthClient") or {}).get("grant_types")
        grants, scopes = needed_grants(ctx, live_grants), needed_scopes(ctx)
        policies = [
            (p, okta.as_policy_rules(server_id, p["id"])) for p in okta.as_policies(server_id)
        ]
        user_id, group_ids = None, set()
        if ctx.env.test_username:
            user, groups = ctx.test_user()
            if user is not None:
                user_id = user["id"]
                group_ids = {g["id"] for g in groups}
        found = admitting_rule(policies, client_id, grants, scopes, user_id, group_ids)
        action, status = "checked", "ok"
        if found is not None:
            policy, rule = found
            detail = f"rule {rule.get('name')!r} of policy {policy.get('name')!r} admits it"
        elif ap.create and not ctx.writes:  # check mode: report, never create
            status = "failed"
            detail = (
                f"no access policy admits client {client_id}; "
                f"{ctx.repair('claims')} creates policy {ap.name!r}"
            )
        elif ap.create:
            named = next((p for p, _ in policies if p.get("name") == ap.name), None)
            if named is None:
                _create(ctx, server_id, app, grants, scopes)
                action, detail = "created", f"policy {ap.name!r} for client {client_id}"
            else:
                rules = next(r for p, r in policies if p is named)
                action, detail = _update(
                    ctx, server_id, named, rules, client_id, grants, scopes, user_id, group_ids
                )
        else:
            status = "failed"
            detail = (
                f"no ACTIVE access-policy rule on authorization server {server_id!r} admits "
                f"client {client_id} with grant types {grants} and scopes {scopes}"
                + (f" for {ctx.env.test_username}" if user_id else "")
                + ": Okta would refuse the sign-in with 'Policy evaluation failed'. Set "
                "access_policy.create: true to have oktalab create one, or add a rule under "
                "Security > API > Authorization Servers > Access Policies"
            )
    result.add(
        "access policy",
        "AuthorizationServerPolicy",
        f"{server_id}: {app['label']}",
        action,
        status,
        f"grants {', '.join(grants)}; " + detail,
        seconds=t["s"],
    )
    return status == "ok"


def _policy_body(ctx: Context, app: dict[str, Any], client_id: str) -> dict[str, Any]:
    ap = ctx.params.access_policy
    return {
        "type": "OAUTH_AUTHORIZATION_POLICY",
        "status": "ACTIVE",
        "name": ap.name,
        "description": f"Admits {app['label']} (managed by oktalab: {ctx.params.name})",
        "priority": 1,
        "conditions": {"clients": {"include": [client_id]}},
    }


def _rule_body(ctx: Context, grants: list[str], scopes: list[str]) -> dict[str, Any]:
    ap = ctx.params.access_policy
    return {
        "type": "RESOURCE_ACCESS",
        "status": "ACTIVE",
        "name": ap.name,
        "priority": 1,
        "conditions": {
            "people": {"groups": {"include": list(ap.groups)}},
            "grantTypes": {"include": grants},
            "scopes": {"include": scopes},
        },
        "actions": {
            "token": {
                "accessTokenLifetimeMinutes": 60,
                "refreshTokenLifetimeMinutes": 0,
                "refreshTokenWindowMinutes": 10080,
            }
        },
    }


def _create(
    ctx: Context, server_id: str, app: dict[str, Any], grants: list[str], scopes: list[str]
) -> None:
    """Intent, policy, record, rule: a crash anywhere converges (the re-run finds the policy by
    its name and the intent says it is ours; a missing rule is then added by :func:`_update`)."""
    okta, ap = ctx.okta, ctx.params.access_policy
    ctx.ledger.intend("okta_as_policy", ap.name, server=server_id)
    failpoint("before-create:okta_as_policy")
    policy = okta.create_as_policy(server_id, _policy_body(ctx, app, app["client_id"]))
    failpoint("after-create:okta_as_policy")
    ctx.ledger.created("okta_as_policy", policy["id"], server=server_id, name=ap.name)
    okta.create_as_policy_rule(server_id, policy["id"], _rule_body(ctx, grants, scopes))


_VOLATILE = ("_links", "created", "lastUpdated")


def _update(
    ctx: Context,
    server_id: str,
    policy: dict[str, Any],
    rules: list[dict[str, Any]],
    client_id: str,
    grants: list[str],
    scopes: list[str],
    user_id: str | None,
    group_ids: set[str],
) -> tuple[str, str]:
    """The policy named ``access_policy.name`` exists but admits nobody for this app: change
    it only when this set owns (or adopts) it — :func:`ownership.take` — else stop naming the
    owner and the fields that differ. Returns (action, detail)."""
    okta, ap = ctx.okta, ctx.params.access_policy
    cond = policy.get("conditions") or {}
    include = list((cond.get("clients") or {}).get("include") or [])
    diffs: list[str] = []
    if policy.get("status") != "ACTIVE":
        diffs.append("status")
    if "ALL_CLIENTS" not in include and client_id not in include:
        diffs.append("conditions.clients.include")
    rule = next((r for r in rules if r.get("name") == ap.name), rules[0] if rules else None)
    want_rule = _rule_body(ctx, grants, scopes)
    if rule is None:
        diffs.append("rule")
    else:
        rc = rule.get("conditions") or {}
        if rule.get("status") != "ACTIVE":
            diffs.append("rule.status")
        if not set(grants) <= set((rc.get("grantTypes") or {}).get("include") or []):
            diffs.append("rule.conditions.grantTypes.include")
        have_scopes = (rc.get("scopes") or {}).get("include")
        if have_scopes and "*" not in have_scopes and not set(scopes) <= set(have_scopes):
            diffs.append("rule.conditions.scopes.include")
        if not _people_admit(rule, user_id, group_ids):
            diffs.append("rule.conditions.people")
    how = take(
        ctx,
        ledger_kind="okta_as_policy",
        adopt_kind="access_policy",
        name=ap.name,
        obj=policy,
        diffs=diffs,
        step="access policy",
        row_kind="AuthorizationServerPolicy",
        server=server_id,
    )
    if how == "adopted":
        entry = ctx.ledger.entry("okta_as_policy", policy["id"])
        assert entry is not None
        entry["rule_prior"] = (
            {k: v for k, v in rule.items() if k not in _VOLATILE} if rule is not None else None
        )
        ctx.ledger.save()
    base = f"/api/v1/authorizationServers/{server_id}/policies/{policy['id']}"
    if "status" in diffs or "conditions.clients.include" in diffs:
        body = {k: v for k, v in policy.items() if k not in _VOLATILE}
        body["status"] = "ACTIVE"
        body["conditions"] = {**cond, "clients": {"include": [*include, client_id]}}
        okta.put(base, body)
    if rule is None:
        okta.create_as_policy_rule(server_id, policy["id"], want_rule)
    elif any(d.startswith("rule.") for d in diffs):
        body = {k: v for k, v in rule.items() if k not in _VOLATILE}
        rc = copy.deepcopy(body.get("conditions") or {})
        have = set((rc.get("grantTypes") or {}).get("include") or [])
        rc["grantTypes"] = {"include": sorted(have | set(grants))}
        have_scopes = (rc.get("scopes") or {}).get("include")
        if have_scopes and "*" not in have_scopes:
            rc["scopes"] = {"include": sorted(set(have_scopes) | set(scopes))}
        if "rule.conditions.people" in diffs:
            people = rc.setdefault("people", {}).setdefault("groups", {})
            people["include"] = sorted(set(people.get("include") or []) | set(ap.groups))
        body["conditions"] = rc
        body["status"] = "ACTIVE"
        okta.put(f"{base}/rules/{rule['id']}", body)
    action = "adopted" if how == "adopted" else ("updated" if diffs else "unchanged")
    return action, f"policy {ap.name!r}: set {', '.join(diffs)}" if diffs else f"policy {ap.name!r}"
