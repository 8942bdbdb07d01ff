"""Fixtures: one real sandbox Okta org on a loopback port for the whole test session.

``sandbox`` here deliberately overrides the top-level fixture of the same name: these tests talk
to the Okta org in-process, not to the full ``oktalab sandbox start`` child process.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from okta_support import Sandbox, start_sandbox

from oktalab.sandbox.store import Database


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    db = Database(tmp_path_factory.mktemp("okta") / "okta.db")
    box, server = start_sandbox(db)
    try:
        yield box
    finally:
        server.stop()
        db.close()


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with sandbox.client() as client:
        yield client
