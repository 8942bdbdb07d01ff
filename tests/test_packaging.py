"""What the wheel carries besides code: packaged notebooks and parameter sets, `oktalab init`,
and the one-line errors for missing extras (the fresh-venv check is `.ci/wheel-smoke`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from oktalab_support import ROOT, oktalab_cli

from oktalab import packaged
from oktalab.packaged import MissingExtra, init_lab


def test_packaged_data_is_the_repositorys_one_copy() -> None:
    # An editable install maps oktalab.notebooks / oktalab.parameters to the top-level folders.
    assert packaged.notebooks_dir().resolve() == (ROOT / "notebooks").resolve()
    assert packaged.parameters_dir().resolve() == (ROOT / "parameters").resolve()
    names = [p.name for p in packaged.data_files("notebooks")]
    assert names == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert "__init__.py" not in names
    assert [p.name for p in packaged.default_parameter_files()] == [
        "sandbox.yaml",
        "sandbox-portal.yaml",
    ]


def test_build_declares_the_data_and_an_spdx_license() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "Apache-2.0"
    assert any(r.startswith("setuptools>=77") for r in meta["build-system"]["requires"])
    data = meta["tool"]["setuptools"]["package-data"]
    assert data["oktalab.notebooks"] == ["*.ipynb"]
    assert "*.yaml" in data["oktalab.parameters"]
    assert (ROOT / ".ci" / "wheel-smoke").stat().st_mode & 0o111
    assert ".ci/wheel-smoke" in (ROOT / ".ci" / "run").read_text()


def test_init_copies_then_keeps_identical_files_and_refuses_changed_ones(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    first = init_lab(lab)
    assert {c.action for c in first} == {"created"}
    nb = lab / "notebooks" / "01_okta_app.ipynb"
    assert nb.read_bytes() == (ROOT / "notebooks" / "01_okta_app.ipynb").read_bytes()
    assert (lab / "parameters" / "sandbox-portal.yaml").is_file()
    assert not (lab / "notebooks" / "__init__.py").exists()

    assert {c.action for c in init_lab(lab)} == {"unchanged"}

    mine = lab / "parameters" / "sandbox.yaml"
    mine.write_text(mine.read_text() + "# my edit\n")
    (lab / "notebooks" / "02_claims.ipynb").unlink()
    again = init_lab(lab)
    assert [c.path for c in again if c.action == "refused"] == [mine]
    assert not (lab / "notebooks" / "02_claims.ipynb").exists(), "a refused init writes nothing"
    assert mine.read_text().endswith("# my edit\n")

    forced = {c.path.name: c.action for c in init_lab(lab, force=True)}
    assert forced["sandbox.yaml"] == "replaced" and forced["02_claims.ipynb"] == "created"
    assert mine.read_bytes() == (ROOT / "parameters" / "sandbox.yaml").read_bytes()


def test_init_command_refuses_without_force(tmp_path: Path) -> None:
    ok = oktalab_cli("init", "lab", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "next: cd lab && jupyter lab" in ok.stdout
    (tmp_path / "lab" / "notebooks" / "04_verify.ipynb").write_text("{}")
    refused = oktalab_cli("init", "lab", cwd=tmp_path)
    assert refused.returncode == 1
    assert "04_verify.ipynb differs" in refused.stderr and "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    forced = oktalab_cli("init", "lab", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "replaced" in forced.stdout


def test_missing_extra_is_one_line_naming_the_install() -> None:
    # All extras are installed in the dev venv; what is missing is read from the metadata.
    assert packaged.missing_requirements("sandbox") == []
    assert packaged.missing_requirements("no-such-extra") == []
    packaged.require_extra("browser", "the sign-up check")
    msg = str(MissingExtra("sandbox", "the embedded sandbox", ["starlette", "uvicorn"]))
    assert "\n" not in msg and "pip install 'oktalab[sandbox]'" in msg and "starlette" in msg
