"""What the wheel ships besides code: the stage notebooks, the example parameter sets, extras.

The repository keeps ``notebooks/`` and ``parameters/`` at its top level (one copy); the
build maps them into the package as ``oktalab.notebooks`` and ``oktalab.parameters``
(``setup.py``: ``package_dir``), so a wheel, an sdist and an editable install all find them
with :mod:`importlib.resources`. ``oktalab init DIR`` copies them out for JupyterLab use.
"""

from __future__ import annotations

import filecmp
import importlib.metadata as md
import importlib.resources
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.requirements import Requirement

from .errors import OktalabError

# What `oktalab run` runs without a parameter file (what `make run` runs): both guides.
DEFAULT_SETS = ("sandbox.yaml", "sandbox-portal.yaml")
_DATA_SUFFIXES = {"notebooks": (".ipynb",), "parameters": (".yaml", ".yml")}


class MissingExtra(OktalabError):
    """An optional dependency group (``pip install 'oktalab[EXTRA]'``) is not installed."""

    def __init__(self, extra: str, purpose: str, missing: list[str]) -> None:
        self.extra = extra
        self.missing = missing
        super().__init__(
            f"{purpose} needs the {extra!r} extra: pip install 'oktalab[{extra}]'"
            f" (missing: {', '.join(missing)})"
        )


def _package_dir(name: Literal["notebooks", "parameters"]) -> Path:
    """The folder of the data package ``oktalab.<name>`` on disk.

    Raises:
        OktalabError: the installation is zipped or lacks the data (a broken build).
    """
    try:
        folder = importlib.resources.files(f"oktalab.{name}")
    except ModuleNotFoundError:  # a checkout on sys.path without an install
        folder = Path(__file__).resolve().parent.parent / name
    if not isinstance(folder, Path) or not folder.is_dir():
        raise OktalabError(f"oktalab's packaged {name}/ folder is missing ({folder}); reinstall")
    return folder


def notebooks_dir() -> Path:
    """The stage notebooks: ``$OKTALAB_NOTEBOOKS``, else the packaged ``oktalab.notebooks``."""
    env = os.environ.get("OKTALAB_NOTEBOOKS")
    return Path(env) if env else _package_dir("notebooks")


def parameters_dir() -> Path:
    """The packaged example parameter sets (``oktalab.parameters``)."""
    return _package_dir("parameters")


def default_parameter_files() -> list[Path]:
    """The sandbox sets of both guides, run when ``oktalab run`` is given no file."""
    folder = parameters_dir()
    return [folder / name for name in DEFAULT_SETS]


#: Sub-folders of the packaged parameters: the batch example (template, table, batch file).
_PARAMETER_SUBDIRS = {"batch": (".yaml", ".yml", ".csv")}


def data_files(name: Literal["notebooks", "parameters"]) -> list[Path]:
    """The packaged notebooks or parameter files (no ``__init__.py``, no caches), sorted;
    the parameters' ``batch/`` example folder included."""
    folder = notebooks_dir() if name == "notebooks" else parameters_dir()
    out = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in _DATA_SUFFIXES[name])
    if name == "parameters":
        for sub, suffixes in _PARAMETER_SUBDIRS.items():
            if (folder / sub).is_dir():
                out += sorted(
                    p for p in (folder / sub).iterdir() if p.is_file() and p.suffix in suffixes
                )
    return out


@dataclass(frozen=True)
class Copied:
    path: Path
    action: Literal["created", "unchanged", "replaced", "refused"]


def init_lab(dest: str | Path, *, force: bool = False) -> list[Copied]:
    """Copy the notebooks and example parameters into ``dest/notebooks`` and ``dest/parameters``.

    A file that exists with the same bytes is ``unchanged``; one that differs is ``refused``
    (nothing is written at all when any is refused) unless ``force``, then ``replaced``.
    The notebooks' parameter cells read ``../parameters/…``, so the copies run in place.

    Returns:
        One :class:`Copied` per file, in copy order.
    """
    root = Path(dest)
    plan: list[tuple[Path, Path, Copied]] = []
    names: tuple[Literal["notebooks", "parameters"], ...] = ("notebooks", "parameters")
    for name in names:
        base = notebooks_dir() if name == "notebooks" else parameters_dir()
        for src in data_files(name):
            target = root / name / src.relative_to(base)
            if not target.exists():
                action = "created"
            elif target.is_file() and filecmp.cmp(src, target, shallow=False):
                action = "unchanged"
            else:
                action = "replaced" if force else "refused"
            plan.append((src, target, Copied(target, action)))  # type: ignore[arg-type]
    if any(c.action == "refused" for *_, c in plan):
        return [c for *_, c in plan]
    for src, target, c in plan:
        if c.action in ("created", "replaced"):
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                shutil.rmtree(target)
            shutil.copyfile(src, target)
    return [c for *_, c in plan]


def missing_requirements(extra: str) -> list[str]:
    """The requirements of ``oktalab[extra]`` that are not installed (names), from the metadata.

    Reads ``Requires-Dist`` of the installed distribution, so it follows ``pyproject.toml``
    (PEP 508 markers, ``extra == "..."``); an unknown extra has no requirements.
    """
    try:
        requires = md.requires("oktalab") or []
    except md.PackageNotFoundError:  # a checkout on sys.path: nothing to compare with
        return []
    missing: list[str] = []
    for text in requires:
        req = Requirement(text)
        if req.marker is None or not req.marker.evaluate({"extra": extra}):
            continue
        if req.marker.evaluate({"extra": ""}):
            continue  # a base requirement, not this extra's
        try:
            md.version(req.name)
        except md.PackageNotFoundError:
            missing.append(req.name)
    return missing


def require_extra(extra: str, purpose: str) -> None:
    """Raise :class:`MissingExtra` (one line: what to install) when ``oktalab[extra]`` is absent."""
    missing = missing_requirements(extra)
    if missing:
        raise MissingExtra(extra, purpose, missing)
