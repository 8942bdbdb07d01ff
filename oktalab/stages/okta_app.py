"""Stage 1: the Okta OIDC app (guide 1: SPA with PKCE; guide 2: Web app with a secret)."""

from __future__ import annotations

import base64
import copy
import os
from pathlib import Path
from typing import Any

from .. import oidc
from ..errors import VerificationError
from ..params import AppParams
from ..results import StageResult
from ..settings import Secret
from . import trusted_origins
from .context import Context

STAGE = "okta_app"


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
                "pkce_required": p.pkce_required,
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


def run(ctx: Context, result: StageResult) -> None:
    p = ctx.params.app
    okta = ctx.okta
    want = desired_app(p, ctx.redirect_uris(), ctx.post_logout_redirect_uris())
    if _signs_in_through_idx(ctx):
        # Okta's embedded sign-in (interaction code flow) needs the grant on the app
        want["settings"]["oauthClient"]["grant_types"].append("interaction_code")

    with result.timed() as t:
        app = okta.find_app(p.label)
        if app is None:
            app = okta.create_app(want, activate=True)
            action, detail = "created", ""
            ctx.ledger.record("okta_app", app["id"], label=p.label)
        else:
            diffs = _differences(want, app)
            if diffs:
                body = copy.deepcopy(app)
                for section in ("credentials", "settings"):
                    body.setdefault(section, {}).setdefault("oauthClient", {}).update(
                        want[section]["oauthClient"]
                    )
                body["credentials"]["oauthClient"].pop("client_secret", None)
                app = okta.replace_app(app["id"], body)
                action, detail = "updated", "changed " + ", ".join(diffs)
            else:
                action, detail = "unchanged", ""
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
        if group_id in {g["id"] for g in ctx.okta.app_groups(app["id"])}:
            action = "unchanged"
        else:
            ctx.okta.assign_group(app["id"], group_id)
            action = "created"
    result.add(
        step, "AppGroupAssignment", f"{app['label']} -> {group_name}", action, seconds=t["s"]
    )


def client_secret(ctx: Context) -> Secret | None:
    """A working client secret for a web app, or None when none is readable.

    Okta shows a secret only when it is created, so oktalab never keeps one: it takes
    ``OKTALAB_CLIENT_SECRET`` (or ``_FILE``) when given, else the value already stored in the
    portal's Kubernetes Secret, and checks it against the org before use.
    """
    app = ctx.state.get("app") or {}
    if not app.get("client_id"):
        raise VerificationError("no app recorded for this run: run the okta_app stage first")
    candidates: list[Secret] = []
    given = os.environ.get("OKTALAB_CLIENT_SECRET")
    if not given and os.environ.get("OKTALAB_CLIENT_SECRET_FILE"):
        given = Path(os.environ["OKTALAB_CLIENT_SECRET_FILE"]).read_text().strip()
    if given:
        candidates.append(Secret(given))
    p = ctx.params.portal
    if p is not None and ctx.env.kubeconfig:
        live = ctx.kube.get("Secret", p.secret_name, p.namespace)
        data = (live or {}).get("data") or {}
        if data.get(p.secret_key):
            candidates.append(Secret(base64.b64decode(data[p.secret_key]).decode(errors="replace")))
    if not candidates:
        return None
    assert ctx.env.okta_org_url
    meta = oidc.discover(ctx.env.okta_org_url, ctx.params.authorization_server)
    for candidate in candidates:
        if oidc.client_credentials_valid(meta, app["client_id"], candidate):
            return candidate
    return None


def new_client_secret(ctx: Context) -> Secret:
    """Generate a fresh secret (Okta keeps at most two: the oldest extra one is removed first)."""
    app = ctx.state["app"]
    existing = sorted(ctx.okta.client_secrets(app["id"]), key=lambda s: s.get("created", ""))
    if len(existing) >= 2:
        ctx.okta.delete_client_secret(app["id"], existing[0]["id"])
    made = ctx.okta.create_client_secret(app["id"])
    return Secret(made["client_secret"])
