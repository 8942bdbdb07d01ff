"""Okta-style rate limits: fixed 60 s windows per endpoint family, headers on every response.

Okta meters ``/api/v1/apps*``, ``/api/v1/users*`` … in separate buckets and answers an empty
bucket with 429 / E0000047. Limits default high enough never to bother a notebook run; tests
(and curious users) shrink them to watch clients back off: at start-up with the environment
variable ``OKTALAB_SANDBOX_RATE_LIMITS`` (JSON, e.g. ``{"apps": 5, "users": 20}``), at run time
with ``POST /__sandbox/ratelimits`` (same JSON; ``{}`` restores the defaults; SSWS token
required), or in-process with :meth:`RateLimiter.configure`. Buckets: apps, users, groups, authn,
oauth2 (``/oauth2/*`` and ``/.well-known/*``), api (other ``/api/v1/*``) and pages.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass

DEFAULT_LIMITS: dict[str, int] = {
    "apps": 600,
    "users": 600,
    "groups": 600,
    "authn": 600,
    "oauth2": 2000,
    "api": 1200,
    "pages": 2000,
}
WINDOW_SECONDS = 60.0


def family(path: str) -> str | None:
    """The bucket a request path is metered in (``None``: not metered, e.g. ``/__sandbox``)."""
    if path.startswith("/__sandbox"):
        return None
    for prefix, name in (
        ("/api/v1/apps", "apps"),
        ("/api/v1/users", "users"),
        ("/api/v1/groups", "groups"),
        ("/api/v1/authn", "authn"),
        ("/api/v1/", "api"),
        ("/oauth2/", "oauth2"),
        ("/.well-known/", "oauth2"),
    ):
        if path.startswith(prefix):
            return name
    return "pages"


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Reset": str(self.reset),
        }


class RateLimiter:
    def __init__(self, limits: dict[str, int] | None = None) -> None:
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        raw = os.environ.get("OKTALAB_SANDBOX_RATE_LIMITS", "").strip()
        if limits is None and raw:
            try:
                overrides = json.loads(raw)
            except ValueError as exc:
                raise ValueError(f"OKTALAB_SANDBOX_RATE_LIMITS is not JSON: {exc}") from exc
            if not isinstance(overrides, dict) or not all(
                isinstance(v, int) and v >= 0 for v in overrides.values()
            ):
                raise ValueError("OKTALAB_SANDBOX_RATE_LIMITS must map bucket names to integers")
            self.limits.update(overrides)
        self.window = WINDOW_SECONDS
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def configure(self, limits: dict[str, int]) -> None:
        """Override some bucket sizes and start fresh windows.

        The key ``window_seconds`` shortens the window (Okta's is 60 s), so tests can watch a
        client wait for a reset without waiting a minute.
        """
        limits = dict(limits)
        window = limits.pop("window_seconds", None)
        with self._lock:
            if window is not None:
                self.window = float(max(1, window))
            self.limits.update(limits)
            self._windows.clear()

    def reset(self) -> None:
        with self._lock:
            self.limits = dict(DEFAULT_LIMITS)
            self.window = WINDOW_SECONDS
            self._windows.clear()

    def hit(self, bucket: str) -> Verdict:
        now = time.time()
        with self._lock:
            limit = self.limits.get(bucket, DEFAULT_LIMITS["api"])
            start, used = self._windows.get(bucket, (now, 0))
            if now - start >= self.window:
                start, used = now, 0
            reset = math.ceil(start + self.window)
            if used >= limit:
                self._windows[bucket] = (start, used)
                return Verdict(False, limit, 0, reset)
            used += 1
            self._windows[bucket] = (start, used)
            return Verdict(True, limit, limit - used, reset)
