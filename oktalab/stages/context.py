"""What a stage sees: parameters, environment, the run's shared state and the ledger."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .. import oidc
from ..kube import Kube
from ..okta import OktaClient, PrivateKeyJWT
from ..params import ParameterSet
from ..results import StageResult
from ..settings import Environment, Secret
from ..writegate import before_write


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


LEDGER_STATUSES = ("intent", "created", "adopted", "used")


class Ledger:
    """What one parameter set owns in Okta, so that writes and teardown touch only that.

    ``.oktalab/ledger/<set>.json`` is a list of entries ``{"kind": "okta_app", "key": <Okta
    id, "" while intended>, "name": <stable key: label, name>, "status": ..., ...}`` where
    status is ``intent`` (a create is about to be sent), ``created``, ``adopted`` (with
    ``prior``: the object before this set changed it) or ``used`` (another owner's object
    used as it is). Every change is written atomically (temporary file, fsync, rename), so a
    crash leaves either the intent or the id on disk, never neither.

    ``read_only`` (``plan`` and ``check``): changes stay in memory, so a dry run sees what
    an apply would (an entry forgotten after a 404, an intent reconciled), and no file is
    written: a dry run leaves every ledger byte for byte as it found it.
    """

    def __init__(self, parameter_set: str, *, read_only: bool = False) -> None:
        self.parameter_set = parameter_set
        self.read_only = read_only
        self.dir = state_home() / "ledger"
        self.path = self.dir / f"{parameter_set}.json"
        self.entries: list[dict[str, Any]] = self._read(self.path)

    @staticmethod
    def _read(path: Path) -> list[dict[str, Any]]:
        try:
            entries = json.loads(path.read_text()) if path.is_file() else []
        except (OSError, ValueError):
            return []
        for e in entries:  # ledgers written before intents and adoption
            e.setdefault("status", "created")
            e.setdefault("name", e.get("label") or e.get("login") or e.get("key", ""))
        return [e for e in entries if isinstance(e, dict)]

    # -- queries ----------------------------------------------------------------------------
    def entry(self, kind: str, key: str) -> dict[str, Any] | None:
        return next(
            (e for e in self.entries if e["kind"] == kind and key and e["key"] == key), None
        )

    def has(self, kind: str, key: str) -> bool:
        return self.entry(kind, key) is not None

    def owns(self, kind: str, key: str) -> bool:
        """Created or adopted by this set (``used`` objects are not ours to write)."""
        e = self.entry(kind, key)
        return e is not None and e["status"] in ("created", "adopted")

    def items(self, kind: str, *statuses: str) -> list[dict[str, Any]]:
        """Entries of ``kind`` with one of ``statuses`` (default: ``created``)."""
        want = statuses or ("created",)
        return [e for e in self.entries if e["kind"] == kind and e["status"] in want]

    def intents(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.items(kind, "intent") if name is None or e["name"] == name]

    def recorded_id(self, kind: str, name: str) -> str | None:
        """The id this set recorded for ``name`` (created or adopted), for lookups by id
        that do not depend on a list being up to date (Okta lists lag behind creates)."""
        for e in self.items(kind, "created", "adopted"):
            if e["name"] == name and e["key"]:
                return str(e["key"])
        return None

    def _others(self) -> list[tuple[str, list[dict[str, Any]]]]:
        if not self.dir.is_dir():
            return []
        return [
            (p.stem, self._read(p))
            for p in sorted(self.dir.glob("*.json"))
            if p.stem != self.parameter_set
        ]

    def owner_of(self, kind: str, key: str) -> str | None:
        """The other parameter set that created or adopted this object, if any."""
        for name, entries in self._others():
            if any(
                e["kind"] == kind and e["key"] == key and e["status"] in ("created", "adopted")
                for e in entries
            ):
                return name
        return None

    def users_of(self, kind: str, key: str) -> list[str]:
        """Other parameter sets that use this object as it is."""
        return [
            name
            for name, entries in self._others()
            if any(e["kind"] == kind and e["key"] == key and e["status"] == "used" for e in entries)
        ]

    # -- changes ----------------------------------------------------------------------------
    def intend(self, kind: str, name: str, **extra: Any) -> None:
        """Record that a create of ``name`` is about to be sent (before the call)."""
        if not self.intents(kind, name):
            self.entries.append(
                {"kind": kind, "key": "", "name": name, "status": "intent", **extra}
            )
        self.save()

    def created(self, kind: str, key: str, *, name: str | None = None, **extra: Any) -> None:
        """Record a created object (replacing the intent for its name)."""
        name = name or str(extra.get("label") or extra.get("login") or key)
        self.entries = [
            e
            for e in self.entries
            if not (e["kind"] == kind and e["status"] == "intent" and e["name"] == name)
        ]
        e = self.entry(kind, key)
        if e is None:
            self.entries.append(
                {"kind": kind, "key": key, "name": name, "status": "created", **extra}
            )
        elif e["status"] == "used":
            e["status"] = "created"
        self.save()

    def record(self, kind: str, key: str, **extra: Any) -> None:
        """Record a created object (the name taken from ``label``/``login``/``name``)."""
        name = extra.pop("name", None)
        self.created(kind, key, name=name, **extra)

    def adopted(
        self, kind: str, key: str, *, name: str, prior: dict[str, Any], **extra: Any
    ) -> None:
        """Record an adopted object with its state before this set changed it."""
        self.entries = [e for e in self.entries if not (e["kind"] == kind and e["key"] == key)]
        self.entries.append(
            {"kind": kind, "key": key, "name": name, "status": "adopted", "prior": prior, **extra}
        )
        self.save()

    def used(self, kind: str, key: str, *, name: str, **extra: Any) -> None:
        if self.entry(kind, key) is None:
            self.entries.append({"kind": kind, "key": key, "name": name, "status": "used", **extra})
            self.save()

    def forget(self, kind: str, key: str, *, name: str | None = None) -> None:
        self.entries = [
            e
            for e in self.entries
            if not (
                e["kind"] == kind
                and (e["key"] == key if key else e["name"] == name and e["status"] == "intent")
            )
        ]
        self.save()

    def hand_over(self, kind: str, key: str) -> str | None:
        """Give a created object to a set that uses it (teardown of its creator): that set's
        ledger now records it as created, so its own teardown removes it later."""
        for name, entries in self._others():
            for e in entries:
                if e["kind"] == kind and e["key"] == key and e["status"] == "used":
                    e["status"] = "created"
                    if not self.read_only:
                        before_write(f"ledger {name}")
                        _write_atomic(self.dir / f"{name}.json", entries)
                    self.forget(kind, key)
                    return name
        return None

    def save(self) -> None:
        """Write the entries (atomically); nothing when the ledger is ``read_only``."""
        if not self.read_only:
            before_write(f"ledger {self.parameter_set}")  # see oktalab.writegate
            _write_atomic(self.path, self.entries)


def _write_atomic(path: Path, entries: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(entries, indent=1))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


#: How a stage runs (DESIGN "one write path, three modes"): ``apply`` writes; ``plan`` reads
#: and dry-runs (Okta: reads only; Kubernetes: server-side apply with ``dryRun=All``) and
#: reports what would change; ``check`` does the same reads, reports drift as failures and
#: runs the verifications that make no write.
Mode = Literal["apply", "plan", "check"]


@dataclass
class Context:
    params: ParameterSet
    run_dir: Path
    env: Environment
    state: dict[str, Any] = field(default_factory=dict)
    mode: Mode = "apply"
    param_file: str = ""
    _okta: OktaClient | None = None
    _kube: Kube | None = None
    _ledger: Ledger | None = None
    _test_user: tuple[dict[str, Any] | None, list[dict[str, Any]]] | None = None

    def __post_init__(self) -> None:
        f = self.run_dir / "state.json"
        if f.is_file():
            self.state = json.loads(f.read_text())

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "state.json").write_text(json.dumps(self.state, indent=1, sort_keys=True))

    def test_user(self) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The test user (None when the org has none by that login) and its groups, read
        from Okta once per stage (the access-policy check and the claims check both need
        them; nothing in between changes them)."""
        if self._test_user is None:
            login = self.env.test_username or ""
            user = self.okta.find_user(login) if login else None
            groups = self.okta.user_groups(user["id"]) if user else []
            self._test_user = (user, groups)
        return self._test_user

    @property
    def writes(self) -> bool:
        """True in ``apply`` mode only: ``plan`` and ``check`` never write."""
        return self.mode == "apply"

    def repair(self, stage: str) -> str:
        """The command that puts ``stage``'s objects back as the parameters say."""
        return f"oktalab run {self.param_file or 'PARAMS.yaml'} --stages {stage}"

    def dry_row(
        self,
        result: StageResult,
        kind: str,
        name: str,
        change: str | None,
        diff: str = "",
        seconds: float = 0.0,
    ) -> None:
        """The row of one object in ``plan`` or ``check`` mode.

        ``change`` is what ``apply`` would do: ``create``, ``update``, ``adopt``, ``delete``,
        ``restore`` (an adopted object given back) or None
        (nothing). ``plan``: an ``action: planned`` row, detail ``unchanged`` / ``create`` /
        ``update: <diff>``. ``check``: ``checked``, failed on any change (``missing`` or
        ``differs from the parameters (<diff>)``) with the command that repairs it.
        """
        if self.mode == "plan":
            text = "unchanged" if change is None else (f"{change}: {diff}" if diff else change)
            result.add("plan", kind, name, "planned", detail=text, seconds=seconds)
        elif change is None:
            result.add(
                "drift", kind, name, "checked", detail="as the parameters say", seconds=seconds
            )
        else:
            what = {
                "create": "missing",
                "delete": "no longer in the parameters",
                "restore": "adopted, no longer in the parameters",
            }.get(change, f"differs from the parameters ({diff})")
            result.add(
                "drift",
                kind,
                name,
                "checked",
                "failed",
                f"{what}; repair: {self.repair(result.stage)}",
                seconds=seconds,
            )

    def recall_app(self) -> str | None:
        """Put this set's Okta app into ``state["app"]`` for a stage run on its own.

        ``oktalab run --stages verify`` in a new run folder has no ``state.json``: the app an
        earlier run made is found by the id the ledger (``$OKTALAB_HOME/ledger/<set>.json``)
        recorded for the label, read from Okta, else by the label through the Okta API
        (:func:`okta_app.app_of_run`, the lookup every later stage uses).
        Returns where it was found (``"this run"``, ``"the ledger"``, ``"Okta, by label"``)
        or None when the org has no such app (run ``okta_app`` first). Makes no Okta write.

        Raises:
            OktaAPIError: Okta refused a read (other than a 404 for a recorded id).
        """
        if self.state.get("app"):
            return "this run"
        from .okta_app import app_of_run  # okta_app builds on this module

        recorded = self.ledger.recorded_id("okta_app", self.params.app.label)
        app = app_of_run(self)
        if app is None:
            return None
        return "the ledger" if app["id"] == recorded else "Okta, by label"

    def run_first(self, stages: list[str], why: str) -> str:
        """A row's detail when ``stages`` must run before this one, the instruction first
        (a console table cuts long cells): ``run okta_app, claims first (oktalab run FILE
        runs every stage of the guide in order): <why>``."""
        return (
            f"run {', '.join(stages)} first (oktalab run {self.param_file or 'PARAMS.yaml'} "
            f"runs every stage of the guide in order): {why}"
        )

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
        for section in (portal, self.params.gateway_portal):
            if section is not None and section.public_url:  # behind a proxy; direct stays
                proxied = section.public_url.rstrip("/") + "/callback"
                if proxied not in uris:
                    uris.append(proxied)
        return uris

    def post_logout_redirect_uris(self) -> list[str]:
        """Sign-out redirect URIs: from the parameters, or the guide-1 frontend's ``/logout``."""
        uris = list(self.params.app.post_logout_redirect_uris)
        gp = self.params.gateway_portal
        if not uris and gp is not None:
            uris.append(self.portal_origin() + "/logout")
            if gp.public_url:
                uris.append(gp.public_url.rstrip("/") + "/logout")
        return uris

    def browser_url(self, url: str) -> str:
        """``url`` as a browser must open it: under the org's public URL when it has one.

        Behind a proxy (the sandbox behind jupyter-server-proxy) discovery over
        ``OKTA_ORG_URL`` lists loopback endpoints; a browser reaches the org only at
        ``OKTALAB_OKTA_PUBLIC_URL`` (the issuer's base), so endpoints handed to browser code
        (the guide-1 frontend's settings) are moved there. Other URLs are returned unchanged.
        """
        org, public = self.env.okta_org_url, self.env.okta_public_url
        if org and public and url.startswith(org.rstrip("/") + "/"):
            return public.rstrip("/") + url[len(org.rstrip("/")) :]
        return url

    def issuer(self) -> str:
        """The issuer this run expects: ``<org>/oauth2/<server>``, under the org's public URL
        when it has one (the sandbox behind a proxy)."""
        self.env.require("okta_org_url")
        assert self.env.okta_org_url
        base = self.env.okta_public_url or self.env.okta_org_url
        return oidc.issuer_url(base, self.params.authorization_server)

    def discover(self) -> oidc.Metadata:
        """The authorization server's metadata, its issuer checked against :meth:`issuer`."""
        assert self.env.okta_org_url
        return oidc.discover(
            self.env.okta_org_url, self.params.authorization_server, expected_issuer=self.issuer()
        )

    def close(self) -> None:
        if self._okta is not None:
            self._okta.close()
        if self._kube is not None:
            self._kube.close()

    @property
    def okta(self) -> OktaClient:
        if self._okta is None:
            self.env.require("okta_org_url", "okta_api_token")
            assert self.env.okta_org_url
            auth: Secret | PrivateKeyJWT
            if self.env.has_service_app:  # Okta's recommendation for automation
                assert self.env.okta_client_id and self.env.okta_private_key
                auth = PrivateKeyJWT(
                    self.env.okta_client_id, self.env.okta_private_key, key_id=self.env.okta_key_id
                )
            else:
                assert self.env.okta_api_token
                auth = self.env.okta_api_token
            self._okta = OktaClient(self.env.okta_org_url, auth)
        return self._okta

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            self.env.require("kubeconfig")
            self._kube = Kube(
                self.env.kubeconfig,
                context=self.params.kubernetes.context,
                # the set's stages run one process each: discover the cluster once a run
                discovery_cache=self.run_dir / ".kube-discovery.json",
            )
        return self._kube

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self.params.name, read_only=not self.writes)
        return self._ledger
