"""Manifests and token helpers shared by the Gloo sandbox tests (the guide's YAML as dicts)."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from oktalab.sandbox.kube.store import ObjectStore

ADMIN = "admin.gloo.solo.io"
SECURITY = "security.policy.gloo.solo.io"
NETWORKING = "networking.gloo.solo.io"
ENTERPRISE = "enterprise.gloo.solo.io"
PORTAL = "portal.gloo.solo.io"
CLUSTER = "cluster1"
# What `export CERT_KEYS={"keys":[...]}` leaves in the variable: bash strips the quotes.
BAD_CERT_KEYS = "{keys:[n:kdhR]}"


class Signer:
    """An RSA key published as a one-key JWKS, and a helper to mint access tokens."""

    def __init__(self, kid: str = "sandbox-kid") -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
        self.jwk = jwk

    @property
    def jwks(self) -> str:
        return json.dumps({"keys": [self.jwk]})

    def token(
        self,
        *,
        kid: str | None = None,
        ttl: int = 300,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body = {
            "iss": "https://sandbox.okta.example/oauth2/default",
            "sub": "user@example.com",
            "iat": now,
            "exp": now + ttl,
        }
        body.update(claims)
        hdr = {"kid": kid if kid is not None else self.kid}
        hdr.update(headers or {})
        return jwt.encode(body, self.key, algorithm="RS256", headers=hdr)


def ext_auth_server(
    name: str = "ext-auth-server", *, port_name: str = "grpc", cluster: str = CLUSTER
) -> dict[str, Any]:
    return {
        "apiVersion": f"{ADMIN}/v2",
        "kind": "ExtAuthServer",
        "metadata": {"name": name, "namespace": "gloo-mesh-addons"},
        "spec": {
            "destinationServer": {
                "ref": {
                    "cluster": cluster,
                    "name": "ext-auth-service",
                    "namespace": "gloo-mesh-addons",
                },
                "port": {"name": port_name},
            }
        },
    }


def ext_auth_policy(
    jwks: str,
    name: str = "oauth-okta",
    *,
    server: str = "ext-auth-server",
    labels: dict[str, str] | None = None,
    extra_atv: dict[str, Any] | None = None,
) -> dict[str, Any]:
    atv: dict[str, Any] = {"jwt": {"localJwks": {"inlineString": jwks}}}
    atv.update(extra_atv or {})
    return {
        "apiVersion": f"{SECURITY}/v2",
        "kind": "ExtAuthPolicy",
        "metadata": {"name": name, "namespace": "gloo-mesh-addons"},
        "spec": {
            "applyToRoutes": [{"route": {"labels": labels or {"oauth": "true"}}}],
            "config": {
                "server": {"name": server, "namespace": "gloo-mesh-addons", "cluster": CLUSTER},
                "glooAuth": {"configs": [{"oauth2": {"accessTokenValidation": atv}}]},
            },
        },
    }


def apply(store: ObjectStore, group: str, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Create or replace (spec changes bump generation, as the API server would)."""
    ns, name = obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
    current = store.get(group, plural, ns, name)
    if current is None:
        return store.create(group, plural, ns, name, obj)
    new = dict(current)
    new["spec"] = obj["spec"]
    new["metadata"] = dict(current["metadata"])
    if current.get("spec") != obj["spec"]:
        new["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
    return store.update(group, plural, ns, name, new)


def status_of(store: ObjectStore, group: str, plural: str, ns: str, name: str) -> dict[str, Any]:
    obj = store.get(group, plural, ns, name)
    assert obj is not None, f"{plural} {ns}/{name} missing"
    return obj.get("status") or {}


def approval(store: ObjectStore, group: str, plural: str, ns: str, name: str) -> str:
    return (
        status_of(store, group, plural, ns, name)
        .get("common", {})
        .get("State", {})
        .get("approval", "")
    )


@dataclass
class LiveGateway:
    store: ObjectStore
    url: str
    port: int


def bound_socket() -> socket.socket:
    """A socket bound to 127.0.0.1 on a free port (so URLs are known before the app exists)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def serve_in_thread(
    app: object, sock: socket.socket | None = None
) -> tuple[uvicorn.Server, threading.Thread, int]:
    """Run an ASGI app with uvicorn on 127.0.0.1 (port 0) in a daemon thread."""
    sock = sock or bound_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", server_header=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    return server, thread, port
