"""``oktalab sandbox start|stop|status|serve``: the sandbox as a background process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

SECRET_KEYS = ("OKTA_API_TOKEN", "OKTALAB_TEST_PASSWORD")


def _env(state_dir: Path) -> dict[str, str]:
    path = state_dir / "sandbox.env"
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def _pid(state_dir: Path) -> int | None:
    try:
        pid = int((state_dir / "sandbox.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def healthy(state_dir: Path) -> bool:
    env = _env(state_dir)
    if not env.get("OKTA_ORG_URL"):
        return False
    try:
        r = httpx.get(
            env["OKTA_ORG_URL"] + "/oauth2/default/.well-known/openid-configuration", timeout=2
        )
        g = httpx.get(env["OKTALAB_GATEWAY_URL"] + "/", timeout=2)
        return r.status_code == 200 and g.status_code < 500
    except (httpx.HTTPError, KeyError):
        return False


def _describe(state_dir: Path) -> str:
    env = _env(state_dir)
    shown = {k: ("[secure]" if k in SECRET_KEYS else v) for k, v in env.items()}
    lines = [
        f"sandbox running (pid {_pid(state_dir)}), environment in {state_dir / 'sandbox.env'}:"
    ]
    lines += [f"  {k}={v}" for k, v in shown.items()]
    lines.append(f"use it in a shell:  set -a; . {state_dir / 'sandbox.env'}; set +a")
    return "\n".join(lines)


def running(state_dir: Path) -> bool:
    """A healthy sandbox answers for ``state_dir``."""
    return bool(_pid(state_dir) and healthy(state_dir))


def status(state_dir: Path) -> int:
    if _pid(state_dir) and healthy(state_dir):
        print(_describe(state_dir))
        return 0
    print(f"no sandbox running for {state_dir}")
    return 3


def start(
    state_dir: Path,
    *,
    timeout: float = 60.0,
    public_url: str | None = None,
    gloo_version: str | None = None,
) -> int:
    """Start ``serve`` in the background and wait until it answers.

    ``public_url`` (else ``$OKTALAB_SANDBOX_PUBLIC_URL``, read by the child) is the Okta org's
    browser-facing URL when a proxy sits in front, e.g. ``http://host/proxy/{port}``.
    ``gloo_version`` (``2.5``/``2.14``): the Gloo layout; None keeps the state folder's
    (2.5 for a new one). A running sandbox with another layout is an error (stop it first).
    """
    state_dir = state_dir.resolve()
    if _pid(state_dir) and healthy(state_dir):
        running = _env(state_dir).get("OKTALAB_GLOO_VERSION")
        if gloo_version and running and running != gloo_version:
            print(
                f"a sandbox presenting Gloo {running} is already running in {state_dir}; "
                f"run `oktalab sandbox stop` first to start it with Gloo {gloo_version}",
                file=sys.stderr,
            )
            return 1
        print(_describe(state_dir))
        return 0
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileNotFoundError):
        (state_dir / "sandbox.env").unlink()
    log = open(state_dir / "sandbox.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "oktalab", "sandbox", "serve", "--state-dir", str(state_dir)]
        + (["--public-url", public_url] if public_url else [])
        + (["--gloo-version", gloo_version] if gloo_version else []),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    (state_dir / "sandbox.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(
                f"the sandbox exited with code {proc.returncode}; see {state_dir / 'sandbox.log'}",
                file=sys.stderr,
            )
            tail = (state_dir / "sandbox.log").read_text(errors="replace").splitlines()[-15:]
            print("\n".join(tail), file=sys.stderr)
            return 1
        if healthy(state_dir):
            print(_describe(state_dir))
            return 0
        time.sleep(0.1)
    proc.terminate()
    print(
        f"the sandbox did not become healthy within {timeout:.0f}s; see {state_dir / 'sandbox.log'}",
        file=sys.stderr,
    )
    return 1


def stop(state_dir: Path, *, timeout: float = 15.0) -> int:
    pid = _pid(state_dir)
    if pid is None:
        print(f"no sandbox running for {state_dir}")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid(state_dir):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when it is our own child
        time.sleep(0.1)
    if _pid(state_dir):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        (state_dir / "sandbox.pid").unlink()
    with contextlib.suppress(FileNotFoundError):
        (state_dir / "sandbox.env").unlink()
    print(f"sandbox stopped (pid {pid})")
    return 0


def serve_foreground(
    state_dir: Path, *, public_url: str | None = None, gloo_version: str | None = None
) -> int:
    from .server import serve

    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (state_dir / "sandbox.pid").is_file() or _pid(state_dir) is None:
        (state_dir / "sandbox.pid").write_text(str(os.getpid()))
    try:
        asyncio.run(serve(state_dir, public_url=public_url, gloo_version=gloo_version))
    except KeyboardInterrupt:
        pass
    return 0
