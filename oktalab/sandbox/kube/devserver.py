"""Serve only the Kubernetes API on a state file: ``python -m oktalab.sandbox.kube.devserver``.

Used by the crash-persistence test (it needs a process to ``kill -9``) and for poking at the
server with a real kubectl while debugging.
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import uvicorn

from ..store import Database
from .api import create_kube_app
from .store import ObjectStore
from .tls import ensure_serving_cert, kubeconfig


def listen_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A bound TCP socket for ``uvicorn.Server.serve(sockets=[...])``.

    The protocol must be given explicitly: asyncio only sets ``TCP_NODELAY`` on accepted
    sockets whose ``proto`` is ``IPPROTO_TCP``, and ``socket.socket()`` leaves it 0, which
    makes every keep-alive response wait ~40 ms for a delayed ACK (Nagle).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True, help="SQLite file (created when missing)")
    parser.add_argument("--port", type=int, default=6443)
    parser.add_argument("--token", required=True)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--tls-dir", help="serve HTTPS with a self-signed cert kept here (kubectl needs it)"
    )
    parser.add_argument("--kubeconfig", help="write a kubeconfig for this server to this path")
    args = parser.parse_args(argv)
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    store = ObjectStore(Database(args.db))
    app = create_kube_app(store, token=args.token)
    ssl: dict[str, str] = {}
    ca_data = None
    if args.tls_dir:
        cert = ensure_serving_cert(args.tls_dir)
        ssl = {"ssl_certfile": str(cert.cert_file), "ssl_keyfile": str(cert.key_file)}
        ca_data = cert.ca_data
    if args.kubeconfig:
        scheme = "https" if ssl else "http"
        Path(args.kubeconfig).write_text(
            kubeconfig(f"{scheme}://127.0.0.1:{args.port}", args.token, ca_data)
        )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level, **ssl)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
