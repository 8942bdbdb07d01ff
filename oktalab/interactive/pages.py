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


def sandbox_links(state_dir: str | Path | None = None) -> dict[str, str]:
    """Browser URLs of the sandbox's pages: through jupyter-server-proxy when one is configured.

    The Okta org's public URL is what the sandbox was started with
    (``OKTALAB_SANDBOX_PUBLIC_URL``); the gateway is reached the same way, under
    ``$JUPYTERHUB_SERVICE_PREFIX`` (``/`` outside JupyterHub) + ``proxy/<port>/``.
    """
    d = Path(state_dir) if state_dir else default_sandbox_dir()
    envfile = d / "sandbox.env"
    if not envfile.is_file():
        return {}
    env = read_env_file(envfile)
    okta = env.get("OKTALAB_SANDBOX_PUBLIC_URL") or env.get("OKTA_ORG_URL", "")
    gateway = env.get("OKTALAB_GATEWAY_URL", "")
    portal: dict[str, str] = {}
    if okta != env.get("OKTA_ORG_URL") and "/proxy/" in okta:
        base = okta.split("/proxy/")[0] + "/proxy/"
        gateway = f"{base}{urlsplit(gateway).port}"
        # The Host is Jupyter's behind the proxy: the gateway finds the portal by path.
        # Guide 2 registers its /callback when portal.public_url is set to this address.
        portal = {"Gloo Portal (guide 2, via the proxy)": portal_public_url(gateway)}
    return {
        "Okta org (public URL, the issuer's base)": okta + "/",
        "Okta hosted sign-in page": okta + "/login/login.htm",
        "Okta self-service sign-up page": okta + "/signin/register",
        "gateway: open route /reviews": gateway + "/reviews",
        "gateway: protected route /productpage (403 without a token)": gateway + "/productpage",
        **portal,
    }


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


def _links_html(state_dir: Path | None = None) -> str:
    links = sandbox_links(state_dir)
    if not links:
        return "<i>the sandbox is not running yet</i>"
    items = "".join(
        f'<li><a href="{html.escape(u)}" target="_blank">{html.escape(k)}</a></li>'
        for k, u in links.items()
    )
    return f"<ul>{items}</ul>"


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
