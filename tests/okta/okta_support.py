"""Support code for the sandbox Okta org tests: a real server on a loopback port, API helpers."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import httpx
import uvicorn

from oktalab.sandbox.okta import OktaOrg, create_okta_app
from oktalab.sandbox.store import Database

API_TOKEN = "00sandbox-test-token-0123456789abcdef"
USERNAME = "test.user@example.com"
PASSWORD = "Sandb0x-Passw0rd!"


@dataclass
class Sandbox:
    url: str
    token: str
    username: str
    password: str
    org: OktaOrg
    db: Database

    def client(self, **kwargs: object) -> httpx.Client:
        headers = {
            "Authorization": f"SSWS {self.token}",
            "Accept": "application/json",
        }
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


class ServerThread:
    """uvicorn on a pre-bound socket in a daemon thread."""

    def __init__(self, app: object) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # inherited by accepted sockets: no 40 ms Nagle/delayed-ACK stall per keep-alive request
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.app = app
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(self.app, log_level="critical", lifespan="off")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("sandbox did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def start_sandbox(db: Database) -> tuple[Sandbox, ServerThread]:
    holder = ServerThread(None)
    url = f"http://127.0.0.1:{holder.port}"
    org = OktaOrg(db, org_url=url)
    org.seed(api_token=API_TOKEN, test_username=USERNAME, test_password=PASSWORD)
    holder.app = create_okta_app(org)
    holder.start()
    return Sandbox(url, API_TOKEN, USERNAME, PASSWORD, org, db), holder


# ---- helpers shared by the test modules -------------------------------------------------------------

REDIRECT = "http://portal.example.com/callback"
LOGOUT = "http://portal.example.com/logout"


def everyone_id(api: httpx.Client) -> str:
    groups = api.get("/api/v1/groups", params={"filter": 'type eq "BUILT_IN"'}).json()
    return next(g["id"] for g in groups if g["profile"]["name"] == "Everyone")


def create_spa(api: httpx.Client, label: str, *, leeway: int = 30, assign: bool = True) -> dict:
    body = {
        "name": "oidc_client",
        "label": label,
        "signOnMode": "OPENID_CONNECT",
        "credentials": {
            "oauthClient": {
                "token_endpoint_auth_method": "none",
                "pkce_required": True,
                "autoKeyRotation": True,
            }
        },
        "settings": {
            "oauthClient": {
                "application_type": "browser",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "redirect_uris": [REDIRECT],
                "post_logout_redirect_uris": [LOGOUT],
                "refresh_token": {"rotation_type": "ROTATE", "leeway": leeway},
            }
        },
    }
    r = api.post("/api/v1/apps", params={"activate": "true"}, json=body)
    assert r.status_code == 200, r.text
    app = r.json()
    if assign:
        assert (
            api.put(f"/api/v1/apps/{app['id']}/groups/{everyone_id(api)}", json={}).status_code
            == 200
        )
    return app


def create_web(
    api: httpx.Client,
    label: str,
    *,
    method: str = "client_secret_basic",
    grants: list[str] | None = None,
    assign: bool = True,
) -> dict:
    body = {
        "name": "oidc_client",
        "label": label,
        "signOnMode": "OPENID_CONNECT",
        "credentials": {"oauthClient": {"token_endpoint_auth_method": method}},
        "settings": {
            "oauthClient": {
                "application_type": "web",
                "grant_types": grants or ["authorization_code"],
                "response_types": ["code"],
                "redirect_uris": [REDIRECT],
                "post_logout_redirect_uris": [LOGOUT],
            }
        },
    }
    r = api.post("/api/v1/apps", json=body)
    assert r.status_code == 200, r.text
    app = r.json()
    if assign:
        assert (
            api.put(f"/api/v1/apps/{app['id']}/groups/{everyone_id(api)}", json={}).status_code
            == 200
        )
    return app


def session_token(
    sandbox: Sandbox, username: str | None = None, password: str | None = None
) -> str:
    r = httpx.post(
        f"{sandbox.url}/api/v1/authn",
        json={"username": username or sandbox.username, "password": password or sandbox.password},
    )
    assert r.status_code == 200, r.text
    return r.json()["sessionToken"]


def create_service(api: httpx.Client, label: str, **oauth: object) -> dict:
    """A service app (client_credentials, client secret or ``jwks`` → private_key_jwt)."""
    body = {
        "name": "oidc_client",
        "label": label,
        "signOnMode": "OPENID_CONNECT",
        "credentials": {"oauthClient": {"token_endpoint_auth_method": "client_secret_basic"}},
        "settings": {
            "oauthClient": {
                "application_type": "service",
                "grant_types": ["client_credentials"],
                "response_types": ["token"],
                **oauth,
            }
        },
    }
    if "jwks" in oauth:
        body["credentials"]["oauthClient"]["token_endpoint_auth_method"] = "private_key_jwt"
    r = api.post("/api/v1/apps", json=body)
    assert r.status_code == 200, r.text
    return r.json()
