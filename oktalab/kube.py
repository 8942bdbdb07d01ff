"""Kubernetes access through the official client: server-side apply, discovery, ownership.

Writes
    Every object oktalab writes is sent as a **server-side apply** (``PATCH`` with
    ``Content-Type: application/apply-patch+yaml``, a JSON body, ``fieldManager=oktalab``,
    ``fieldValidation=Strict``), as the API server documents it ("Server-Side Apply",
    kubernetes.io/docs/reference/using-api/server-side-apply/). So an unknown or misspelt
    field is refused with its path, a setting dropped from the parameters is removed (SSA
    removes fields the manager owned and no longer applies), a field owned by another
    manager is a conflict naming that manager, and ``unchanged`` means the server changed
    nothing: the ``resourceVersion`` did not move. ``force`` (``--force-conflicts`` in
    kubectl) is an explicit argument of :meth:`Kube.apply`, off by default; ``dry_run``
    sends ``dryRun=All``.

Ownership
    Every object oktalab writes carries ``app.kubernetes.io/managed-by: oktalab`` and
    ``oktalab.io/parameter-set: <name>``. :meth:`Kube.apply_owned` never changes an existing
    object without this parameter set's labels: it computes what would change with a
    server-side dry run and raises :class:`NotOwnedError` naming the owner and the fields,
    unless the caller adopts the object explicitly.

Kinds
    Resolved from the server's discovery documents as kubectl does (aggregated discovery
    ``apidiscovery.k8s.io/v2`` when served, else the legacy ``/api`` + ``/apis`` lists), by
    kind, plural, singular or short name; a kind the cluster does not serve raises
    :class:`KindNotServed` naming the Gloo component that is missing.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kubernetes import config as k8s_config

from .errors import ConfigurationError, KubeAPIError, NotAcceptedError, OktalabError, Timeout
from .writegate import before_write

Obj = dict[str, Any]
Objs = list[Obj]
MANAGED_BY = "app.kubernetes.io/managed-by"
PARAMETER_SET = "oktalab.io/parameter-set"
FIELD_MANAGER = "oktalab"
#: How often a non-apply write that met a 409 (stale resourceVersion) is retried after a
#: re-read; kubectl's client-side apply uses the same number (``maxPatchRetry``).
MAX_CONFLICT_RETRIES = 5

AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


@dataclass(frozen=True)
class Kind:
    """One served resource: ``group`` ("" for the core API), ``version``, ``plural``, ``kind``."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    singular: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str = "", name: str = "") -> str:
        """The REST path of the collection (``name`` empty) or of one object."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base

    def names(self) -> set[str]:
        return {self.kind.lower(), self.plural, self.singular, *self.short_names} - {""}


@dataclass(frozen=True)
class Expected:
    """Where oktalab looks for a kind: API groups in order of preference, and what installs it."""

    groups: tuple[str, ...]
    component: str


#: The kinds oktalab reads or writes. AuthConfig moved from ``enterprise.gloo.solo.io`` (Gloo
#: Mesh 2.5, solo-apis gloo-mesh-v2.5.x) to ``extauth.solo.io`` (gloo-platform-crds 2.14.0,
#: ``crd/gloo-mesh-extauth-solo-io-v1-crds.yaml``), so both are searched, newest first.
EXPECTED: dict[str, Expected] = {
    "Secret": Expected(("",), "the Kubernetes core API"),
    "Namespace": Expected(("",), "the Kubernetes core API"),
    "Service": Expected(("",), "the Kubernetes core API"),
    "ExtAuthServer": Expected(
        ("admin.gloo.solo.io",), "Gloo Platform (the gloo-platform-crds chart, admin.gloo.solo.io)"
    ),
    "ExtAuthPolicy": Expected(
        ("security.policy.gloo.solo.io",),
        "Gloo Platform security policies (gloo-platform-crds, security.policy.gloo.solo.io)",
    ),
    "AuthConfig": Expected(
        ("extauth.solo.io", "enterprise.gloo.solo.io"),
        "Gloo's ext-auth AuthConfig CRD (gloo-platform-crds with installEnterpriseCrds, "
        "or Gloo Edge Enterprise)",
    ),
    "RouteTable": Expected(("networking.gloo.solo.io",), "Gloo Platform networking"),
    "VirtualGateway": Expected(("networking.gloo.solo.io",), "Gloo Platform networking"),
    "Portal": Expected(("portal.gloo.solo.io",), "Gloo Portal 1.x (portal.gloo.solo.io CRDs)"),
    "Group": Expected(("portal.gloo.solo.io",), "Gloo Portal 1.x (portal.gloo.solo.io CRDs)"),
    "APIProduct": Expected(("portal.gloo.solo.io",), "Gloo Portal 1.x (portal.gloo.solo.io CRDs)"),
    "Environment": Expected(("portal.gloo.solo.io",), "Gloo Portal 1.x (portal.gloo.solo.io CRDs)"),
    # Gloo Platform Portal (guide 1); its Portal is addressed as Portal.apimanagement.gloo.solo.io
    "PortalGroup": Expected(
        ("apimanagement.gloo.solo.io",), "Gloo Platform Portal (apimanagement.gloo.solo.io CRDs)"
    ),
    "ConfigMap": Expected(("",), "the Kubernetes core API"),
}


class KindNotServed(ConfigurationError):
    """The cluster's discovery documents list no such kind: a Gloo component is not installed."""

    def __init__(self, kind: str, groups: Iterable[str], component: str) -> None:
        self.kind = kind
        where = ", ".join(g or "core" for g in groups)
        super().__init__(
            f"the cluster serves no {kind} (looked in {where} via API discovery): "
            f"{component} is not installed"
        )


class NotOwnedError(OktalabError):
    """An existing object lacks this parameter set's labels and applying would change it.

    ``owner`` describes who holds it (labels, field managers); ``fields`` are the dotted
    paths a server-side dry-run apply would change. Nothing was written.
    """

    def __init__(self, kind: str, name: str, owner: str, fields: list[str], hint: str) -> None:
        self.kind, self.name, self.owner, self.fields = kind, name, owner, fields
        shown = ", ".join(fields[:8]) + (f" (+{len(fields) - 8} more)" if len(fields) > 8 else "")
        super().__init__(
            f"{kind} {name} is not owned by this parameter set ({owner}); "
            f"applying would change {shown}; left unchanged. {hint}"
        )


class ApplyConflict(KubeAPIError):
    """Server-side apply met fields owned by other field managers (HTTP 409)."""

    def __init__(self, *, managers: list[str], fields: list[str], message: str) -> None:
        self.managers = managers
        self.fields = fields
        super().__init__(status=409, reason="Conflict", message=message, method="apply")


ApplyAction = Literal["created", "updated", "unchanged", "adopted"]


@dataclass(frozen=True)
class ApplyResult:
    """What one apply did. ``live`` is the object the server returned (not shown in repr:
    it may be a Secret); ``changed`` the dotted paths that differ from before (never values)."""

    action: ApplyAction
    live: Obj = field(repr=False)
    changed: tuple[str, ...] = ()
    dry_run: bool = False


def owner_labels(parameter_set: str) -> dict[str, str]:
    return {MANAGED_BY: "oktalab", PARAMETER_SET: parameter_set}


def owned_by(obj: Obj | None, parameter_set: str) -> bool:
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY) == "oktalab" and labels.get(PARAMETER_SET) == parameter_set


def describe_owner(obj: Obj) -> str:
    """Who holds an object, from its labels and ``metadata.managedFields`` (never values)."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    parts = []
    if labels.get(MANAGED_BY):
        who = labels[MANAGED_BY]
        if labels.get(PARAMETER_SET):
            who += f" parameter set {labels[PARAMETER_SET]!r}"
        parts.append(f"managed-by {who}")
    else:
        parts.append("no oktalab labels")
    managers = sorted(
        {
            f"{e.get('manager', '?')} ({e.get('operation', '?')})"
            for e in meta.get("managedFields") or []
        }
    )
    if managers:
        parts.append("field managers " + ", ".join(managers))
    return "; ".join(parts)


_IGNORED_META = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid")


def diff_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Dotted paths where ``after`` differs from ``before`` (status and bookkeeping ignored)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after)):
            if not prefix and key == "status":
                continue
            if prefix == ".metadata" and key in _IGNORED_META:
                continue
            out += diff_paths(before.get(key), after.get(key), f"{prefix}.{key}")
        return out
    return [] if before == after else [prefix or "."]


def _redact(exc: KubeAPIError, secret: Obj) -> None:
    """Remove a Secret's values (data, base64-decoded data, stringData) from an error, in place."""
    values: set[str] = set()
    for key in ("data", "stringData"):
        for v in (secret.get(key) or {}).values():
            if isinstance(v, str) and v:
                values.add(v)
                if key == "data":
                    try:
                        values.add(base64.b64decode(v).decode())
                    except (ValueError, UnicodeDecodeError):
                        pass
    text = str(exc.args[0]) if exc.args else ""
    for v in sorted(values, key=len, reverse=True):
        if len(v) >= 4:  # shorter strings would mangle the message without hiding anything
            text = text.replace(v, "[redacted]")
    exc.args = (text,)


#: How long an object read by this client stays good for its next read (seconds): long enough
#: for a stage's status wait right after an unchanged apply, short enough never to serve a
#: later step (an interactive session keeps its client for hours).
FRESH_SECONDS = 10.0


class Discovery:
    """The resources a cluster serves, read from its discovery documents once (then cached).

    ``refresh()`` re-reads them; :meth:`Kube.kind` does so once on a miss, as kubectl resets
    its cached mapper when a kind is not found.
    """

    def __init__(
        self,
        fetch: Callable[[str, str], tuple[Any, str]],
        *,
        cache: Path | None = None,
        server: str = "",
    ) -> None:
        self._fetch = fetch
        self._kinds: list[Kind] | None = None
        #: a file keeping the aggregated discovery documents of ``server`` for the next
        #: client (the stages of one run each start a process; kubectl keeps a cache too)
        self._cache = cache
        self._server = server
        self._stale = False

    def refresh(self) -> None:
        self._kinds = None
        self._stale = True  # a miss: read the server, not the cache

    @property
    def kinds(self) -> list[Kind]:
        if self._kinds is None:
            self._kinds = self._load()
        return self._kinds

    def _documents(self) -> list[tuple[str, Any, str]]:
        """(path, body, Content-Type) of ``/api`` and ``/apis``, from the cache file when it
        holds this server's aggregated documents, else from the server (then cached)."""
        if self._cache is not None and not self._stale:
            try:
                kept = json.loads(self._cache.read_text())
                if kept.get("server") == self._server:
                    return [(p, b, c) for p, b, c in kept["documents"]]
            except (OSError, ValueError, KeyError, TypeError):
                pass
        docs = []
        for path in ("/api", "/apis"):
            try:
                body, ctype = self._fetch(path, AGGREGATED_ACCEPT)
            except KubeAPIError as exc:
                if exc.status == 404:
                    continue
                raise
            docs.append((path, body, ctype))
        aggregated = all("as=APIGroupDiscoveryList" in c for _, _, c in docs)
        if self._cache is not None and docs and aggregated:
            with contextlib.suppress(OSError):
                self._cache.write_text(json.dumps({"server": self._server, "documents": docs}))
        self._stale = False
        return docs

    def _load(self) -> list[Kind]:
        out: list[Kind] = []
        for path, body, ctype in self._documents():
            if "as=APIGroupDiscoveryList" in ctype:
                out += _aggregated(body)
            elif path == "/api":
                for v in body.get("versions") or []:
                    out += self._legacy("", v, f"/api/{v}")
            else:
                for g in body.get("groups") or []:
                    pref = (g.get("preferredVersion") or {}).get("version")
                    versions = [v["version"] for v in g.get("versions") or []]
                    for v in sorted(versions, key=lambda v: v != pref):
                        out += self._legacy(g["name"], v, f"/apis/{g['name']}/{v}")
        return out

    def _legacy(self, group: str, version: str, path: str) -> list[Kind]:
        body, _ = self._fetch(path, "application/json")
        return [
            Kind(
                group,
                version,
                r["name"],
                r["kind"],
                bool(r.get("namespaced")),
                tuple(r.get("shortNames") or ()),
                r.get("singularName") or "",
            )
            for r in body.get("resources") or []
            if "/" not in r["name"]
        ]

    def find(self, name: str, groups: Iterable[str] | None = None) -> list[Kind]:
        """Served kinds called ``name`` (kind, plural, singular or short name), preferred first.

        ``groups`` restricts and orders the API groups; within a group the preferred version
        (listed first by the server) comes first.
        """
        want = name.lower()
        hits = [k for k in self.kinds if want in k.names()]
        if groups is None:
            return hits
        order = list(groups)
        return sorted((k for k in hits if k.group in order), key=lambda k: order.index(k.group))


def _aggregated(body: Obj) -> list[Kind]:
    out = []
    for group in body.get("items") or []:
        gname = (group.get("metadata") or {}).get("name", "")
        for ver in group.get("versions") or []:
            for r in ver.get("resources") or []:
                rk = r.get("responseKind") or {}
                out.append(
                    Kind(
                        gname,
                        ver["version"],
                        r["resource"],
                        rk.get("kind", ""),
                        r.get("scope") == "Namespaced",
                        tuple(r.get("shortNames") or ()),
                        r.get("singularResource") or "",
                    )
                )
    return out


class Kube:
    """A typed client for the objects the guides use, over ``kubernetes.client.ApiClient``.

    ``kubeconfig``: path (None = the default loading rules); ``context``: kubeconfig context;
    ``discovery_cache``: a file in which clients of one run share the discovery documents
    (re-read from the server on a kind miss). Raises :class:`ConfigurationError` when the
    kubeconfig cannot be loaded.
    """

    def __init__(
        self,
        kubeconfig: str | None,
        *,
        context: str | None = None,
        discovery_cache: Path | None = None,
    ) -> None:
        try:
            self.api_client = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context
            )
        except (k8s_config.ConfigException, OSError, TypeError) as exc:
            raise ConfigurationError(f"cannot load kubeconfig {kubeconfig!r}: {exc}") from None
        self.discovery = Discovery(
            self._fetch, cache=discovery_cache, server=str(self.api_client.configuration.host)
        )
        #: Write requests sent (apply, delete, replace), dry runs included: tests count them.
        self.writes = 0
        #: Objects an apply just read and left unchanged, by URL path: the next ``get`` or
        #: ``wait`` of that object within :data:`FRESH_SECONDS` takes it instead of reading
        #: it again (once; nothing was written in between by this client).
        self._fresh: dict[str, tuple[float, Obj]] = {}

    def close(self) -> None:
        self.api_client.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> tuple[Any, int, str]:
        """(decoded JSON body, HTTP status, Content-Type); raises KubeAPIError on a Status."""
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        if method != "GET":
            if ("dryRun", "All") not in (query or []):
                before_write(f"{method} {path}")  # see oktalab.writegate
            self.writes += 1
            self._fresh.pop(path, None)
        request = self.api_client.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        resp = self.api_client.call_api(*request)
        data = resp.read()
        ctype = resp.headers.get("Content-Type", "") if resp.headers else ""
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = None
        if not 200 <= resp.status <= 299:
            st = decoded if isinstance(decoded, dict) and decoded.get("kind") == "Status" else {}
            raise self._error(resp.status, st, method, path, resp.reason or "")
        return decoded, resp.status, ctype

    @staticmethod
    def _error(status: int, st: Obj, method: str, path: str, fallback: str) -> KubeAPIError:
        reason, message = st.get("reason", ""), st.get("message", fallback)
        causes = (st.get("details") or {}).get("causes") or []
        if status == 409 and any(c.get("reason") == "FieldManagerConflict" for c in causes):
            managers = sorted(
                {
                    c.get("message", "").split('"')[1]
                    for c in causes
                    if c.get("message", "").count('"') >= 2
                }
            )
            return ApplyConflict(
                managers=managers,
                fields=[c.get("field", "") for c in causes],
                message=message,
            )
        return KubeAPIError(status=status, reason=reason, message=message, method=method, url=path)

    def _fetch(self, path: str, accept: str) -> tuple[Any, str]:
        body, _, ctype = self._request("GET", path, accept=accept)
        return body, ctype

    # -- kinds --------------------------------------------------------------------------------
    def kind(self, name: str, api_version: str | None = None) -> Kind:
        """The served resource for ``name`` (kind, plural or short name), via discovery.

        ``api_version`` (``group/version``) pins the group, and the version when served.
        Raises :class:`KindNotServed` naming the missing Gloo component.
        """
        if api_version is None and "." in name:  # kubectl's ``kind.group`` form
            name, _, group = name.partition(".")
            groups: tuple[str, ...] = (group,)
            version = ""
        elif api_version is not None:
            group = api_version.rpartition("/")[0]
            version = api_version.rpartition("/")[2]
            groups = (group,)
        else:
            exp = EXPECTED.get(name)
            groups = exp.groups if exp else ()
            version = ""
        for attempt in range(2):
            found = self.discovery.find(name, groups or None)
            pinned = [k for k in found if k.version == version] or found
            if pinned:
                return pinned[0]
            if attempt == 0:
                self.discovery.refresh()
        exp = EXPECTED.get(name)
        raise KindNotServed(name, groups, exp.component if exp else f"the CRD for {name}")

    def kinds(self, name: str) -> list[Kind]:
        """Every served resource for ``name`` in its expected groups (AuthConfig: old and new)."""
        exp = EXPECTED.get(name)
        found = self.discovery.find(name, exp.groups if exp else None)
        seen: set[str] = set()
        out = []
        for k in found:
            if k.group not in seen:
                seen.add(k.group)
                out.append(k)
        return out

    def _kind_of(self, manifest: Obj) -> Kind:
        return self.kind(manifest["kind"], manifest.get("apiVersion"))

    # -- reads --------------------------------------------------------------------------------
    def get(
        self,
        kind: str,
        name: str,
        namespace: str = "",
        *,
        api_version: str | None = None,
        keep: bool = False,
    ) -> Obj | None:
        """The object, or None when it does not exist (``api_version`` pins the group).

        ``keep``: the next ``get`` of this object (e.g. by an apply that follows at once)
        takes this read instead of reading again, unless this client writes it first.
        """
        k = self.kind(kind, api_version)
        path = k.path(namespace, name)
        kept = self._fresh.pop(path, None)
        fresh = kept[1] if kept and time.monotonic() - kept[0] < FRESH_SECONDS else None
        if fresh is None:
            try:
                body, _, _ = self._request("GET", path)
            except KubeAPIError as exc:
                if exc.status == 404:
                    return None
                raise
            fresh = dict(body)
        if keep:
            self._fresh[path] = (time.monotonic(), copy.deepcopy(fresh))
        return fresh

    def list(self, kind: str, namespace: str = "", label_selector: str | None = None) -> list[Obj]:
        """Objects of ``kind`` in ``namespace`` ("" = every namespace), optionally by labels."""
        return self._list(self.kind(kind), namespace, label_selector)

    def _list(self, k: Kind, namespace: str, label_selector: str | None) -> Objs:
        query = [("labelSelector", label_selector)] if label_selector else []
        body, _, _ = self._request("GET", k.path(namespace), query=query)
        items = list((body or {}).get("items") or [])
        for item in items:
            item.setdefault("apiVersion", k.api_version)
            item.setdefault("kind", k.kind)
        return items

    def list_all(self, kind: str, label_selector: str | None = None) -> Objs:
        """``kind`` in every namespace and in every expected group that serves it."""
        out: Objs = []
        for k in self.kinds(kind):
            out += self._list(k, "", label_selector)
        return out

    # -- writes -------------------------------------------------------------------------------
    def apply(self, manifest: Obj, *, dry_run: bool = False, force: bool = False) -> ApplyResult:
        """Server-side apply ``manifest`` as field manager ``oktalab`` with strict validation.

        Returns an :class:`ApplyResult`: ``created`` (the server answered 201), ``unchanged``
        (the ``resourceVersion`` did not move, or a dry run shows no difference) or
        ``updated``. ``dry_run`` sends ``dryRun=All`` (nothing is stored). ``force`` takes
        fields owned by other managers (kubectl's ``--force-conflicts``).

        Raises :class:`ApplyConflict` (409; ``managers`` names the other field managers),
        :class:`KubeAPIError` 400 for an unknown field (the message carries its path) or 422
        for an invalid value, :class:`KindNotServed` when the kind is not installed.
        """
        meta = manifest.get("metadata") or {}
        before = self.get(
            manifest["kind"],
            meta["name"],
            meta.get("namespace", ""),
            api_version=manifest.get("apiVersion"),
        )
        return self._apply(manifest, before, dry_run=dry_run, force=force)

    def _apply(
        self, manifest: Obj, before: Obj | None, *, dry_run: bool, force: bool
    ) -> ApplyResult:
        k = self._kind_of(manifest)
        meta = manifest.get("metadata") or {}
        name, ns = meta["name"], meta.get("namespace", "")
        query = [("fieldManager", FIELD_MANAGER), ("fieldValidation", "Strict")]
        query.append(("force", "true" if force else "false"))
        if dry_run:
            query.append(("dryRun", "All"))
        body = dict(manifest)
        body.setdefault("apiVersion", k.api_version)
        try:
            live, status, _ = self._request(
                "PATCH",
                k.path(ns, name),
                query=query,
                body=body,  # JSON is YAML: the client sends it as JSON text
                content_type="application/apply-patch+yaml",
            )
        except KubeAPIError as exc:
            if k.kind == "Secret" and not k.group:
                _redact(exc, manifest)
            raise
        if before is None or status == 201:
            return ApplyResult("created", live, ("(new object)",) if dry_run else (), dry_run)
        changed = tuple(diff_paths(before, live))
        if dry_run:
            return ApplyResult("updated" if changed else "unchanged", live, changed, True)
        rv_before = (before.get("metadata") or {}).get("resourceVersion")
        rv_after = (live.get("metadata") or {}).get("resourceVersion")
        return ApplyResult("unchanged" if rv_before == rv_after else "updated", live, changed)

    def apply_owned(
        self,
        manifest: Obj,
        parameter_set: str,
        *,
        adopt: bool = False,
        dry_run: bool = False,
        force: bool = False,
        on_adopt: Callable[[Obj], None] | None = None,
    ) -> ApplyResult:
        """Apply ``manifest`` with this parameter set's ownership labels, respecting owners.

        * missing, or labelled for ``parameter_set``: applied (created / updated / unchanged;
          an owned object that a server-side dry run shows unchanged is not written);
        * owned by someone else and a server-side dry run shows no difference in the fields
          oktalab sets: ``unchanged``, nothing written (so a shared object can be used);
        * owned by someone else and different: :class:`NotOwnedError` unless ``adopt``; when
          adopted, ``on_adopt(prior)`` is called with the object as it was (to record it),
          then it is applied with ``force`` and reported ``adopted``.
        """
        meta = manifest.get("metadata") or {}
        name, ns = meta["name"], meta.get("namespace", "")
        live = self.get(manifest["kind"], name, ns, api_version=manifest.get("apiVersion"))
        labelled = copy.deepcopy(manifest)
        labelled.setdefault("metadata", {}).setdefault("labels", {}).update(
            owner_labels(parameter_set)
        )
        if live is None or owned_by(live, parameter_set):
            if live is not None and not dry_run:
                # A re-run writes nothing: a server-side dry run first (the API server stores
                # nothing; it computes exactly what the apply would, defaults and field
                # ownership included), and the apply only when it would change the object.
                probe = self._apply(labelled, live, dry_run=True, force=force)
                if not probe.changed:
                    path = self._kind_of(labelled).path(ns, name)
                    self._fresh[path] = (time.monotonic(), copy.deepcopy(live))
                    return ApplyResult("unchanged", live, ())
            return self._apply(labelled, live, dry_run=dry_run, force=force)
        # Someone else's: what would our apply change? A dry run, forced so that conflicts
        # show as a difference, carrying the live oktalab labels (another parameter set's
        # apply under the same field manager owns them; leaving them out would drop them).
        probe_manifest = copy.deepcopy(manifest)
        live_labels = (live.get("metadata") or {}).get("labels") or {}
        kept = {k: v for k, v in live_labels.items() if k in (MANAGED_BY, PARAMETER_SET)}
        if kept:
            probe_manifest["metadata"].setdefault("labels", {}).update(kept)
        probe = self._apply(probe_manifest, live, dry_run=True, force=True)
        who = describe_owner(live)
        label = f"{ns}/{name}" if ns else name
        if not probe.changed:
            return ApplyResult("unchanged", live, (), dry_run)
        if not adopt:
            raise NotOwnedError(
                manifest["kind"],
                label,
                who,
                list(probe.changed),
                f"To take it over, adopt it explicitly (--adopt {manifest['kind']}/{label}).",
            )
        if dry_run:
            return ApplyResult("adopted", probe.live, probe.changed, True)
        if on_adopt is not None:
            on_adopt(live)
        done = self._apply(labelled, live, dry_run=False, force=True)
        return ApplyResult("adopted", done.live, probe.changed)

    def ensure(self, manifest: Obj, parameter_set: str) -> tuple[str, Obj]:
        """``apply_owned`` without adoption: (created|updated|unchanged, live object)."""
        res = self.apply_owned(manifest, parameter_set)
        return res.action, res.live

    def replace(self, obj: Obj) -> Obj:
        """PUT ``obj`` (which carries the ``resourceVersion`` it was read at)."""
        k = self._kind_of(obj)
        meta = obj["metadata"]
        live, _, _ = self._request(
            "PUT",
            k.path(meta.get("namespace", ""), meta["name"]),
            query=[("fieldManager", FIELD_MANAGER), ("fieldValidation", "Strict")],
            body=obj,
        )
        return dict(live)

    def restore(self, prior: Obj) -> Obj | None:
        """Put an adopted object back as it was before adoption (content, labels, managers).

        A 409 (someone wrote in between) is retried after a re-read, up to
        :data:`MAX_CONFLICT_RETRIES` times. Returns None when the object is gone.
        """
        meta = prior["metadata"]
        for attempt in range(MAX_CONFLICT_RETRIES + 1):
            live = self.get(
                prior["kind"],
                meta["name"],
                meta.get("namespace", ""),
                api_version=prior.get("apiVersion"),
            )
            if live is None:
                return None
            new = copy.deepcopy(prior)
            new.pop("status", None)
            new["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            new["metadata"]["managedFields"] = meta.get("managedFields") or [{}]
            try:
                return self.replace(new)
            except KubeAPIError as exc:
                if exc.status != 409 or attempt == MAX_CONFLICT_RETRIES:
                    raise
        return None

    def delete(self, kind: str, name: str, namespace: str) -> bool:
        """Delete; False when already gone."""
        k = self.kind(kind)
        try:
            self._request("DELETE", k.path(namespace, name))
            return True
        except KubeAPIError as exc:
            if exc.status == 404:
                return False
            raise

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
