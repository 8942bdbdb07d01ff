"""Replay the requests of real recorded Okta traffic against the sandbox org: same statuses,
same field sets (``recorded_okta_traffic.json``, derived from terraform-provider-okta's VCR
cassettes; CI has no network, so only the derived table is checked in)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from okta_support import Sandbox, everyone_id

TABLE = json.loads((Path(__file__).parent / "recorded_okta_traffic.json").read_text())["rows"]

#: A value for each request field the table names (the recordings' own values are not kept).
VALUES: dict[str, Any] = {
    "audiences": ["api://oktalab-recorded"],
    "credentials": {"signing": {"rotationMode": "AUTO"}},
    "description": "replayed",
    "issuerMode": "ORG_URL",
    "conditions": {"clients": {"include": ["ALL_CLIENTS"]}},
    "priority": 1,
    "status": "ACTIVE",
    "type": "OAUTH_AUTHORIZATION_POLICY",
}


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):  # {name} from ids; Okta's own ${source.login} stays as it is
        return re.sub(r"(?<!\$)\{([A-Za-z]+)\}", lambda m: ids[m.group(1)], value)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _at(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[part]
    return data


def test_sandbox_answers_recorded_requests_like_okta(api: httpx.Client, sandbox: Sandbox) -> None:
    """Every row in order: the recorded status, the recorded top-level field names (exactly),
    the recorded values named in response_values."""
    ids = {"everyoneId": everyone_id(api), "uniq": uuid.uuid4().hex[:10]}
    problems: list[Any] = []  # every differing row, so that one run shows them all
    for row in TABLE:
        shape = row.get("request_shape") or {}
        try:
            body = {
                f: _fill(shape[f], ids)
                if f in shape
                else VALUES.get(f, f"recorded-{uuid.uuid4().hex[:8]}")
                for f in row["request_fields"]
            }
            path = _fill(row["path"], ids)
        except KeyError as missing:  # the earlier row that saves it differed
            problems.append((row["source"], "skipped: no", str(missing)))
            continue
        send = row["method"] in ("POST", "PUT") and (
            row["request_fields"] or "request_shape" in row
        )
        resp = api.request(
            row["method"],
            path,
            params=_fill(row.get("query") or {}, ids),
            json=body if send else None,
        )
        where = (row["source"], row["method"], path)
        if resp.status_code != row["status"]:
            problems.append((where, resp.status_code, resp.text[:300]))
            continue
        if row["response_fields"] is None and "response_list" not in row:
            if resp.content and resp.json() not in ({}, None):
                problems.append((where, "a body where Okta sent none", resp.text[:300]))
            continue
        data = resp.json()
        if isinstance(data, list):
            if row.get("response_list") == "empty":
                if data != []:
                    problems.append((where, "not the recorded empty list", data))
                continue
            match = row.get("item_where") or {}
            data = next(i for i in data if all(i.get(k) == v for k, v in match.items()))
        if sorted(data) != row["response_fields"]:
            got, want = set(data), set(row["response_fields"])
            problems.append((where, "missing", sorted(want - got), "extra", sorted(got - want)))
        for dotted, value in (row.get("response_values") or {}).items():
            if _at(data, dotted) != value:
                problems.append((where, dotted, _at(data, dotted), "recorded", value))
        if row.get("save_as"):
            ids[row["save_as"]] = data["id"]
        for name, dotted in (row.get("capture") or {}).items():
            ids[name] = _at(data, dotted)
    assert not problems, "\n".join(map(repr, problems))


def test_what_okta_accepted_in_recordings_is_not_a_400(api: httpx.Client) -> None:
    """Issue 18's examples from recorded traffic: a rule without scopes.include, a browser app
    created INACTIVE with another auth method, an EXPRESSION claim whose value is a literal."""
    server = api.post(
        "/api/v1/authorizationServers",
        json={"name": f"acc-{uuid.uuid4().hex[:6]}", "description": "d", "audiences": ["api://a"]},
    ).json()
    base = f"/api/v1/authorizationServers/{server['id']}"
    policy = api.post(
        f"{base}/policies",
        json={
            "type": "OAUTH_AUTHORIZATION_POLICY",
            "name": "p",
            "description": "p",
            "conditions": {"clients": {"include": ["ALL_CLIENTS"]}},
        },
    ).json()
    rule = api.post(
        f"{base}/policies/{policy['id']}/rules",
        json={
            "name": "r",
            "conditions": {
                "people": {"groups": {"include": ["EVERYONE"]}},
                "grantTypes": {"include": ["authorization_code"]},
            },
        },
    )
    assert rule.status_code == 201, rule.text
    assert rule.json()["conditions"]["scopes"] == {"include": []}
    claim = api.post(
        f"{base}/claims",
        json={
            "name": "lit",
            "claimType": "RESOURCE",
            "valueType": "EXPRESSION",
            "value": '"cool"',
            "conditions": {"scopes": []},
        },
    )
    assert claim.status_code == 201, claim.text
    browser = {
        "name": "oidc_client",
        "label": f"inactive-{uuid.uuid4().hex[:6]}",
        "signOnMode": "OPENID_CONNECT",
        "credentials": {"oauthClient": {"token_endpoint_auth_method": "client_secret_basic"}},
        "settings": {
            "oauthClient": {
                "application_type": "browser",
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "redirect_uris": ["http://localhost/cb"],
            }
        },
    }
    made = api.post("/api/v1/apps", params={"activate": "false"}, json=browser)
    assert made.status_code == 200 and made.json()["status"] == "INACTIVE", made.text
    # created ACTIVE, the same body is still refused, as before
    assert (
        api.post("/api/v1/apps", json={**browser, "label": browser["label"] + "a"}).status_code
        == 400
    )
