import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from oktalab.results import COLUMNS, Row, StageResult, format_table, write_reports

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_reports_have_the_contract_columns(tmp_path: Path) -> None:
    r = StageResult("okta_app", "set-a")
    r.add("app", "OktaApp", "x", "created", detail="client_id=1")
    r.add("check", "GatewayCheck", "/p", "checked", "failed", "expected 403, got 200")
    rows = [row.as_dict() for row in r.rows]
    paths = write_reports(tmp_path, rows)
    assert json.loads(paths["json"].read_text())[0]["parameter_set"] == "set-a"
    with paths["csv"].open() as fh:
        assert next(csv.reader(fh)) == COLUMNS
    assert "1 failed" in paths["html"].read_text()
    assert "expected 403, got 200" in format_table(rows)
    assert not r.ok
    with pytest.raises(Exception, match="expected 403"):
        r.raise_for_status()


def test_row_rounds_seconds() -> None:
    assert Row("s", "st", "k", "n", "checked", seconds=1.23456).as_dict()["seconds"] == 1.235


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_thin_tagged_and_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "committed without outputs"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) <= 5, "notebooks stay thin: logic lives in oktalab/"
    assert "password" not in tagged[0].source.lower() and "token" not in tagged[0].source.lower()


def test_nbstripout_verify() -> None:
    exe = Path(sys.executable).parent / "nbstripout"
    if not exe.exists():
        pytest.skip("nbstripout not installed")
    proc = subprocess.run(
        [str(exe), "--verify", *map(str, NOTEBOOKS)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
