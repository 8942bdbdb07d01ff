"""Kubernetes access through the official client: ensure (create / update / unchanged), wait, delete.

Every object oktalab writes carries two labels, ``app.kubernetes.io/managed-by: oktalab``
and ``oktalab.io/parameter-set: <name>``; teardown deletes only objects carrying both, so it
never removes what someone else made (or what another parameter set made).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s, config as k8s_config
from kubernetes.client.exceptions import ApiException

from .errors import ConfigurationError, KubeAPIError, NotAcceptedError, Timeout

Obj = dict[str, Any]
MANAGED_BY = "app.kubernetes.io/managed-by"
PARAMETER_SET = "oktalab.io/parameter-set"


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in [
        Kind("", "v1", "secrets", "Secret"),
        Kind("", "v1", "namespaces", "Namespace", namespaced=False),
        Kind("admin.gloo.solo.io", "v2", "extauthservers", "ExtAuthServer"),
        Kind("security.policy.gloo.solo.io", "v2", "extauthpolicies", "ExtAuthPolicy"),
        Kind("enterprise.gloo.solo.io", "v1", "authconfigs", "AuthConfig"),
        Kind("networking.gloo.solo.io", "v2", "routetables", "RouteTable"),
        Kind("networking.gloo.solo.io", "v2", "virtualgateways", "VirtualGateway"),
        Kind("portal.gloo.solo.io", "v1beta1", "portals", "Portal"),
        Kind("portal.gloo.solo.io", "v1beta1", "groups", "Group"),
        Kind("portal.gloo.solo.io", "v1beta1", "apiproducts", "APIProduct"),
        Kind("portal.gloo.solo.io", "v1beta1", "environments", "Environment"),
    ]
}


def owner_labels(parameter_set: str) -> dict[str, str]:
    return {MANAGED_BY: "oktalab", PARAMETER_SET: parameter_set}


def is_subset(want: Any, have: Any) -> bool:
    """True when every value in ``want`` is present and equal in ``have`` (server defaults ignored)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            k in have and is_subset(v, have[k]) for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(is_subset(a, b) for a, b in zip(want, have, strict=True))
        )
    return bool(want == have)


class Kube:
    """A thin, typed wrapper over ``kubernetes.client`` for the kinds the guides use."""

    def __init__(self, kubeconfig: str | None, *, context: str | None = None) -> None:
        try:
            self.api_client = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context
            )
        except (k8s_config.ConfigException, OSError, TypeError) as exc:
            raise ConfigurationError(f"cannot load kubeconfig {kubeconfig!r}: {exc}") from None
        self.core = k8s.CoreV1Api(self.api_client)
        self.custom = k8s.CustomObjectsApi(self.api_client)

    def close(self) -> None:
        self.api_client.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- raw access -------------------------------------------------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            reason, message = "", exc.reason or ""
            try:
                body = json.loads(exc.body or "{}")
                if body.get("kind") == "Status":
                    reason, message = body.get("reason", ""), body.get("message", "")
            except (ValueError, AttributeError):
                pass
            raise KubeAPIError(
                status=exc.status or 0, reason=reason, message=message, method=fn.__name__
            ) from None

    def get(self, kind: str, name: str, namespace: str = "") -> Obj | None:
        k = KINDS[kind]
        try:
            if not k.group:
                if kind == "Secret":
                    obj = self._call(self.core.read_namespaced_secret, name, namespace)
                else:
                    obj = self._call(self.core.read_namespace, name)
                return self.api_client.sanitize_for_serialization(obj)
            return self._call(
                self.custom.get_namespaced_custom_object,
                k.group,
                k.version,
                namespace,
                k.plural,
                name,
            )
        except KubeAPIError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str, label_selector: str | None = None) -> list[Obj]:
        k = KINDS[kind]
        if kind == "Secret":
            res = self._call(
                self.core.list_namespaced_secret, namespace, label_selector=label_selector
            )
            return [self.api_client.sanitize_for_serialization(i) for i in res.items]
        res = self._call(
            self.custom.list_namespaced_custom_object,
            k.group,
            k.version,
            namespace,
            k.plural,
            label_selector=label_selector or "",
        )
        return list(res.get("items", []))

    def create(self, manifest: Obj) -> Obj:
        k = KINDS[manifest["kind"]]
        ns = manifest["metadata"].get("namespace", "")
        if kind_is_secret(manifest):
            return self.api_client.sanitize_for_serialization(
                self._call(self.core.create_namespaced_secret, ns, manifest)
            )
        return self._call(
            self.custom.create_namespaced_custom_object, k.group, k.version, ns, k.plural, manifest
        )

    def replace(self, manifest: Obj) -> Obj:
        k = KINDS[manifest["kind"]]
        meta = manifest["metadata"]
        if kind_is_secret(manifest):
            return self.api_client.sanitize_for_serialization(
                self._call(
                    self.core.replace_namespaced_secret, meta["name"], meta["namespace"], manifest
                )
            )
        return self._call(
            self.custom.replace_namespaced_custom_object,
            k.group,
            k.version,
            meta["namespace"],
            k.plural,
            meta["name"],
            manifest,
        )

    def delete(self, kind: str, name: str, namespace: str) -> bool:
        k = KINDS[kind]
        try:
            if kind == "Secret":
                self._call(self.core.delete_namespaced_secret, name, namespace)
            else:
                self._call(
                    self.custom.delete_namespaced_custom_object,
                    k.group,
                    k.version,
                    namespace,
                    k.plural,
                    name,
                )
            return True
        except KubeAPIError as exc:
            if exc.status == 404:
                return False
            raise

    # -- idempotent writes ------------------------------------------------------------------
    def ensure(self, manifest: Obj, parameter_set: str) -> tuple[str, Obj]:
        """Create the object, or bring it to ``manifest``; returns (created|updated|unchanged, live).

        A new object gets this parameter set's ownership labels. An existing one keeps its
        owner (another parameter set, or nobody): only its content is brought in line, so a
        later teardown of this set never removes what it did not create.
        """
        manifest = copy.deepcopy(manifest)
        meta = manifest.setdefault("metadata", {})
        live = self.get(manifest["kind"], meta["name"], meta.get("namespace", ""))
        if live is None:
            meta.setdefault("labels", {}).update(owner_labels(parameter_set))
            return "created", self.create(manifest)
        content_keys = [
            k for k in manifest if k not in ("apiVersion", "kind", "metadata", "status")
        ]
        want = {k: manifest[k] for k in content_keys}
        want_meta = {"labels": meta.get("labels", {}), "annotations": meta.get("annotations", {})}
        live_meta = live.get("metadata", {})
        if is_subset(want, {k: live.get(k) for k in content_keys}) and is_subset(
            {k: v for k, v in want_meta.items() if v},
            {
                "labels": live_meta.get("labels") or {},
                "annotations": live_meta.get("annotations") or {},
            },
        ):
            return "unchanged", live
        updated = copy.deepcopy(live)
        for k in content_keys:
            updated[k] = manifest[k]
        for k in ("labels", "annotations"):
            if meta.get(k):
                updated["metadata"][k] = {**(live_meta.get(k) or {}), **meta[k]}
        return "updated", self.replace(updated)

    def wait(
        self,
        kind: str,
        name: str,
        namespace: str,
        check: Callable[[Obj | None], bool],
        *,
        timeout: float,
        what: str,
    ) -> Obj:
        """Poll until ``check(obj)`` is True (it may raise NotAcceptedError to stop early)."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            obj = self.get(kind, name, namespace)
            if check(obj):
                assert obj is not None
                return obj
            if time.monotonic() >= deadline:
                raise Timeout(
                    f"timed out after {timeout:.0f}s waiting for {kind} {namespace}/{name} to be {what}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def kind_is_secret(manifest: Obj) -> bool:
    return manifest.get("kind") == "Secret" and manifest.get("apiVersion") == "v1"


def gmg_state(obj: Obj | None) -> tuple[str, str, int | None]:
    """(approval, message, observedGeneration) of a GMG v2 resource status."""
    st = ((obj or {}).get("status") or {}).get("common", {}).get("State", {})
    return st.get("approval", "PENDING"), st.get("message", ""), st.get("observedGeneration")


def accepted_check(kind: str) -> Callable[[Obj | None], bool]:
    """For GMG v2 kinds: ACCEPTED at the current generation; INVALID/FAILED raise."""

    def check(obj: Obj | None) -> bool:
        if obj is None:
            return False
        approval, message, observed = gmg_state(obj)
        current = obj["metadata"].get("generation")
        if observed is not None and current is not None and observed != current:
            return False
        if approval == "ACCEPTED":
            return True
        if approval in ("INVALID", "FAILED", "UNLICENSED"):
            raise NotAcceptedError(
                kind,
                f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}",
                approval,
                message,
            )
        return False

    return check


def authconfig_state(obj: Obj | None) -> tuple[str, str]:
    """(state, reason) from solo-kit ``status.statuses.<ns>`` (any reporter)."""
    statuses = ((obj or {}).get("status") or {}).get("statuses") or {}
    for st in statuses.values():
        state = st.get("state", "Pending")
        if isinstance(state, int):
            state = {0: "Pending", 1: "Accepted", 2: "Rejected", 3: "Warning"}.get(
                state, str(state)
            )
        return str(state), st.get("reason", "")
    return "Pending", ""
