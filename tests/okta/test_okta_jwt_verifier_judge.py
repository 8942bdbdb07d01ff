"""Okta's own token verifier for Python (``okta-jwt-verifier``, PyPI) judges the sandbox's
tokens: it accepts an access token and an ID token from a real sign-in, and refuses a forged
one and an expired one. The verifier insists on an ``https://`` issuer, so this org is served
over TLS (the sandbox's self-signed serving certificate, trusted through ``SSL_CERT_FILE`` and
``REQUESTS_CA_BUNDLE``, the variables httpx and requests read)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import uvicorn
from okta_support import (
    API_TOKEN,
    PASSWORD,
    REDIRECT,
    USERNAME,
    Sandbox,
    ServerThread,
    create_spa,
)

from oktalab.sandbox.kube.tls import ensure_serving_cert
from oktalab.sandbox.okta import OktaOrg, create_okta_app, tokens
from oktalab.sandbox.store import Database


class TLSServerThread(ServerThread):
    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__(None)
        self.cert, self.key = cert, key

    def start(self) -> None:
        config = uvicorn.Config(
            self.app,  # type: ignore[arg-type]
            log_level="critical",
            lifespan="off",
            ssl_certfile=str(self.cert),
            ssl_keyfile=str(self.key),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            assert time.time() < deadline, "TLS sandbox did not start"
            time.sleep(0.01)


@pytest.fixture(scope="module")
def tls_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, OktaOrg, Path]]:
    home = tmp_path_factory.mktemp("okta-tls")
    cert = ensure_serving_cert(home / "pki")
    holder = TLSServerThread(cert.cert_file, cert.key_file)
    url = f"https://127.0.0.1:{holder.port}"
    db = Database(home / "okta.db")
    org = OktaOrg(db, org_url=url)
    org.seed(api_token=API_TOKEN, test_username=USERNAME, test_password=PASSWORD)
    holder.app = create_okta_app(org)
    holder.start()
    try:
        yield url, org, cert.cert_file
    finally:
        holder.stop()
        db.close()


@pytest.fixture
def trusted(tls_org: tuple[str, OktaOrg, Path], monkeypatch: pytest.MonkeyPatch) -> str:
    url, _, ca = tls_org
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    return url


def _sign_in(url: str) -> tuple[str, dict]:
    with httpx.Client(base_url=url, headers={"Authorization": f"SSWS {API_TOKEN}"}) as api:
        client_id = create_spa(api, f"judge-{time.time_ns()}")["id"]
    session = httpx.post(f"{url}/api/v1/authn", json={"username": USERNAME, "password": PASSWORD})
    verifier = "j" * 64
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )
    params = {
        "client_id": client_id,
        "response_type": "code",
        "scope": "openid profile",
        "redirect_uri": REDIRECT,
        "state": "s",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "sessionToken": session.json()["sessionToken"],
    }
    loc = httpx.get(f"{url}/oauth2/default/v1/authorize?{urlencode(params)}").headers["location"]
    tok = httpx.post(
        f"{url}/oauth2/default/v1/token",
        data={
            "grant_type": "authorization_code",
            "redirect_uri": REDIRECT,
            "code": parse_qs(urlsplit(loc).query)["code"][0],
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
    assert tok.status_code == 200, tok.text
    return client_id, tok.json()


def test_okta_jwt_verifier_accepts_real_tokens_and_refuses_forged_and_expired(
    trusted: str, tls_org: tuple[str, OktaOrg, Path]
) -> None:
    pytest.importorskip("okta_jwt_verifier", reason="okta-jwt-verifier is not installed")
    from okta_jwt_verifier import AccessTokenVerifier, IDTokenVerifier
    from okta_jwt_verifier.exceptions import JWTValidationException

    url, org, _ = tls_org
    issuer = f"{url}/oauth2/default"
    client_id, tok = _sign_in(url)
    at = AccessTokenVerifier(issuer=issuer, audience="api://default")
    at.verify_sync(tok["access_token"])
    IDTokenVerifier(issuer=issuer, client_id=client_id, audience="api://default").verify_sync(
        tok["id_token"], nonce="n"
    )

    head, body, sig = tok["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "attacker@example.com"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(JWTValidationException):
        at.verify_sync(f"{head}.{forged}.{sig}")

    # expired: signed by the org's own key an hour ago, beyond the verifier's 120 s leeway
    server = org.get("authserver", org.meta("default_as") or "")
    expired_claims = {
        **claims,
        "sub": USERNAME,
        "iat": int(time.time()) - 7200,
        "exp": int(time.time()) - 3600,
    }
    expired = tokens.sign(org, server, expired_claims)
    with pytest.raises(JWTValidationException) as info:
        at.verify_sync(expired)
    assert "expired" in str(info.value).lower()
    # a token for another audience is refused too
    with pytest.raises(JWTValidationException):
        AccessTokenVerifier(issuer=issuer, audience="api://other").verify_sync(tok["access_token"])


JS = Path(__file__).resolve().parent.parent / "js"


def _node_judge(payload: dict) -> dict[str, str]:
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "@okta" / "jwt-verifier").is_dir():
        pytest.skip("node or @okta/jwt-verifier is not installed (make js: npm ci in tests/js)")
    proc = subprocess.run(
        [node, str(JS / "jwt_verifier_judge.mjs"), json.dumps(payload)],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_okta_jwt_verifier_for_node_accepts_real_tokens_and_refuses_forged_and_expired(
    sandbox: Sandbox,
) -> None:
    """@okta/jwt-verifier (npm) against the plain-http sandbox (its documented testing switch)."""
    org = sandbox.org
    issuer = f"{sandbox.url}/oauth2/default"
    client_id, tok = _sign_in(sandbox.url)
    head, body, sig = tok["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged_body = {**claims, "sub": "attacker@example.com"}
    forged = base64.urlsafe_b64encode(json.dumps(forged_body).encode()).rstrip(b"=").decode()
    server = org.get("authserver", org.meta("default_as") or "")
    expired = tokens.sign(
        org, server, {**claims, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}
    )
    got = _node_judge(
        {
            "issuer": issuer,
            "audience": "api://default",
            "clientId": client_id,
            "access": {
                "valid": tok["access_token"],
                "forged": f"{head}.{forged}.{sig}",
                "expired": expired,
            },
            "id": {"id_token": {"token": tok["id_token"], "nonce": "n"}},
        }
    )
    assert got["valid"] == "ok" and got["id_token"] == "ok", got
    assert "signature" in got["forged"].lower(), got
    assert "expired" in got["expired"].lower(), got
