"""A real kube API server (uvicorn, TLS, in a background thread) shared by the kube tests.

TLS is not optional here: kubectl never sends a bearer token over plain HTTP.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
import yaml

from oktalab.sandbox.kube.api import create_kube_app
from oktalab.sandbox.kube.devserver import listen_socket
from oktalab.sandbox.kube.store import ObjectStore
from oktalab.sandbox.kube.tls import ensure_serving_cert, kubeconfig
from oktalab.sandbox.store import Database

from .kubeharness import TOKEN, WIDGET_CRD, KubeServer


@contextmanager
def serve(state: Path) -> Iterator[KubeServer]:
    """Run the app on a fresh loopback port in a background thread until the block ends."""
    store = ObjectStore(Database(state / "sandbox.db"))
    app = create_kube_app(store, token=TOKEN)
    cert = ensure_serving_cert(state / "tls")
    sock = listen_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level=os.environ.get("KUBE_TEST_LOG", "warning"),
        ssl_certfile=str(cert.cert_file),
        ssl_keyfile=str(cert.key_file),
        lifespan="off",
        # An idle TLS keep-alive connection waits for the client's close_notify (up to 30 s)
        # before uvicorn forgets it; don't let teardown wait for that.
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, name="kube-apiserver", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    url = f"https://127.0.0.1:{port}"
    home = state / "home"
    home.mkdir(exist_ok=True)
    kc = state / "kubeconfig"
    kc.write_text(kubeconfig(url, TOKEN, cert.ca_data))
    try:
        yield KubeServer(url, TOKEN, cert.cert_file, kc, home, store, loop, app.state.kube)
    finally:
        app.state.kube.close_watches()
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn did not stop"
        sock.close()
        loop.close()


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeServer]:
    with serve(tmp_path_factory.mktemp("kube")) as server:
        yield server


@pytest.fixture
def ns(kube: KubeServer) -> Iterator[str]:
    """A fresh namespace for one test."""
    name = "t-" + uuid.uuid4().hex[:8]
    with kube.http() as http:
        r = http.post("/api/v1/namespaces", json={"metadata": {"name": name}})
        assert r.status_code == 201, r.text
    yield name
    with kube.http() as http:
        http.delete(f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="session")
def widget_crd(kube: KubeServer) -> str:
    """The ``widgets.example.com`` CRD, created once through the API."""
    body = yaml.safe_load(WIDGET_CRD)
    with kube.http() as http:
        r = http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=body)
        assert r.status_code in (201, 409), r.text
    return "widgets.example.com"
