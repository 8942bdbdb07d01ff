"""Kernels forked from the run's pre-imported server (oktalab.forkserver): real ipykernels,
driven by nbclient and jupyter_client as the runner drives them; nothing is mocked.

What must hold for a forked kernel to stand in for a fresh process: it shares no state with
its siblings, has its own environment and working folder, answers interrupt and shutdown,
and its exit is seen by its manager; and a spec the server cannot serve, or
``OKTALAB_FORK_KERNELS=0``, launches kernels the usual way.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_core.utils import run_sync
from nbclient import NotebookClient

from oktalab import forkserver
from oktalab.runner import KernelPipeline

pytestmark = pytest.mark.skipif(not forkserver.enabled(), reason="kernels are forked on Linux")


@pytest.fixture
def server() -> Any:
    fs = forkserver.fork_server_for("python3")
    if fs is None:
        pytest.skip("the python3 kernel spec does not run ipykernel_launcher")
    yield fs
    fs.close()


def _pipeline(tmp_path: Path, fs: Any, starts: list[str], env: dict[str, str]) -> KernelPipeline:
    return KernelPipeline(
        kernel_name="python3",
        cwd=tmp_path,
        env=env,
        log_path=tmp_path / "kernels.log",
        launched=[],
        forks=fs,
        starts=starts,
    )


def _run(km: Any, *sources: str) -> list[str]:
    """Execute code cells on the started kernel ``km`` as papermill does; their stdout."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    NotebookClient(nb, km=km, timeout=60).execute()
    return ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells]


def _ppid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("\nPPid:\t", 1)[1].split()[0])


def test_forked_kernels_share_nothing_and_have_their_own_environment(
    tmp_path: Path, server: Any
) -> None:
    starts: list[str] = []
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    kp_a = _pipeline(a_dir, server, starts, {"OKTALAB_PROBE": "set-a"})
    kp_b = _pipeline(b_dir, server, starts, {"OKTALAB_PROBE": "set-b"})
    try:
        km_a = kp_a.start("claims")
        km_b = kp_b.start("claims", {"OKTALAB_STAGE_PROBE": "stage-b"})
        pid_a, pid_b = km_a.provisioner.pid, km_b.provisioner.pid
        assert isinstance(km_a.provisioner.process, forkserver.ForkedKernel)
        assert _ppid(pid_a) == _ppid(pid_b) == server.proc.pid != os.getpid()
        probe = (
            "import os, sys, oktalab\n"
            "print(os.environ['OKTALAB_PROBE'], os.environ.get('OKTALAB_STAGE_PROBE'),"
            " os.getcwd(), hasattr(oktalab, '_probe'), 'oktalab.stages.claims' in sys.modules,"
            " os.getpid())"
        )
        out_a = _run(km_a, probe, "oktalab._probe = 'a'; x = 1; print(x)")
        out_b = _run(km_b, probe, "print('x' in dir())")
    finally:
        kp_a.close()
        kp_b.close()
    assert starts == ["forked", "forked"]
    env_a, stage_a, cwd_a, probed_a, preloaded_a, pid_in_a = out_a[0].split()
    env_b, stage_b, cwd_b, probed_b, preloaded_b, pid_in_b = out_b[0].split()
    assert (env_a, stage_a, cwd_a) == ("set-a", "None", str(a_dir))
    assert (env_b, stage_b, cwd_b) == ("set-b", "stage-b", str(b_dir))
    assert out_a[1].strip() == "1"
    # what one kernel did is not in the other, which started from the same image
    assert probed_a == probed_b == "False" and out_b[1].strip() == "False"
    assert preloaded_a == preloaded_b == "True"  # imported once, in the server
    assert (int(pid_in_a), int(pid_in_b)) == (pid_a, pid_b)


def test_a_forked_kernel_is_interrupted_shut_down_and_reaped(tmp_path: Path, server: Any) -> None:
    starts: list[str] = []
    kp = _pipeline(tmp_path, server, starts, {})
    try:
        km = kp.start("verify")
        kc = km.client()
        kc.start_channels()
        run_sync(kc.wait_for_ready)(timeout=60)
        msg_id = kc.execute("import time; time.sleep(60)")
        time.sleep(0.5)
        t0 = time.monotonic()
        run_sync(km.interrupt_kernel)()  # SIGINT to the kernel's process group
        reply = run_sync(kc._async_get_shell_msg)(timeout=20)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - t0 < 10
        proc = km.provisioner.process
        pid = proc.pid
        kc.stop_channels()
        run_sync(km.shutdown_kernel)(now=False)  # a shutdown request, then wait for the exit
        assert proc.returncode == 0
        assert (
            not Path(f"/proc/{pid}").exists()
            or "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
        )
    finally:
        kp.close()


def test_a_killed_kernel_reports_its_signal(tmp_path: Path, server: Any) -> None:
    kp = _pipeline(tmp_path, server, [], {})
    try:
        km = kp.start("claims")
        proc = km.provisioner.process
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        assert not run_sync(km.is_alive)()
    finally:
        kp.close()


def test_the_server_stops_with_its_parent_and_its_kernels_with_it(tmp_path: Path) -> None:
    """A run killed outright (SIGKILL) leaves no server and no kernel behind."""
    import subprocess

    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from oktalab import forkserver\n"
        "from oktalab.runner import KernelPipeline\n"
        "fs = forkserver.fork_server_for('python3')\n"
        f"kp = KernelPipeline(kernel_name='python3', cwd=Path({str(tmp_path)!r}), env={{}},"
        " log_path=None, launched=[], forks=fs)\n"
        "km = kp.start('claims')\n"
        "print(fs.proc.pid, km.provisioner.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    server_pid, kernel_pid = map(int, proc.stdout.readline().split())
    proc.kill()
    proc.wait()

    def gone(pid: int) -> bool:
        try:
            return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return True

    deadline = time.monotonic() + 15
    while not (gone(server_pid) and gone(kernel_pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(server_pid), "the fork server outlived its run"
    assert gone(kernel_pid), "a forked kernel outlived its server"


def test_a_kernel_that_exits_at_once_reports_its_status(tmp_path: Path, server: Any) -> None:
    """``--version`` prints and exits: the exit may come down the socket with the pid."""
    for _ in range(3):
        kernel = server.spawn(
            ["--version"], env=dict(os.environ), cwd=str(tmp_path), log=str(tmp_path / "k.log")
        )
        assert kernel is not None and kernel.wait(timeout=30) == 0
    assert not server.failed


def test_specs_the_server_cannot_serve_and_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    split = forkserver.split_kernel_argv
    assert split(["/v/bin/python", "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "c"])
    assert split(["python", "-m", "ipykernel_launcher", "-f", "c"]) == (
        ["python"],
        ["-f", "c"],
    )
    assert split(["python", "-m", "other_kernel", "-f", "c"]) is None
    assert split(["python", "script.py", "-m", "ipykernel_launcher"]) is None
    assert split(["/usr/bin/R", "--slave", "-e", "IRkernel::main()"]) is None
    monkeypatch.setenv("OKTALAB_FORK_KERNELS", "0")
    assert not forkserver.enabled()
    assert forkserver.fork_server_for("python3") is None


def test_without_its_server_a_kernel_is_launched_as_its_own_process(
    tmp_path: Path, server: Any
) -> None:
    """The server gone (it failed to import, or was killed): kernels start as before."""
    server.proc.kill()
    server.proc.wait()
    starts: list[str] = []
    kp = _pipeline(tmp_path, server, starts, {})
    try:
        km = kp.start("claims")
        assert not isinstance(km.provisioner.process, forkserver.ForkedKernel)
        assert _run(km, "print(6 * 7)") == ["42\n"]
    finally:
        kp.close()
    assert starts == ["spawned"]


def test_the_folder_a_run_starts_in_shadows_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m`` puts the current folder first on sys.path; ipykernel_launcher drops it,
    so a spawned kernel never sees it. A forked one must not either: a user's own ``jwt.py``
    in the folder ``oktalab run`` starts in would stand in for PyJWT in every stage."""
    user = tmp_path / "user"
    user.mkdir()
    (user / "jwt.py").write_text("raise ImportError('the run folder was imported')\n")
    monkeypatch.chdir(user)
    fs = forkserver.fork_server_for("python3")
    if fs is None:
        pytest.skip("the python3 kernel spec does not run ipykernel_launcher")
    starts: list[str] = []
    kernels = tmp_path / "k"
    kernels.mkdir()
    kp = _pipeline(kernels, fs, starts, {})
    try:
        out = _run(
            kp.start("claims"),
            f"import sys, jwt; print(hasattr(jwt, 'decode'), {str(user)!r} in sys.path)",
        )
    finally:
        kp.close()
        fs.close()
    assert starts == ["forked"]
    assert out == ["True False\n"]
