"""The shared Okta rate-limit budget (oktalab.ratelimit) against the sandbox org over HTTP.

Several workers — threads of one process, or separate processes sharing
``OKTALAB_RATE_BUDGET_DIR`` as the batch runner's kernels do — read one bucket with a small
limit and a short window: the server answers no 429 at all, because the workers wait for the
window's reset instead of sending into an empty bucket.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from oktalab import Secret
from oktalab.okta import OktaClient
from oktalab.ratelimit import BUDGET_DIR_ENV, Budget, budget_for, family

LIMIT, WINDOW, WORKERS, EACH = 3, 1, 4, 2

WORKER = """
import json, sys
from oktalab import Secret
from oktalab.okta import OktaClient
client = OktaClient(sys.argv[1], Secret(sys.argv[2]), max_wait=30)
for _ in range(int(sys.argv[3])):
    client.get("/api/v1/groups", q="Everyone", limit=1)
print(json.dumps({"retries": client.retries, "waits": client.budget.waits,
                  "waited": client.budget.waited}))
"""


@pytest.fixture
def small_groups_bucket(sandbox: dict[str, str]) -> Iterator[dict[str, str]]:
    """The sandbox's ``groups`` bucket shrunk to LIMIT requests per WINDOW-second window."""
    url = sandbox["OKTA_ORG_URL"] + "/__sandbox/ratelimits"
    headers = {"Authorization": f"SSWS {sandbox['OKTA_API_TOKEN']}"}
    assert httpx.post(
        url, json={"groups": LIMIT, "window_seconds": WINDOW}, headers=headers
    ).is_success
    try:
        yield sandbox
    finally:
        assert httpx.post(url, json={}, headers=headers).is_success


def refused(sandbox: dict[str, str]) -> int:
    r = httpx.get(
        sandbox["OKTA_ORG_URL"] + "/__sandbox/ratelimits/refused",
        headers={"Authorization": f"SSWS {sandbox['OKTA_API_TOKEN']}"},
    )
    assert r.status_code == 200
    return int(r.json().get("groups", 0))


def test_families_follow_oktas_tables() -> None:
    """Rows of Okta's management / end-user rate-limit tables; public metadata unmetered."""
    assert family("GET", "/api/v1/apps") == "apps"
    assert family("PUT", "/api/v1/apps/0oa1/groups/00g1") == "apps"
    assert family("GET", "/api/v1/apps/0oa1") == "app"
    assert family("GET", "/api/v1/users/me@example.com") == "user_get"
    assert family("POST", "/api/v1/users/00u1") == "user_write"
    assert family("POST", "/api/v1/users") == "users"
    assert family("GET", "/api/v1/authorizationServers/default/claims") == "api"
    assert family("POST", "/oauth2/default/v1/token") == "oauth2"
    assert family("POST", "/oauth2/v1/token") == "oauth2_org"
    assert family("POST", "/idp/idx/identify") == "idx"
    assert family("GET", "/oauth2/default/v1/keys") is None
    assert family("GET", "/oauth2/default/.well-known/openid-configuration") is None


def test_processes_sharing_a_budget_dir_get_no_429(
    small_groups_bucket: dict[str, str], tmp_path: Path
) -> None:
    sandbox = small_groups_bucket
    budget_dir = tmp_path / "budget"
    before = refused(sandbox)
    env = {**os.environ, BUDGET_DIR_ENV: str(budget_dir)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                sandbox["OKTA_ORG_URL"],
                sandbox["OKTA_API_TOKEN"],
                str(EACH),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    assert refused(sandbox) - before == 0, "the server answered no 429"
    assert sum(r["retries"] for r in reports) == 0
    # 8 requests through a bucket of 3 span at least three windows: workers waited for resets
    assert sum(r["waits"] for r in reports) >= (WORKERS * EACH) // LIMIT - 1
    files = list(budget_dir.iterdir())
    assert files and all(f.name.endswith("-groups.json") for f in files)
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) & 0o077 == 0, f"{f.name} is private"
        assert sandbox["OKTA_API_TOKEN"] not in f.read_text()
    assert stat.S_IMODE(budget_dir.stat().st_mode) & 0o077 == 0


def test_threads_of_one_process_share_the_in_memory_budget(
    small_groups_bucket: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = small_groups_bucket
    monkeypatch.delenv(BUDGET_DIR_ENV, raising=False)
    before = refused(sandbox)
    org, token = sandbox["OKTA_ORG_URL"], Secret(sandbox["OKTA_API_TOKEN"])
    with OktaClient(org, token) as a, OktaClient(org, token) as b:
        assert a.budget is b.budget is budget_for(org), "one budget per org in a process"
    # a budget of its own, so that what earlier tests taught the process's budget about this
    # bucket (before the sandbox shrank it) does not count
    budget = Budget(org)
    clients = [OktaClient(org, token, max_wait=30, budget=budget) for _ in range(WORKERS)]
    errors: list[BaseException] = []

    def work(c: OktaClient) -> None:
        try:
            for _ in range(EACH):
                c.get("/api/v1/groups", q="Everyone", limit=1)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for c in clients:
        c.close()
    assert not errors
    assert refused(sandbox) - before == 0, "the server answered no 429"
    assert sum(c.retries for c in clients) == 0


def test_a_concurrency_429_waits_for_its_reset_and_keeps_the_bucket_size() -> None:
    """Okta answers a concurrency violation with Limit 0, Remaining 0 and an estimated
    Reset: the budget waits for that reset, then goes on with the bucket's real size."""
    from email.utils import formatdate

    from oktalab.ratelimit import Window, observe, take

    now = 1_800_000_000.0

    def answer(limit: int, remaining: int, reset: float, status: int = 200) -> httpx.Response:
        return httpx.Response(
            status,
            headers={
                "X-Rate-Limit-Limit": str(limit),
                "X-Rate-Limit-Remaining": str(remaining),
                "X-Rate-Limit-Reset": str(int(reset)),
                "Date": formatdate(now, usegmt=True),
            },
        )

    win = observe(Window(600, 500, now + 30), answer(0, 0, now + 5, 429), now)
    assert win is not None and (win.limit, win.remaining) == (600, 0)
    win, delay = take(win, now)
    assert 5.0 <= delay <= 5.1, "waits for the estimated reset"
    win, delay = take(win, now + 5.1)
    assert delay == 0 and (win.limit, win.remaining) == (600, 599), "then a full bucket"
