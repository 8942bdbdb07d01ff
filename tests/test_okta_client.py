"""oktalab's Okta client against the sandbox org over HTTP: errors, pagination, retries."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from oktalab import OktaAPIError, Secret
from oktalab.okta import OktaClient


@pytest.fixture
def okta(sandbox: dict[str, str]) -> Iterator[OktaClient]:
    client = OktaClient(sandbox["OKTA_ORG_URL"], Secret(sandbox["OKTA_API_TOKEN"]), max_wait=20)
    yield client
    client.close()


def faults(sandbox: dict[str, str], config: dict | None) -> None:
    url = sandbox["OKTA_ORG_URL"] + "/__sandbox/faults"
    headers = {"Authorization": f"SSWS {sandbox['OKTA_API_TOKEN']}"}
    resp = (
        httpx.post(url, json=config, headers=headers)
        if config
        else httpx.delete(url, headers=headers)
    )
    assert resp.status_code in (200, 204), resp.text


def test_error_objects_become_typed_errors(okta: OktaClient, sandbox: dict[str, str]) -> None:
    with pytest.raises(OktaAPIError) as info:
        okta.get_app("0oaDoesNotExist000000")
    assert info.value.status == 404 and info.value.error_code == "E0000007"
    bad = OktaClient(sandbox["OKTA_ORG_URL"], Secret("00not-a-token"))
    with pytest.raises(OktaAPIError) as info:
        bad.everyone_group()
    assert info.value.status == 401 and info.value.error_code == "E0000011"
    assert "00not-a-token" not in str(info.value)


def test_pagination_follows_link_headers(okta: OktaClient) -> None:
    prefix = f"page-{uuid.uuid4().hex[:6]}-"
    for i in range(23):
        okta.create_group(f"{prefix}{i:02d}")
    before = okta.requests_made
    names = [g["profile"]["name"] for g in okta.paginate("/api/v1/groups", q=prefix, limit=10)]
    assert sorted(names) == [f"{prefix}{i:02d}" for i in range(23)]
    assert okta.requests_made - before == 3, "23 items at limit=10 is three pages"


def test_503s_on_reads_are_retried(okta: OktaClient, sandbox: dict[str, str]) -> None:
    label = f"retry-{uuid.uuid4().hex[:6]}"
    okta.create_group(label)
    faults(
        sandbox,
        {
            "seed": 7,
            "rules": [{"path": "^/api/v1/groups", "method": "GET", "status": 503, "rate": 0.4}],
        },
    )
    try:
        retries = okta.retries
        for _ in range(5):
            assert okta.find_group(label) is not None
        assert okta.retries > retries
    finally:
        faults(sandbox, None)


def test_a_5xx_on_create_is_not_retried(okta: OktaClient, sandbox: dict[str, str]) -> None:
    """A 500 on POST may have created the object: retrying could make two. Report instead."""
    name = f"noretry-{uuid.uuid4().hex[:6]}"
    faults(
        sandbox,
        {"seed": 1, "rules": [{"path": "^/api/v1/groups$", "method": "POST", "status": 500}]},
    )
    try:
        with pytest.raises(OktaAPIError) as info:
            okta.create_group(name)
        assert info.value.status == 500
    finally:
        faults(sandbox, None)


def test_429s_are_waited_out_without_duplicate_writes(
    okta: OktaClient, sandbox: dict[str, str]
) -> None:
    prefix = f"burst-{uuid.uuid4().hex[:6]}-"
    faults(
        sandbox,
        {
            "seed": 3,
            "rules": [{"path": "^/api/v1/groups$", "method": "POST", "status": 429, "rate": 0.5}],
        },
    )
    t0 = time.monotonic()
    try:
        for i in range(8):
            okta.create_group(f"{prefix}{i}")
    finally:
        faults(sandbox, None)
    assert okta.retries > 0
    names = [g["profile"]["name"] for g in okta.paginate("/api/v1/groups", q=prefix)]
    assert sorted(names) == sorted(f"{prefix}{i}" for i in range(8)), "each group exactly once"
    assert time.monotonic() - t0 < 60


def test_an_empty_bucket_is_waited_out_until_its_reset(
    okta: OktaClient, sandbox: dict[str, str]
) -> None:
    """Okta's real 429 (Remaining 0, Reset = window end) when something outside the client's
    budget emptied the bucket: the client sleeps until the reset, then its budget keeps the
    rest of the writes inside the bucket (no further 429)."""
    url = sandbox["OKTA_ORG_URL"] + "/__sandbox/ratelimits"
    headers = {"Authorization": f"SSWS {sandbox['OKTA_API_TOKEN']}"}
    assert (
        httpx.post(url, json={"groups": 3, "window_seconds": 2}, headers=headers).status_code == 200
    )
    refused0 = httpx.get(url + "/refused", headers=headers).json().get("groups", 0)
    prefix = f"bucket-{uuid.uuid4().hex[:6]}-"
    try:
        for _ in range(3):  # another tool of the org uses up the window
            httpx.get(sandbox["OKTA_ORG_URL"] + "/api/v1/groups?limit=1", headers=headers)
        for i in range(7):
            okta.create_group(f"{prefix}{i}")
        refused = httpx.get(url + "/refused", headers=headers).json().get("groups", 0) - refused0
    finally:
        assert httpx.post(url, json={}, headers=headers).status_code == 200
    assert okta.retries == 1 and refused == 1, "one 429 (the foreign window), then none"
    assert okta.budget.waits >= 2, "seven writes through a bucket of three wait for resets"
    names = [g["profile"]["name"] for g in okta.paginate("/api/v1/groups", q=prefix)]
    assert sorted(names) == sorted(f"{prefix}{i}" for i in range(7)), "each group exactly once"
