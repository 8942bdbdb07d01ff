"""Okta-style rate limits: fixed 60 s windows per endpoint family, headers on every response.

Okta meters requests per endpoint family ("bucket") and answers an empty bucket with 429 /
E0000047. The families are the rows of Okta's "Management rate limits" and "End-user access
rate limits" tables (developer.okta.com/docs/reference/rl-global-mgmt/, rl-global-enduser/),
the same table the client's budget uses (:func:`oktalab.ratelimit.family`): ``apps``
(``/api/v1/apps`` and its sub-resources), ``app`` (``/api/v1/apps/{id}`` only), ``groups``,
``group``, ``users`` (list/create), ``user_get`` (``GET /api/v1/users/{idOrLogin}``),
``user_write``, ``authn``, ``sessions``, ``logs``, ``api`` (other ``/api/v1``), ``oauth2``
(custom authorization servers), ``oauth2_org``, ``oauth2_clients``, ``oauth2_other``, ``idx``,
``metadata`` (public metadata, which Okta does not limit) and ``pages`` (the rest).

By default the limits are high enough never to bother a notebook run. ``okta-defaults`` (alias
of ``okta-enterprise``) sets them to the per-minute numbers Okta publishes for an Enterprise
org, ``okta-developer`` to its free Developer org (:data:`PRESETS`). Set them at start-up with
``oktalab sandbox start --rate-limits NAME`` or the environment variable
``OKTALAB_SANDBOX_RATE_LIMITS`` (a preset name, or JSON such as ``{"apps": 5, "users": 20}``),
at run time with ``POST /__sandbox/ratelimits`` (same JSON, or ``{"preset": NAME}``; ``{}``
restores the start-up limits; SSWS token required), or in-process with
:meth:`RateLimiter.configure`. ``GET /__sandbox/ratelimits/refused`` counts the 429s answered
per family since start-up.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass

from oktalab.ratelimit import family as okta_family

DEFAULT_LIMITS: dict[str, int] = {
    "apps": 600,
    "app": 600,
    "users": 600,
    "user_get": 600,
    "user_write": 600,
    "groups": 600,
    "group": 600,
    "authn": 600,
    "sessions": 600,
    "logs": 600,
    "oauth2": 2000,
    "oauth2_org": 2000,
    "oauth2_clients": 2000,
    "oauth2_other": 2000,
    "idx": 2000,
    "metadata": 2000,
    "api": 1200,
    "pages": 2000,
}
#: Okta's published per-minute limits, from okta/okta-developer-docs @017240d
#: ``docs/reference/rl-global-mgmt/index.md`` and ``rl-global-enduser/index.md`` (columns
#: "Enterprise" and "Developer (free)"). ``idx`` is not in those tables; it gets the
#: ``/api/v1/authn`` number. Public metadata is not rate limited at Okta (a number no run
#: reaches stands for that). Okta also caps concurrent requests (75 Enterprise, 15
#: Developer; "Additional limits" page), which the sandbox does not model.
UNLIMITED = 1_000_000
PRESETS: dict[str, dict[str, int]] = {
    "okta-enterprise": {
        "apps": 100,
        "app": 600,
        "groups": 600,
        "group": 600,
        "users": 600,
        "user_get": 1000,
        "user_write": 600,
        "logs": 50,
        "sessions": 600,
        "oauth2": 1200,
        "oauth2_org": 1200,
        "oauth2_clients": 100,
        "oauth2_other": 600,
        "authn": 600,
        "idx": 600,
        "api": 600,
        "pages": 600,
        "metadata": UNLIMITED,
    },
    "okta-developer": {
        "apps": 20,
        "app": 100,
        "groups": 100,
        "group": 100,
        "users": 100,
        "user_get": 100,
        "user_write": 100,
        "logs": 20,
        "sessions": 100,
        "oauth2": 300,
        "oauth2_org": 300,
        "oauth2_clients": 25,
        "oauth2_other": 100,
        "authn": 100,
        "idx": 100,
        "api": 100,
        "pages": 100,
        "metadata": UNLIMITED,
    },
}
PRESETS["okta-defaults"] = PRESETS["okta-enterprise"]
WINDOW_SECONDS = 60.0


def family(path: str, method: str = "GET") -> str | None:
    """The bucket a request is metered in (``None``: not metered, e.g. ``/__sandbox``)."""
    if path.startswith("/__sandbox"):
        return None
    name = okta_family(method, path)
    if name is not None:
        return name
    if path.startswith(("/.well-known/", "/oauth2/")):
        return "metadata"
    return "pages"


def parse_limits(raw: str) -> dict[str, int]:
    """``OKTALAB_SANDBOX_RATE_LIMITS``/``--rate-limits``: a preset name or a JSON object of
    family → requests per window. Raises ValueError naming the rule."""
    raw = raw.strip()
    if raw in PRESETS:
        return dict(PRESETS[raw])
    try:
        overrides = json.loads(raw)
    except ValueError as exc:
        raise ValueError(
            f"rate limits must be one of {', '.join(sorted(PRESETS))} or JSON: {exc}"
        ) from exc
    if not isinstance(overrides, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in overrides.values()
    ):
        raise ValueError("rate limits must map bucket names to non-negative integers")
    return overrides


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
                self.limits.update(parse_limits(raw))
            except ValueError as exc:
                raise ValueError(f"OKTALAB_SANDBOX_RATE_LIMITS: {exc}") from exc
        self._start_limits = dict(self.limits)
        self.refused: dict[str, int] = {}
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
        """Back to the limits of start-up (defaults, preset or environment) and 60 s windows."""
        with self._lock:
            self.limits = dict(self._start_limits)
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
                self.refused[bucket] = self.refused.get(bucket, 0) + 1
                return Verdict(False, limit, 0, reset)
            used += 1
            self._windows[bucket] = (start, used)
            return Verdict(True, limit, limit - used, reset)
