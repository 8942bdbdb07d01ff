"""Fixtures: one real sandbox Okta org on a loopback port for the whole test session.

``sandbox`` here deliberately overrides the top-level fixture of the same name: these tests talk
to the Okta org in-process, not to the full ``oktalab sandbox start`` child process.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from okta_support import Sandbox, start_sandbox

from oktalab.sandbox.store import Database

_config: pytest.Config | None = None


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


def pytest_configure(config: pytest.Config) -> None:
    global _config
    _config = config


def pytest_collectreport(report: Any) -> None:
    """Give ``conftest`` back to the top-level tests once this directory is collected.

    Directories without ``__init__.py`` all import their conftest as module ``conftest``; test
    modules collected after this directory that do ``from conftest import …`` must see the
    top-level ``tests/conftest.py``, not this file.
    """
    if _config is None or Path(str(report.nodeid) or ".").name != "okta":
        return
    parent = Path(__file__).resolve().parent.parent / "conftest.py"
    module = _config.pluginmanager.get_plugin(str(parent))
    if module is not None:
        sys.modules["conftest"] = module
