"""``oktalab plan`` and ``oktalab check``: the stages in another mode, run in this process.

DESIGN "one write path, three modes": the same stage functions run with
``Context.mode`` ``plan`` (reads and server-side dry runs; rows ``action: planned`` whose
detail starts with ``create`` / ``update: <field diff>`` / ``unchanged``) or ``check``
(the same reads; a difference, a missing object, a status that is not ACCEPTED / Accepted,
stale signing keys or a failed read-only verification is a ``failed`` row naming the repair).
No notebook is executed: nothing is applied, so there is nothing to keep a record of beyond
the results files. A stage without the mode adds one ``skipped`` row saying so.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from .params import ParameterSet
from .results import write_reports
from .runner import Runner, RunReport, SandboxProcess
from .settings import Environment, read_env_file
from .stages import Mode, run_stage

#: Stages that only verify: nothing to plan, and run as they are by ``check``
#: (``portal_verify`` plans: it says what its sign-up would create).
VERIFY_ONLY = ("verify",)


def exit_code(mode: Mode, rows: list[dict[str, Any]]) -> int:
    """``plan``: 1 on any failed row, 2 when something would change, else 0 (as
    ``terraform plan -detailed-exitcode``; a planned row whose detail starts with
    ``unchanged`` is no change). ``check``: 1 on any failed row (drift, a failed
    health or verification check), else 0."""
    if not rows or any(r["status"] == "failed" for r in rows):
        return 1
    if mode == "plan" and any(
        r["action"] == "planned" and not str(r["detail"]).startswith("unchanged") for r in rows
    ):
        return 2
    return 0


def run_mode(
    files: list[str | Path],
    *,
    mode: Mode,
    out_dir: str | Path,
    state_from: str | Path = "runs/latest",
    sandbox_state_dir: str | Path | None = None,
    stages: list[str] | None = None,
    template: str | Path | None = None,
    table: str | Path | None = None,
) -> RunReport:
    """Run every parameter set's stages in ``mode``; write results into ``out_dir``.

    ``state_from/<set>/state.json`` (the last run's ids and endpoints, never a secret) is
    copied in so that verification finds the app; the authorization server's keys are always
    read from the server. Raises :class:`~oktalab.errors.ParameterError` before any call when
    a parameter file is invalid.
    """
    runner = Runner(
        out_dir=out_dir, sandbox_state_dir=sandbox_state_dir, template=template, table=table
    )
    sets = runner.load(files)
    sandbox = SandboxProcess(runner.sandbox_state_dir)
    report = RunReport()
    try:
        if any(ps.target == "sandbox" for _, ps in sets):
            sandbox.ensure()
        for path, ps in sets:
            report.rows += _run_set(runner, path, ps, mode, Path(state_from), stages)
    finally:
        sandbox.stop_if_started()
    assert runner.out_dir is not None  # run_mode always names its folder
    report.paths = write_reports(runner.out_dir, report.rows, title=f"oktalab {mode}")
    return report


def _run_set(
    runner: Runner,
    path: Path,
    ps: ParameterSet,
    mode: Mode,
    state_from: Path,
    stages: list[str] | None,
) -> list[dict[str, Any]]:
    assert runner.out_dir is not None  # run_mode always names its folder
    run_dir = runner.out_dir / ps.name
    (run_dir / "rows").mkdir(parents=True, exist_ok=True)
    previous = state_from.resolve() / ps.name / "state.json"
    if previous.is_file() and previous != run_dir / "state.json":
        shutil.copyfile(previous, run_dir / "state.json")
    wanted = [s for s in (stages or ps.stage_list) if not (mode == "plan" and s in VERIFY_ONLY)]
    saved = dict(os.environ)
    os.environ["OKTALAB_SANDBOX_DIR"] = str(runner.sandbox_state_dir)
    os.environ.setdefault("OKTALAB_HOME", str(runner.sandbox_state_dir.parent))
    if ps.target == "sandbox" and (runner.sandbox_state_dir / "sandbox.env").is_file():
        for k, v in read_env_file(runner.sandbox_state_dir / "sandbox.env").items():
            os.environ.setdefault(k, v)
    rows: list[dict[str, Any]] = []
    try:
        env = Environment.load(target=ps.target)
        for stage in wanted:
            result = run_stage(
                stage, path, run_dir=run_dir, env=env, raise_on_failure=False, mode=mode
            )
            rows += [r.as_dict() for r in result.rows]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return rows
