"""The interactive layer of ``notebooks/00_start.ipynb``: a parameter form, secrets, stage runs.

Only the start notebook uses this module; the stage notebooks and ``oktalab run`` never do,
so papermill never needs a frontend. With ``interactive=False`` the start notebook calls
:func:`run_batch` (validate, run the stages, print the table) and no widget is created.

Secrets are never parameters and never widget state: :class:`SecretsForm` copies a Password
widget's value into this kernel's environment and clears the widget at once, so a notebook
saved with widget state holds nothing secret (notebooks.md, section 4). ``getpass`` is the
console alternative (:func:`ask_secret`). Like the rest of the client room, this module never
imports the sandbox package: the sandbox is driven through the CLI in a child process.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import httpx
import yaml
from pydantic import BaseModel

from . import oidc
from .errors import ParameterError, StageFailed
from .packaged import notebooks_dir
from .params import ParameterSet, parse_parameters
from .results import Row, StageResult, format_table, style, to_frame
from .runner import SandboxProcess
from .settings import read_env_file, sandbox_dir
from .stages import run_stage

__all__ = [
    "STARTING_MARKER",
    "BatchResult",
    "ParameterForm",
    "SecretsForm",
    "StagePanel",
    "ask_secret",
    "ensure_sandbox",
    "field_problems",
    "parameter_files",
    "public_url_from_address",
    "restart_sandbox",
    "run_batch",
    "run_stages",
    "sandbox_links",
    "sign_in_url",
    "start",
    "validate",
]

# binder/start creates this file in the sandbox dir while it starts the sandbox in the
# background; notebooks wait for it instead of starting a second sandbox on the same dir.
STARTING_MARKER = "starting"
SECRET_VARS = ("OKTA_API_TOKEN", "OKTALAB_TEST_PASSWORD")
PLAIN_VARS = ("OKTA_ORG_URL", "KUBECONFIG", "OKTALAB_GATEWAY_URL", "OKTALAB_TEST_USERNAME")
STATUS_BADGES = {
    "pending": ("#6c757d", "pending"),
    "running": ("#0d6efd", "running…"),
    "ok": ("#198754", "ok"),
    "failed": ("#dc3545", "failed"),
    "skipped": ("#6c757d", "skipped"),
}


# ---- parameters ------------------------------------------------------------------------------


def lab_dir() -> Path:
    """The folder holding ``notebooks/`` and ``parameters/`` that the start notebook works in.

    JupyterLab runs a notebook in its own folder, so that is the current folder or its parent
    (a checkout, Binder, or a folder made by ``oktalab init``); else where the packaged
    notebooks are (read-only use).
    """
    here = Path.cwd()
    for d in (here, here.parent):
        if (d / "parameters").is_dir() and (d / "notebooks").is_dir():
            return d
    return notebooks_dir().parent


def parameters_dir() -> Path:
    """``$OKTALAB_PARAMETERS``, else ``parameters/`` in :func:`lab_dir`."""
    env = os.environ.get("OKTALAB_PARAMETERS")
    return Path(env) if env else lab_dir() / "parameters"


def parameter_files(folder: Path | None = None) -> list[Path]:
    folder = folder or parameters_dir()
    return sorted(p for p in folder.glob("*.y*ml") if p.is_file())


def field_problems(exc: ParameterError) -> dict[str, list[str]]:
    """Problems keyed by field path (``app.redirect_uris``); ``""`` for the file as a whole.

    Model-level checks name their field at the start of the message (``"pkce_required: …"``),
    relative to where they were raised; that name is moved into the key.
    """
    out: dict[str, list[str]] = {}
    for path, msg in exc.problems:
        m = re.match(r"^([A-Za-z_][\w.]*): (.+)$", msg, re.S)
        if m and "." not in path and m.group(1) not in ("", "the"):
            inner = m.group(1)
            path = inner if not path or inner.startswith(path + ".") else f"{path}.{inner}"
            msg = m.group(2)
        out.setdefault(path, []).append(msg)
    return out


def validate(data: Any) -> tuple[ParameterSet | None, dict[str, list[str]]]:
    """Validate a mapping; return the parameter set, or the problems by field."""
    try:
        return parse_parameters(data), {}
    except ParameterError as exc:
        return None, field_problems(exc)


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [a for arg in typing.get_args(annotation) for a in _unwrap(arg)]
    return [annotation]


def _annotation(path: str) -> Any:
    """The type annotation of a dotted field path of :class:`ParameterSet`, or None."""
    model: Any = ParameterSet
    annotation: Any = None
    for part in path.split("."):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        info = model.model_fields.get(part)
        if info is None:
            return None
        annotation = info.annotation
        models = [
            a for a in _unwrap(annotation) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        model = models[0] if models else None
    return annotation


def _choices(path: str) -> list[str] | None:
    """The allowed values of a ``Literal`` field (None for a free field)."""
    parts = _unwrap(_annotation(path))
    if parts and all(typing.get_origin(p) is Literal for p in parts):
        return [str(v) for p in parts for v in typing.get_args(p)]
    return None


def _description(path: str) -> str:
    model: Any = ParameterSet
    info = None
    for part in path.split("."):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return ""
        info = model.model_fields.get(part)
        if info is None:
            return ""
        models = [
            a for a in _unwrap(info.annotation) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        model = models[0] if models else None
    return (info.description or "") if info else ""


def _scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str | int | float) for v in value)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Leaves the form edits one by one; lists of mappings stay whole (edited as YAML)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v and _annotation(path) is not None:
            sub = _annotation(path)
            if any(isinstance(a, type) and issubclass(a, BaseModel) for a in _unwrap(sub)):
                out.update(_flatten(v, path + "."))
                continue
        out[path] = v
    return out


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, v in flat.items():
        node = out
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    return out


def _owner(problem_path: str, fields: Iterable[str]) -> str | None:
    """The form field a problem belongs to: the longest field path that prefixes it."""
    best = None
    for f in fields:
        if problem_path == f or problem_path.startswith(f + "."):
            if best is None or len(f) > len(best):
                best = f
    return best


# ---- sandbox ---------------------------------------------------------------------------------


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

    from .settings import Environment
    from .stages.context import Context

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


def ask_secret(name: str) -> bool:
    """Read a secret with ``getpass`` (nothing echoed or kept in outputs) into the environment."""
    from getpass import getpass

    value = getpass(f"{name}: ")
    if value:
        os.environ[name] = value
    return bool(value)


# ---- running stages --------------------------------------------------------------------------


StatusCallback = Callable[[str, str, "StageResult | None"], None]


@dataclass
class BatchResult:
    """The rows of a start-notebook run; the table is its HTML form."""

    parameter_set: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r["status"] != "failed" for r in self.rows)

    def table(self) -> Any:
        return to_frame(self.rows)

    def _repr_html_(self) -> str:
        return str(style(self.table())._repr_html_())

    def raise_for_status(self) -> None:
        """Fail a batch (papermill) run when any check failed."""
        failed = [r for r in self.rows if r["status"] == "failed"]
        if failed or not self.rows:
            raise StageFailed(
                failed[0]["stage"] if failed else "start",
                "; ".join(f"{r['step']} {r['name']}: {r['detail']}" for r in failed[:5])
                or "no stage ran",
            )


def _skipped(ps: ParameterSet, stage: str, after: str) -> dict[str, Any]:
    row = Row(stage, "stage", "Stage", stage, "planned", "skipped", f"not run: {after!r} failed")
    row.parameter_set = ps.name
    return row.as_dict()


def run_stages(
    ps: ParameterSet,
    run_dir: str | Path,
    stages: list[str] | None = None,
    *,
    on_status: StatusCallback | None = None,
) -> BatchResult:
    """Run stages in order in this kernel; stop at the first failed one, marking later ones skipped."""
    wanted = stages or ps.stage_list
    report = BatchResult(ps.name)
    failed: str | None = None
    for stage in wanted:
        if failed:
            report.rows.append(_skipped(ps, stage, failed))
            if on_status:
                on_status(stage, "skipped", None)
            continue
        if on_status:
            on_status(stage, "running", None)
        result = run_stage(stage, ps, run_dir=run_dir, raise_on_failure=False)
        report.rows += [r.as_dict() for r in result.rows]
        status = "ok" if result.ok else "failed"
        if on_status:
            on_status(stage, status, result)
        if not result.ok and stage != "teardown":
            failed = stage
    return report


def run_batch(
    parameter_file: str | Path,
    run_root: str | Path = "../runs/interactive",
    stages: str | list[str] | None = None,
) -> BatchResult:
    """The start notebook without a frontend: validate, run the stages, print the table."""
    path = Path(parameter_file)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ParameterError(f"cannot read {path}: {exc}", source=str(path)) from None
    ps, problems = validate(data)
    if ps is None:
        for f, msgs in problems.items():
            for m in msgs:
                print(f"  {f or '(file)'}: {m}")
        raise ParameterError(
            [(f, m) for f, msgs in problems.items() for m in msgs], source=str(path)
        )
    print(f"{path}: valid parameter set {ps.name!r} (guide {ps.guide}, target {ps.target})")
    sandbox = _ensure(None, 90.0) if ps.target == "sandbox" else None
    if sandbox is not None:
        print(f"sandbox: {sandbox.state_dir}")
    wanted = (
        [s.strip() for s in stages.split(",") if s.strip()] if isinstance(stages, str) else stages
    )

    def say(stage: str, status: str, _: StageResult | None) -> None:
        print(f"  {stage:<14} {status}", flush=True)

    try:
        report = run_stages(ps, Path(run_root) / ps.name, wanted or None, on_status=say)
    finally:
        if sandbox is not None:
            sandbox.stop_if_started()  # a batch run leaves no sandbox behind it did not find
    print(format_table(report.rows))
    return report


# ---- widgets ---------------------------------------------------------------------------------


def _ipython(*names: str) -> tuple[Any, ...]:
    """Names from ``IPython.display`` (untyped upstream, hence ``Any``)."""
    import IPython.display

    return tuple(getattr(IPython.display, n) for n in names)


def _badge(status: str) -> str:
    colour, text = STATUS_BADGES[status]
    return (
        f'<span style="background:{colour};color:white;border-radius:4px;padding:1px 8px;'
        f'font-size:12px">{html.escape(text)}</span>'
    )


def _problem_html(msgs: list[str]) -> str:
    return "".join(
        f'<div style="color:#b02a37;font-size:12px">{html.escape(m)}</div>' for m in msgs
    )


class ParameterForm:
    """Load a parameter file, edit it field by field (or as YAML), validate, save.

    One widget per leaf of the file (choices from the model's ``Literal`` types), each with
    its own message line; lists of mappings such as ``claims`` are edited as YAML.
    """

    def __init__(self, parameter_file: str | Path | None = None) -> None:
        import ipywidgets as w

        self.w = w
        files = parameter_files()
        start = Path(parameter_file).resolve() if parameter_file else (files[0] if files else None)
        options = [(p.name, str(p.resolve())) for p in files]
        if start is not None and str(start) not in [v for _, v in options]:
            options.append((start.name, str(start)))
        self.file = w.Dropdown(
            options=options, value=str(start) if start else None, description="file"
        )
        self.load_button = w.Button(description="Load", icon="folder-open")
        self.validate_button = w.Button(description="Validate", icon="check", button_style="info")
        self.save_name = w.Text(description="save as", placeholder="parameters/<name>.yaml")
        self.save_button = w.Button(description="Save", icon="save")
        self.valid = w.Valid(value=False, description="valid")
        self.messages = w.HTML()
        self.fields: dict[str, Any] = {}
        self.notes: dict[str, Any] = {}
        self.kinds: dict[str, str] = {}
        self.sections = w.Accordion()
        self.raw = w.Textarea(layout=w.Layout(width="100%", height="420px"))
        self.tabs = w.Tab(children=[self.sections, self.raw])
        self.tabs.set_title(0, "fields")
        self.tabs.set_title(1, "YAML")
        self.tabs.observe(self._on_tab, names="selected_index")
        self.load_button.on_click(lambda _: self._load_clicked())
        self.validate_button.on_click(lambda _: self.check())
        self.save_button.on_click(lambda _: self.save())
        self.on_valid: list[Callable[[ParameterSet], None]] = []
        self.parameter_set: ParameterSet | None = None
        self.widget = w.VBox(
            [
                w.HBox([self.file, self.load_button]),
                self.tabs,
                w.HBox([self.validate_button, self.valid, self.save_name, self.save_button]),
                self.messages,
            ]
        )
        if start is not None:
            self.load()

    # -- building
    def _widget_for(self, path: str, value: Any) -> Any:
        w = self.w
        label = path.rsplit(".", 1)[-1]
        common = {
            "description": label,
            "description_tooltip": _description(path) or path,
            "style": {"description_width": "180px"},
            "layout": w.Layout(width="560px"),
        }
        choices = _choices(path)
        if isinstance(value, bool):
            self.kinds[path] = "bool"
            return w.Checkbox(value=value, indent=False, **common)
        if choices and (value is None or str(value) in choices):
            self.kinds[path] = "choice"
            opts = choices if value is not None else ["", *choices]
            return w.Dropdown(options=opts, value="" if value is None else str(value), **common)
        if isinstance(value, int):
            self.kinds[path] = "int"
            return w.IntText(value=value, **common)
        if isinstance(value, float):
            self.kinds[path] = "float"
            return w.FloatText(value=value, **common)
        if _scalar_list(value):
            self.kinds[path] = "list"
            return w.Text(
                value=", ".join(str(v) for v in value), placeholder="comma-separated", **common
            )
        if isinstance(value, str) or value is None:
            self.kinds[path] = "str"
            return w.Text(value=value or "", placeholder="(empty = not set)", **common)
        self.kinds[path] = "yaml"
        text = yaml.safe_dump(value, sort_keys=False, default_flow_style=False)
        common["layout"] = w.Layout(width="560px", height=f"{min(20, text.count(chr(10)) + 2)}em")
        return w.Textarea(value=text, **common)

    def _build(self, data: dict[str, Any]) -> None:
        w = self.w
        self.fields, self.notes, self.kinds = {}, {}, {}
        groups: dict[str, list[Any]] = {}
        for path, value in _flatten(data).items():
            widget = self._widget_for(path, value)
            note = w.HTML()
            self.fields[path], self.notes[path] = widget, note
            section = path.split(".")[0] if "." in path else "general"
            groups.setdefault(section, []).append(w.VBox([widget, note]))
        self.sections.children = [w.VBox(rows) for rows in groups.values()]
        for i, name in enumerate(groups):
            self.sections.set_title(i, name)
        self.sections.selected_index = 0 if groups else None

    def _value(self, path: str) -> Any:
        widget, kind = self.fields[path], self.kinds[path]
        v = widget.value
        if kind == "list":
            return [s.strip() for s in v.split(",") if s.strip()]
        if kind in ("str", "choice"):
            return v if v != "" else None
        if kind == "yaml":
            try:
                return yaml.safe_load(v)
            except yaml.YAMLError as exc:
                raise ParameterError([(path, f"not valid YAML: {exc}")]) from None
        return v

    def data(self) -> dict[str, Any]:
        """The edited parameters as a mapping (from the YAML tab when it is open)."""
        if self.tabs.selected_index == 1:
            try:
                loaded = yaml.safe_load(self.raw.value) or {}
            except yaml.YAMLError as exc:
                raise ParameterError(f"not valid YAML: {exc}") from None
            return loaded if isinstance(loaded, dict) else {"": loaded}
        return _unflatten({p: self._value(p) for p in self.fields})

    def _on_tab(self, change: dict[str, Any]) -> None:
        try:
            if change["new"] == 1:
                self.raw.value = yaml.safe_dump(
                    _unflatten({p: self._value(p) for p in self.fields}), sort_keys=False
                )
            elif change["old"] == 1:
                loaded = yaml.safe_load(self.raw.value) or {}
                if isinstance(loaded, dict):
                    self._build(loaded)
        except (ParameterError, yaml.YAMLError) as exc:
            self.messages.value = _problem_html([str(exc)])

    # -- actions
    def _load_clicked(self) -> None:
        # Exceptions in a click handler are invisible in JupyterLab: show them as messages.
        try:
            self.load()
        except (OSError, yaml.YAMLError) as exc:
            self.messages.value = _problem_html([f"cannot load {self.file.value}: {exc}"])

    def load(self, path: str | Path | None = None) -> None:
        p = Path(path or self.file.value)
        text = p.read_text()
        data = yaml.safe_load(text) or {}
        self._build(data if isinstance(data, dict) else {})
        self.raw.value = text
        # Never offer to overwrite the shipped file: edits go to a copy unless renamed.
        stem = p.stem if p.stem.startswith("my-") else f"my-{p.stem}"
        self.save_name.value = f"{parameters_dir().name}/{stem}.yaml"
        self.check()

    def check(self) -> ParameterSet | None:
        """Validate; put each problem beside its field and list them all below the form."""
        for note in self.notes.values():
            note.value = ""
        try:
            ps, problems = validate(self.data())
        except ParameterError as exc:
            ps, problems = None, field_problems(exc)
        self.parameter_set = ps
        self.valid.value = ps is not None
        lines = []
        for path, msgs in problems.items():
            owner = _owner(path, self.fields)
            if owner is not None:
                self.notes[owner].value += _problem_html(msgs)
            lines += [f"{path or '(file)'}: {m}" for m in msgs]
        self.messages.value = (
            _problem_html(lines)
            if lines
            else f'<span style="color:#198754">valid: {html.escape(ps.name)}, '
            f"guide {html.escape(ps.guide)}, stages {', '.join(ps.stage_list)}</span>"
            if ps
            else ""
        )
        if ps is not None:
            for callback in self.on_valid:
                callback(ps)
        return ps

    def save(self, target: str | Path | None = None) -> Path | None:
        """Write the parameters as YAML (only when valid: nothing secret passes validation)."""
        ps = self.check()
        if ps is None:
            return None
        name = str(target or self.save_name.value or f"parameters/{ps.name}.yaml")
        out = Path(name)
        if not out.is_absolute():
            out = parameters_dir().parent / out
        if out.suffix not in (".yaml", ".yml"):
            self.messages.value = _problem_html(["save as: expected a .yaml file name"])
            return None
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(self.data(), sort_keys=False))
        self.messages.value += f"<div>saved to {html.escape(str(out))}</div>"
        return out


class SecretsForm:
    """Credentials for a real org: Password widgets that are emptied as soon as they are applied.

    The values go to this kernel's environment only (where :class:`oktalab.Environment`
    reads them); the widgets then hold empty strings, so saved widget state holds no secret.
    A value already in the environment is reported as set, never shown.
    """

    def __init__(self) -> None:
        import ipywidgets as w

        style = {"description_width": "200px"}
        self.plain = {
            k: w.Text(description=k, value=os.environ.get(k, ""), style=style) for k in PLAIN_VARS
        }
        self.secret = {
            k: w.Password(description=k, placeholder=self._hint(k), style=style)
            for k in SECRET_VARS
        }
        self.apply_button = w.Button(description="Apply", icon="key")
        self.apply_button.on_click(lambda _: self.apply())
        self.status = w.HTML()
        self.widget = w.VBox(
            [
                w.HTML(
                    "Only for <code>target: external</code>. The sandbox provides its own "
                    "credentials. Values go to this kernel's environment, never to the notebook."
                ),
                *self.plain.values(),
                *self.secret.values(),
                w.HBox([self.apply_button, self.status]),
            ]
        )

    @staticmethod
    def _hint(name: str) -> str:
        if os.environ.get(name) or os.environ.get(f"{name}_FILE"):
            return "set from the environment"
        return "not set"

    def apply(self) -> list[str]:
        applied = []
        for k, widget in self.plain.items():
            if widget.value.strip():
                os.environ[k] = widget.value.strip()
                applied.append(k)
        for k, widget in self.secret.items():
            if widget.value:
                os.environ[k] = widget.value
                widget.value = ""
                widget.placeholder = "set (hidden)"
                applied.append(k)
        self.status.value = "applied: " + (", ".join(applied) if applied else "nothing")
        return applied


class StagePanel:
    """The stages of a parameter set with a status badge each; run one by one or all."""

    def __init__(self, run_root: str | Path = "../runs/interactive") -> None:
        import ipywidgets as w

        self.w = w
        self.run_root = Path(run_root)
        self.parameter_set: ParameterSet | None = None
        self.badges: dict[str, Any] = {}
        self.buttons: dict[str, Any] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.list = w.VBox()
        self.run_all_button = w.Button(description="Run all", icon="play", button_style="success")
        self.run_all_button.on_click(lambda _: self._clicked(self.run_all))
        self.output = w.Output()
        self.header = w.HTML("<i>validate a parameter set first</i>")
        self.widget = w.VBox([self.header, self.list, self.run_all_button, self.output])

    @property
    def run_dir(self) -> Path:
        assert self.parameter_set is not None
        return self.run_root / self.parameter_set.name

    def show(self, ps: ParameterSet) -> None:
        w = self.w
        self.parameter_set = ps
        self.header.value = (
            f"<b>{html.escape(ps.name)}</b> ({html.escape(ps.guide)}, target "
            f"{html.escape(ps.target)}), run folder <code>{html.escape(str(self.run_dir))}</code>"
        )
        rows = []
        self.badges, self.buttons = {}, {}
        for stage in ps.stage_list:
            badge = w.HTML(_badge("pending"), layout=w.Layout(width="90px"))
            button = w.Button(description=f"Run {stage}", layout=w.Layout(width="180px"))
            button.on_click(lambda _, s=stage: self._clicked(self.run, s))
            self.badges[stage], self.buttons[stage] = badge, button
            rows.append(w.HBox([badge, button]))
        self.list.children = rows

    def _clicked(self, action: Callable[..., Any], *args: Any) -> None:
        """Run a button's action; show its error in the output (JupyterLab shows none)."""
        try:
            action(*args)
        except Exception as exc:
            with self.output:
                print(f"{type(exc).__name__}: {exc}")

    def set_status(self, stage: str, status: str, detail: str = "") -> None:
        if stage in self.badges:
            extra = f" <small>{html.escape(detail)}</small>" if detail else ""
            self.badges[stage].value = _badge(status) + extra

    def _ensure_ready(self) -> ParameterSet:
        if self.parameter_set is None:
            raise ParameterError("validate a parameter set first")
        if self.parameter_set.target == "sandbox":
            ensure_sandbox()
        return self.parameter_set

    def _on_status(self, stage: str, status: str, result: StageResult | None) -> None:
        self.set_status(stage, status)
        if result is None:
            return
        self.rows[stage] = [r.as_dict() for r in result.rows]
        with self.output:
            display, Markdown, Image = _ipython("display", "Markdown", "Image")
            display(Markdown(f"### {stage}"))
            display(style(result.table()))
            preview = result.outputs.get("preview") or {}
            for which in ("access_token", "id_token"):
                if preview.get(which):
                    from .results import claims_frame

                    frame = claims_frame(preview[which])
                    display(frame.style.set_caption(which).hide(axis="index"))
            shot = self.run_dir / "screenshots" / "portal-signed-in.png"
            if stage == "portal_verify" and shot.exists():
                display(Image(filename=str(shot)))

    def run(self, stage: str) -> BatchResult:
        ps = self._ensure_ready()
        self.output.clear_output()
        return run_stages(ps, self.run_dir, [stage], on_status=self._on_status)

    def run_all(self) -> BatchResult:
        ps = self._ensure_ready()
        self.output.clear_output()
        for stage in ps.stage_list:
            self.set_status(stage, "pending")
        report = run_stages(ps, self.run_dir, on_status=self._on_status)
        with self.output:
            display, Markdown = _ipython("display", "Markdown")
            verdict = "all checks passed" if report.ok else "some checks failed"
            display(Markdown(f"### all stages: {verdict}"))
            display(report)
        return report


@dataclass
class StartApp:
    """What :func:`start` displays, kept so that tests and users can drive it from code."""

    form: ParameterForm
    secrets: SecretsForm
    stages: StagePanel
    links: Any
    widget: Any


def _links_html(state_dir: Path | None = None) -> str:
    links = sandbox_links(state_dir)
    if not links:
        return "<i>the sandbox is not running yet</i>"
    items = "".join(
        f'<li><a href="{html.escape(u)}" target="_blank">{html.escape(k)}</a></li>'
        for k, u in links.items()
    )
    return f"<ul>{items}</ul>"


def start(
    parameter_file: str | Path | None = None, run_root: str | Path = "../runs/interactive"
) -> StartApp:
    """Display the form, the secrets panel, the sandbox links and the stage panel."""
    import ipywidgets as w

    (display,) = _ipython("display")
    form = ParameterForm(parameter_file)
    secrets = SecretsForm()
    stages = StagePanel(run_root)
    links = w.HTML(_links_html())
    refresh = w.Button(description="Refresh links", icon="refresh")
    refresh.on_click(lambda _: setattr(links, "value", _links_html()))
    address = w.Text(
        description="this tab's address",
        placeholder="paste from the address bar when the links above are 127.0.0.1 ones",
        style={"description_width": "140px"},
        layout=w.Layout(width="720px"),
    )
    use = w.Button(description="Serve Okta through the proxy", icon="exchange")
    said = w.Output()

    def _use(_: Any) -> None:
        said.clear_output()
        with said:  # errors shown, not lost (click handlers have no visible stderr)
            try:
                url = public_url_from_address(address.value)
                restart_sandbox(url)
            except Exception as exc:
                print(f"{type(exc).__name__}: {exc}")
                return
            links.value = _links_html()
            print(f"the sandbox's Okta org now answers at {url}; run the stages again")

    use.on_click(_use)
    form.on_valid.append(stages.show)
    if form.parameter_set is not None:
        stages.show(form.parameter_set)
    tabs = w.Tab(
        children=[
            form.widget,
            secrets.widget,
            w.VBox([links, refresh, w.HBox([address, use]), said]),
            stages.widget,
        ]
    )
    for i, title in enumerate(["1. parameters", "2. credentials", "3. sandbox pages", "4. run"]):
        tabs.set_title(i, title)
    display(tabs)
    return StartApp(form, secrets, stages, links, tabs)
