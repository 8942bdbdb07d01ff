"""Batch runs: validate every parameter file, execute the stage notebooks with papermill, report.

Parse → validate (all files, before any call) → execute (one executed notebook per stage in
``RUN/<parameter-set>/``) → report (``results.json``, ``results.csv``, ``report.html``,
``run.json``). Each run writes its own folder ``runs/<UTC timestamp>-<command>/`` and
``runs/latest`` points to the newest (``--out DIR`` writes to DIR instead). The sandbox is
started in a child process when a parameter set targets it and none runs, so this module never
imports the sandbox. Ctrl-C stops the running kernel and a sandbox this run started, and the
reports are still written, the rest ``skipped``.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from . import __version__
from .batch import expand, generated_yaml
from .errors import ParameterError, SandboxError
from .forkserver import ForkServer, fork_server_for, split_kernel_argv
from .packaged import missing_requirements, notebooks_dir, require_extra
from .params import GUIDE_STAGES, ParameterSet
from .results import read_rows, stage_status, write_reports
from .settings import read_env_file, sandbox_dir
from .shared import KEYS_ENV, LOCK_DIR_ENV, KeyLocks, file_locks, shared_keys

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
RUNS_ROOT = Path("runs")
LATEST = "latest"
# Files a stage keeps across runs (ids and endpoints, never a secret): a later `--stages verify`
# in a new run folder starts from what the previous run found.
CARRIED = ("state.json",)


@functools.cache
def ready_kernel_client() -> type:
    """jupyter_client's async kernel client, with a ``wait_for_ready`` that ends when it is
    ready rather than after timers.

    jupyter_client's own waits for a ``kernel_info_reply``, then for 0.2 s of IOPub (to see
    that it is connected), then for 0.2 s of IOPub silence (to drop the handshake's status
    messages): 0.2-0.4 s per kernel whatever its speed, a third of a re-run's wall time. This
    one asks ``kernel_info`` and reads IOPub up to that request's ``idle`` status, which the
    kernel publishes after its reply (Jupyter messaging: every request is wrapped in
    ``busy``/``idle`` on IOPub): once it arrives, IOPub is connected and everything before it
    is drained. If IOPub was not yet subscribed (ZeroMQ's slow joiner) the status is lost
    and the request is sent again, as jupyter_client does.
    """
    from queue import Empty

    from jupyter_client.asynchronous.client import AsyncKernelClient

    class ReadyKernelClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:
                msg_id = self.kernel_info()
                reply = await self._reply_to(msg_id, min(1.0, deadline - time.monotonic()))
                if reply is not None and await self._idle_after(msg_id):
                    self._handle_kernel_info_reply(reply)
                    return
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

        _async_wait_for_ready = wait_for_ready

        async def _reply_to(self, msg_id: str, wait: float) -> dict[str, Any] | None:
            end = time.monotonic() + max(0.0, wait)
            while True:
                try:
                    msg = await self.shell_channel.get_msg(timeout=max(0.0, end - time.monotonic()))
                except Empty:
                    return None
                if msg["parent_header"].get("msg_id") == msg_id:
                    return msg if msg["msg_type"] == "kernel_info_reply" else None

        async def _idle_after(self, msg_id: str) -> bool:
            end = time.monotonic() + 1.0  # then ask again, as after a lost status
            while time.monotonic() < end:
                try:
                    msg = await self.iopub_channel.get_msg(timeout=0.05)
                except Empty:
                    return False
                if (
                    msg["msg_type"] == "status"
                    and msg["parent_header"].get("msg_id") == msg_id
                    and msg["content"].get("execution_state") == "idle"
                ):
                    return True
            return False

    return ReadyKernelClient


def ipc_kernel_manager(
    socket_dir: str,
    log_path: Path | None = None,
    launched: list[Any] | None = None,
    env: dict[str, str] | None = None,
    forks: ForkServer | None = None,
    starts: list[str] | None = None,
) -> type:
    """Kernels on local IPC sockets instead of plaintext TCP ports (ipykernel's own advice).

    ``env`` is added to this kernel's own environment at launch (``kw["env"]``, the copy of
    ``os.environ`` jupyter_client's provisioner hands to ``Popen``), so concurrent parameter
    sets each give their kernels their own variables without touching ``os.environ``.
    The kernel process's own log (not cell output, which the executed notebook keeps) goes
    to ``log_path`` rather than the terminal, so a run prints only its results table. Each
    manager that launched a kernel is appended to ``launched`` so that Ctrl-C can stop it;
    the clients made for it are kept so that their sockets are closed with the kernel.
    With ``forks``, a kernel is forked from that pre-imported server when its command is
    the server's interpreter running ``ipykernel_launcher`` (:mod:`oktalab.forkserver`),
    and launched as its own process otherwise; ``starts`` gets ``"forked"`` or
    ``"spawned"`` for each kernel.
    """
    from jupyter_client.asynchronous.client import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner
    from traitlets import CaselessStrEnum, Type, Unicode

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)
        ip = Unicode(str(Path(socket_dir) / "kernel"), config=True)

        client_factory = Type(ready_kernel_client(), klass=AsyncKernelClient, config=True)

        def client(self, *args: Any, **kwargs: Any) -> Any:
            kc = super().client(*args, **kwargs)
            self.__dict__.setdefault("oktalab_clients", []).append(kc)
            return kc

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> Any:
            if launched is not None:
                launched.append(self)
            own = {**(env or {}), **self.__dict__.get("oktalab_env", {})}  # set, then stage
            if own:
                kw["env"] = {**kw.get("env", os.environ), **own}
            if forks is not None and isinstance(self.provisioner, LocalProvisioner):
                parts = split_kernel_argv(kernel_cmd)
                cwd = str(kw.get("cwd") or os.getcwd())
                proc = None
                if parts is not None and parts[0] == forks.interpreter:
                    out = str(log_path) if log_path is not None else None
                    # the child names its parent itself (the server): no JPY_PARENT_PID
                    proc = forks.spawn(
                        parts[1], env=dict(kw.get("env", os.environ)), cwd=cwd, log=out
                    )
                if proc is not None:  # what LocalProvisioner.launch_kernel records
                    prov = self.provisioner
                    prov.process = cast(Any, proc)  # Popen's surface: poll, wait, kill, signal
                    prov.pid, prov.pgid, prov.cwd = proc.pid, proc.pid, cwd
                    self._reconcile_connection_info(prov.connection_info)
                    if starts is not None:
                        starts.append("forked")
                    return
            if starts is not None:
                starts.append("spawned")
            if log_path is None:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
                kw["stderr"] = log
                return await super()._async_launch_kernel(kernel_cmd, **kw)

    return IPCKernelManager


class KernelPipeline:
    """A fresh kernel per notebook, started one stage ahead (off the critical path).

    :meth:`start` launches a kernel process for a stage and returns its manager at once;
    the kernel boots (ipykernel, then the stage's module imported by ``exec_lines``, which
    binds no name in the notebook's namespace) while the current stage runs. papermill
    hands the manager to nbclient (``NotebookClient(km=...)``), which connects to the
    already started kernel instead of launching one. A kernel is used by one notebook
    only and asked to shut down when it is done (:meth:`retire`); its exit is awaited
    later, so the next stage does not wait for it. Everything happens on the calling
    thread's event loop (jupyter_core's ``run_sync``).
    """

    def __init__(
        self,
        *,
        kernel_name: str,
        cwd: Path,
        env: dict[str, str],
        log_path: Path | None,
        launched: list[Any],
        forks: ForkServer | None = None,
        starts: list[str] | None = None,
    ) -> None:
        self.kernel_name = kernel_name
        self.cwd = cwd
        self.socket_dir = tempfile.mkdtemp(prefix="oktalab-kernels-")
        self.km_class = ipc_kernel_manager(self.socket_dir, log_path, launched, env, forks, starts)
        self._n = 0
        self._retiring: list[Any] = []
        self._live: list[Any] = []

    def start(self, stage: str, env: dict[str, str] | None = None) -> Any:
        """Launch the kernel for ``stage`` (``env``: this kernel's own variables on top of
        the set's) and return its manager; the kernel boots in the background."""
        from jupyter_core.utils import run_sync

        self._n += 1
        km = self.km_class(
            kernel_name=self.kernel_name, ip=str(Path(self.socket_dir) / f"k{self._n}")
        )
        km.__dict__["oktalab_env"] = dict(env or {})
        self._live.append(km)
        # the stage's module and what the notebook's table display needs (pandas' Styler):
        # imported while the previous stage runs; no name is left in the namespace
        preload = (
            f"import oktalab.stages.{stage} as _oktalab_a, pandas.io.formats.style as _oktalab_b;"
            " del _oktalab_a, _oktalab_b"
        )
        run_sync(km.start_kernel)(
            cwd=str(self.cwd),
            extra_arguments=[
                "--HistoryManager.hist_file=:memory:",  # as nbclient starts a kernel
                f"--IPKernelApp.exec_lines={preload}",
            ],
        )
        return km

    def retire(self, km: Any) -> None:
        """Close the notebook's client sockets and ask the kernel to exit (no waiting)."""
        from jupyter_core.utils import run_sync

        self._finish()
        for kc in km.__dict__.get("oktalab_clients", []):
            with contextlib.suppress(Exception):
                kc.stop_channels()
        with contextlib.suppress(Exception):
            if run_sync(km.is_alive)():
                run_sync(km.request_shutdown)()
        self._retiring.append(km)

    def _finish(self) -> None:
        from jupyter_core.utils import run_sync

        for km in self._retiring:
            with contextlib.suppress(Exception):
                run_sync(km.finish_shutdown)(waittime=5)
            with contextlib.suppress(Exception):
                run_sync(km.cleanup_resources)()
            if km in self._live:
                self._live.remove(km)
        self._retiring.clear()

    def close(self) -> None:
        """Stop every kernel this pipeline started (a kernel started ahead and never used
        too), then remove the socket folder."""
        for km in list(self._live):
            if km not in self._retiring:
                self.retire(km)
        self._finish()
        _kill_kernels(list(self._live))
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def import_kernel_machinery() -> None:
    """Import what the set workers use to start kernels (jupyter_client, traitlets) on the
    calling thread, before any other thread imports them (see :meth:`Runner.run`)."""
    import jupyter_client.asynchronous.client
    import jupyter_client.kernelspec
    import jupyter_client.manager
    import jupyter_client.provisioning.local_provisioner  # noqa: F401
    import traitlets  # noqa: F401


def preload_papermill(*, lean: bool = False) -> None:
    """Import papermill (seconds on a busy machine) while other work goes on.

    ``lean`` (the ``oktalab`` command's own process only): jsonschema, which nbformat
    imports, builds an RFC 3987 grammar at import when ``rfc3987_syntax`` is installed
    (about 1.5 s of CPU), for the ``iri`` format checker; no notebook schema of nbformat
    uses that format, so the process skips it (jsonschema treats the package as absent).
    """
    if lean and "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    with contextlib.suppress(Exception):
        import papermill  # noqa: F401


def _kill_kernels(launched: list[Any]) -> None:
    """Stop kernels left running by an interrupted papermill call (the process, not a request)."""
    for km in list(launched):
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
    launched.clear()


def default_jobs() -> int:
    """Parameter sets run at once by default: ``min(4, CPUs)``. Each running set has one
    kernel executing and the next one booting; more than four rarely pays on a laptop."""
    return max(1, min(4, os.cpu_count() or 1))


def utc_stamp(now: dt.datetime | None = None) -> str:
    """``20261130T053012Z``: sortable, and safe in a folder name on every file system."""
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")


def latest_run(root: Path = RUNS_ROOT) -> Path | None:
    """The folder ``runs/latest`` points to (a symlink, or ``latest.txt`` where links fail)."""
    link = root / LATEST
    if link.is_symlink() or link.is_dir():
        return link.resolve() if link.exists() else None
    pointer = root / f"{LATEST}.txt"
    if pointer.is_file():
        target = root / pointer.read_text().strip()
        return target if target.is_dir() else None
    return None


def new_run_dir(root: Path, command: str, now: dt.datetime | None = None) -> Path:
    """Create ``root/<UTC timestamp>-<command>[-n]/`` (a new folder, never an existing one)."""
    root.mkdir(parents=True, exist_ok=True)
    stamp = utc_stamp(now)
    n = 1
    while True:
        d = root / (f"{stamp}-{command}" + (f"-{n}" if n > 1 else ""))
        try:
            d.mkdir()
            return d
        except FileExistsError:
            n += 1


def point_latest(root: Path, target: Path) -> Path:
    """Make ``root/latest`` point to ``target`` (relative symlink, replaced atomically).

    A real ``latest`` folder from an earlier oktalab is kept as ``<its mtime>-earlier``. Where
    symlinks cannot be made, ``latest.txt`` names the folder instead. Returns the pointer.
    """
    link = root / LATEST
    if link.is_dir() and not link.is_symlink():
        mtime = dt.datetime.fromtimestamp(link.stat().st_mtime, dt.UTC)
        link.rename(new_run_dir(root, "earlier", mtime))  # replaces the empty new folder
    tmp = root / f".{LATEST}-{os.getpid()}"
    try:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(target.name, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        pointer = root / f"{LATEST}.txt"
        pointer.write_text(target.name + "\n")
        return pointer
    with contextlib.suppress(FileNotFoundError):
        (root / f"{LATEST}.txt").unlink()
    return link


def clear_out_dir(out: Path) -> None:
    """Empty an explicit ``--out`` folder of an earlier run, keeping each set's ``state.json``.

    Raises:
        ParameterError: the folder has files but is not an oktalab run folder.
    """
    if not out.exists():
        return
    if not out.is_dir():
        raise ParameterError([("--out", f"{out} exists and is not a folder")])
    entries = list(out.iterdir())
    if not entries:
        return
    if not ((out / "run.json").is_file() or (out / "results.json").is_file()):
        raise ParameterError(
            [("--out", f"{out} is not empty and holds no oktalab run; name a new or empty folder")]
        )
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            for inner in entry.iterdir():
                if inner.name in CARRIED:
                    continue
                if inner.is_dir() and not inner.is_symlink():
                    shutil.rmtree(inner)
                else:
                    inner.unlink()
        else:
            entry.unlink()


@dataclass
class StageRun:
    """One stage of one parameter set as the runner saw it (wall time includes kernel start)."""

    parameter_set: str
    stage: str
    notebook: str
    status: str = "skipped"  # ok | failed | skipped
    seconds: float = 0.0
    detail: str = ""
    started: float | None = None  # seconds after the run started (sets run concurrently)

    def as_dict(self) -> dict[str, Any]:
        return {
            "parameter_set": self.parameter_set,
            "stage": self.stage,
            "notebook": self.notebook,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "started": None if self.started is None else round(self.started, 3),
            "detail": self.detail,
        }


# (event, stage run, stages planned): "start" before a stage's kernel starts, "end" after it.
ProgressHook = Callable[[str, StageRun, int], None]


@dataclass
class RunReport:
    rows: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)
    stages: list[StageRun] = field(default_factory=list)
    run_dir: Path | None = None
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r["status"] == "failed")

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed or not self.rows else 0

    def counts(self) -> dict[str, int]:
        """Stages by status: ``{"ok": 7, "failed": 1, "skipped": 1}``."""
        out = {"ok": 0, "failed": 0, "skipped": 0}
        for s in self.stages:
            out[s.status] = out.get(s.status, 0) + 1
        return out


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
        try:
            proc = self._cli("start")
        except BaseException:  # Ctrl-C while it starts: the server may already run, stop it
            self.started_here = True
            raise
        if proc.returncode != 0:
            raise SandboxError(
                f"could not start the sandbox in {self.state_dir}:\n{proc.stdout}{proc.stderr}"
            )
        self.started_here = True

    def stop_if_started(self) -> None:
        if self.started_here:
            self._cli("stop")
            self.started_here = False


@contextlib.contextmanager
def _no_sigint() -> Iterator[None]:
    """A second Ctrl-C must not cut the clean-up short (kernel, sandbox, reports)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to mask
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def stages_for(ps: ParameterSet, stages: list[str] | None, *, teardown: bool) -> list[str]:
    """The stages to run for one set: teardown, the ``--stages`` of its guide, or its own list."""
    if teardown:
        return ["teardown"]
    if not stages:
        return ps.stage_list
    own = set(GUIDE_STAGES[ps.guide]) | {"teardown"}
    return [s for s in stages if s in own]


def check_stages(sets: list[ParameterSet], stages: list[str] | None) -> None:
    """Every ``--stages`` name must be a stage of the guide of at least one set being run.

    Raises:
        ParameterError: one line naming the stage, its guide, and the stages that exist.
    """
    if not stages:
        return
    problems = []
    guides = sorted({ps.guide for ps in sets})
    for s in stages:
        if s == "teardown" or any(s in GUIDE_STAGES[g] for g in guides):
            continue
        owners = [g for g, names in GUIDE_STAGES.items() if s in names]
        listing = "; ".join(f"{g}: {', '.join(GUIDE_STAGES[g])}" for g in guides)
        if owners:
            problems.append(
                f"{s!r} is a stage of guide {', '.join(owners)}, not of {', '.join(guides)}"
                f" ({listing})"
            )
        else:
            problems.append(f"unknown stage {s!r} ({listing}; or teardown)")
    if problems:
        raise ParameterError([("--stages", p) for p in problems])


class Runner:
    """Runs parameter sets through the stage notebooks."""

    def __init__(
        self,
        *,
        out_dir: str | Path | None = None,
        runs_root: str | Path = RUNS_ROOT,
        sandbox_state_dir: str | Path | None = None,
        kernel_name: str = "python3",
        log_output: bool = False,
        stage_timeout: int = 600,
        progress: ProgressHook | None = None,
        jobs: int | None = None,
        template: str | Path | None = None,
        table: str | Path | None = None,
        lean_imports: bool = False,
    ) -> None:
        self.lean_imports = lean_imports
        self.jobs = max(1, jobs) if jobs else default_jobs()
        self.template = template
        self.table = table
        self.sources: dict[str, str] = {}
        self._generated: Path | None = None
        self.out_dir = Path(out_dir).resolve() if out_dir else None
        self.runs_root = Path(runs_root).resolve()
        self.sandbox_state_dir = (
            Path(sandbox_state_dir).resolve() if sandbox_state_dir else sandbox_dir().resolve()
        )
        self.kernel_name = kernel_name
        self.log_output = log_output
        self.stage_timeout = stage_timeout
        self.progress = progress or (lambda event, stage, total: None)
        self._launched: list[Any] = []
        self._forks: ForkServer | None = None
        self._starts: list[str] = []  # how each kernel started: "forked" or "spawned"
        self._total = 0
        self._target_env: dict[str, str] = {}
        self._stop = threading.Event()  # Ctrl-C: every set stops at its next step
        self._locks = KeyLocks()
        self._keys: dict[tuple[str, str], list[str]] = {}
        self._env_lock = threading.Lock()  # sandbox.env is read-modified-written
        self._budget_dir: Path | None = None
        self._lock_dir: Path | None = None
        self._rendering: queue.Queue[Path | None] = queue.Queue()
        self._t0 = time.perf_counter()

    def check_out_dir(self) -> None:
        """``--out`` must be a folder (or not exist yet) in a writable place; checked before
        any call so that a typo does not surface as a traceback after the stages ran."""
        out = self.out_dir or self.runs_root
        existing = next((p for p in (out, *out.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise ParameterError([("--out", f"expected a folder, but {existing} is a file")])
        if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
            raise ParameterError([("--out", f"{existing} is not writable")])

    def load(self, files: list[str | Path]) -> list[tuple[Path, ParameterSet]]:
        """Validate every set first (files, folders, batch files, ``template`` + ``table``
        rows: :func:`oktalab.batch.expand`), so a typo in the last one stops the run before
        any call. A set without a file of its own (a table row, an inline set) is written
        to a private temporary file here and into its run folder when the run starts."""
        inputs = expand(files, template=self.template, table=self.table)
        names = [si.params.name for si in inputs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            where = {n: ", ".join(si.source for si in inputs if si.params.name == n) for n in dupes}
            raise ParameterError(
                [
                    ("name", f"parameter-set names must be unique in one run; {n!r} in {w}")
                    for n, w in where.items()
                ]
            )
        self.sources = {si.params.name: si.source for si in inputs}
        sets: list[tuple[Path, ParameterSet]] = []
        for si in inputs:
            if si.path is not None:
                sets.append((si.path.resolve(), si.params))
                continue
            if self._generated is None:
                self._generated = Path(tempfile.mkdtemp(prefix="oktalab-sets-"))
                atexit.register(shutil.rmtree, self._generated, True)
            f = self._generated / f"{si.params.name}.yaml"
            f.write_text(generated_yaml(si))
            sets.append((f, si.params))
        return sets

    def _place(self, path: Path, ps: ParameterSet, run_dir: Path) -> Path:
        """A generated set's file, copied into its run folder (the notebooks read it there,
        and the run folder shows what ran)."""
        if self._generated is None or path.parent != self._generated:
            return path
        dest = run_dir / ps.name / "parameters.yaml"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        return dest

    def plan(
        self, files: list[str | Path], *, stages: list[str] | None = None, teardown: bool = False
    ) -> list[tuple[Path, ParameterSet, list[str]]]:
        """Validate files and stage names; the (file, set, stages) to run. No call is made."""
        sets = self.load(files)
        self.check_out_dir()
        if not teardown:
            check_stages([ps for _, ps in sets], stages)
        planned = [(p, ps, stages_for(ps, stages, teardown=teardown)) for p, ps in sets]
        for _, ps, wanted in planned:
            if "portal_verify" in wanted and ps.portal_verify.driver == "browser":
                require_extra("browser", f"{ps.name}: portal_verify.driver 'browser'")
        return planned

    def _prepare_dir(self, command: str) -> tuple[Path, Path | None]:
        """The run folder, and the previous run's folder to carry state from."""
        if self.out_dir is not None:
            clear_out_dir(self.out_dir)
            self.out_dir.mkdir(parents=True, exist_ok=True)
            return self.out_dir, self.out_dir
        previous = latest_run(self.runs_root)
        run_dir = new_run_dir(self.runs_root, command)
        point_latest(self.runs_root, run_dir)
        return run_dir, previous

    def run(
        self, files: list[str | Path], *, stages: list[str] | None = None, teardown: bool = False
    ) -> RunReport:
        """Run every set's stages; reports are written even when interrupted (Ctrl-C).

        Raises:
            ParameterError: a file, a stage name or ``--out`` is wrong (before any call).
            MissingExtra: the sandbox or browser extra is needed and absent.
            SandboxError: the sandbox could not be started.
        """
        command = "teardown" if teardown else "run"
        planned = self.plan(files, stages=stages, teardown=teardown)
        # jupyter_client first, on this thread: imported on two threads at once (here or by
        # the set workers, and by papermill's preload) it raised "cannot import name
        # 'AsyncKernelManager' from partially initialized module" now and then
        import_kernel_machinery()
        # papermill's import takes seconds (nbformat -> jsonschema builds an IRI grammar);
        # do it while the sandbox is checked and the first kernels boot
        threading.Thread(
            target=preload_papermill, kwargs={"lean": self.lean_imports}, daemon=True
        ).start()
        sandbox = SandboxProcess(self.sandbox_state_dir)
        if (
            any(ps.target == "sandbox" for _, ps, _ in planned)
            and missing_requirements("sandbox")
            and not sandbox.running()
        ):  # before the run folder exists: a refused run leaves nothing behind
            require_extra("sandbox", "the embedded sandbox")
        started = dt.datetime.now(dt.UTC)
        t0 = time.perf_counter()
        run_dir, previous = self._prepare_dir(command)
        planned = [(self._place(p, ps, run_dir), ps, wanted) for p, ps, wanted in planned]
        report = RunReport(run_dir=run_dir)
        report.stages = [
            StageRun(ps.name, s, NOTEBOOKS[s]) for _, ps, wanted in planned for s in wanted
        ]
        self._total = len(report.stages)
        self._stop.clear()
        self._starts.clear()
        self._t0 = t0
        self._keys = shared_keys((ps, wanted) for _, ps, wanted in planned)
        # one folder per run for the shared Okta rate-limit budget (every kernel gets its path)
        self._budget_dir = run_dir / ".ratelimit"
        self._lock_dir = run_dir / ".locks"  # one lock file per shared-object key
        for d in (self._budget_dir, self._lock_dir):
            d.mkdir(mode=0o700, exist_ok=True)
            os.chmod(d, 0o700)
        results: dict[str, list[dict[str, Any]]] = {}
        try:
            # the kernels' imports, once: the server imports while the sandbox is checked
            self._forks = fork_server_for(self.kernel_name) if report.stages else None
            if any(ps.target == "sandbox" for _, ps, _ in planned):
                sandbox.ensure()
                envfile = self.sandbox_state_dir / "sandbox.env"
                if envfile.is_file():  # read now: a sandbox this run started is gone at the end
                    self._target_env = read_env_file(envfile)
            for _, ps, _ in planned:
                if previous is not None and previous != run_dir:
                    for name in CARRIED:
                        src = previous / ps.name / name
                        if src.is_file():
                            (run_dir / ps.name).mkdir(parents=True, exist_ok=True)
                            shutil.copyfile(src, run_dir / ps.name / name)
            self._run_sets(planned, run_dir, report, results, teardown=teardown)
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            with _no_sigint():
                self._stop.set()
                _kill_kernels(self._launched)
                if self._forks is not None:
                    self._forks.close()
                    self._forks = None
                sandbox.stop_if_started()
        # rows grouped by set, in the order the sets were given (whatever order they ran in)
        for _, ps, _ in planned:
            report.rows += results.get(ps.name, [])
        with _no_sigint():
            report.rows += self._skipped_rows(report)
            report.seconds = time.perf_counter() - t0
            meta = self._metadata(command, started, report, planned)
            report.paths = write_reports(
                run_dir,
                report.rows,
                title=f"oktalab {command}",
                meta=meta,
                stages=[s.as_dict() for s in report.stages],
            )
        return report

    def _run_sets(
        self,
        planned: list[tuple[Path, ParameterSet, list[str]]],
        run_dir: Path,
        report: RunReport,
        results: dict[str, list[dict[str, Any]]],
        *,
        teardown: bool,
    ) -> None:
        """Run the sets on ``self.jobs`` worker threads; each set's stages in order.

        A set's rows land in ``results[set]`` when it ends (failed or not: one set's
        failure does not stop the others). Ctrl-C arrives here, in the main thread: every
        worker is told to stop, the running kernels are killed, and the workers' rows so
        far are collected before KeyboardInterrupt goes on up.
        """

        def work(path: Path, ps: ParameterSet) -> None:
            mine = [s for s in report.stages if s.parameter_set == ps.name]
            rows: list[dict[str, Any]] = []
            try:
                self._run_set(path, ps, run_dir, mine, rows)
            except Exception as exc:  # e.g. the kernel could not be launched: this set fails
                if not self._stop.is_set():
                    self._set_failed(ps, mine, rows, f"{type(exc).__name__}: {exc}")
            finally:
                results[ps.name] = rows
            if not self._stop.is_set():
                with self._env_lock:
                    self._export_client_id(ps, run_dir / ps.name, removed=teardown)

        renderer = threading.Thread(target=self._render_notebooks, daemon=True)
        renderer.start()
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="oktalab-set")
        futures = [pool.submit(work, path, ps) for path, ps, _ in planned]
        try:
            pending = set(futures)
            while pending:  # a timeout, so that Ctrl-C is seen at once in the main thread
                _, pending = wait(pending, timeout=0.2)
        except KeyboardInterrupt:
            with _no_sigint():
                self._stop.set()
                for f in futures:
                    f.cancel()  # sets not started yet: their stages are skipped
                _kill_kernels(self._launched)
                wait(futures, timeout=60)
                _kill_kernels(self._launched)
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            self._rendering.put(None)
            if not self._stop.is_set():
                renderer.join(timeout=600)  # what it has not rendered, the report renders
        for f in futures:
            exc = f.exception()
            if exc is not None:
                raise exc

    def _set_failed(
        self, ps: ParameterSet, mine: list[StageRun], rows: list[dict[str, Any]], error: str
    ) -> None:
        """A failed row for the stage that was starting when the set broke off."""
        done = {r["stage"] for r in rows}
        pending = [s for s in mine if s.stage not in done]
        if not pending:
            return
        sr = pending[0]
        sr.status, sr.detail = "failed", error[:300]
        rows.append(_notebook_row(ps.name, sr.stage, "checked", "failed", sr.detail))
        for later in pending[1:]:
            later.detail = f"not run: stage {sr.stage!r} failed"

    def _render_notebooks(self) -> None:
        """Render executed notebooks to HTML as their stages end (queued by the workers),
        while other stages run; the report then only links them."""
        from .report import render_notebook_html

        while True:
            ipynb = self._rendering.get()
            if ipynb is None or self._stop.is_set():
                return
            with contextlib.suppress(Exception):
                render_notebook_html(ipynb)

    def _skipped_rows(self, report: RunReport) -> list[dict[str, Any]]:
        """A row for each stage that never ran (after a failure or Ctrl-C), saying why."""
        seen = {(r["parameter_set"], r["stage"]) for r in report.rows}
        out = []
        for s in report.stages:
            if (s.parameter_set, s.stage) in seen:
                continue
            if not s.detail:
                s.detail = "not run: interrupted (Ctrl-C)" if report.interrupted else "not run"
            out.append(_notebook_row(s.parameter_set, s.stage, "planned", "skipped", s.detail))
        return out

    def _metadata(
        self,
        command: str,
        started: dt.datetime,
        report: RunReport,
        planned: list[tuple[Path, ParameterSet, list[str]]],
    ) -> dict[str, Any]:
        """What the report's header shows: when, against what, versions (never a secret)."""
        env = self._target_env
        org = os.environ.get("OKTA_ORG_URL") or env.get("OKTA_ORG_URL", "")
        public = env.get("OKTALAB_SANDBOX_PUBLIC_URL") or org
        cluster = env.get("OKTALAB_CLUSTER_NAME") or os.environ.get("CLUSTER_NAME", "")
        return {
            "command": command,
            "argv": sys.argv[1:],
            "started": started.isoformat(timespec="seconds"),
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "seconds": round(report.seconds, 3),
            "interrupted": report.interrupted,
            "jobs": self.jobs,
            "kernels": {k: self._starts.count(k) for k in ("forked", "spawned")},
            "oktalab": __version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "org_url": public,
            "cluster": cluster,
            "gloo_release": env.get("OKTALAB_GLOO_VERSION")
            or os.environ.get("OKTALAB_GLOO_VERSION", ""),
            "sets": [
                {
                    "name": ps.name,
                    "guide": ps.guide,
                    "target": ps.target,
                    "file": str(p),
                    "source": self.sources.get(ps.name, str(p)),
                }
                for p, ps, _ in planned
            ],
            "counts": report.counts(),
        }

    def _export_client_id(self, ps: ParameterSet, set_dir: Path, *, removed: bool) -> None:
        """Add guide 1's ``CLIENT_ID`` to the running sandbox's ``sandbox.env`` (mode 0600),
        or drop it after a teardown of that set.

        The guide's commands use ``$CLIENT_ID``; the sandbox writes the other names at its
        start, and drops this one with the file when it stops. A client id is not a secret.
        """
        envfile = self.sandbox_state_dir / "sandbox.env"
        if ps.target != "sandbox" or ps.guide != "oidc-gateway" or not envfile.is_file():
            return
        client_id = None
        if not removed:
            try:
                state = json.loads((set_dir / "state.json").read_text())
            except (OSError, ValueError):
                return
            client_id = (state.get("app") or {}).get("client_id")
            if not client_id:
                return
        lines = [
            line for line in envfile.read_text().splitlines() if not line.startswith("CLIENT_ID=")
        ]
        if client_id:
            lines.append(f"CLIENT_ID={client_id}")
        tmp = envfile.with_name(f".sandbox.env.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        os.replace(tmp, envfile)

    def _kernel_env(self, ps: ParameterSet, set_dir: Path) -> dict[str, str]:
        """What one set's kernels get on top of this process's environment (never a
        parameter: the sandbox's credentials come from its ``sandbox.env``)."""
        env = {
            "OKTALAB_RUN_DIR": str(set_dir),
            "OKTALAB_SANDBOX_DIR": str(self.sandbox_state_dir),
            "OKTALAB_HOME": os.environ.get("OKTALAB_HOME") or str(self.sandbox_state_dir.parent),
        }
        if self._budget_dir is not None:
            env["OKTALAB_RATE_BUDGET_DIR"] = str(self._budget_dir)
        if ps.target == "sandbox":
            envfile = self.sandbox_state_dir / "sandbox.env"
            if envfile.is_file():
                with self._env_lock:
                    values = read_env_file(envfile)
                for k, v in values.items():
                    env.setdefault(k, v)
        return env

    def _run_set(
        self,
        path: Path,
        ps: ParameterSet,
        run_root: Path,
        mine: list[StageRun],
        rows: list[dict[str, Any]],
    ) -> None:
        """One set's stages in order, on this thread; its rows are appended to ``rows``.

        A stage that writes a shared object (:mod:`oktalab.shared`) holds that object's
        lock while it runs. The next stage's kernel starts before this one runs.
        """
        run_dir = run_root / ps.name
        run_dir.mkdir(parents=True, exist_ok=True)
        for old in (run_dir / "rows").glob("*.json"):
            old.unlink()
        (run_dir / "locks.json").unlink(missing_ok=True)
        nb_dir = notebooks_dir()
        kernels = KernelPipeline(
            kernel_name=self.kernel_name,
            cwd=nb_dir,
            env=self._kernel_env(ps, run_dir),
            log_path=run_dir / "kernels.log",
            launched=self._launched,
            forks=self._forks,
            starts=self._starts,
        )
        try:

            def launch(stage: str) -> Any:
                keys = self._keys.get((ps.name, stage), [])
                if not keys or not file_locks():
                    return kernels.start(stage)
                return kernels.start(
                    stage, {LOCK_DIR_ENV: str(self._lock_dir), KEYS_ENV: json.dumps(keys)}
                )

            ahead = launch(mine[0].stage) if mine and not self._stop.is_set() else None
            import papermill as pm  # after the first kernel's launch: it boots meanwhile

            for i, sr in enumerate(mine):
                stage = sr.stage
                if self._stop.is_set() or ahead is None:
                    return
                km, ahead = ahead, None
                if i + 1 < len(mine):
                    ahead = launch(mine[i + 1].stage)
                # the stage locks its keys itself, around its writes only (flock); without
                # flock the runner holds them around the whole notebook
                keys = [] if file_locks() else self._keys.get((ps.name, stage), [])

                def waiting(key: str, sr: StageRun = sr) -> None:
                    sr.detail = f"waiting for {key}"
                    self.progress("wait", sr, self._total)
                    sr.detail = ""

                with self._locks.hold(keys, stop=self._stop, on_wait=waiting) as held:
                    if not held:
                        return
                    self.progress("start", sr, self._total)
                    t0 = time.perf_counter()
                    sr.started = t0 - self._t0
                    error = None
                    try:
                        pm.execute_notebook(
                            str(nb_dir / NOTEBOOKS[stage]),
                            str(run_dir / NOTEBOOKS[stage]),
                            parameters={"parameter_file": str(path), "run_dir": str(run_dir)},
                            kernel_name=self.kernel_name,
                            log_output=self.log_output,
                            progress_bar=False,
                            execution_timeout=self.stage_timeout,
                            km=km,
                        )
                    except Exception as exc:  # papermill wraps cell errors; keep the short form
                        error = getattr(exc, "evalue", None) or f"{type(exc).__name__}: {exc}"
                    sr.seconds = time.perf_counter() - t0
                kernels.retire(km)
                if not self._stop.is_set():
                    self._rendering.put(run_dir / NOTEBOOKS[stage])
                if self._stop.is_set():  # Ctrl-C: the kernel was killed under the stage
                    sr.detail = f"interrupted (Ctrl-C) after {sr.seconds:.1f} s"
                    partial = read_rows(run_dir / "rows" / f"{stage}.json")
                    rows += partial
                    if not partial:
                        rows.append(_notebook_row(ps.name, stage, "checked", "skipped", sr.detail))
                    sr.status = stage_status(partial) if partial else "skipped"
                    self.progress("end", sr, self._total)
                    return
                stage_rows = read_rows(run_dir / "rows" / f"{stage}.json")
                if error and not any(r["status"] == "failed" for r in stage_rows):
                    stage_rows.append(
                        _notebook_row(
                            ps.name, stage, "checked", "failed", str(error)[:300], sr.seconds
                        )
                    )
                sr.status = stage_status(stage_rows)
                if error:
                    sr.detail = str(error)[:300]
                self.progress("end", sr, self._total)
                rows += stage_rows
                if error and stage != "teardown":
                    for later in mine[i + 1 :]:
                        later.detail = f"not run: stage {stage!r} failed"
                    return
        finally:
            kernels.close()


def _notebook_row(
    parameter_set: str, stage: str, action: str, status: str, detail: str, seconds: float = 0.0
) -> dict[str, Any]:
    return {
        "parameter_set": parameter_set,
        "stage": stage,
        "step": "notebook",
        "kind": "Notebook",
        "name": NOTEBOOKS[stage],
        "action": action,
        "status": status,
        "detail": detail,
        "seconds": round(seconds, 3),
    }
