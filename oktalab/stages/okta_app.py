"""Stage 1: the Okta OIDC app (guide 1: SPA with PKCE; guide 2: Web app with a secret)."""

from __future__ import annotations

import base64
import copy
import os
from pathlib import Path
from typing import Any

from .. import oidc
from ..errors import OktaAPIError, VerificationError
from ..failpoints import failpoint
from ..params import AppParams
from ..results import StageResult
from ..settings import Secret
from . import trusted_origins
from .context import Context
from .kubeobjects import field_diff
from .ownership import ForeignObject, foreign_write, settle, take

STAGE = "okta_app"
MODES = ("apply", "plan", "check")


def desired_app(
    p: AppParams, redirect_uris: list[str], post_logout_redirect_uris: list[str] | None = None
) -> dict[str, Any]:
    """The app as Okta's Apps API wants it, for the app type in the parameters."""
    browser = p.type == "browser"
    oauth_client: dict[str, Any] = {
        "application_type": p.type,
        "grant_types": list(p.grant_types),
        "response_types": ["code"],
        "redirect_uris": list(redirect_uris),
        "post_logout_redirect_uris": list(
            p.post_logout_redirect_uris
            if post_logout_redirect_uris is None
            else post_logout_redirect_uris
        ),
        "consent_method": "TRUSTED",
    }
    if "refresh_token" in p.grant_types:
        oauth_client["refresh_token"] = {
            "rotation_type": "ROTATE" if browser else "STATIC",
            "leeway": 30,
        }
    return {
        "name": "oidc_client",
        "label": p.label,
        "signOnMode": "OPENID_CONNECT",
        "credentials": {
            "oauthClient": {
                "token_endpoint_auth_method": "none" if browser else "client_secret_basic",
                "pkce_required": p.pkce,
                "autoKeyRotation": True,
            }
        },
        "settings": {"oauthClient": oauth_client},
    }


def _differences(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    diffs = []
    for section in ("credentials", "settings"):
        w_oc = want[section]["oauthClient"]
        h_oc = (have.get(section) or {}).get("oauthClient") or {}
        for key, value in w_oc.items():
            current = h_oc.get(key)
            if key in (
                "grant_types",
                "response_types",
                "redirect_uris",
                "post_logout_redirect_uris",
            ):
                same = sorted(value) == sorted(current or [])
            elif key == "refresh_token":
                same = (current or {}).get("rotation_type") == value["rotation_type"]
            else:
                same = current == value
            if not same:
                diffs.append(f"{section}.oauthClient.{key}")
    return diffs


# Fixed at creation: Okta derives the credentials and the allowed flows from them.
FIXED = (
    "settings.oauthClient.application_type",
    "credentials.oauthClient.token_endpoint_auth_method",
)


def find_app(ctx: Context, label: str) -> dict[str, Any] | None:
    """The app by the id this set recorded (lists lag behind creates), else by its label
    (ACTIVE or INACTIVE, so a deactivated app is found instead of duplicated)."""
    rid = ctx.ledger.recorded_id("okta_app", label)
    if rid:
        try:
            return ctx.okta.get_app(rid)
        except OktaAPIError as exc:
            if exc.status != 404:
                raise
            ctx.ledger.forget("okta_app", rid)
    return settle(ctx, "okta_app", label, lambda: ctx.okta.find_app(label))


def app_of_run(ctx: Context) -> dict[str, Any] | None:
    """The app the later stages work with: ``{id, client_id, label, type}`` or None.

    ``apply``: what the okta_app stage of this run recorded in ``state.json``; in a run
    folder without it (``oktalab run PARAMS --stages portal``, the repair ``check`` names),
    the app looked up as below. ``plan`` and ``check`` (whose stages share no state): always
    the app as Okta has it now, looked up by the id this set recorded or by its label (reads
    only), so a deleted app is not taken from an old ``state.json``.
    """
    if ctx.writes and ctx.state.get("app"):
        return dict(ctx.state["app"])
    found = find_app(ctx, ctx.params.app.label)
    if found is None:
        ctx.state.pop("app", None)
        return None
    ctx.state["app"] = {
        "id": found["id"],
        "client_id": found["credentials"]["oauthClient"]["client_id"],
        "label": ctx.params.app.label,
        "type": ctx.params.app.type,
    }
    return dict(ctx.state["app"])


def plan_without_app(result: StageResult, stage: str, what: str) -> None:
    """The plan row of a stage whose objects need the app's id, when there is no app yet."""
    result.add(
        "plan",
        "Stage",
        stage,
        "planned",
        detail=f"create: {what} follow the Okta app, which does not exist yet",
    )


def run(ctx: Context, result: StageResult) -> None:
    p = ctx.params.app
    okta = ctx.okta
    want = desired_app(p, ctx.redirect_uris(), ctx.post_logout_redirect_uris())
    if _signs_in_through_idx(ctx):
        # Okta's embedded sign-in (interaction code flow) needs the grant on the app
        want["settings"]["oauthClient"]["grant_types"].append("interaction_code")

    if not ctx.writes:
        _dry_run(ctx, result, want)
        return
    with result.timed() as t:
        app = find_app(ctx, p.label)
        if app is None:
            ctx.ledger.intend("okta_app", p.label)
            failpoint("before-create:okta_app")
            app = okta.create_app(want, activate=True)
            failpoint("after-create:okta_app")
            ctx.ledger.created("okta_app", app["id"], name=p.label)
            _record_secrets(ctx, app["id"])
            action, detail = "created", ""
        else:
            diffs = _differences(want, app)
            inactive = app.get("status") != "ACTIVE"
            reconciled = bool(ctx.ledger.intents("okta_app", p.label))
            ownership = take(
                ctx,
                ledger_kind="okta_app",
                adopt_kind="app",
                name=p.label,
                obj=app,
                diffs=diffs + (["status"] if inactive else []),
                step="app",
                row_kind="OktaApp",
            )
            if reconciled:  # killed right after the create: its secret is ours too
                _record_secrets(ctx, app["id"])
            fixed = [d for d in diffs if d in FIXED]
            if fixed:
                raise ForeignObject(
                    "app",
                    "OktaApp",
                    p.label,
                    owner=None,
                    diffs=fixed,
                    reason="Okta cannot change an app's type or client authentication method "
                    "in place (its credentials and flows follow from them); remove the app "
                    "(oktalab teardown, when this set created it) and run again, or choose "
                    "another label",
                )
            if diffs:
                body = copy.deepcopy(app)
                for section in ("credentials", "settings"):
                    body.setdefault(section, {}).setdefault("oauthClient", {}).update(
                        want[section]["oauthClient"]
                    )
                body["credentials"]["oauthClient"].pop("client_secret", None)
                for k in ("_links", "_embedded"):
                    body.pop(k, None)
                app = okta.replace_app(app["id"], body)
            if inactive:
                okta.activate_app(app["id"])
                app = okta.get_app(app["id"])
                diffs.append("status")
            if ownership == "adopted":
                action, detail = "adopted", ("changed " + ", ".join(diffs)) if diffs else ""
            elif diffs:
                action, detail = "updated", "changed " + ", ".join(diffs)
            else:
                action, detail = "unchanged", ""
            if ownership == "foreign":
                detail = "not created by this parameter set; used as it is"
    client_id = app["credentials"]["oauthClient"]["client_id"]
    result.add(
        "app",
        "OktaApp",
        p.label,
        action,
        detail=(detail + " " if detail else "") + f"client_id={client_id} type={p.type}",
        seconds=t["s"],
    )
    if app.get("status") != "ACTIVE":
        result.add(
            "app status",
            "OktaApp",
            p.label,
            "checked",
            "failed",
            f"app is {app.get('status')}, expected ACTIVE",
        )

    ctx.state["app"] = {"id": app["id"], "client_id": client_id, "label": p.label, "type": p.type}
    if p.assign_everyone:
        assign_group(ctx, result, "assign Everyone", app, okta.everyone_group()["id"], "Everyone")
    if p.type == "browser":  # the browser's token request is cross-origin (issue 18 item 10)
        trusted_origins.ensure(ctx, result, ctx.redirect_uris())


def _dry_run(ctx: Context, result: StageResult, want: dict[str, Any]) -> None:
    """Plan / check: read the app, its Everyone assignment and Trusted Origins; write nothing."""
    p = ctx.params.app
    with result.timed() as t:
        app = find_app(ctx, p.label)
        diffs = [] if app is None else _differences(want, app)
    change = "create" if app is None else ("update" if diffs else None)
    diff = field_diff(app, want, tuple(diffs), secret=False) if app is not None else ""
    ctx.dry_row(result, "OktaApp", p.label, change, diff, t["s"])
    if app is None:
        return
    ctx.state["app"] = {
        "id": app["id"],
        "client_id": app["credentials"]["oauthClient"]["client_id"],
        "label": p.label,
        "type": p.type,
    }
    if p.assign_everyone:
        assign_group(
            ctx, result, "assign Everyone", app, ctx.okta.everyone_group()["id"], "Everyone"
        )
    if p.type == "browser":
        trusted_origins.ensure(ctx, result, ctx.redirect_uris())


def _signs_in_through_idx(ctx: Context) -> bool:
    """Whether the token preview and gateway checks will use the Identity Engine flow."""
    if ctx.params.sign_in == "authn" or not ctx.env.okta_org_url:
        return False
    try:
        return oidc.choose_sign_in(ctx.env.okta_org_url, ctx.params.sign_in) == "idx"
    except VerificationError:
        return False


def assign_group(
    ctx: Context,
    result: StageResult,
    step: str,
    app: dict[str, Any],
    group_id: str,
    group_name: str,
) -> None:
    """Assign a group to the app unless it already is (Okta's PUT is idempotent; the row is not)."""
    with result.timed() as t:
        assigned = group_id in {g["id"] for g in ctx.okta.app_groups(app["id"])}
    if not ctx.writes:
        name = f"{app['label']} -> {group_name}"
        ctx.dry_row(result, "AppGroupAssignment", name, None if assigned else "create")
        return
    with result.timed() as t:
        if assigned:
            action = "unchanged"
        elif not ctx.ledger.owns("okta_app", app["id"]):
            raise foreign_write(
                ctx, step, "AppGroupAssignment", app["label"], f"assigning {group_name}"
            )
        else:
            ctx.okta.assign_group(app["id"], group_id)
            ctx.ledger.created(
                "okta_app_group", f"{app['id']}/{group_id}", name=f"{app['label']} -> {group_name}"
            )
            action = "created"
    result.add(
        step, "AppGroupAssignment", f"{app['label']} -> {group_name}", action, seconds=t["s"]
    )


def _record_secrets(ctx: Context, app_id: str) -> None:
    """The secret Okta made with a web app is this set's: record its id (never its value)."""
    if ctx.params.app.type != "web":
        return
    for sec in ctx.okta.client_secrets(app_id):
        if sec.get("status") == "ACTIVE":
            ctx.ledger.created("okta_client_secret", sec["id"], name=sec["id"], app=app_id)


def _readable(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "****" not in value


def client_secret(ctx: Context) -> Secret | None:
    """A working client secret for a web app, or None when none is readable.

    Candidates, each checked against the org (introspection) before use:
    ``OKTALAB_CLIENT_SECRET`` (or ``_FILE``); the app's ACTIVE secrets as Okta lists them
    (real Okta returns the value in ``GET /apps/{id}/credentials/secrets``, recorded traffic
    in okta/terraform-provider-okta's VCR cassettes; the secrets this set created first);
    the value already stored in the portal's Kubernetes Secret.
    """
    app = ctx.state.get("app") or {}
    if not app.get("client_id"):
        raise VerificationError("no app recorded for this run: run the okta_app stage first")
    if app.get("id"):
        reconcile_secrets(ctx, app["id"])
    candidates: list[Secret] = []
    given = os.environ.get("OKTALAB_CLIENT_SECRET")
    if not given and os.environ.get("OKTALAB_CLIENT_SECRET_FILE"):
        given = Path(os.environ["OKTALAB_CLIENT_SECRET_FILE"]).read_text().strip()
    if given:
        candidates.append(Secret(given))
    if app.get("id"):
        listed = [
            s
            for s in ctx.okta.client_secrets(app["id"])
            if s.get("status") == "ACTIVE" and _readable(s.get("client_secret"))
        ]
        listed.sort(key=lambda s: not ctx.ledger.owns("okta_client_secret", s["id"]))
        candidates += [Secret(s["client_secret"]) for s in listed]
    p = ctx.params.portal
    if p is not None and ctx.env.kubeconfig:
        live = ctx.kube.get("Secret", p.secret_name, p.namespace)
        data = (live or {}).get("data") or {}
        if data.get(p.secret_key):
            candidates.append(Secret(base64.b64decode(data[p.secret_key]).decode(errors="replace")))
    if not candidates:
        return None
    assert ctx.env.okta_org_url
    meta = ctx.discover()
    for candidate in candidates:
        if oidc.client_credentials_valid(meta, app["client_id"], candidate):
            return candidate
    return None


NO_SECRET = "a web app needs its client secret: set OKTALAB_CLIENT_SECRET (Okta shows it only once)"


def sign_in_secret(ctx: Context, app: dict[str, Any]) -> tuple[bool, Secret | None]:
    """The client secret a sign-in of ``app`` must send at the token endpoint.

    Returns ``(True, None)`` for a browser app (public client, ``token_endpoint_auth_method:
    none``), ``(True, secret)`` for a web app whose secret is readable (see
    :func:`client_secret`) and ``(False, None)`` for a web app without one (the caller says
    :data:`NO_SECRET`). Web apps are confidential clients (``client_secret_basic``, RFC 6749
    section 2.3.1), so the token request is refused without the secret.
    """
    if app.get("type") != "web":
        return True, None
    secret = client_secret(ctx)
    return secret is not None, secret


def new_client_secret(ctx: Context) -> Secret:
    """Generate a secret when none is readable; recorded, so teardown and later runs know it
    is this set's. Afterwards the older secrets *this set created* are deactivated and deleted
    (no extra ACTIVE secret stays behind); a secret someone else made is never touched, and
    when the app already holds Okta's maximum of two secrets that are not ours, nothing is
    created and the error says so."""
    app = ctx.state["app"]
    if not ctx.ledger.owns("okta_app", app["id"]):
        raise foreign_write(
            ctx, "client secret", "ClientSecret", app["label"], "a new client secret"
        )
    existing = ctx.okta.client_secrets(app["id"])
    ours = [s for s in existing if ctx.ledger.owns("okta_client_secret", s["id"])]
    if len(existing) >= 2 and not ours:
        raise VerificationError(
            f"app {app['label']!r} holds two client secrets, none created by this parameter set, "
            "and none of them is readable: set OKTALAB_CLIENT_SECRET (or _FILE) to the one in use"
        )
    if len(existing) >= 2:  # make room: Okta keeps at most two; only ours may go
        _drop_secret(ctx, app["id"], ours.pop(0)["id"])
    # intent before the call: the secrets present now, and ours that the new one replaces
    ctx.ledger.intend(
        "okta_client_secret",
        _secret_intent(app["id"]),
        app=app["id"],
        before=[s["id"] for s in ctx.okta.client_secrets(app["id"])],
        replaces=[s["id"] for s in ours],
    )
    failpoint("before-create:okta_client_secret")
    made = ctx.okta.create_client_secret(app["id"])
    failpoint("after-create:okta_client_secret")
    ctx.ledger.created("okta_client_secret", made["id"], name=made["id"], app=app["id"])
    ctx.ledger.forget("okta_client_secret", "", name=_secret_intent(app["id"]))
    for old in ours:
        _drop_secret(ctx, app["id"], old["id"])
    return Secret(made["client_secret"])


def _secret_intent(app_id: str) -> str:
    return f"{app_id}/new client secret"


def reconcile_secrets(ctx: Context, app_id: str) -> None:
    """Finish a secret rotation a crash interrupted. A client secret has no name to find it
    by, so the intent lists the app's secrets before the create: one that is new since,
    and recorded by no parameter set, is the one this set created (recorded now), and the
    older secrets of ours it was to replace are removed (no extra ACTIVE secret stays).
    Without such a secret the create never happened and the intent is dropped."""
    for intent in ctx.ledger.intents("okta_client_secret", _secret_intent(app_id)):
        before = set(intent.get("before") or [])
        new = [
            s
            for s in ctx.okta.client_secrets(app_id)
            if s["id"] not in before
            and not ctx.ledger.has("okta_client_secret", s["id"])
            and not ctx.ledger.owner_of("okta_client_secret", s["id"])
        ]
        for s in new:
            ctx.ledger.created("okta_client_secret", s["id"], name=s["id"], app=app_id)
        ctx.ledger.forget("okta_client_secret", "", name=intent["name"])
        if new:
            for old in intent.get("replaces") or []:
                if ctx.ledger.owns("okta_client_secret", old):
                    _drop_secret(ctx, app_id, old)


def _drop_secret(ctx: Context, app_id: str, secret_id: str) -> None:
    try:
        ctx.okta.delete_client_secret(app_id, secret_id)
    except OktaAPIError as exc:
        if exc.status != 404:
            raise
    ctx.ledger.forget("okta_client_secret", secret_id)
