"""Stage 2: authorization server metadata and JWKS, custom claims, and a token preview."""

from __future__ import annotations

from typing import Any

from .. import oidc
from ..errors import OktaAPIError, OktalabError, VerificationError
from ..failpoints import failpoint
from ..params import ClaimParams
from ..results import StageResult, write_claims
from .access_policy import ensure_access_policy
from .context import Context
from .kubeobjects import field_diff
from .okta_app import app_of_run
from .ownership import foreign_write, settle, take

STAGE = "claims"
MODES = ("apply", "plan", "check")


def desired_claim(c: ClaimParams) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": c.name,
        "status": "ACTIVE",
        "claimType": c.claim_type,
        "valueType": c.value_type,
        "value": c.value,
        "alwaysIncludeInToken": True if c.claim_type == "RESOURCE" else c.always_include_in_token,
        "conditions": {"scopes": list(c.scopes)},
    }
    if c.group_filter_type:
        body["group_filter_type"] = c.group_filter_type
    return body


def _claim_diff(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    diffs = []
    for k, v in want.items():
        cur = have.get(k)
        if k == "conditions":
            if sorted((cur or {}).get("scopes") or []) != sorted(v["scopes"]):
                diffs.append("conditions.scopes")
        elif cur != v:
            diffs.append(k)
    # a setting removed from the parameters is removed from the claim too
    if "group_filter_type" not in want and have.get("group_filter_type"):
        diffs.append("group_filter_type")
    return diffs


def ensure_claims(
    ctx: Context, result: StageResult, server_id: str, claims: list[ClaimParams]
) -> None:
    okta = ctx.okta
    existing: dict[tuple[str, str], dict[str, Any]] = {}
    for live in okta.claims(server_id):
        existing.setdefault((live["name"], live.get("claimType", "")), live)
    for c in claims:
        want = desired_claim(c)
        have = existing.get((c.name, c.claim_type))
        if not ctx.writes:
            diffs = [] if have is None else _claim_diff(want, have)
            change = "create" if have is None else ("update" if diffs else None)
            diff = "" if have is None else field_diff(have, want, tuple(diffs), secret=False)
            ctx.dry_row(result, "AuthorizationServerClaim", c.name, change, diff)
            continue
        with result.timed() as t:
            if have is None:
                ctx.ledger.intend("okta_claim", c.name, server=server_id)
                failpoint("before-create:okta_claim")
                made = okta.create_claim(server_id, want)
                failpoint("after-create:okta_claim")
                ctx.ledger.created("okta_claim", made["id"], name=c.name, server=server_id)
                action, detail = "created", ""
            else:
                diffs = _claim_diff(want, have)
                ownership = take(
                    ctx,
                    ledger_kind="okta_claim",
                    adopt_kind="claim",
                    name=c.name,
                    obj=have,
                    diffs=diffs,
                    step=f"claim {c.name}",
                    row_kind="AuthorizationServerClaim",
                    server=server_id,
                )
                if diffs:
                    okta.replace_claim(server_id, have["id"], {**want, "id": have["id"]})
                action = (
                    "adopted" if ownership == "adopted" else "updated" if diffs else "unchanged"
                )
                detail = ("changed " + ", ".join(diffs)) if diffs else ""
                if ownership == "foreign":
                    detail = "not created by this parameter set; used as it is"
        desc = f"{c.claim_type} {c.value_type} {c.group_filter_type + ' ' if c.group_filter_type else ''}{c.value}"
        result.add(
            f"claim {c.name}",
            "AuthorizationServerClaim",
            c.name,
            action,
            detail=(detail + "; " if detail else "") + desc,
            seconds=t["s"],
        )


def remove_dropped(
    ctx: Context, result: StageResult, server_id: str, kind: str, row_kind: str, wanted: set[str]
) -> None:
    """Claims or scopes this set created on ``server_id`` that the parameters no longer list
    are deleted; adopted ones are restored to their recorded state."""
    okta = ctx.okta
    for entry in ctx.ledger.items(kind, "created", "adopted"):
        if entry.get("server", server_id) != server_id or entry["name"] in wanted:
            continue
        path = "claims" if kind == "okta_claim" else "scopes"
        if not ctx.writes:
            change = "restore" if entry["status"] == "adopted" else "delete"
            ctx.dry_row(result, row_kind, entry["name"], change, "no longer in the parameters")
            continue
        with result.timed() as t:
            try:
                if entry["status"] == "adopted":
                    okta.put(
                        f"/api/v1/authorizationServers/{server_id}/{path}/{entry['key']}",
                        entry["prior"],
                    )
                    action, detail = "updated", "no longer in the parameters: restored"
                else:
                    okta.delete(f"/api/v1/authorizationServers/{server_id}/{path}/{entry['key']}")
                    action, detail = "deleted", "no longer in the parameters"
            except OktaAPIError as exc:
                if exc.status != 404:
                    raise
                action, detail = "unchanged", "already gone"
            ctx.ledger.forget(kind, entry["key"])
        result.add(
            f"remove {entry['name']}",
            row_kind,
            entry["name"],
            action,
            detail=detail,
            seconds=t["s"],
        )


def run(ctx: Context, result: StageResult) -> None:
    ps = ctx.params
    env = ctx.env
    env.require("okta_org_url")
    assert env.okta_org_url
    server_id = ps.authorization_server
    if not ctx.writes:  # the app as Okta has it now, not as an old state.json says
        app_of_run(ctx)

    with result.timed() as t:
        meta = ctx.discover()
    result.add(
        "metadata",
        "AuthorizationServer",
        server_id,
        "checked",
        detail=f"issuer={meta.issuer}",
        seconds=t["s"],
    )
    for key in ("token_endpoint", "authorization_endpoint", "end_session_endpoint"):
        value = getattr(meta, key)
        result.add(
            key,
            "Endpoint",
            key,
            "checked",
            "ok" if value else "failed",
            value or "missing from the metadata",
        )

    with result.timed() as t:
        jwks = oidc.fetch_jwks(meta.jwks_uri)
        try:
            kids = oidc.check_jwks(jwks)
            status, detail = "ok", f"{len(kids)} signing key(s): {', '.join(kids)}"
        except VerificationError as exc:
            kids, status, detail = [], "failed", str(exc)
    result.add("jwks", "JWKS", meta.jwks_uri, "checked", status, detail, seconds=t["s"])
    ctx.state["metadata"] = {
        "issuer": meta.issuer,
        "authorization_endpoint": meta.authorization_endpoint,
        "token_endpoint": meta.token_endpoint,
        "end_session_endpoint": meta.end_session_endpoint,
        "jwks_uri": meta.jwks_uri,
    }
    ctx.state["jwks"] = jwks

    if ps.group is not None:
        ensure_group(ctx, result)
    if ps.app_groups_claim is not None:
        ensure_app_groups_claim(ctx, result, meta.issuer)
    ensure_scopes(ctx, result, server_id)
    ensure_claims(ctx, result, server_id, ps.claims)
    remove_dropped(
        ctx,
        result,
        server_id,
        "okta_claim",
        "AuthorizationServerClaim",
        {c.name for c in ps.claims},
    )
    remove_dropped(ctx, result, server_id, "okta_scope", "AuthorizationServerScope", set(ps.scopes))
    if ctx.mode == "plan":  # a sign-in: a check, nothing to plan
        pass
    elif ensure_access_policy(ctx, result, server_id):
        preview_tokens(ctx, result, meta, jwks, kids)
    elif ps.token_preview.enabled:
        result.add(
            "token preview",
            "Tokens",
            "preview",
            "checked",
            "skipped",
            "no access policy admits the app (see the access policy row)",
        )


def ensure_scopes(ctx: Context, result: StageResult, server_id: str) -> None:
    if not ctx.params.scopes:
        return
    existing = {s["name"]: s for s in ctx.okta.scopes(server_id)}
    for name in ctx.params.scopes:
        if not ctx.writes:
            ctx.dry_row(
                result, "AuthorizationServerScope", name, None if name in existing else "create"
            )
            continue
        with result.timed() as t:
            if name in existing:
                ownership = take(
                    ctx,
                    ledger_kind="okta_scope",
                    adopt_kind="scope",
                    name=name,
                    obj=existing[name],
                    diffs=[],
                    step=f"scope {name}",
                    row_kind="AuthorizationServerScope",
                    server=server_id,
                )
                action = "adopted" if ownership == "adopted" else "unchanged"
            else:
                ctx.ledger.intend("okta_scope", name, server=server_id)
                failpoint("before-create:okta_scope")
                made = ctx.okta.create_scope(
                    server_id,
                    {
                        "name": name,
                        "displayName": name,
                        "description": f"{name} (managed by oktalab)",
                        "consent": "IMPLICIT",
                        "metadataPublish": "NO_CLIENTS",
                    },
                )
                failpoint("after-create:okta_scope")
                ctx.ledger.created("okta_scope", made["id"], name=name, server=server_id)
                action = "created"
        result.add(f"scope {name}", "AuthorizationServerScope", name, action, seconds=t["s"])


def ensure_group(ctx: Context, result: StageResult) -> None:
    g = ctx.params.group
    assert g is not None
    if not ctx.writes:
        found = ctx.okta.find_group(g.name)
        ctx.dry_row(result, "Group", g.name, None if found else "create")
        if found:
            ctx.state["group"] = {"id": found["id"], "name": g.name}
        return
    with result.timed() as t:
        group = None
        rid = ctx.ledger.recorded_id("okta_group", g.name)
        if rid:
            try:
                group = ctx.okta.get_group(rid)
            except OktaAPIError as exc:
                if exc.status != 404:
                    raise
                ctx.ledger.forget("okta_group", rid)
        group = group or settle(ctx, "okta_group", g.name, lambda: ctx.okta.find_group(g.name))
        if group is None:
            ctx.ledger.intend("okta_group", g.name)
            failpoint("before-create:okta_group")
            group = ctx.okta.create_group(g.name, g.description)
            failpoint("after-create:okta_group")
            ctx.ledger.created("okta_group", group["id"], name=g.name)
            action = "created"
        else:
            profile = group.get("profile") or {}
            diffs = (
                ["profile.description"]
                if (profile.get("description") or "") != g.description
                else []
            )
            ownership = take(
                ctx,
                ledger_kind="okta_group",
                adopt_kind="group",
                name=g.name,
                obj=group,
                diffs=diffs,
                step="group",
                row_kind="Group",
            )
            if diffs:
                ctx.okta.replace_group(
                    group["id"], {**profile, "name": g.name, "description": g.description}
                )
            action = "adopted" if ownership == "adopted" else "updated" if diffs else "unchanged"
    ctx.state["group"] = {"id": group["id"], "name": g.name}
    result.add("group", "Group", g.name, action, detail=f"id={group['id']}", seconds=t["s"])


def ensure_app_groups_claim(ctx: Context, result: StageResult, issuer: str) -> None:
    c = ctx.params.app_groups_claim
    app = ctx.state.get("app")
    assert c is not None
    if not app and ctx.mode == "plan":
        ctx.dry_row(result, "AppGroupsClaim", c.name, "create", "after okta_app creates the app")
        return
    if not app:
        result.add(
            "app groups claim",
            "AppGroupsClaim",
            c.name,
            "checked",
            "failed",
            "run the okta_app stage first",
        )
        return
    want = {
        "name": c.name,
        "valueType": "GROUPS",
        "groupFilterType": c.filter_type,
        "value": c.value,
    }
    if not ctx.writes:
        have = ctx.okta.app_groups_claim(app["id"])
        diffs = tuple(k for k, v in want.items() if have.get(k) != v)
        change = None if not diffs else ("create" if not have.get("name") else "update")
        diff = field_diff(have, want, diffs, secret=False) if change == "update" else ""
        ctx.dry_row(result, "AppGroupsClaim", f"{app['label']}: {c.name}", change, diff)
        return
    with result.timed() as t:
        have = ctx.okta.app_groups_claim(app["id"])
        if all(have.get(k) == v for k, v in want.items()):
            action = "unchanged"
        elif not ctx.ledger.owns("okta_app", app["id"]):
            raise foreign_write(
                ctx, "app groups claim", "AppGroupsClaim", app["label"], "the groups claim"
            )
        else:
            body = {**want, "issuerMode": have.get("issuerMode") or "ORG_URL"}
            ctx.okta.set_app_groups_claim(app["id"], body)
            action = "created" if not have.get("name") else "updated"
    result.add(
        "app groups claim",
        "AppGroupsClaim",
        f"{app['label']}: {c.name}",
        action,
        detail=f"ID token, {c.filter_type} {c.value!r}",
        seconds=t["s"],
    )


def preview_tokens(
    ctx: Context, result: StageResult, meta: oidc.Metadata, jwks: dict[str, Any], kids: list[str]
) -> None:
    """The guide's Token Preview: sign the test user in, show the claims, check ours are there."""
    ps = ctx.params
    env = ctx.env
    app = ctx.state.get("app")
    if not ps.token_preview.enabled:
        result.add(
            "token preview",
            "Tokens",
            "preview",
            "checked",
            "skipped",
            "token_preview.enabled is false",
        )
        return
    if not app:
        result.add(
            "token preview",
            "Tokens",
            "preview",
            "checked",
            "skipped",
            "run the okta_app stage first (no client id)",
        )
        return
    if env.test_username is None or env.test_password is None:
        result.add(
            "token preview",
            "Tokens",
            "preview",
            "checked",
            "skipped",
            "set OKTALAB_TEST_USERNAME and OKTALAB_TEST_PASSWORD",
        )
        return
    assert env.okta_org_url
    from .okta_app import NO_SECRET, sign_in_secret  # web apps authenticate at /token

    found, secret = sign_in_secret(ctx, app)
    if not found:
        result.add("token preview", "Tokens", "preview", "checked", "skipped", NO_SECRET)
        return
    with result.timed() as t:
        try:
            tokens = oidc.headless_login(
                org_url=env.okta_org_url,
                metadata=meta,
                client_id=app["client_id"],
                redirect_uri=ctx.redirect_uris()[0],
                username=env.test_username,
                password=env.test_password,
                scopes=ps.token_preview.scopes,
                client_secret=secret,
                sign_in=ps.sign_in,
            )
        except OktalabError as exc:
            result.add(
                "sign in",
                "Tokens",
                env.test_username,
                "checked",
                "failed",
                str(exc),
                seconds=t["s"],
            )
            return
    result.add(
        "sign in",
        "Tokens",
        env.test_username,
        "checked",
        detail=f"scopes: {tokens.scope}; signed in through "
        + (
            "the Identity Engine (interaction code)" if tokens.sign_in == "idx" else "/api/v1/authn"
        ),
        seconds=t["s"],
    )

    access, ident = tokens.access_claims(), tokens.id_claims()
    kid = tokens.access_header().get("kid")
    result.add(
        "token kid",
        "Tokens",
        str(kid),
        "checked",
        "ok" if kid in kids else "failed",
        "kid is in the JWKS" if kid in kids else "kid not in the JWKS",
    )
    try:
        oidc.verify_token(
            tokens.access_token.reveal(),
            jwks,
            issuer=meta.issuer,
            leeway=ps.clock_skew_seconds,
            clock_skew=meta.clock_skew,
        )
        result.add(
            "access token signature",
            "Tokens",
            "access_token",
            "checked",
            detail=f"RS256 signature and times valid ({ps.clock_skew_seconds:g} s leeway; "
            f"server clock {meta.clock_skew:+.0f} s from ours)",
        )
    except Exception as exc:  # jwt errors
        result.add(
            "access token signature",
            "Tokens",
            "access_token",
            "checked",
            "failed",
            f"{type(exc).__name__}: {exc}",
        )
    requested = set(ps.token_preview.scopes)
    user_groups: list[str] | None = None
    for c in ps.claims:
        token = access if c.claim_type == "RESOURCE" else ident
        which = "access token" if c.claim_type == "RESOURCE" else "ID token"
        applies = not c.scopes or bool(requested & set(c.scopes))
        if applies and c.value_type == "GROUPS":
            if user_groups is None:
                user, groups = ctx.test_user()
                if user is None:  # Okta's own 404, with its words
                    user = ctx.okta.get_user(env.test_username)
                user_groups = [g["profile"]["name"] for g in groups]
            expected = sorted(
                n for n in user_groups if group_matches(c.group_filter_type or "", c.value, n)
            )
            got = sorted(token.get(c.name) or [])
            ok = got == expected
            result.add(
                f"claim {c.name} in token",
                "Claim",
                c.name,
                "checked",
                "ok" if ok else "failed",
                f"{which}: {got!r}"
                + ("" if ok else f", expected {expected!r} from the user's groups"),
            )
        elif not applies:
            result.add(
                f"claim {c.name} in token",
                "Claim",
                c.name,
                "checked",
                "skipped",
                f"tied to scopes {c.scopes}, not requested",
            )
        elif c.name in token:
            result.add(
                f"claim {c.name} in token",
                "Claim",
                c.name,
                "checked",
                detail=f"{which}: {token[c.name]!r}",
            )
        else:
            result.add(
                f"claim {c.name} in token",
                "Claim",
                c.name,
                "checked",
                "failed",
                f"missing from the {which}",
            )
    result.outputs["preview"] = {"access_token": access, "id_token": ident}
    # For the run's report: the decoded claims, masked where secret-like; never a token.
    write_claims(ctx.run_dir / "token_claims.json", result.outputs["preview"])


def group_matches(filter_type: str, value: str, name: str) -> bool:
    """Okta's group filter semantics for GROUPS claims."""
    import re

    if filter_type == "REGEX":
        return re.fullmatch(value, name) is not None
    if filter_type == "STARTS_WITH":
        return name.startswith(value)
    if filter_type == "EQUALS":
        return name == value
    if filter_type == "CONTAINS":
        return value in name
    return False
