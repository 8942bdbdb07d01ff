"""Batch runs: validate every parameter file, execute the stage notebooks with papermill, report.

Parse → validate (all files, before any call) → execute (one executed notebook per stage in
``OUT/<parameter-set>/``) → report (``results.json``, ``results.csv``, ``report.html``).
The sandbox is started in a child process when a parameter set targets it and none runs,
so this module never imports the sandbox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ParameterError, SandboxError
from .packaged import notebooks_dir, require_extra
from .params import ParameterSet, load_parameters
from .results import read_rows, write_reports
from .settings import read_env_file, sandbox_dir

NOTEBOOKS = {
    "okta_app": "01_okta_app.ipynb",
    "claims": "02_claims.ipynb",
    "extauth": "03_extauth.ipynb",
    "portal_groups": "03b_portal_groups.ipynb",
    "verify": "04_verify.ipynb",
    "registration": "05_registration.ipynb",
    "portal": "06_portal.ipynb",
    "portal_verify": "07_portal_verify.ipynb",
    "teardown": "99_teardown.ipynb",
}


def ipc_kernel_manager(socket_dir: str, log_path: Path | None = None) -> type:
    """Kernels on local IPC sockets instead of plaintext TCP ports (ipykernel's own advice).

    The kernel process's own log (not cell output, which the executed notebook keeps) goes
    to ``log_path`` rather than the terminal, so a run prints only its results table.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum, Unicode

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)
        ip = Unicode(str(Path(socket_dir) / "kernel"), config=True)

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> Any:
            if log_path is None:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
                kw["stderr"] = log
                return await super()._async_launch_kernel(kernel_cmd, **kw)

    return IPCKernelManager


@dataclass
class RunReport:
    rows: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r["status"] == "failed")

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or not self.rows else 0


class SandboxProcess:
    """Start/stop the embedded sandbox through the CLI in a child process."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.started_here = False

    def _cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "oktalab", "sandbox", *args, "--state-dir", str(self.state_dir)],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def running(self) -> bool:
        return self._cli("status").returncode == 0

    def ensure(self) -> None:
        if self.running():
            return
        require_extra("sandbox", "the embedded sandbox")
        proc = self._cli("start")
        if proc.returncode != 0:
            raise SandboxError(
                f"could not start the sandbox in {self.state_dir}:\n{proc.stdout}{proc.stderr}"
            )
        self.started_here = True

    def stop_if_started(self) -> None:
        if self.started_here:
            self._cli("stop")
            self.started_here = False


class Runner:
    """Runs parameter sets through the stage notebooks."""

    def __init__(
        self,
        *,
        out_dir: str | Path = "runs/latest",
        sandbox_state_dir: str | Path | None = None,
        kernel_name: str = "python3",
        log_output: bool = False,
        stage_timeout: int = 600,
    ) -> None:
        self.out_dir = Path(out_dir).resolve()
        self.sandbox_state_dir = (
            Path(sandbox_state_dir).resolve() if sandbox_state_dir else sandbox_dir().resolve()
        )
        self.kernel_name = kernel_name
        self.log_output = log_output
        self.stage_timeout = stage_timeout

    def check_out_dir(self) -> None:
        """``--out`` must be a folder (or not exist yet) in a writable place; checked before
        any call so that a typo does not surface as a traceback after the stages ran."""
        out = self.out_dir
        existing = next((p for p in (out, *out.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise ParameterError([("--out", f"expected a folder, but {existing} is a file")])
        if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
            raise ParameterError([("--out", f"{existing} is not writable")])

    def load(self, files: list[str | Path]) -> list[tuple[Path, ParameterSet]]:
        """Validate every file first, so a typo in the last one stops the run before any call."""
        sets: list[tuple[Path, ParameterSet]] = []
        problems: list[str] = []
        errors: list[ParameterError] = []
        for f in files:
            try:
                sets.append((Path(f).resolve(), load_parameters(f)))
            except ParameterError as exc:
                problems.append(str(exc))
                errors.append(exc)
        if len(errors) == 1 and len(problems) == 1:
            raise errors[0]
        names = [ps.name for _, ps in sets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(f"parameter-set names must be unique in one run; repeated: {dupes}")
        if problems:
            raise ParameterError([("", p) for p in problems])
        return sets

    def run(
        self, files: list[str | Path], *, stages: list[str] | None = None, teardown: bool = False
    ) -> RunReport:
        sets = self.load(files)
        self.check_out_dir()
        for _, ps in sets:
            wanted = ["teardown"] if teardown else (stages or ps.stage_list)
            unknown = [s for s in wanted if s not in NOTEBOOKS]
            if unknown:
                raise ParameterError(
                    [
                        (
                            "--stages",
                            f"unknown stage(s) {unknown}; expected some of {list(NOTEBOOKS)}",
                        )
                    ]
                )
        for _, ps in sets:
            wanted = ["teardown"] if teardown else (stages or ps.stage_list)
            if "portal_verify" in wanted and ps.portal_verify.driver == "browser":
                require_extra("browser", f"{ps.name}: portal_verify.driver 'browser'")
        sandbox = SandboxProcess(self.sandbox_state_dir)
        report = RunReport()
        try:
            if any(ps.target == "sandbox" for _, ps in sets):
                sandbox.ensure()
            for path, ps in sets:
                wanted = ["teardown"] if teardown else (stages or ps.stage_list)
                report.rows += self._run_set(path, ps, wanted)
        finally:
            sandbox.stop_if_started()
        report.paths = write_reports(
            self.out_dir, report.rows, title=f"oktalab {'teardown' if teardown else 'run'}"
        )
        return report

    def _kernel_env(self, ps: ParameterSet, run_dir: Path) -> dict[str, str]:
        env = {
            "OKTALAB_RUN_DIR": str(run_dir),
            "OKTALAB_SANDBOX_DIR": str(self.sandbox_state_dir),
            "OKTALAB_HOME": os.environ.get("OKTALAB_HOME") or str(self.sandbox_state_dir.parent),
        }
        if ps.target == "sandbox":
            envfile = self.sandbox_state_dir / "sandbox.env"
            if envfile.is_file():
                for k, v in read_env_file(envfile).items():
                    env.setdefault(k, v)
        return env

    def _run_set(self, path: Path, ps: ParameterSet, stages: list[str]) -> list[dict[str, Any]]:
        import papermill as pm

        run_dir = self.out_dir / ps.name
        run_dir.mkdir(parents=True, exist_ok=True)
        for old in (run_dir / "rows").glob("*.json"):
            old.unlink()
        nb_dir = notebooks_dir()
        rows: list[dict[str, Any]] = []
        sock_dir = tempfile.mkdtemp(prefix="oktalab-kernels-")
        saved = dict(os.environ)
        os.environ.update(self._kernel_env(ps, run_dir))
        try:
            for stage in stages:
                t0 = time.perf_counter()
                error = None
                try:
                    pm.execute_notebook(
                        str(nb_dir / NOTEBOOKS[stage]),
                        str(run_dir / NOTEBOOKS[stage]),
                        parameters={"parameter_file": str(path), "run_dir": str(run_dir)},
                        cwd=str(nb_dir),
                        kernel_name=self.kernel_name,
                        log_output=self.log_output,
                        progress_bar=False,
                        execution_timeout=self.stage_timeout,
                        kernel_manager_class=ipc_kernel_manager(sock_dir, run_dir / "kernels.log"),
                    )
                except Exception as exc:  # papermill wraps cell errors; keep the short form
                    error = getattr(exc, "evalue", None) or f"{type(exc).__name__}: {exc}"
                stage_rows = read_rows(run_dir / "rows" / f"{stage}.json")
                if error and not any(r["status"] == "failed" for r in stage_rows):
                    stage_rows.append(
                        {
                            "parameter_set": ps.name,
                            "stage": stage,
                            "step": "notebook",
                            "kind": "Notebook",
                            "name": NOTEBOOKS[stage],
                            "action": "checked",
                            "status": "failed",
                            "detail": str(error)[:300],
                            "seconds": round(time.perf_counter() - t0, 3),
                        }
                    )
                rows += stage_rows
                if error and stage != "teardown":
                    for later in stages[stages.index(stage) + 1 :]:
                        rows.append(
                            {
                                "parameter_set": ps.name,
                                "stage": later,
                                "step": "notebook",
                                "kind": "Notebook",
                                "name": NOTEBOOKS[later],
                                "action": "planned",
                                "status": "skipped",
                                "detail": f"not run: stage {stage!r} failed",
                                "seconds": 0.0,
                            }
                        )
                    break
        finally:
            os.environ.clear()
            os.environ.update(saved)
            shutil.rmtree(sock_dir, ignore_errors=True)
        return rows
