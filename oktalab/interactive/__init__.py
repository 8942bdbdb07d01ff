"""The interactive layer of ``notebooks/00_start.ipynb``: one module per tab of its form.

* :mod:`.parameters` — 1. parameters: load, edit, validate and save a parameter file;
* :mod:`.credentials` — 2. credentials: secrets into the kernel's environment, never widgets;
* :mod:`.pages` — 3. sandbox pages: the embedded sandbox and links to its pages;
* :mod:`.run` — 4. run: the stages and the results table (also the batch path).

Only the start notebook uses this package; the stage notebooks and ``oktalab run`` never do,
so papermill never needs a frontend. With ``interactive=False`` the start notebook calls
:func:`run_batch` and no widget is created. Like the rest of the client room, this package
never imports the sandbox package. :func:`start` assembles the four tabs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .credentials import PLAIN_VARS, SECRET_VARS, SecretsForm, ask_secret
from .pages import (
    STARTING_MARKER,
    SandboxPage,
    SandboxPages,
    _starting as _starting,
    default_sandbox_dir,
    ensure_sandbox,
    portal_public_url,
    public_url_from_address,
    restart_sandbox,
    sandbox_links,
    sandbox_pages,
    sign_in_url,
)
from .parameters import (
    ParameterForm,
    field_problems,
    lab_dir,
    parameter_files,
    parameters_dir,
    validate,
)
from .run import STATUS_BADGES, BatchResult, StagePanel, StatusCallback, run_batch, run_stages
from .widgets import _ipython

__all__ = [
    "PLAIN_VARS",
    "SECRET_VARS",
    "STARTING_MARKER",
    "STATUS_BADGES",
    "BatchResult",
    "ParameterForm",
    "SandboxPage",
    "SandboxPages",
    "SecretsForm",
    "StagePanel",
    "StartApp",
    "StatusCallback",
    "ask_secret",
    "default_sandbox_dir",
    "ensure_sandbox",
    "field_problems",
    "lab_dir",
    "parameter_files",
    "parameters_dir",
    "portal_public_url",
    "public_url_from_address",
    "restart_sandbox",
    "run_batch",
    "run_stages",
    "sandbox_links",
    "sandbox_pages",
    "sign_in_url",
    "start",
    "validate",
]


@dataclass
class StartApp:
    """What :func:`start` displays, kept so that tests and users can drive it from code."""

    form: ParameterForm
    secrets: SecretsForm
    stages: StagePanel
    links: Any
    widget: Any


def start(
    parameter_file: str | Path | None = None, run_root: str | Path = "../runs/interactive"
) -> StartApp:
    """Display the form, the secrets panel, the sandbox links and the stage panel."""
    import ipywidgets as w

    (display,) = _ipython("display")
    form = ParameterForm(parameter_file)
    secrets = SecretsForm()
    stages = StagePanel(run_root)
    pages = SandboxPages()
    form.on_valid.append(stages.show)
    if form.parameter_set is not None:
        stages.show(form.parameter_set)
    tabs = w.Tab(
        children=[
            form.widget,
            secrets.widget,
            pages.widget,
            stages.widget,
        ]
    )
    for i, title in enumerate(["1. parameters", "2. credentials", "3. sandbox pages", "4. run"]):
        tabs.set_title(i, title)
    display(tabs)
    return StartApp(form, secrets, stages, pages.links, tabs)
