"""What a stage sees: parameters, environment, the run's shared state and the ledger."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..kube import Kube
from ..okta import OktaClient
from ..params import ParameterSet
from ..settings import Environment


def state_home() -> Path:
    """$OKTALAB_HOME, else the nearest ``.oktalab`` folder up from here, else ``./.oktalab``."""
    env = os.environ.get("OKTALAB_HOME")
    if env:
        return Path(env)
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / ".oktalab").is_dir():
            return d / ".oktalab"
    return here / ".oktalab"


class Ledger:
    """What oktalab created for one parameter set, so teardown removes only that."""

    def __init__(self, parameter_set: str) -> None:
        self.path = state_home() / "ledger" / f"{parameter_set}.json"
        self.entries: list[dict[str, str]] = (
            json.loads(self.path.read_text()) if self.path.is_file() else []
        )

    def record(self, kind: str, key: str, **extra: str) -> None:
        if not self.has(kind, key):
            self.entries.append({"kind": kind, "key": key, **extra})
            self.save()

    def has(self, kind: str, key: str) -> bool:
        return any(e["kind"] == kind and e["key"] == key for e in self.entries)

    def items(self, kind: str) -> list[dict[str, str]]:
        return [e for e in self.entries if e["kind"] == kind]

    def forget(self, kind: str, key: str) -> None:
        self.entries = [e for e in self.entries if not (e["kind"] == kind and e["key"] == key)]
        self.save()

    def save(self) -> None:
        """Write the ledger, readable by its owner only (0600): adopted objects' prior
        state may include a Secret's data."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(self.entries, indent=1))


@dataclass
class Context:
    params: ParameterSet
    run_dir: Path
    env: Environment
    state: dict[str, Any] = field(default_factory=dict)
    _okta: OktaClient | None = None
    _kube: Kube | None = None
    _ledger: Ledger | None = None

    def __post_init__(self) -> None:
        f = self.run_dir / "state.json"
        if f.is_file():
            self.state = json.loads(f.read_text())

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "state.json").write_text(json.dumps(self.state, indent=1, sort_keys=True))

    def gateway_url(self) -> str | None:
        return (self.params.verify.gateway_url or self.env.gateway_url or "").rstrip("/") or None

    def portal_origin(self) -> str:
        """``<scheme>://<portal domain>[:<ingress port>]``: the host users open, as in the guide.

        Guide 2: the Gloo Portal; guide 1: the Gloo Platform Portal frontend app.
        """
        p = self.params.portal or self.params.gateway_portal
        assert p is not None
        port: int | None
        if p.ingress_port == "auto":
            gw = self.gateway_url()
            if not gw:
                self.env.require("gateway_url")
            port = urlsplit(gw).port
        else:
            port = p.ingress_port
        default = 443 if p.scheme == "https" else 80
        return f"{p.scheme}://{p.domain}" + (f":{port}" if port and port != default else "")

    def redirect_uris(self) -> list[str]:
        """The app's sign-in redirect URIs: from the parameters, or derived from the portal."""
        uris = list(self.params.app.redirect_uris)
        portal = self.params.portal
        if not uris and (portal is not None or self.params.gateway_portal is not None):
            uris.append(self.portal_origin() + "/callback")
        if portal is not None and portal.public_url:  # behind a proxy; direct access stays
            proxied = portal.public_url.rstrip("/") + "/callback"
            if proxied not in uris:
                uris.append(proxied)
        return uris

    def post_logout_redirect_uris(self) -> list[str]:
        """Sign-out redirect URIs: from the parameters, or the guide-1 frontend's ``/logout``."""
        uris = list(self.params.app.post_logout_redirect_uris)
        if not uris and self.params.gateway_portal is not None:
            uris.append(self.portal_origin() + "/logout")
        return uris

    def close(self) -> None:
        if self._okta is not None:
            self._okta.close()
        if self._kube is not None:
            self._kube.close()

    @property
    def okta(self) -> OktaClient:
        if self._okta is None:
            self.env.require("okta_org_url", "okta_api_token")
            assert self.env.okta_org_url and self.env.okta_api_token
            self._okta = OktaClient(self.env.okta_org_url, self.env.okta_api_token)
        return self._okta

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            self.env.require("kubeconfig")
            self._kube = Kube(self.env.kubeconfig, context=self.params.kubernetes.context)
        return self._kube

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self.params.name)
        return self._ledger
