"""Tab 3, sandbox pages: start or find the embedded sandbox, and link to what it serves.

The sandbox is driven through the CLI in a child process (:class:`oktalab.runner.SandboxProcess`):
like the rest of the client room this package never imports the sandbox package. Behind
jupyter-server-proxy (Binder, JupyterHub) the links must use the page's own address, so
:func:`public_url_from_address` and :func:`restart_sandbox` serve the Okta org there.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from .. import oidc
from ..errors import ParameterError
from ..params import ParameterSet
from ..runner import SandboxProcess
from ..settings import read_env_file, sandbox_dir
from .parameters import lab_dir

# binder/start creates this file in the sandbox dir while it starts the sandbox in the
# background; notebooks wait for it instead of starting a second sandbox on the same dir.
STARTING_MARKER = "starting"


def _healthy(state_dir: Path) -> bool:
    envfile = state_dir / "sandbox.env"
    if not envfile.is_file():
        return False
    env = read_env_file(envfile)
    try:
        url = env["OKTA_ORG_URL"] + "/oauth2/default/.well-known/openid-configuration"
        return httpx.get(url, timeout=2).status_code == 200
    except (KeyError, httpx.HTTPError):
        return False


def default_sandbox_dir() -> Path:
    """``$OKTALAB_SANDBOX_DIR``, a running sandbox found from here, else ``.oktalab/sandbox``
    beside the notebooks folder (not below it: the start notebook runs in ``notebooks/``)."""
    found = sandbox_dir()
    if os.environ.get("OKTALAB_SANDBOX_DIR") or (found / "sandbox.env").is_file():
        return found
    return lab_dir() / ".oktalab" / "sandbox"


def ensure_sandbox(state_dir: str | Path | None = None, *, timeout: float = 90.0) -> Path:
    """A running sandbox: wait for the one ``binder/start`` is starting, else start one."""
    return _ensure(state_dir, timeout).state_dir


def _starting(state_dir: Path) -> bool:
    """``binder/start`` is still starting the sandbox: its marker names a live process."""
    try:
        pid = (state_dir / STARTING_MARKER).read_text().strip()
    except OSError:
        return False
    if not pid.isdigit():
        return True  # written, not yet stamped with the starter's pid
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _ensure(state_dir: str | Path | None, timeout: float) -> SandboxProcess:
    d = Path(state_dir) if state_dir else default_sandbox_dir()
    proc = SandboxProcess(d)
    deadline = time.monotonic() + timeout
    while _starting(d) and time.monotonic() < deadline:
        if _healthy(d):
            break
        time.sleep(0.25)
    if not _healthy(d):
        proc.ensure()
    os.environ.setdefault("OKTALAB_SANDBOX_DIR", str(d))  # where the stages find sandbox.env
    return proc


@dataclass(frozen=True)
class SandboxPage:
    """One entry of the sandbox pages tab.

    ``url`` is what the browser opens (through jupyter-server-proxy when the sandbox has a
    proxied public URL); ``ready`` says whether it answered 2xx/3xx (401/403 for a route that
    is meant to refuse) when the tab asked, over loopback; ``note`` says what the page shows,
    or what to run or set first when it is not ready. A page that is not ready is shown as
    text, never as a link.
    """

    title: str
    url: str
    note: str = ""
    ready: bool = True
    refusals: tuple[int, ...] = ()  # statuses that are this page's normal answer (e.g. 403)


def _env(state_dir: str | Path | None) -> tuple[Path, dict[str, str]]:
    d = Path(state_dir) if state_dir else default_sandbox_dir()
    envfile = d / "sandbox.env"
    return envfile, (read_env_file(envfile) if envfile.is_file() else {})


def _answers(url: str, headers: dict[str, str] | None = None) -> int | None:
    """The status ``url`` answers with (redirects not followed), None when nothing answers."""
    try:
        return httpx.get(url, headers=headers, timeout=5, follow_redirects=False).status_code
    except (httpx.HTTPError, httpx.InvalidURL):
        return None


class _Where:
    """Browser URLs of the sandbox, and the loopback requests that stand for them."""

    def __init__(self, env: dict[str, str]) -> None:
        self.okta_loopback = env.get("OKTA_ORG_URL", "").rstrip("/")
        self.okta = (env.get("OKTALAB_SANDBOX_PUBLIC_URL") or self.okta_loopback).rstrip("/")
        self.gateway_loopback = env.get("OKTALAB_GATEWAY_URL", "").rstrip("/")
        self.gateway_port = urlsplit(self.gateway_loopback).port
        self.proxied = self.okta != self.okta_loopback and "/proxy/" in self.okta
        self.gateway = self.gateway_loopback
        if self.proxied:
            self.gateway = f"{self.okta.split('/proxy/')[0]}/proxy/{self.gateway_port}"

    def okta_probe(self, url: str) -> tuple[str, dict[str, str]]:
        if url.startswith(self.okta + "/"):
            return self.okta_loopback + url.removeprefix(self.okta), {}
        return url, {}

    def gateway_probe(self, url: str) -> tuple[str, dict[str, str]]:
        """The request jupyter-server-proxy would send for ``url`` (its prefix headers)."""
        parts = urlsplit(url)
        if self.proxied and url.startswith(self.gateway):
            prefix = urlsplit(self.gateway).path
            headers = {
                "X-Forwarded-Prefix": prefix,
                "X-Forwarded-Host": parts.netloc,
                "X-Forwarded-Proto": parts.scheme,
            }
            return self.gateway_loopback + url.removeprefix(self.gateway), headers
        # a portal domain (*.localhost): what a browser resolves to this machine
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.gateway_loopback + path, {"Host": parts.netloc}


def _portals(env: dict[str, str]) -> tuple[list[Any], list[Any]]:
    """(Gloo Platform Portals, Gloo Portal 1.x Portals) in the sandbox's cluster."""
    from ..gloo import PORTAL_API
    from ..kube import Kube

    platform: list[Any] = []
    legacy: list[Any] = []
    if not env.get("KUBECONFIG"):
        return platform, legacy
    try:
        kube = Kube(env["KUBECONFIG"])
    except Exception:
        return platform, legacy
    try:
        for kind, out in (
            ("Portal.apimanagement.gloo.solo.io", platform),
            (f"Portal.{PORTAL_API.split('/')[0]}", legacy),
        ):
            try:
                out.extend(kube.list(kind))
            except Exception:  # kind not served, API unreachable: no such portal
                continue
    finally:
        kube.close()
    return platform, legacy


def _frontend_client_id(env: dict[str, str]) -> tuple[str, str]:
    """(client id, authorize endpoint) the guide-1 frontend was configured with, if any."""
    from ..kube import Kube

    try:
        kube = Kube(env["KUBECONFIG"])
        try:
            maps = kube.list("ConfigMap", "", "app.kubernetes.io/managed-by=oktalab")
        finally:
            kube.close()
    except Exception:
        return "", ""
    for cm in maps:
        data = cm.get("data") or {}
        if data.get("VITE_CLIENT_ID"):
            return str(data["VITE_CLIENT_ID"]), str(data.get("VITE_AUTH_ENDPOINT", ""))
    return "", ""


def _callback_accepted(where: _Where, authorize: str, client_id: str, callback: str) -> bool:
    """Whether Okta's /authorize accepts ``callback`` as a redirect URI of ``client_id``
    (asked over loopback; Okta answers 400 for a redirect URI the app does not list)."""
    if not (authorize and client_id):
        return False
    _, challenge = oidc.pkce_pair()
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": callback,
            "state": "sandbox-pages-tab",
            "nonce": "sandbox-pages-tab",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    url, _ = where.okta_probe(authorize)
    status = _answers(f"{url}?{query}")
    return status is not None and 300 <= status < 400


def _portal_pages(where: _Where, env: dict[str, str]) -> list[SandboxPage]:
    platform, legacy = _portals(env)
    pages: list[SandboxPage] = []
    set_it = (
        "set portal.public_url: {url} in {file}, then run {guide} (tab 4, or oktalab run "
        "{file}): its okta_app stage registers {url}/callback at Okta"
    )
    for guide, kind, found, file, default in (
        ("guide 1", "portal frontend", platform, "sandbox.yaml", ("gloo-mesh", "developer-portal")),
        ("guide 2", "Gloo Portal", legacy, "sandbox-portal.yaml", ("default", "petstore-portal")),
    ):
        file = f"parameters/{file}"
        if not found:
            url, todo = "", f"run {guide} first (tab 4, or oktalab run {file})"
            if where.proxied:
                url = portal_public_url(where.gateway, *default)
                todo = set_it.format(url=url, file=file, guide=guide)
            pages.append(SandboxPage(f"{guide}'s {kind}", url, f"not there yet: {todo}", False))
            continue
        for portal in found:
            md, spec = portal.get("metadata") or {}, portal.get("spec") or {}
            ns, name = md.get("namespace", ""), md.get("name", "")
            title = f"{guide}'s {kind} {ns}/{name}"
            if where.proxied:
                url = portal_public_url(where.gateway, ns, name) + "/"
            else:
                domain = str((spec.get("domains") or [""])[0])
                if ":" not in domain and where.gateway_port:
                    domain = f"{domain}:{where.gateway_port}"
                url = f"http://{domain}/"
            status = _answers(*where.gateway_probe(url))
            if status is None or status >= 400:
                pages.append(
                    SandboxPage(title, url, f"answers {status}: run {guide} again ({file})", False)
                )
                continue
            note = (
                "sign in there as the test user (user and password: the Okta sign-in page above)"
                if guide == "guide 1"
                else "Log in, Log in with OpenID Connect, Sign up: a new user lands here signed in"
            )
            if where.proxied:  # the sign-in comes back to <url>/callback: Okta must know it
                oidc_auth = spec.get("oidcAuth") or {}
                if oidc_auth:
                    client_id = str(oidc_auth.get("clientId", ""))
                    authorize = str(oidc_auth.get("issuer", "")).rstrip("/") + "/v1/authorize"
                else:
                    client_id, authorize = _frontend_client_id(env)
                base = url.rstrip("/")
                if not _callback_accepted(where, authorize, client_id, base + "/callback"):
                    pages.append(
                        SandboxPage(
                            title,
                            base,
                            "its sign-in cannot come back here yet: "
                            + set_it.format(url=base, file=file, guide=guide),
                            ready=False,
                        )
                    )
                    continue
            pages.append(SandboxPage(title, url, note))
    return pages


def sandbox_pages(state_dir: str | Path | None = None, *, probe: bool = True) -> list[SandboxPage]:
    """The sandbox pages tab's entries, each asked over loopback whether it answers.

    Pages of the Okta org (sign-in page, authorization server metadata), the gateway's
    sample routes, and the portals the cluster holds (guide 1's frontend, guide 2's portal),
    at the addresses a browser uses: the org's public URL (``OKTALAB_SANDBOX_PUBLIC_URL``) and,
    behind jupyter-server-proxy, ``<prefix>proxy/<gateway port>/`` for the gateway. A portal
    that is not there yet, or whose sign-in could not come back through the proxy, is an
    entry with ``ready=False`` and a note saying what to set or run first. ``probe=False``
    returns the fixed entries unchecked (no network).
    """
    envfile, env = _env(state_dir)
    if not env:
        return []
    where = _Where(env)
    user = env.get("OKTALAB_TEST_USERNAME", "the test user")
    fixed = [
        SandboxPage(
            "Okta hosted sign-in page",
            where.okta + "/login/login.htm",
            f"sign in as {user} with the password OKTALAB_TEST_PASSWORD in {envfile} (in a "
            f"terminal: grep OKTALAB_TEST_PASSWORD {envfile}); new at every sandbox start, "
            "and never shown here, so no saved notebook holds it",
        ),
        SandboxPage(
            "Okta authorization server metadata (issuer, endpoints)",
            where.okta + "/oauth2/default/.well-known/openid-configuration",
        ),
        SandboxPage("gateway: open route /reviews", where.gateway + "/reviews"),
        SandboxPage(
            "gateway: protected route /productpage",
            where.gateway + "/productpage",
            "403 without a token once guide 1's extauth stage has run (200 before: no policy "
            "selects the route)",
            refusals=(401, 403),
        ),
    ]
    if where.proxied:
        fixed.append(
            SandboxPage(
                "Gloo Portal (guide 2, via the proxy)",
                portal_public_url(where.gateway),
                "the value for portal.public_url in parameters/sandbox-portal.yaml",
                ready=False,
            )
        )
    if not probe:
        return fixed
    discovery = where.okta_loopback + "/oauth2/default/.well-known/openid-configuration"
    if _answers(discovery) is None:
        return [
            SandboxPage(
                "the sandbox",
                "",
                f"does not answer: start it (oktalab sandbox start --state-dir "
                f"{envfile.parent}, or run this notebook's cell again), then Refresh links",
                ready=False,
            )
        ]
    out = []
    for page in fixed[:4]:
        url, headers = (
            where.okta_probe(page.url)
            if page.url.startswith(where.okta)
            else where.gateway_probe(page.url)
        )
        status = _answers(url, headers)
        ok = status is not None and (status < 400 or status in page.refusals)
        if not ok:
            page = SandboxPage(
                page.title,
                page.url,
                f"{page.note} (answered {status or 'nothing'} just now)".strip(),
                False,
            )
        out.append(page)
    return out + _portal_pages(where, env)


def sandbox_links(state_dir: str | Path | None = None) -> dict[str, str]:
    """Browser URLs of the sandbox's fixed pages by title (unchecked; see :func:`sandbox_pages`).

    The Okta org's public URL is what the sandbox was started with
    (``OKTALAB_SANDBOX_PUBLIC_URL``); the gateway is reached the same way, under
    ``$JUPYTERHUB_SERVICE_PREFIX`` (``/`` outside JupyterHub) + ``proxy/<port>/``.
    """
    return {p.title: p.url for p in sandbox_pages(state_dir, probe=False)}


def portal_public_url(
    proxied_gateway: str, namespace: str = "default", name: str = "petstore-portal"
) -> str:
    """The portal's address through jupyter-server-proxy (the value for ``portal.public_url``)."""
    return f"{proxied_gateway.rstrip('/')}/portals/{namespace}/{name}"


def public_url_from_address(address: str, prefix: str | None = None) -> str:
    """The sandbox org's public URL template from this tab's address (pasted from the browser).

    ``https://hub.example.org/user/me/lab/tree/x.ipynb`` gives
    ``https://hub.example.org/user/me/proxy/{port}``; the server prefix is
    ``$JUPYTERHUB_SERVICE_PREFIX`` when set, else the path before ``/lab``, ``/tree``
    or ``/notebooks``.
    """
    parts = urlsplit(address.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ParameterError([("address", f"expected this tab's http(s) address, got {address!r}")])
    base = prefix if prefix is not None else os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if base is None:
        m = re.match(r"^(.*?/)(lab|tree|notebooks|doc|voila)(/|$)", parts.path)
        base = m.group(1) if m else "/"
    base = "/" + base.strip("/") + "/" if base.strip("/") else "/"
    return f"{parts.scheme}://{parts.netloc}{base}proxy/{{port}}"


def restart_sandbox(public_url: str, state_dir: str | Path | None = None) -> Path:
    """Restart the sandbox so that its Okta org answers at ``public_url`` (the issuer changes:
    run the stages again). Its objects are kept; its credentials are new."""
    d = Path(state_dir) if state_dir else default_sandbox_dir()
    proc = SandboxProcess(d)
    subprocess.run(
        [sys.executable, "-m", "oktalab", "sandbox", "stop", "--state-dir", str(d)],
        capture_output=True,
        timeout=60,
    )
    saved = os.environ.get("OKTALAB_SANDBOX_PUBLIC_URL")
    os.environ["OKTALAB_SANDBOX_PUBLIC_URL"] = public_url
    try:
        proc.ensure()
    except Exception:
        if saved is None:
            os.environ.pop("OKTALAB_SANDBOX_PUBLIC_URL", None)
        else:
            os.environ["OKTALAB_SANDBOX_PUBLIC_URL"] = saved
        raise
    return d


def sign_in_url(
    ps: ParameterSet,
    run_dir: str | Path,
    *,
    scopes: str = "openid profile email",
) -> tuple[str, str]:
    """An authorize URL for the app of ``run_dir`` at the issuer, and its PKCE verifier.

    The issuer is the org's public URL, so opened in a browser (through the proxy on Binder)
    it shows the hosted sign-in page and, after sign-in, lands on the app's first redirect
    URI with a ``code``.
    """
    import json

    from ..settings import Environment
    from ..stages.context import Context

    state = json.loads((Path(run_dir) / "state.json").read_text())
    issuer = (state.get("metadata") or {}).get("issuer")
    if not issuer or "app" not in state:
        raise ParameterError("run the okta_app and claims stages first (no app or issuer yet)")
    ctx = Context(params=ps, run_dir=Path(run_dir), env=Environment.load(target=ps.target))
    verifier, challenge = oidc.pkce_pair()
    query = {
        "client_id": state["app"]["client_id"],
        "response_type": "code",
        "scope": scopes,
        "redirect_uri": ctx.redirect_uris()[0],
        "state": os.urandom(8).hex(),
        "nonce": os.urandom(8).hex(),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{issuer}/v1/authorize?{urlencode(query)}", verifier


# JupyterLab's widget styles leave anchors looking like plain text
LINK_STYLE = "color: var(--jp-content-link-color, #1976d2); text-decoration: underline"


def _links_html(state_dir: Path | None = None) -> str:
    pages = sandbox_pages(state_dir)
    if not pages:
        return "<i>the sandbox is not running yet</i>"
    items = []
    for p in pages:
        note = f" — {html.escape(p.note)}" if p.note else ""
        if p.ready:
            items.append(
                f'<li><a href="{html.escape(p.url)}" target="_blank" style="{LINK_STYLE}">'
                f"{html.escape(p.title)}</a>"
                f"{note}</li>"
            )
        else:
            items.append(f"<li>{html.escape(p.title)}{note}</li>")
    return f"<ul>{''.join(items)}</ul>"


class SandboxPages:
    """Tab 3: links to the sandbox's pages, and serving its Okta org at this tab's address.

    Behind jupyter-server-proxy the links above are ``127.0.0.1`` ones the browser cannot
    open; pasting the tab's address restarts the sandbox with the proxied public URL
    (:func:`public_url_from_address`, :func:`restart_sandbox`).
    """

    def __init__(self, state_dir: Path | None = None) -> None:
        import ipywidgets as w

        self.state_dir = state_dir
        self.links = w.HTML(_links_html(state_dir))
        refresh = w.Button(description="Refresh links", icon="refresh")
        refresh.on_click(lambda _: self.refresh())
        self.address = w.Text(
            description="this tab's address",
            placeholder="paste from the address bar when the links above are 127.0.0.1 ones",
            style={"description_width": "140px"},
            layout=w.Layout(width="720px"),
        )
        use = w.Button(description="Serve Okta through the proxy", icon="exchange")
        use.on_click(self._use)
        self.said = w.Output()
        self.widget = w.VBox([self.links, refresh, w.HBox([self.address, use]), self.said])

    def refresh(self) -> None:
        self.links.value = _links_html(self.state_dir)

    def _use(self, _: Any) -> None:
        self.said.clear_output()
        with self.said:  # errors shown, not lost (click handlers have no visible stderr)
            try:
                url = public_url_from_address(self.address.value)
                restart_sandbox(url, self.state_dir)
            except Exception as exc:
                print(f"{type(exc).__name__}: {exc}")
                return
            self.refresh()
            print(f"the sandbox's Okta org now answers at {url}; run the stages again")
