"""Tab 1, parameters: find the parameter files, edit one field by field, validate, save.

:class:`ParameterForm` shows one widget per leaf of the file (choices from the model's
``Literal`` types, descriptions from its fields), each with its own message line naming the
rule a value breaks; lists of mappings such as ``claims`` are edited as YAML. Validation is
the same :func:`oktalab.params.parse_parameters` that ``oktalab run`` uses.
"""

from __future__ import annotations

import html
import os
import re
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from ..errors import ParameterError
from ..packaged import notebooks_dir
from ..params import ParameterSet, parse_parameters
from .widgets import _problem_html


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
