"""Counting the sandbox's write and read requests, so a test can prove that a command wrote
nothing and a benchmark can count what a re-run reads.

:class:`WriteCounter` wraps an ASGI app and counts every request whose method can change
state (``POST``, ``PUT``, ``PATCH``, ``DELETE``), except a Kubernetes ``dryRun=All`` request,
which the API server answers without storing anything (counted as a read, like every
``GET``/``HEAD``).
``GET /__sandbox/writes`` (see :mod:`oktalab.sandbox.testhooks`) answers the write counts per
server, e.g. ``{"okta": {"writes": 12, "recent": [...]}, "kube": ...}``, each with the last few
requests (method and path, never bodies); ``GET /__sandbox/reads`` the read counts, e.g.
``{"okta": 40, "kube": 31}``. The Okta org's end-user sign-in traffic (``/oauth2/*``,
``/idp/*``, ``/api/v1/authn``, ``/.well-known/*``, hosted pages: a token request is a POST but
changes no configuration) is counted apart, as ``okta-signin``.
"""

from __future__ import annotations

from collections import deque
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_METHODS = frozenset({"GET", "HEAD"})
#: The Okta org's management API (configuration); the rest of the org is end-user traffic.
MANAGEMENT_PREFIX = "/api/v1/"
SIGN_IN_PREFIXES = ("/api/v1/authn",)


class WriteCounts:
    """Counts per server name, shared by the wrapped apps of one sandbox."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.recent: dict[str, deque[str]] = {}
        self.reads: dict[str, int] = {}

    def add_read(self, server: str) -> None:
        self.reads[server] = self.reads.get(server, 0) + 1

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
        path = scope.get("path", "")
        if scope["type"] == "http" and not path.startswith("/__sandbox/"):
            server = self.server
            if server == "okta" and (
                not path.startswith(MANAGEMENT_PREFIX) or path.startswith(SIGN_IN_PREFIXES)
            ):
                server = "okta-signin"
            if scope["method"] in WRITE_METHODS:
                query = parse_qs(scope.get("query_string", b"").decode())
                if "All" not in query.get("dryRun", []):
                    self.counts.add(server, scope["method"], path)
                else:  # answered without storing anything: a read
                    self.counts.add_read(server)
            elif scope["method"] in READ_METHODS:
                self.counts.add_read(server)
        await self.app(scope, receive, send)
