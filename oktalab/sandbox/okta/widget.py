"""Okta's Sign-In Widget on the sandbox's hosted sign-in page, when a copy is at hand.

An Identity Engine org signs people in on its hosted page with Okta's JavaScript Sign-In Widget,
which walks the IDX remediations (see :mod:`.idx`) from a ``stateToken`` and finishes with the
``success`` redirect back to ``/authorize``. The sandbox cannot ship the widget, so it serves one
from a directory named by ``OKTALAB_SANDBOX_WIDGET_DIR`` (the ``dist`` folder of the npm package
``@okta/okta-signin-widget``, or a ``node_modules`` folder holding it); without one — or on a
Classic org — the hosted page stays the sandbox's plain HTML form.
"""

from __future__ import annotations

import html
import json
import logging
import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from . import idx
from .errors import OktaApiError
from .state import OrgState
from .web import json_response, org_of, read_json, require_admin

log = logging.getLogger("oktalab.sandbox.okta")
ASSETS = "/assets/js/sdk/okta-signin-widget"
BUNDLE = "js/okta-sign-in.min.js"
STYLES = "css/okta-sign-in.min.css"


def _dist(raw: str) -> Path | None:
    base = Path(raw)
    for candidate in (base, base / "dist", base / "@okta" / "okta-signin-widget" / "dist"):
        if (candidate / BUNDLE).is_file():
            return candidate.resolve()
    return None


def widget_dir(org: OrgState | None = None) -> Path | None:
    """The widget's ``dist`` directory: the one set with ``POST /__sandbox/widget``, else the one
    ``OKTALAB_SANDBOX_WIDGET_DIR`` points at; None when neither holds the widget."""
    raw = (org.meta("widget_dir") if org is not None else None) or os.environ.get(
        "OKTALAB_SANDBOX_WIDGET_DIR", ""
    ).strip()
    return _dist(raw) if raw else None


def check_environment() -> None:
    """Log when ``OKTALAB_SANDBOX_WIDGET_DIR`` is set but holds no widget bundle."""
    raw = os.environ.get("OKTALAB_SANDBOX_WIDGET_DIR", "").strip()
    if raw and widget_dir() is None:
        log.warning(
            "OKTALAB_SANDBOX_WIDGET_DIR=%s holds no %s of @okta/okta-signin-widget; the hosted "
            "sign-in page stays the sandbox's form",
            raw,
            BUNDLE,
        )


def enabled(org: OrgState) -> bool:
    return idx.pipeline(org) == "idx" and widget_dir(org) is not None


def signin_page(org: OrgState, from_uri: str, app_id: str) -> Response:
    """The hosted page: a fresh IDX transaction that ends back at ``from_uri`` (/authorize)."""
    handle, _ = idx.start_transaction(org, {"app_id": app_id, "from_uri": from_uri})
    config = {
        "baseUrl": org.org_url,
        "el": "#okta-sign-in-widget",
        "stateToken": handle,
        "useClassicEngine": False,
        "features": {"registration": True},
        "i18n": {"en": {}},
    }
    assets = org.url(ASSETS)
    script_config = json.dumps(config).replace("</", "<\\/")  # no "</script>" inside the script
    doc = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Sign In</title>"
        f'<link rel="stylesheet" href="{html.escape(assets)}/{STYLES}">'
        f'<script src="{html.escape(assets)}/{BUNDLE}"></script>'
        '</head><body><div id="okta-sign-in-widget"></div><script>'
        f"var config = {script_config};"
        "new OktaSignIn(config).renderEl({el: config.el}, function () {}, function (err) {"
        "document.body.insertAdjacentHTML('beforeend',"
        "'<p role=\"alert\">' + (err && err.message || err) + '</p>');});"
        "</script></body></html>"
    )
    return HTMLResponse(doc, headers={"Cache-Control": "no-store"})


async def asset(request: Request) -> Response:
    base = widget_dir(org_of(request))
    if base is None:
        raise OktaApiError("E0000007", f"Resource not found: {request.url.path}")
    target = (base / request.path_params["path"]).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        raise OktaApiError("E0000007", f"Resource not found: {request.url.path}")
    return FileResponse(target, headers={"Cache-Control": "public, max-age=3600"})


async def set_widget(request: Request) -> Response:
    """Sandbox control: ``{"dir": "<widget dist or node_modules>"}`` shows Okta's widget on the
    hosted page, ``{"dir": ""}`` goes back to the environment's choice (SSWS token)."""
    require_admin(request)
    body = await read_json(request, required=True)
    raw = body.get("dir")
    if not isinstance(raw, str) or (raw and _dist(raw) is None):
        raise OktaApiError(
            "E0000001", "dir", [f"dir: no {BUNDLE} of @okta/okta-signin-widget there"]
        )
    org = org_of(request)
    org.set_meta("widget_dir", raw)
    found = widget_dir(org)
    return json_response({"dir": str(found) if found else None})


routes = [
    Route(ASSETS + "/{path:path}", asset, methods=["GET"]),
    Route("/__sandbox/widget", set_widget, methods=["POST"]),
]
