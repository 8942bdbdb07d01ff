"""Kernels forked from a pre-imported process: a fresh kernel per notebook in milliseconds.

A stage notebook's kernel spends about a CPU-second booting before its first cell:
Python, ipykernel and IPython, then the stage's module (pydantic models, the kubernetes
client, httpx), then pandas' Styler for the table. On a 2-CPU machine running four
parameter sets at once that boot is most of the work (issue 17's batch benchmark). The
fork server pays it once per run: one process imports all of that, then forks a child per
kernel; each child is a brand-new ipykernel (its own connection file, environment, working
folder and log) started from that clean, never-executed image. Nothing a notebook does
reaches another, because no notebook ever runs in the server itself; only its imports are
shared, copy-on-write. This is ``multiprocessing``'s ``forkserver`` idea (and Chromium's
zygote) applied to Jupyter kernels.

The runner hands jupyter_client a :class:`ForkedKernel` in place of ``Popen``: jupyter_client
signals, polls and waits on it as on its own child (``LocalProvisioner.process``), so
interrupt, shutdown, restart and kill work unchanged. The server reaps its children and
reports each exit status to the launching connection.

Used only where it is safe: Linux (``fork`` after imports that start no thread), a kernel
spec that runs ``<python> [-X...] -m ipykernel_launcher``, and not disabled with
``OKTALAB_FORK_KERNELS=0``. Anywhere else, or if the server cannot start, kernels are
launched the usual way.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import pkgutil
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ENV = "OKTALAB_FORK_KERNELS"  # "0": launch every kernel as its own process
LAUNCHER = ["-m", "ipykernel_launcher"]
# what every stage kernel imports; the stage modules are added from oktalab.stages
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.debugger",  # the kernel resolves its debugger class (debugpy) at init: 0.2 s
    "pandas.io.formats.style",
    "httpcore",  # httpx imports it at its first transport, in every stage
)
READY_TIMEOUT = 60.0  # seconds to wait for the server's imports on a busy machine


def enabled() -> bool:
    """Whether kernels may be forked here (Linux with ``os.fork``; not switched off)."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")
    )


def split_kernel_argv(argv: list[str]) -> tuple[list[str], list[str]] | None:
    """``(interpreter and its options, the launcher's arguments)`` of a kernel command, or
    None when it is not ``<python> [-X... options] -m ipykernel_launcher ...``."""
    for i in range(1, len(argv) - 1):
        if argv[i : i + 2] == LAUNCHER:
            if all(a.startswith("-") and a != "-m" for a in argv[1:i]):
                return argv[:i], argv[i + 2 :]
            return None
    return None


def fork_server_for(kernel_name: str) -> ForkServer | None:
    """A started :class:`ForkServer` for kernel spec ``kernel_name``, or None where kernels
    are not forked (see the module doc; the spec is jupyter_client's ``kernel.json``)."""
    if not enabled():
        return None
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        argv = KernelSpecManager().get_kernel_spec(kernel_name).argv
    except Exception:  # no such kernel: the launch reports it as it always has
        return None
    argv = list(argv)
    # jupyter_client runs a spec's bare ``python``/``python3``/``python3.X`` as sys.executable
    # (KernelManager.format_kernel_cmd); the server must be that same interpreter
    v = sys.version_info
    if argv and argv[0] in {"python", f"python{v[0]}", f"python{v[0]}.{v[1]}"}:
        argv[0] = sys.executable
    parts = split_kernel_argv(argv)
    if parts is None:
        return None
    server = ForkServer(parts[0])
    try:
        return server.start()
    except OSError:  # a stale spec (its python gone): each launch reports it in its set's row
        server.close()
        return None


class ForkedKernel:
    """The ``subprocess.Popen`` surface jupyter_client's ``LocalProvisioner`` uses, for a
    kernel that is the fork server's child rather than ours.

    The exit status arrives on the connection the kernel was launched through; signals go
    to the kernel's process group (the child called ``setsid``, so its pgid is its pid).
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int, conn: socket.socket, pending: bytes = b"") -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._conn = conn
        self._pending = pending  # the exit line, when it came with the pid (a quick death)
        self._lock = threading.Lock()

    def _read(self, timeout: float) -> None:
        with self._lock:
            if self.returncode is not None:
                return
            data, self._pending = self._pending, b""
            if not data:
                ready, _, _ = select.select([self._conn], [], [], max(0.0, timeout))
                if not ready:
                    return
                try:
                    data = self._conn.recv(4096)
                except OSError:
                    data = b""
            status: int | None = None
            with contextlib.suppress(ValueError):
                status = int(json.loads(data.decode())["exit"]) if data else None
            if status is None:  # the server is gone: is the kernel?
                if _pid_alive(self.pid):
                    time.sleep(min(timeout, 0.05))
                    return
                status = -signal.SIGKILL
            self.returncode = status
            self._conn.close()

    def poll(self) -> int | None:
        self._read(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = 0.5 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(["ipykernel", str(self.pid)], timeout or 0)
            self._read(min(left, 0.5))
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _read_line(conn: socket.socket) -> tuple[bytes, bytes]:
    """One newline-ended JSON message (the protocol's only framing), and what came after it.
    Raises OSError when the other end closes first."""
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise OSError("the other end closed the connection")
        data += chunk
    line, _, rest = data.partition(b"\n")
    return line, rest


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state


class ForkServer:
    """One pre-imported process per run that forks the run's kernels (see the module doc).

    :meth:`start` returns at once (the server imports in the background); :meth:`spawn`
    waits for it, at most ``READY_TIMEOUT`` seconds, and returns None when the server
    could not start, so that the caller launches the kernel itself. Thread-safe.
    """

    def __init__(self, interpreter: list[str], env: dict[str, str] | None = None) -> None:
        self.interpreter = interpreter
        self.env = env
        self.dir = tempfile.mkdtemp(prefix="oktalab-forkserver-")
        self.path = str(Path(self.dir) / "sock")
        self.proc: subprocess.Popen[bytes] | None = None
        self.failed = False

    def start(self) -> ForkServer:
        with open(Path(self.dir) / "server.log", "ab") as log:  # the child keeps a copy
            self.proc = subprocess.Popen(
                [*self.interpreter, "-m", "oktalab.forkserver", self.path, str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.env,
                cwd=self.dir,  # not the user's folder: ``-m`` puts the cwd first on sys.path
                start_new_session=True,  # Ctrl-C in the terminal is the runner's to handle
            )
        return self

    def spawn(
        self, argv: list[str], *, env: dict[str, str], cwd: str, log: str | None
    ) -> ForkedKernel | None:
        """Fork a kernel running ``ipykernel_launcher`` with ``argv`` (its arguments after
        ``-m ipykernel_launcher``), environment ``env`` (all of it), in ``cwd``, its stdout
        and stderr appended to ``log``. None: the server is not there; launch it yourself."""
        if self.failed or self.proc is None:
            return None
        conn = self._connect()
        if conn is None:
            self.failed = True
            return None
        try:
            request = {"argv": argv, "env": env, "cwd": cwd, "log": log}
            conn.settimeout(READY_TIMEOUT)  # a server that accepted but never answers
            conn.sendall(json.dumps(request).encode() + b"\n")
            line, rest = _read_line(conn)
            pid = int(json.loads(line)["pid"])
            conn.settimeout(None)
        except (OSError, ValueError, KeyError):
            conn.close()
            self.failed = True
            return None
        return ForkedKernel(pid, conn, rest)

    def _connect(self) -> socket.socket | None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc is None or self.proc.poll() is not None:
                return None
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.path)
                return sock
            except OSError:
                sock.close()
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def close(self) -> None:
        """Stop the server (its kernels are stopped by their managers; a kernel whose
        server is gone exits by itself: ipykernel polls its parent)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the server process -----------------------------------------------------------------


def _preload() -> None:
    import oktalab.stages as stages

    for name in PRELOAD:
        importlib.import_module(name)
    for mod in pkgutil.iter_modules(stages.__path__):
        with contextlib.suppress(Exception):  # an extra not installed: that stage imports it
            importlib.import_module(f"oktalab.stages.{mod.name}")
    from oktalab import tls

    tls.context()  # the CA bundle, loaded once for every kernel (OpenSSL is fork-safe)


def _child(request: dict[str, Any], closing: list[Any], fds: tuple[int, ...]) -> None:
    """In the forked child: become a fresh ipykernel. Never returns."""
    code = 1
    try:
        for obj in closing:
            with contextlib.suppress(Exception):
                obj.close()
        signal.set_wakeup_fd(-1)
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        os.setsid()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        if request.get("log"):  # first: a failure below is then in the set's kernels.log
            fd = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # ipykernel reads JPY_PARENT_PID at import (a trait default), here the server's
        # import: name the parent it polls explicitly (the server; its exit ends the kernel)
        parent = f"--IPKernelApp.parent_handle={os.getppid()}"
        sys.argv = ["ipykernel_launcher", *request["argv"], parent]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(path: str, parent: int) -> None:
    """The server: import, listen on ``path``, fork a kernel per request, report exits;
    stop when told (SIGTERM) or when ``parent`` is gone."""
    # ``python -m`` put the folder the run started in first on sys.path; ipykernel_launcher
    # removes it (IPython adds the kernel's own folder back, after the standard library), so
    # a user's ``secrets.py`` or ``jwt.py`` there must shadow nothing here either
    if sys.path and Path(sys.path[0]).resolve() == Path.cwd().resolve():
        del sys.path[0]
    _preload()
    import gc

    gc.collect()
    gc.freeze()  # the imports stay out of the children's collections: no copy-on-touch
    if threading.active_count() != 1:  # an import started a thread: forking is unsafe
        sys.exit("a preloaded module started a thread; not forking kernels")
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stop = False

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    os.chmod(path + ".tmp", 0o600)
    os.rename(path + ".tmp", path)  # connectable only once listening
    listener.listen(64)
    kernels: dict[int, socket.socket] = {}
    while not stop and os.getppid() == parent:
        ready, _, _ = select.select([listener.fileno(), rfd], [], [], 0.5)
        if rfd in ready:
            with contextlib.suppress(OSError):
                os.read(rfd, 512)
        while True:  # reap, and tell each kernel's launcher how it ended
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = kernels.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(OSError):
                    code = os.waitstatus_to_exitcode(status)
                    conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
                conn.close()
        if listener.fileno() in ready:
            conn, _ = listener.accept()
            try:
                conn.settimeout(10)
                request = json.loads(_read_line(conn)[0])
            except (OSError, ValueError):
                conn.close()
                continue
            try:
                pid = os.fork()
            except OSError:  # EAGAIN/ENOMEM: this kernel is launched the usual way; the
                conn.close()  # server (the parent of every running kernel) stays up
                continue
            if pid == 0:
                _child(request, [listener, conn, *kernels.values()], (rfd, wfd))
            kernels[pid] = conn
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    listener.close()
    with contextlib.suppress(OSError):
        os.unlink(path)
    if os.getppid() != parent:  # the run was killed: nobody else removes the folder
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
