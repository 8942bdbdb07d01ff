"""Counting the sandbox's write requests, so a test can prove that a command wrote nothing.

:class:`WriteCounter` wraps an ASGI app and counts every request whose method can change
state (``POST``, ``PUT``, ``PATCH``, ``DELETE``), except a Kubernetes ``dryRun=All`` request,
which the API server answers without storing anything. ``GET /__sandbox/writes`` (see
:mod:`oktalab.sandbox.testhooks`) answers the counts per server, e.g. ``{"okta": 12,
"kube": 3}``, each with the last few requests (method and path, never bodies).
"""

from __future__ import annotations

from collections import deque
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class WriteCounts:
    """Counts per server name, shared by the wrapped apps of one sandbox."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.recent: dict[str, deque[str]] = {}

    def add(self, server: str, method: str, path: str) -> None:
        self.counts[server] = self.counts.get(server, 0) + 1
        self.recent.setdefault(server, deque(maxlen=20)).append(f"{method} {path}")

    def snapshot(self) -> dict[str, Any]:
        return {
            name: {"writes": n, "recent": list(self.recent.get(name, ()))}
            for name, n in self.counts.items()
        }


class WriteCounter:
    """ASGI middleware: count the write requests that reach ``app`` as ``server``."""

    def __init__(self, app: ASGIApp, counts: WriteCounts, server: str) -> None:
        self.app, self.counts, self.server = app, counts, server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in WRITE_METHODS:
            path = scope.get("path", "")
            query = parse_qs(scope.get("query_string", b"").decode())
            if not path.startswith("/__sandbox/") and "All" not in query.get("dryRun", []):
                self.counts.add(self.server, scope["method"], path)
        await self.app(scope, receive, send)
