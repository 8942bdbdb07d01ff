"""Fixtures for the Gloo sandbox tests: a seeded store with controllers, and a live gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gloo_helpers import LiveGateway, Signer, serve_in_thread

from oktalab.sandbox.gloo import GlooControllers, create_gateway_app, seed_cluster
from oktalab.sandbox.kube.store import ObjectStore
from oktalab.sandbox.store import Database


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer()


@pytest.fixture
def store() -> Iterator[ObjectStore]:
    """A freshly seeded cluster with the controllers running inline (no event loop)."""
    db = Database()
    st = ObjectStore(db)
    seed_cluster(st)
    ctl = GlooControllers(st)
    ctl.start()
    yield st
    ctl.stop()
    db.close()


@pytest.fixture(scope="session")
def gateway() -> Iterator[LiveGateway]:
    db = Database()
    st = ObjectStore(db)
    seed_cluster(st)
    ctl = GlooControllers(st)
    ctl.start()
    server, thread, port = serve_in_thread(create_gateway_app(st))
    yield LiveGateway(st, f"http://127.0.0.1:{port}", port)
    server.should_exit = True
    thread.join(timeout=10)
    ctl.stop()
