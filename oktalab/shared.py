"""Objects that two parameter sets of one batch both write, decided before any call.

``oktalab run --jobs N`` runs parameter sets concurrently. Two sets may write the same
object: the ``ExtAuthServer`` every guide-1 set applies, the claims, scopes and access
policies of one authorization server, an Okta group, a Trusted Origin of a shared host, a
Kubernetes object of the same kind, namespace and name. Each stage that writes such an
object holds a lock named after it (a *shared-object key*) while it runs, so two stages that
write the same object never run at the same time, and everything else runs in parallel.

The keys are worked out from the validated parameters alone (:func:`stage_objects`), so the
decision is made before the first call and is the same against the sandbox and a real org.
Keys name objects, not stages: ``okta/authorization-server/default``,
``okta/app/Petstore``, ``okta/trusted-origin/portal.localhost``, ``okta/group/PetstoreUsers``,
``okta/policy/<name>``, ``kube/<context>/ExtAuthServer/gloo-mesh-addons/ext-auth-server``.
Only keys that two or more sets of the batch hold become locks (:func:`shared_keys`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

try:
    import fcntl
except ImportError:  # not POSIX: the runner holds the locks around the whole stage instead
    fcntl = None  # type: ignore[assignment]

from . import gloo
from .params import GUIDE_STAGES, ParameterSet

__all__ = [
    "KEYS_ENV",
    "LOCK_DIR_ENV",
    "KeyLocks",
    "file_locks",
    "holding",
    "lock_keys",
    "shared_keys",
    "stage_objects",
]

#: Set by the runner in a stage's kernel: the folder of the run's lock files, and the
#: shared-object keys (a JSON list) that this stage must hold while it writes.
LOCK_DIR_ENV = "OKTALAB_LOCK_DIR"
KEYS_ENV = "OKTALAB_SHARED_KEYS"


def file_locks() -> bool:
    """Whether stages lock in their own kernel (``flock``, POSIX); else the runner holds
    the keys around the whole stage."""
    return fcntl is not None


# placeholders for values that only exist after a call (ids, endpoints, secrets): the
# builders below only need them to produce a manifest whose kind/namespace/name we read
_PLACEHOLDER_URL = "https://placeholder.invalid"


def _host(url: str) -> str:
    """The host of a URL (ports and schemes ignored: conservative, one host is one key)."""
    return (urlsplit(url).hostname or url).lower()


def _kube_key(ps: ParameterSet, manifest: dict[str, Any]) -> str:
    meta = manifest["metadata"]
    where = ps.kubernetes.context or "current-context"
    ns = meta.get("namespace", "")
    return (
        f"kube/{where}/{manifest['kind']}/{ns}/{meta['name']}"
        if ns
        else (f"kube/{where}/{manifest['kind']}/{meta['name']}")
    )


def _origins(ps: ParameterSet) -> set[str]:
    """Hosts of the Trusted Origins the okta_app stage ensures (one per redirect-URI origin;
    a derived redirect URI is on the portal's domain or its public URL)."""
    hosts = {_host(u) for u in ps.app.redirect_uris}
    for section in (ps.portal, ps.gateway_portal):
        if section is None:
            continue
        if not ps.app.redirect_uris:
            hosts.add(section.domain.lower())
        if section.public_url:
            hosts.add(_host(section.public_url))
    return {f"okta/trusted-origin/{h}" for h in hosts}


def _okta_app(ps: ParameterSet) -> set[str]:
    return {f"okta/app/{ps.app.label}"} | _origins(ps)


def _claims(ps: ParameterSet) -> set[str]:
    # claims, scopes and access policies of one authorization server; guide 2's group
    keys = {f"okta/authorization-server/{ps.authorization_server}", f"okta/app/{ps.app.label}"}
    if ps.group is not None:
        keys.add(f"okta/group/{ps.group.name}")
    return keys


def _extauth(ps: ParameterSet) -> set[str]:
    p, cluster = ps.extauth, ps.kubernetes.cluster_name
    return {
        _kube_key(ps, gloo.ext_auth_server(p, cluster=cluster)),
        _kube_key(ps, gloo.ext_auth_policy(p, cluster=cluster, jwks={"keys": []})),
    }


def _portal_groups(ps: ParameterSet) -> set[str]:
    p = ps.gateway_portal
    if p is None:
        return set()
    cluster = ps.kubernetes.cluster_name
    url = _PLACEHOLDER_URL
    manifests = [gloo.api_product_table(p, x, cluster=cluster) for x in p.api_products]
    manifests.append(gloo.portal_route_table(p, cluster=cluster))
    manifests.append(gloo.frontend_config(p, client_id="", authorize=url, token=url, logout=url))
    manifests.append(gloo.platform_portal(p, origin=url))
    manifests.extend(gloo.platform_portal_group(p, g) for g in p.groups)
    return {_kube_key(ps, m) for m in manifests}


def _registration(ps: ParameterSet) -> set[str]:
    keys = {f"okta/app/{ps.app.label}"}
    if ps.registration is not None:
        keys.add(f"okta/policy/{ps.registration.policy_name}")
        keys.add(f"okta/group/{ps.registration.target_group}")
    return keys


def _portal(ps: ParameterSet) -> set[str]:
    p = ps.portal
    if p is None:
        return set()
    url = _PLACEHOLDER_URL
    manifests = [gloo.client_secret_secret(p, "")]
    if p.create_prerequisites:
        manifests += [gloo.api_product(p), gloo.environment(p, url)]
    manifests.append(gloo.portal(p, origin=url, client_id="", issuer=url))
    if ps.group is not None:
        manifests.append(gloo.portal_group(p, ps.group.name))
    return {_kube_key(ps, m) for m in manifests} | {f"okta/app/{ps.app.label}"}


def _nothing(ps: ParameterSet) -> set[str]:
    return set()


#: What each stage writes, as shared-object keys. ``verify`` and ``portal_verify`` write
#: only objects of their own (fresh test users with random logins).
_WRITERS: dict[str, Callable[[ParameterSet], set[str]]] = {
    "okta_app": _okta_app,
    "claims": _claims,
    "extauth": _extauth,
    "portal_groups": _portal_groups,
    "verify": _nothing,
    "registration": _registration,
    "portal": _portal,
    "portal_verify": _nothing,
}


def stage_objects(ps: ParameterSet, stage: str) -> set[str]:
    """Keys of the objects ``stage`` may write for parameter set ``ps`` (no call is made).

    ``teardown`` removes or restores what the guide's stages wrote, and hands objects over
    to sets that use them (their ledgers), so it holds the keys of all of them.
    """
    if stage == "teardown":
        return set().union(*(_WRITERS[s](ps) for s in GUIDE_STAGES[ps.guide]))
    return _WRITERS[stage](ps)


def shared_keys(
    planned: Iterable[tuple[ParameterSet, list[str]]],
) -> dict[tuple[str, str], list[str]]:
    """``{(set name, stage): [key, ...]}``: the keys a stage must hold while it runs.

    Only keys that at least two sets of the batch write are kept (a key of one set alone
    needs no lock). Lists are sorted, so every stage takes its locks in the same order and
    two stages can never wait on each other in a circle.
    """
    per_stage: dict[tuple[str, str], set[str]] = {}
    holders: dict[str, set[str]] = {}
    for ps, stages in planned:
        for stage in stages:
            keys = stage_objects(ps, stage)
            per_stage[(ps.name, stage)] = keys
            for k in keys:
                holders.setdefault(k, set()).add(ps.name)
    shared = {k for k, names in holders.items() if len(names) > 1}
    return {where: sorted(keys & shared) for where, keys in per_stage.items() if keys & shared}


class KeyLocks:
    """One lock per shared-object key; :meth:`hold` takes a stage's keys in sorted order."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    @contextlib.contextmanager
    def hold(
        self,
        keys: list[str],
        *,
        stop: threading.Event | None = None,
        on_wait: Callable[[str], None] | None = None,
        poll: float = 0.2,
    ) -> Iterator[bool]:
        """Hold every lock of ``keys`` (sorted); yields False when ``stop`` was set while
        waiting (nothing is held then), True otherwise. ``on_wait(key)`` is called when a
        key is held by another stage, before waiting for it."""
        held: list[threading.Lock] = []
        try:
            for key in sorted(keys):
                lock = self._lock(key)
                if lock.acquire(blocking=False):
                    held.append(lock)
                    continue
                if on_wait is not None:
                    on_wait(key)
                while not lock.acquire(timeout=poll):
                    if stop is not None and stop.is_set():
                        yield False
                        return
                held.append(lock)
            yield True
        finally:
            for lock in reversed(held):
                lock.release()


def lock_keys() -> list[str]:
    """In a stage's kernel: the shared-object keys the runner handed this stage
    (``$OKTALAB_SHARED_KEYS`` with ``$OKTALAB_LOCK_DIR``), sorted; [] without them or
    without ``flock`` (the runner then holds them around the whole notebook)."""
    if not os.environ.get(LOCK_DIR_ENV) or fcntl is None:
        return []
    try:
        return sorted(json.loads(os.environ.get(KEYS_ENV) or "[]"))
    except ValueError:
        return []


@contextlib.contextmanager
def holding(run_dir: Path, stage: str) -> Iterator[dict[str, Any]]:
    """In a stage's kernel: hold the runner-named keys (``$OKTALAB_SHARED_KEYS``) while the
    stage runs its writes, one ``flock`` per key on ``$OKTALAB_LOCK_DIR/<sha256>.lock``.

    Only the stage function runs under the locks, not the kernel's start, the notebook's
    other cells or papermill's bookkeeping, so two sets' stages on one object overlap in
    everything but their writes. The kernel's exit (Ctrl-C kills it) releases them. Yields
    ``{"keys": [...], "waited": s, "held": s}`` (filled when the block ends) and appends
    the interval to ``run_dir/locks.json`` (epoch seconds) for the report and the tests.
    """
    info: dict[str, Any] = {"keys": [], "waited": 0.0, "held": 0.0}
    lock_dir = os.environ.get(LOCK_DIR_ENV, "")
    keys = lock_keys()
    if not keys:
        yield info
        return
    info["keys"] = keys
    fds: list[int] = []
    t0 = time.time()
    acquired: float | None = None
    try:
        for key in keys:
            name = hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock"
            fd = os.open(Path(lock_dir) / name, os.O_RDWR | os.O_CREAT, 0o600)
            fds.append(fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
        acquired = time.time()
        info["waited"] = acquired - t0
        yield info
    finally:
        released = time.time()
        for fd in reversed(fds):
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        if acquired is not None:
            info["held"] = released - acquired
            log = run_dir / "locks.json"
            try:
                entries = json.loads(log.read_text()) if log.is_file() else []
            except ValueError:
                entries = []
            entries.append(
                {"stage": stage, "keys": keys, "acquired": acquired, "released": released}
            )
            with contextlib.suppress(OSError):
                log.write_text(json.dumps(entries, indent=1))
