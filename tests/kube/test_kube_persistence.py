"""Crash safety: every acknowledged write survives ``kill -9`` of the server process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TOKEN = "persist-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(db: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oktalab.sandbox.kube.devserver",
            "--db",
            str(db),
            "--port",
            str(port),
            "--token",
            TOKEN,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if (
                httpx.get(
                    f"http://127.0.0.1:{port}/version", headers={"Authorization": f"Bearer {TOKEN}"}
                ).status_code
                == 200
            ):
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
        if proc.poll() is not None:
            raise AssertionError(
                f"devserver exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
    proc.kill()
    raise AssertionError("devserver did not start")


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "state" / "sandbox.db"
    port = _free_port()
    proc = _start(db, port)
    acked: dict[str, str] = {}
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:
            for i in range(40):
                r = http.post(
                    "/api/v1/namespaces/default/configmaps",
                    json={"metadata": {"name": f"c{i}"}, "data": {"i": str(i)}},
                )
                assert r.status_code == 201
                acked[f"c{i}"] = r.json()["metadata"]["resourceVersion"]
            r = http.patch(
                "/api/v1/namespaces/default/configmaps/c0",
                content='{"data":{"i":"patched"}}',
                headers={"Content-Type": "application/merge-patch+json"},
            )
            acked["c0"] = r.json()["metadata"]["resourceVersion"]
            assert http.delete("/api/v1/namespaces/default/configmaps/c1").status_code == 200
            del acked["c1"]
            last_rv = int(
                http.get("/api/v1/namespaces/default/configmaps").json()["metadata"][
                    "resourceVersion"
                ]
            )
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    proc = _start(db, port)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:
            items = http.get("/api/v1/namespaces/default/configmaps").json()["items"]
            assert {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in items} == acked
            assert next(i for i in items if i["metadata"]["name"] == "c0")["data"] == {
                "i": "patched"
            }
            r = http.post(
                "/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "after"}}
            )
            assert int(r.json()["metadata"]["resourceVersion"]) > last_rv
    finally:
        proc.terminate()
        proc.wait(timeout=10)
