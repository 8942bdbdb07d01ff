"""Judged by Okta's own client: ``@okta/okta-auth-js`` (npm) signs in and registers through the
sandbox's Identity Engine (``idx.authenticate``, ``idx.register``), in Node.

The npm packages come from ``tests/js/package.json`` + ``package-lock.json`` (``npm ci`` in
``tests/js``, done by ``.ci/run``); without node or the packages these tests skip.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from okta_support import REDIRECT, Sandbox
from test_okta_idx import create_idx_spa, enrollment_policy

JS = Path(__file__).resolve().parent.parent / "js"
AUTH_JS = JS / "node_modules" / "@okta" / "okta-auth-js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not AUTH_JS.is_dir(),
    reason="node or @okta/okta-auth-js missing (run `npm ci` in tests/js)",
)


def judge(mode: str, config: dict[str, Any]) -> dict[str, Any]:
    env = {"PATH": os.environ.get("PATH", ""), "OKTA_JUDGE_CONFIG": json.dumps(config)}
    proc = subprocess.run(
        ["node", str(JS / "idx_judge.mjs"), mode],
        capture_output=True,
        text=True,
        env=env,
        cwd=JS,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_auth_js_idx_authenticate_signs_the_test_user_in(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    app = create_idx_spa(api, "auth-js sign-in")
    config = {
        "issuer": f"{sandbox.url}/oauth2/default",
        "clientId": app["id"],
        "redirectUri": REDIRECT,
        "username": sandbox.username,
        "password": sandbox.password,
    }
    out = judge("authenticate", config)
    assert out["status"] == "SUCCESS", out
    user = api.get(f"/api/v1/users/{sandbox.username}").json()
    assert out["accessClaims"]["uid"] == user["id"]
    assert out["accessClaims"]["iss"] == f"{sandbox.url}/oauth2/default"
    assert out["idClaims"]["sub"] == user["id"] and out["idClaims"]["aud"] == app["id"]

    wrong = judge("authenticate", {**config, "password": "Wr0ng-password"})
    assert wrong["status"] != "SUCCESS" and "Password is incorrect" in wrong["messages"]


def test_auth_js_idx_register_puts_the_user_in_the_self_service_group(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    app = create_idx_spa(api, "auth-js sign-up")
    group = api.post(
        "/api/v1/groups", json={"profile": {"name": f"auth-js signups {secrets.token_hex(3)}"}}
    ).json()
    enrollment_policy(api, app["id"], group["id"], password_first=False)
    email = f"authjs-{secrets.token_hex(3)}@example.com"
    out = judge(
        "register",
        {
            "issuer": f"{sandbox.url}/oauth2/default",
            "clientId": app["id"],
            "redirectUri": REDIRECT,
            "firstName": "Auth",
            "lastName": "Js",
            "email": email,
            "password": "Auth-js-Passw0rd-1",
        },
    )
    assert out["status"] == "SUCCESS", out
    user = api.get(f"/api/v1/users/{email}").json()
    assert user["status"] == "ACTIVE" and out["accessClaims"]["uid"] == user["id"]
    members = {u["id"] for u in api.get(f"/api/v1/groups/{group['id']}/users").json()}
    assert user["id"] in members
