"""Guide 2: self-service registration into the group, app self-service, and group assignment.

Okta Identity Engine enables registration per app with a profile enrollment policy
(``PROFILE_ENROLLMENT``) mapped to the app. Its one rule says who may register, into which
group, with which profile fields, and whether the email must be verified first.

``plan`` / ``check`` read the policy, its rule, its app mapping, the app's self-service and
the group assignment and compare them with the parameters (:meth:`Context.dry_row` rows,
field diffs); ownership is judged as a run would (a foreign policy that differs is the same
failed row), with the ledger read-only.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import VerificationError
from ..failpoints import failpoint
from ..results import StageResult
from .context import Context
from .kubeobjects import field_diff
from .okta_app import app_of_run, assign_group, plan_without_app
from .ownership import foreign_write, settle, take

STAGE = "registration"
MODES = ("apply", "plan", "check")
LABELS = {
    "email": "Email",
    "firstName": "First name",
    "lastName": "Last name",
    "organization": "Organization",
}


def desired_enrollment(ctx: Context, group_id: str) -> dict[str, Any]:
    r = ctx.params.registration
    assert r is not None
    return {
        "access": "ALLOW",
        "unknownUserAction": "REGISTER",
        "targetGroupIds": [group_id],
        "activationRequirements": {"emailVerification": r.email_verification},
        "profileAttributes": [
            {"name": a, "label": LABELS[a], "required": True} for a in r.profile_attributes
        ],
    }


def _enrollment_differs(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    diffs = []
    for key in ("access", "unknownUserAction", "targetGroupIds", "activationRequirements"):
        if have.get(key) != want[key]:
            diffs.append(key)

    def names(attrs: list[dict[str, Any]] | None) -> list[tuple[Any, bool]]:
        return [(a.get("name"), bool(a.get("required"))) for a in attrs or []]

    if names(have.get("profileAttributes")) != names(want["profileAttributes"]):
        diffs.append("profileAttributes")
    return diffs


def _take_policy(ctx: Context, policy: dict[str, Any], diffs: list[str]) -> str:
    """Who may write the enrollment policy (:func:`~.ownership.take`); its rule's differences
    count as the policy's."""
    r = ctx.params.registration
    assert r is not None
    return take(
        ctx,
        ledger_kind="okta_policy",
        adopt_kind="policy",
        name=r.policy_name,
        obj=policy,
        diffs=[f"rule.{d}" for d in diffs],
        step="enrollment policy",
        row_kind="ProfileEnrollmentPolicy",
    )


def run(ctx: Context, result: StageResult) -> None:
    ps = ctx.params
    r = ps.registration
    assert r is not None and ps.group is not None
    okta = ctx.okta
    app = app_of_run(ctx)
    if not app and ctx.mode == "plan":
        plan_without_app(
            result, STAGE, "the enrollment policy's mapping, self-service and group assignment"
        )
        return
    if not app:
        raise VerificationError("no app in this run: run the okta_app stage first")
    if not ctx.writes:
        _dry_run(ctx, result, app)
        return
    group = ctx.state.get("group") or {}
    if not group:
        found = okta.find_group(ps.group.name)
        if found is None:
            raise VerificationError(
                f"group {ps.group.name!r} not found: run the claims stage first"
            )
        group = {"id": found["id"], "name": ps.group.name}

    # 1. the profile enrollment policy
    known_rules: list[dict[str, Any]] | None = None
    with result.timed() as t:
        policy = settle(
            ctx,
            "okta_policy",
            r.policy_name,
            lambda: okta.find_policy("PROFILE_ENROLLMENT", r.policy_name),
        )
        policy_action = "unchanged"
        if policy is None:
            ctx.ledger.intend("okta_policy", r.policy_name)
            failpoint("before-create:okta_policy")
            policy = okta.create_policy(
                {
                    "type": "PROFILE_ENROLLMENT",
                    "name": r.policy_name,
                    "status": "ACTIVE",
                    "description": f"Self-service registration into {group['name']} (managed by oktalab: {ps.name})",
                }
            )
            failpoint("after-create:okta_policy")
            ctx.ledger.created("okta_policy", policy["id"], name=r.policy_name)
            policy_action = "created"
        else:
            rules = known_rules = okta.policy_rules(policy["id"])
            have = ((rules[0].get("actions") or {}).get("profileEnrollment") or {}) if rules else {}
            diffs = _enrollment_differs(desired_enrollment(ctx, group["id"]), have)
            rule_prior = copy.deepcopy(rules[0]) if rules else {}
            ownership = _take_policy(ctx, policy, diffs)
            if ownership == "adopted":
                policy_action = "adopted"
                entry = ctx.ledger.entry("okta_policy", policy["id"])
                assert entry is not None
                entry["rule_prior"] = {
                    k: v
                    for k, v in rule_prior.items()
                    if k not in ("_links", "created", "lastUpdated")
                }
                ctx.ledger.save()
    result.add(
        "enrollment policy",
        "ProfileEnrollmentPolicy",
        r.policy_name,
        policy_action,
        detail=f"id={policy['id']}",
        seconds=t["s"],
    )

    # 2. its single rule: register unknown users into the group
    with result.timed() as t:
        # read in step 1 when the policy existed (nothing written to it since)
        rules = known_rules if known_rules is not None else okta.policy_rules(policy["id"])
        if not rules:
            raise VerificationError(f"policy {r.policy_name!r} has no rule to configure")
        rule = rules[0]
        want = desired_enrollment(ctx, group["id"])
        have = (rule.get("actions") or {}).get("profileEnrollment") or {}
        diffs = _enrollment_differs(want, have)
        if diffs:
            body = copy.deepcopy(rule)
            body.setdefault("actions", {}).setdefault("profileEnrollment", {}).update(want)
            for k in ("_links", "created", "lastUpdated"):
                body.pop(k, None)
            okta.replace_policy_rule(policy["id"], rule["id"], body)
            action, detail = "updated", "set " + ", ".join(diffs)
        else:
            action, detail = "unchanged", ""
    summary = f"register into {group['name']}, email verification {'on' if r.email_verification else 'off'}"
    result.add(
        "enrollment rule",
        "PolicyRule",
        str(rule.get("name") or rule["id"]),
        action,
        detail=(detail + "; " if detail else "") + summary,
        seconds=t["s"],
    )

    # 3. the policy mapped to the app
    with result.timed() as t:
        mapped = {a.get("id") for a in okta.policy_apps(policy["id"])}
        if app["id"] in mapped:
            action = "unchanged"
        elif not ctx.ledger.owns("okta_app", app["id"]):
            raise foreign_write(
                ctx, "policy -> app", "PolicyMapping", app["label"], "the app's enrollment policy"
            )
        else:
            okta.assign_app_policy(app["id"], policy["id"])
            action = "created"
    result.add(
        "policy -> app",
        "PolicyMapping",
        f"{r.policy_name} -> {app['label']}",
        action,
        seconds=t["s"],
    )

    # 4. app self-service, no approval
    with result.timed() as t:
        live = okta.get_app(app["id"])
        current = bool((live.get("accessibility") or {}).get("selfService"))
        if current == r.app_self_service:
            action = "unchanged"
        elif not ctx.ledger.owns("okta_app", app["id"]):
            raise foreign_write(
                ctx, "app self-service", "OktaApp", app["label"], "accessibility.selfService"
            )
        else:
            body = copy.deepcopy(live)
            body.setdefault("accessibility", {})["selfService"] = r.app_self_service
            body.get("credentials", {}).get("oauthClient", {}).pop("client_secret", None)
            for k in ("_links", "_embedded"):
                body.pop(k, None)
            okta.replace_app(app["id"], body)
            action = "updated"
    result.add(
        "app self-service",
        "OktaApp",
        app["label"],
        action,
        detail=f"selfService={r.app_self_service}",
        seconds=t["s"],
    )

    # 5. the group assigned to the app
    if r.assign_group_to_app:
        assign_group(ctx, result, "assign group", app, group["id"], group["name"])


def _dry_run(ctx: Context, result: StageResult, app: dict[str, Any]) -> None:
    """Plan / check: what :func:`run` would change, read and compared; nothing written."""
    ps = ctx.params
    r = ps.registration
    assert r is not None and ps.group is not None
    okta = ctx.okta
    with result.timed() as t:
        found = okta.find_group(ps.group.name)
        policy = okta.find_policy("PROFILE_ENROLLMENT", r.policy_name)
        rules = okta.policy_rules(policy["id"]) if policy is not None else []
    group_id = found["id"] if found else "(the group the claims stage creates)"
    want = desired_enrollment(ctx, group_id)
    have = ((rules[0].get("actions") or {}).get("profileEnrollment") or {}) if rules else {}
    diffs = _enrollment_differs(want, have) if policy is not None else []
    change: str | None = "create"
    if policy is not None:
        ownership = _take_policy(ctx, policy, diffs)
        change = "adopt" if ownership == "adopted" else None
    ctx.dry_row(result, "ProfileEnrollmentPolicy", r.policy_name, change, seconds=t["s"])

    rule_name = str(rules[0].get("name") or rules[0]["id"]) if rules else r.policy_name
    rule_change: str | None = "update"
    if policy is None:
        diff = f"register into {ps.group.name}"
    elif not rules:
        raise VerificationError(f"policy {r.policy_name!r} has no rule to configure")
    else:
        rule_change = "update" if diffs else None
        diff = field_diff(have, want, tuple(diffs), secret=False)
    ctx.dry_row(result, "PolicyRule", rule_name, rule_change, diff)

    owned = ctx.ledger.owns("okta_app", app["id"])
    mapped = {a.get("id") for a in okta.policy_apps(policy["id"])} if policy is not None else set()
    if app["id"] not in mapped and not owned:
        raise foreign_write(
            ctx, "policy -> app", "PolicyMapping", app["label"], "the app's enrollment policy"
        )
    ctx.dry_row(
        result,
        "PolicyMapping",
        f"{r.policy_name} -> {app['label']}",
        None if app["id"] in mapped else "create",
    )

    live = okta.get_app(app["id"])
    current = bool((live.get("accessibility") or {}).get("selfService"))
    if current != r.app_self_service and not owned:
        raise foreign_write(
            ctx, "app self-service", "OktaApp", app["label"], "accessibility.selfService"
        )
    ctx.dry_row(
        result,
        "OktaApp",
        app["label"],
        None if current == r.app_self_service else "update",
        f"accessibility.selfService: {current} -> {r.app_self_service}",
    )

    if r.assign_group_to_app:
        if found is None:
            ctx.dry_row(
                result, "AppGroupAssignment", f"{app['label']} -> {ps.group.name}", "create"
            )
        else:
            assign_group(ctx, result, "assign group", app, found["id"], ps.group.name)
