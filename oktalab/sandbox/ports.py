"""Stable sandbox ports: the same URLs after a restart, so re-runs change nothing.

The app's redirect URIs, the portal's domains and the issuer all carry a port. A sandbox
that came back on new ports would make the next run "update" them. So the ports chosen at
the first start are kept in ``ports.json`` in the state dir and taken again when free.
``OKTALAB_SANDBOX_{OKTA,KUBE,GATEWAY}_PORT`` still win; a remembered port that is now taken
falls back to a new free one (and is remembered instead).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

NAMES = ("okta", "kube", "gateway")


def bind_stable(state_dir: Path, bind: Callable[[int], socket.socket]) -> dict[str, socket.socket]:
    path = state_dir / "ports.json"
    remembered: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        remembered = {k: int(v) for k, v in json.loads(path.read_text()).items()}
    socks: dict[str, socket.socket] = {}
    for name in NAMES:
        forced = os.environ.get(f"OKTALAB_SANDBOX_{name.upper()}_PORT")
        if forced:
            socks[name] = bind(int(forced))
            continue
        port = remembered.get(name, 0)
        try:
            socks[name] = bind(port)
        except OSError:
            socks[name] = bind(0)
    path.write_text(json.dumps({n: s.getsockname()[1] for n, s in socks.items()}))
    return socks
