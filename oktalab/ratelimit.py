"""One Okta rate-limit budget per org, shared by every client, thread and process of a run.

Okta meters requests per *endpoint family* ("bucket") and per org, in windows of about a
minute, and reports the bucket on every response: ``X-Rate-Limit-Limit`` (requests per
window), ``X-Rate-Limit-Remaining`` and ``X-Rate-Limit-Reset`` (the window's end, UTC epoch
seconds on Okta's clock). An empty bucket answers 429 / E0000047 until the reset. Sources:
Okta, "Rate limits" (developer.okta.com/docs/reference/rate-limits/), "Management rate
limits" (…/rl-global-mgmt/), "End-user access rate limits" (…/rl-global-enduser/) and "Rate
limit best practices" (…/rl-best-practices/: "check the rate limit headers … before a request
… to avoid exceeding the limit").

:class:`Budget` keeps, per org and family, the last window the headers described and takes one
slot before each request. When the slots left reach a *reserve* (a tenth of the limit, so
other clients of the org still get through, as Okta's warning threshold suggests), a request
waits until the reset instead of being sent; a fresh window is assumed full until its first
response says otherwise. A 429 still happens when something outside the budget used the
bucket; :class:`oktalab.okta.OktaClient` then waits for the reset and retries, as before.

Where the budget lives: with the environment variable ``OKTALAB_RATE_BUDGET_DIR`` set (the
batch runner sets it to a folder of the run for every kernel), one small JSON file per org and
family in that folder, created 0600 and updated under ``fcntl.flock``, so separate processes
share it; unset, a budget in this process shared by its threads and clients.

:class:`BudgetTransport` applies a budget to any ``httpx`` client that talks to the org.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from . import tls

__all__ = [
    "BUDGET_DIR_ENV",
    "Budget",
    "BudgetTransport",
    "Window",
    "budget_for",
    "family",
    "server_time",
]

#: Environment variable naming the folder of the shared (cross-process) budget files.
BUDGET_DIR_ENV = "OKTALAB_RATE_BUDGET_DIR"
#: Share of a bucket left to other clients of the org; a request waits for the reset rather
#: than take one of these. At least 0 requests, i.e. a bucket of 5 keeps none back.
RESERVE_FRACTION = 0.1
#: Okta's windows are about a minute; no wait is longer than this (seconds).
MAX_WAIT = 61.0
#: Seconds after which requests sent into an assumed window that never answered (dropped
#: connections) stop holding the others back: one more request probes the bucket.
PROBE_TIMEOUT = 5.0

_ID = r"[^/]+"
#: (method or None for any, path pattern, family), first match wins. The families are the rows
#: of Okta's management and end-user rate-limit tables (developer.okta.com/docs/reference/
#: rl-global-mgmt/ and rl-global-enduser/): e.g. ``/api/v1/apps`` "except ``/api/v1/apps/{id}``"
#: (sub-resources such as ``/api/v1/apps/{id}/groups`` count in the ``apps`` row) and
#: ``/api/v1/apps/{id}`` only. Public metadata endpoints (``/.well-known/*``, ``…/v1/keys``)
#: "aren't subjected to rate limiting" (same page) and get no family.
_FAMILIES: list[tuple[str | None, re.Pattern[str], str | None]] = [
    (None, re.compile(rf"^(/oauth2(/{_ID})?)?/\.well-known/"), None),
    (None, re.compile(rf"^/oauth2(/{_ID})?/v1/keys$"), None),
    (None, re.compile(rf"^/api/v1/apps/{_ID}$"), "app"),
    (None, re.compile(r"^/api/v1/apps(/|$)"), "apps"),
    (None, re.compile(rf"^/api/v1/groups/{_ID}$"), "group"),
    (None, re.compile(r"^/api/v1/groups(/|$)"), "groups"),
    ("GET", re.compile(rf"^/api/v1/users/{_ID}$"), "user_get"),
    (None, re.compile(rf"^/api/v1/users/{_ID}$"), "user_write"),
    (None, re.compile(r"^/api/v1/users(/|$)"), "users"),
    (None, re.compile(r"^/api/v1/authn(/|$)"), "authn"),
    (None, re.compile(r"^/api/v1/sessions(/|$)"), "sessions"),
    (None, re.compile(r"^/api/v1/(logs|events)(/|$)"), "logs"),
    (None, re.compile(r"^/api/v1/"), "api"),
    (None, re.compile(r"^/oauth2/v1/clients(/|$)"), "oauth2_clients"),
    (None, re.compile(r"^/oauth2/v1/"), "oauth2_org"),
    (None, re.compile(rf"^/oauth2/{_ID}/v1/"), "oauth2"),
    (None, re.compile(r"^/oauth2(/|$)"), "oauth2_other"),
    (None, re.compile(r"^/idp/idx(/|$)"), "idx"),
]


def family(method: str, path: str) -> str | None:
    """The rate-limit bucket Okta meters ``method path`` in, e.g. ``("GET", "/api/v1/apps")``
    → ``"apps"``; ``None`` for unmetered paths (public metadata, pages outside the APIs).

    Rows of Okta's "Management rate limits" and "End-user access rate limits" tables; users
    are split by method as Okta does (``GET`` vs ``POST``/``PUT``/``DELETE`` to
    ``/api/v1/users/{id}``).
    """
    for want, pattern, name in _FAMILIES:
        if (want is None or want == method.upper()) and pattern.match(path):
            return name
    return None


def server_time(resp: httpx.Response) -> float:
    """The server's clock at the response, as an epoch second (its ``Date`` header,
    RFC 9110 §6.6.1), else ours."""
    date = resp.headers.get("date")
    if date:
        try:
            return parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            pass
    return time.time()


@dataclass
class Window:
    """What is known of one bucket's current window.

    ``limit``/``remaining`` are requests, ``reset`` the window end in epoch seconds on the
    server's clock (0: unknown, a fresh window not yet described by a response), ``offset``
    the server's clock minus ours in seconds (from ``Date``; the largest recent value, since
    ``Date`` is truncated to the second), ``since`` when (local epoch) a window not yet
    described by a response was assumed.
    """

    limit: int
    remaining: int
    reset: float
    offset: float = 0.0
    since: float = 0.0

    def reserve(self) -> int:
        return int(self.limit * RESERVE_FRACTION)


def _headers(resp: httpx.Response) -> tuple[int, int, float] | None:
    try:
        return (
            int(resp.headers["X-Rate-Limit-Limit"]),
            int(resp.headers["X-Rate-Limit-Remaining"]),
            float(resp.headers["X-Rate-Limit-Reset"]),
        )
    except (KeyError, ValueError):
        return None


def take(win: Window | None, now: float) -> tuple[Window, float]:
    """Take one slot from ``win`` at local time ``now``: the new window and the seconds to
    wait first (0: send now, nothing taken when > 0).

    Nothing known yet (``None``): one request goes as a probe and the others wait for its
    headers, so N workers starting together do not overrun a small bucket.
    """
    if win is None:
        return Window(1, 0, 0.0, 0.0, since=now), 0.0
    server_now = now + win.offset
    if win.reset and server_now >= win.reset:  # the window is over: assume a full new one
        win = Window(win.limit, win.limit, 0.0, win.offset, since=now)
    if win.remaining > win.reserve():
        win.remaining -= 1
        return win, 0.0
    if not win.reset:  # a fresh window used up by requests whose answers are still due
        if now - win.since > PROBE_TIMEOUT:  # they never came (a dropped connection)
            win.since = now
            return win, 0.0
        return win, 0.2
    # Date is whole seconds: wait out the reset second plus a margin (as for a 429).
    return win, min(max(win.reset - server_now, 0.0) + 0.05, MAX_WAIT)


def observe(win: Window | None, resp: httpx.Response, now: float) -> Window | None:
    """Fold one response's headers into ``win`` (``now``: local time of the response)."""
    seen = _headers(resp)
    if seen is None:
        return win
    limit, remaining, reset = seen
    offset = server_time(resp) - now
    if win is not None and abs(offset - win.offset) < 2:
        offset = max(offset, win.offset)
    if limit <= 0:
        # Okta's concurrency-limit 429 sets Limit and Remaining to 0 and Reset to an
        # estimate (developer.okta.com/docs/reference/rl2-monitor/): wait for that reset,
        # keep the bucket's size
        return Window(win.limit if win else 1, 0, reset, offset, since=now)
    if win is not None and not win.reset and reset <= now + offset:
        return win  # a late answer from the window that just ended
    if win is None or limit != win.limit or reset > win.reset or not win.reset:
        # a newer window (or new limits): the server's count, less what we sent into a
        # window we assumed fresh that it had not counted yet
        fresh = win is not None and not win.reset and limit == win.limit
        left = min(remaining, win.remaining) if fresh and win is not None else remaining
        return Window(limit, left, reset, offset, since=now)
    if reset < win.reset:  # a late answer from an older window
        return win
    return Window(limit, min(remaining, win.remaining), reset, offset, since=win.since)


class Budget:
    """The budget of one org: :meth:`acquire` before a request, :meth:`record` after it.

    ``directory``: the shared folder (one file per family, 0600, ``fcntl.flock``), or None for
    a budget held in this process. ``sleep`` is injectable for callers that must stay
    responsive; it gets seconds.
    """

    def __init__(
        self,
        org_url: str,
        directory: Path | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        host = urlsplit(org_url).netloc or org_url
        self.org_url = org_url
        self.directory = directory
        self._stem = (
            re.sub(r"[^A-Za-z0-9.-]", "_", host)[:60]
            + "-"
            + (hashlib.sha256(org_url.encode()).hexdigest()[:8])
        )
        self._sleep = sleep
        self._lock = threading.Lock()
        self._windows: dict[str, Window] = {}
        #: seconds this budget made callers wait, and how often (for reports and tests)
        self.waited = 0.0
        self.waits = 0
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    # -- storage: a locked read-modify-write of one family's window -------------------------
    @contextmanager
    def _locked(self, fam: str) -> Any:
        if self.directory is None:
            with self._lock:
                box = [self._windows.get(fam)]
                yield box
                if box[0] is not None:
                    self._windows[fam] = box[0]
            return
        import fcntl

        path = self.directory / f"{self._stem}-{fam}.json"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = b""
            while chunk := os.read(fd, 4096):
                raw += chunk
            try:
                box = [Window(**json.loads(raw))] if raw else [None]
            except (ValueError, TypeError):
                box = [None]  # a torn or foreign file: start from what the server says
            yield box
            if box[0] is not None:
                data = json.dumps(asdict(box[0])).encode()
                os.lseek(fd, 0, os.SEEK_SET)
                os.ftruncate(fd, 0)
                os.write(fd, data)
        finally:
            os.close(fd)  # releases the lock

    def acquire(self, fam: str | None) -> float:
        """Take a slot in ``fam`` (None: unmetered, nothing to do), waiting for the window's
        reset while the bucket is down to its reserve. Returns the seconds waited."""
        if fam is None:
            return 0.0
        waited = 0.0
        while True:
            with self._locked(fam) as box:
                box[0], delay = take(box[0], time.time())
            if delay <= 0:
                if waited:
                    self.waits += 1
                    self.waited += waited
                return waited
            self._sleep(delay)
            waited += delay

    def record(self, fam: str | None, resp: httpx.Response) -> None:
        """Fold the response's ``X-Rate-Limit-*`` headers into ``fam``'s window."""
        if fam is None or _headers(resp) is None:
            return
        with self._locked(fam) as box:
            box[0] = observe(box[0], resp, time.time())

    def window(self, fam: str) -> Window | None:
        """A copy of what is known of ``fam``'s window (None: nothing yet)."""
        with self._locked(fam) as box:
            win = box[0]
            return None if win is None else Window(**asdict(win))


_budgets: dict[tuple[str, str], Budget] = {}
_budgets_lock = threading.Lock()


def budget_for(org_url: str) -> Budget:
    """The budget of ``org_url`` for this process: backed by ``$OKTALAB_RATE_BUDGET_DIR``
    when it is set, else in memory; one object per org and folder, shared by all clients."""
    raw = os.environ.get(BUDGET_DIR_ENV, "").strip()
    org = org_url.rstrip("/")
    with _budgets_lock:
        key = (org, raw)
        if key not in _budgets:
            _budgets[key] = Budget(org, Path(raw) if raw else None)
        return _budgets[key]


class BudgetTransport(httpx.BaseTransport):
    """An ``httpx`` transport that takes a slot of ``budget`` before each request to the
    org's host and records the rate-limit headers of its response. Requests to other hosts
    (e.g. the gateway) pass untouched."""

    def __init__(self, budget: Budget, inner: httpx.BaseTransport | None = None) -> None:
        self.budget = budget
        self.inner = inner or httpx.HTTPTransport(verify=tls.context())
        self._host = urlsplit(budget.org_url).netloc

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fam = family(request.method, request.url.path) if self._is_org(request) else None
        self.budget.acquire(fam)
        resp = self.inner.handle_request(request)
        if fam is not None:
            self.budget.record(fam, resp)
        return resp

    def _is_org(self, request: httpx.Request) -> bool:
        return not self._host or request.url.netloc.decode() == self._host

    def close(self) -> None:
        self.inner.close()
