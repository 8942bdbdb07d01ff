"""Assemble and run the embedded sandbox: Okta org, Kubernetes API and gateway on one loop.

One process, one asyncio loop, one SQLite file. Each server gets a loopback socket bound
before anything starts (port 0 = any free port, or ``OKTALAB_SANDBOX_{OKTA,KUBE,GATEWAY}_PORT``),
so the URLs are known when the org and the kubeconfig are written. Credentials are made
fresh at every start and written only to ``sandbox.env`` and ``kubeconfig`` (mode 0600).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from .gloo import GlooControllers, create_gateway_app, seed_cluster
from .kube.api import create_kube_app
from .kube.store import ObjectStore
from .kube.tls import ensure_serving_cert, kubeconfig as render_kubeconfig
from .okta import OktaOrg, create_okta_app
from .store import Database
from .testhooks import with_test_hooks

log = logging.getLogger("oktalab.sandbox")

TEST_USERNAME = "oktalab.tester@example.com"
CLUSTER_NAME = "cluster1"


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the sandbox owns SIGTERM for all servers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(port: int = 0) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only then,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@dataclass
class SandboxInfo:
    okta_url: str
    kube_url: str
    gateway_url: str
    env_file: Path
    kubeconfig: Path


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


async def serve(
    state_dir: Path, *, public_url: str | None = None, stop: asyncio.Event | None = None
) -> None:
    """Run until ``stop`` is set (or SIGTERM/SIGINT when run from the CLI)."""
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    db = Database(state_dir / "sandbox.db")
    socks = {
        name: bind(int(os.environ.get(f"OKTALAB_SANDBOX_{name.upper()}_PORT", "0")))
        for name in ("okta", "kube", "gateway")
    }
    url = {name: f"http://127.0.0.1:{s.getsockname()[1]}" for name, s in socks.items()}
    # kubectl never sends a bearer token over plain http, so the API server speaks TLS.
    cert = ensure_serving_cert(state_dir / "pki")
    url["kube"] = url["kube"].replace("http://", "https://")
    okta_url = (public_url or url["okta"]).rstrip("/")

    api_token = "00" + secrets.token_urlsafe(30)
    kube_token = secrets.token_urlsafe(32)
    password = "Okt" + secrets.token_urlsafe(12) + "!9"

    org = OktaOrg(db, org_url=okta_url)
    org.seed(api_token=api_token, test_username=TEST_USERNAME, test_password=password)
    store = ObjectStore(db)
    seed_cluster(store, cluster_name=CLUSTER_NAME, gateway_port=socks["gateway"].getsockname()[1])
    controllers = GlooControllers(store)
    controllers.start()

    apps = {
        "okta": with_test_hooks(org, create_okta_app(org)),
        "kube": create_kube_app(store, token=kube_token),
        "gateway": create_gateway_app(store),
    }
    servers = {
        name: _Server(
            uvicorn.Config(
                app,
                log_level=os.environ.get("OKTALAB_SANDBOX_LOG_LEVEL", "warning"),
                lifespan="off",
                access_log=False,
                server_header=name != "gateway",  # the gateway answers as istio-envoy itself
                **(
                    {"ssl_certfile": str(cert.cert_file), "ssl_keyfile": str(cert.key_file)}
                    if name == "kube"
                    else {}
                ),
            )
        )
        for name, app in apps.items()
    }
    tasks = [asyncio.create_task(servers[name].serve(sockets=[socks[name]])) for name in servers]
    while not all(s.started for s in servers.values()):
        if any(t.done() for t in tasks):
            for t in tasks:
                if t.done() and t.exception():
                    raise t.exception()  # type: ignore[misc]
        await asyncio.sleep(0.02)

    kubeconfig = state_dir / "kubeconfig"
    _write_private(kubeconfig, render_kubeconfig(url["kube"], kube_token, cert.ca_data))
    env_file = state_dir / "sandbox.env"
    lines = {
        "OKTA_ORG_URL": okta_url,
        "OKTA_API_TOKEN": api_token,
        "KUBECONFIG": str(kubeconfig),
        "OKTALAB_GATEWAY_URL": url["gateway"],
        "OKTALAB_TEST_USERNAME": TEST_USERNAME,
        "OKTALAB_TEST_PASSWORD": password,
        "OKTALAB_SANDBOX_PID": str(os.getpid()),
        "OKTALAB_CLUSTER_NAME": CLUSTER_NAME,
    }
    _write_private(env_file, "".join(f"{k}={v}\n" for k, v in lines.items()))
    log.warning("sandbox ready: okta %s kube %s gateway %s", okta_url, url["kube"], url["gateway"])

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for s in servers.values():
            s.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        controllers.stop()
        with contextlib.suppress(FileNotFoundError):
            env_file.unlink()
        db.close()
