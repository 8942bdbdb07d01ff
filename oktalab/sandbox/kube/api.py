"""The Kubernetes API server of the sandbox: one ASGI app over an :class:`ObjectStore`.

Routing is done by hand on the path segments, because the URL space is data-driven (every
CRD in the store adds resources) and the same segments mean different things by position
(``/api/v1/namespaces/x`` is a Namespace, ``/api/v1/namespaces/x/pods`` a collection).
Endpoints are async so that store writes, and therefore store listeners, run on the loop.
"""

from __future__ import annotations

import base64
import copy
import hmac
import json
import logging
import random
import string
import uuid
from dataclasses import dataclass, field
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from . import (
    builtins,
    cluster,
    discovery,
    endpoints,
    openapi,
    protobuf,
    scale,
    schema as schemas,
    ssa,
    tables,
    watch,
)
from .errors import (
    ApiError,
    FieldError,
    already_exists,
    bad_request,
    conflict,
    invalid,
    invalid_object,
    method_not_allowed,
    not_found,
    unauthorized,
    unknown_path,
    unsupported_media_type,
)
from .patch import (
    APPLY,
    APPLY_CBOR,
    JSON_PATCH,
    MERGE,
    STRATEGIC,
    apply_patch,
    check_patch_type,
    media_type,
)
from .resources import CRD_GROUP, CRD_PLURAL, Registry, Resource, crd_status
from .selectors import field_selector, label_selector, supported_fields
from .smp import merge_schema
from .store import (
    ObjectStore,
    StoreAlreadyExists,
    StoreConflict,
    StoreGone,
    StoreNotFound,
    now_rfc3339,
)

Obj = dict[str, Any]
log = logging.getLogger(__name__)
CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list."
)
JSON = "application/json"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# Kinds whose DELETE answers with the deleted object rather than a Status (as on a cluster).
RETURNS_OBJECT_ON_DELETE = {("", "namespaces"), ("", "pods"), (CRD_GROUP, CRD_PLURAL)}


class _NoDatesLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: apply bodies must keep strings as strings."""


_NoDatesLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=JSON,
        headers=headers,
    )


@dataclass
class Target:
    """A parsed resource URL."""

    res: Resource
    version: str
    namespace: str | None  # None: all namespaces (namespaced) or cluster scope
    name: str | None
    subresource: str

    @property
    def ns(self) -> str:
        return self.namespace or ""


@dataclass
class WriteContext:
    params: dict[str, str]
    user_agent: str
    warnings: list[str] = field(default_factory=list)

    @property
    def dry_run(self) -> bool:
        return self.params.get("dryRun") == "All"

    @property
    def field_validation(self) -> str:
        return self.params.get("fieldValidation") or "Warn"

    def manager(self) -> str:
        """The field manager: ``fieldManager``, else the user agent's program name (as a cluster)."""
        if self.params.get("fieldManager"):
            return self.params["fieldManager"]
        agent = self.user_agent.split("/")[0].strip()
        return agent or "unknown"


class KubeAPI:
    """Request handling; ``create_kube_app`` wraps it into a Starlette app."""

    def __init__(self, store: ObjectStore, token: str) -> None:
        self.store = store
        self.token = token
        self.registry = Registry(store)
        self.watches = watch.WatchHub()
        cluster.bootstrap(store)

    def close_watches(self) -> None:
        """End all open watch streams: call before stopping uvicorn, or shutdown waits for them.

        Thread-safe; watches opened afterwards end at once too.
        """
        self.watches.close()

    # -- entry ---------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        try:
            self._authenticate(request)
            return await self._route(request)
        except ApiError as exc:
            return json_response(exc.status(), exc.code)
        except Exception as exc:  # a bug or a body shape nobody validated: still answer a Status
            log.exception("kube API: %s %s failed", request.method, request.url.path)
            err = ApiError(
                500, "InternalError", f"Internal error occurred: {type(exc).__name__}: {exc}"
            )
            return json_response(err.status(), 500)

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            credential.strip().encode(), self.token.encode()
        ):
            raise unauthorized()

    async def _route(self, request: Request) -> Response:
        parts = [p for p in request.url.path.split("/") if p]
        method = request.method
        if not parts:
            return json_response({"paths": self._root_paths()})
        head = parts[0]
        if method not in ("GET", "HEAD") and head in (
            "version",
            "api",
            "openapi",
            "healthz",
            "livez",
            "readyz",
        ):
            if len(parts) <= 2 or head != "api":
                raise method_not_allowed()
        if head == "version" and len(parts) == 1:
            return json_response(discovery.VERSION)
        if head in ("healthz", "livez", "readyz"):
            return Response("ok", media_type="text/plain")
        if head == "openapi":
            return self._openapi(parts[1:])
        agg = discovery.aggregated_version(request.headers.get("accept"))
        if agg and head in ("api", "apis") and len(parts) == 1:
            body = discovery.aggregated(self.registry, core=head == "api", version=agg)
            return Response(
                json.dumps(body, separators=(",", ":")),
                media_type=discovery.AGGREGATED.format(v=agg),
            )
        if head == "api":
            if len(parts) == 1:
                host = request.headers.get("host", "127.0.0.1")
                return json_response(discovery.api_versions(host))
            version = parts[1]
            return await self._resource_request(request, "", version, parts[2:])
        if head == "apis":
            if len(parts) == 1:
                return json_response(discovery.api_group_list(self.registry))
            if len(parts) == 2:
                group_doc = discovery.api_group(self.registry, parts[1])
                if group_doc is None:
                    raise unknown_path()
                return json_response(group_doc)
            return await self._resource_request(request, parts[1], parts[2], parts[3:])
        raise unknown_path()

    def _root_paths(self) -> list[str]:
        paths = [
            "/api",
            "/api/v1",
            "/apis",
            "/openapi/v3",
            "/version",
            "/healthz",
            "/livez",
            "/readyz",
        ]
        for g, versions in self.registry.groups().items():
            if g:
                paths.append(f"/apis/{g}")
                paths += [f"/apis/{g}/{v}" for v in versions]
        return sorted(paths)

    def _openapi(self, parts: list[str]) -> Response:
        if parts == ["v3"]:
            return json_response(openapi.index(self.registry))
        if len(parts) >= 3 and parts[0] == "v3":
            if parts[1] == "api" and len(parts) == 3:
                doc = openapi.document(self.registry, "", parts[2])
            elif parts[1] == "apis" and len(parts) == 4:
                doc = openapi.document(self.registry, parts[2], parts[3])
            else:
                doc = None
            if doc is not None:
                return json_response(doc)
        raise unknown_path()

    # -- resource URLs -------------------------------------------------------------------
    def _parse(self, group: str, version: str, rest: list[str]) -> Target | None:
        if len(rest) >= 3 and rest[0] == "namespaces":
            res = self.registry.lookup(group, version, rest[2])
            if res is not None and res.namespaced and len(rest) <= 5:
                name = rest[3] if len(rest) >= 4 else None
                sub = rest[4] if len(rest) == 5 else ""
                return Target(res, version, rest[1], name, sub)
        res = self.registry.lookup(group, version, rest[0])
        if res is None or len(rest) > 3:
            return None
        if res.namespaced and len(rest) > 1:
            return None
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else ""
        return Target(res, version, None, name, sub)

    async def _resource_request(
        self, request: Request, group: str, version: str, rest: list[str]
    ) -> Response:
        if not rest:
            if request.method != "GET":
                raise method_not_allowed()
            doc = discovery.resource_list(self.registry, group, version)
            if doc is None:
                raise unknown_path()
            return json_response(doc)
        target = self._parse(group, version, rest)
        if target is None:
            raise unknown_path()
        if target.subresource == "log" and target.res.plural == "pods" and not target.res.group:
            if request.method != "GET":
                raise method_not_allowed()
            self._load(target)
            return Response("", media_type="text/plain")  # no containers run here
        params = dict(request.query_params)
        ctx = WriteContext(params, request.headers.get("user-agent", ""))
        method = request.method
        if target.subresource == "scale" and target.res.scale and target.name:
            return await self._scale(target, request, ctx)
        if target.subresource and (
            target.subresource != "status" or not target.res.status_subresource
        ):
            raise unknown_path()
        if target.res.computed and method != "GET":
            raise method_not_allowed()
        if target.res.virtual:
            if method != "POST" or target.name is not None:
                raise method_not_allowed()
            body = await self._body(request)
            self._check_type(target, body)
            answer = builtins.review(target.res, body)
            return self._respond(target, request, answer, 201)
        if target.name is None:
            if method == "GET":
                if params.get("watch") in ("true", "1"):
                    return self._watch(target, params, request)
                return self._list(target, params, request)
            if method == "POST":
                if target.namespace is None and target.res.namespaced:
                    raise method_not_allowed()
                return await self._create(target, request, ctx)
            if method == "DELETE":
                return await self._delete_collection(target, request, ctx)
            raise method_not_allowed()
        if method == "GET":
            return self._get(target, request)
        if method == "PUT":
            return await self._replace(target, request, ctx)
        if method == "PATCH":
            return await self._patch(target, request, ctx)
        if method == "DELETE" and not target.subresource:
            return await self._delete(target, request, ctx)
        raise method_not_allowed()

    # -- rendering -----------------------------------------------------------------------
    def render(self, res: Resource, version: str, obj: Obj) -> Obj:
        out = copy.deepcopy(obj)
        out["apiVersion"] = res.api_version(version)
        out["kind"] = res.kind
        if res.plural == "secrets" and not res.group:
            out.pop("stringData", None)  # write-only: merged into data, never output
        if res.builtin and not res.group:
            out.get("metadata", {}).pop("generation", None)  # core kinds have no generation
        if res.group == CRD_GROUP and res.plural == CRD_PLURAL and "status" not in out:
            out["status"] = crd_status(out)
        # keep apiVersion/kind first, as Go's encoder does
        return {"apiVersion": out.pop("apiVersion"), "kind": out.pop("kind"), **out}

    def _respond(
        self,
        target: Target,
        request: Request,
        obj: Obj,
        status: int = 200,
        ctx: WriteContext | None = None,
    ) -> Response:
        headers = {}
        if ctx and ctx.warnings:
            headers["Warning"] = ", ".join(f'299 - "{w}"' for w in ctx.warnings)
        rendered = self.render(target.res, target.version, obj)
        if tables.wants_table(request.headers.get("accept")):
            body = tables.table(
                target.res,
                target.version,
                [rendered],
                rendered.get("metadata", {}).get("resourceVersion", ""),
                request.query_params.get("includeObject", "Metadata"),
            )
            return json_response(body, status, headers)
        return json_response(rendered, status, headers)

    # -- reads ---------------------------------------------------------------------------
    def _load(self, target: Target) -> Obj:
        assert target.name is not None
        if target.res.computed:
            objs = endpoints.compute(self.store, target.res.plural, target.ns)
            found = [o for o in objs if o["metadata"]["name"] == target.name]
            if not found:
                raise not_found(target.res.group, target.res.plural, target.name)
            return found[0]
        obj = self.store.get(target.res.group, target.res.plural, target.ns, target.name)
        if obj is None:
            raise not_found(target.res.group, target.res.plural, target.name)
        return obj

    def _get(self, target: Target, request: Request) -> Response:
        return self._respond(target, request, self._load(target))

    def _predicate(self, target: Target, params: dict[str, str]) -> Any:
        labels = label_selector(params.get("labelSelector"))
        fields = field_selector(
            params.get("fieldSelector"),
            supported_fields(target.res.group, target.res.plural)
            | set(target.res.selectable_fields.get(target.version, [])),
        )
        return lambda obj: labels(obj) and fields(obj)

    def _list(self, target: Target, params: dict[str, str], request: Request) -> Response:
        res = target.res
        ns = target.namespace if res.namespaced else ""
        match = self._predicate(target, params)
        objs, rv = self.store.list(res.group, res.plural, ns)
        if res.computed:
            objs = endpoints.compute(self.store, res.plural, ns)
        matched = [o for o in objs if match(o)]
        start = 0
        token = params.get("continue")
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
                start, rv = int(state["start"]), int(state["rv"])
            except (ValueError, KeyError, TypeError):
                raise bad_request(
                    "continue key is not valid: incorrect encoded start resourceVersion"
                ) from None
            try:
                self.store.events_since(rv)
            except StoreGone:
                raise ApiError(410, "Expired", CONTINUE_TOO_OLD, {}) from None
        items = matched[start:]
        next_token = ""
        limit = params.get("limit")
        if limit and limit.isdigit() and int(limit) > 0 and len(items) > int(limit):
            items = items[: int(limit)]
            next_token = base64.urlsafe_b64encode(
                json.dumps({"start": start + int(limit), "rv": rv}).encode()
            ).decode()
        rendered = [self.render(res, target.version, o) for o in items]
        if tables.wants_table(request.headers.get("accept")):
            body = tables.table(
                res,
                target.version,
                rendered,
                str(rv),
                params.get("includeObject", "Metadata"),
                next_token,
            )
            return json_response(body)
        meta: Obj = {"resourceVersion": str(rv)}
        if next_token:
            meta["continue"] = next_token
            meta["remainingItemCount"] = len(matched) - start - len(items)
        return json_response(
            {
                "kind": res.list_kind,
                "apiVersion": res.api_version(target.version),
                "metadata": meta,
                "items": rendered,
            }
        )

    def _watch(self, target: Target, params: dict[str, str], request: Request) -> Response:
        res = target.res
        match = self._predicate(target, params)
        if res.computed:
            return self._computed_watch(target, match, request)
        if target.name:
            name = target.name
            base = match
            match = lambda o: base(o) and (o.get("metadata") or {}).get("name") == name  # noqa: E731
        as_table = tables.wants_table(request.headers.get("accept"))
        include = params.get("includeObject", "Metadata")

        def render(obj: Obj) -> Obj:
            out = self.render(res, target.version, obj)
            if as_table:
                return tables.table(
                    res, target.version, [out], out["metadata"].get("resourceVersion", ""), include
                )
            return out

        def bookmark(rv: str) -> Obj:
            return {
                "kind": res.kind,
                "apiVersion": res.api_version(target.version),
                "metadata": {"resourceVersion": rv},
            }

        try:
            timeout = float(params.get("timeoutSeconds") or 1800)
        except ValueError:
            raise bad_request("invalid timeoutSeconds") from None
        body = watch.stream(
            self.store,
            res.group,
            res.plural,
            target.namespace if res.namespaced else "",
            match,
            render,
            resource_version=params.get("resourceVersion"),
            timeout=timeout,
            bookmarks=params.get("allowWatchBookmarks") in ("true", "1"),
            bookmark_object=bookmark,
            hub=self.watches,
        )
        return StreamingResponse(body, media_type=JSON)

    def _computed_watch(self, target: Target, match: Any, request: Request) -> Response:
        """Derived objects have no event log: send their current state, then end the watch."""
        objs = [
            o
            for o in endpoints.compute(self.store, target.res.plural, target.namespace)
            if match(o) and (target.name is None or o["metadata"]["name"] == target.name)
        ]
        as_table = tables.wants_table(request.headers.get("accept"))

        async def events() -> Any:
            for obj in objs:
                out = self.render(target.res, target.version, obj)
                if as_table:
                    rv = out["metadata"].get("resourceVersion", "")
                    out = tables.table(target.res, target.version, [out], rv)
                line = json.dumps({"type": "ADDED", "object": out}, separators=(",", ":"))
                yield (line + "\n").encode()

        return StreamingResponse(events(), media_type=JSON)

    # -- write pipeline ------------------------------------------------------------------
    async def _body(self, request: Request, *, allow_yaml: bool = True) -> Obj:
        kind = media_type(request.headers.get("content-type")) or JSON
        raw = await request.body()
        if kind in ("application/yaml", "application/x-yaml") and allow_yaml:
            try:
                body = yaml.load(raw.decode(), Loader=_NoDatesLoader)
            except yaml.YAMLError as exc:
                raise bad_request(f"error decoding YAML: {exc}") from None
        elif kind == protobuf.MEDIA_TYPE:
            body = protobuf.decode_object(raw)
        elif kind in (JSON, "*/*"):
            try:
                body = json.loads(raw or b"null")
            except ValueError as exc:
                raise bad_request(
                    f"Object 'Kind' is missing in '{raw[:100].decode(errors='replace')}': {exc}"
                ) from None
        else:
            raise unsupported_media_type(
                kind, [JSON, "application/yaml", "application/vnd.kubernetes.protobuf"]
            )
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        return body

    def _check_type(self, target: Target, body: Obj) -> None:
        res = target.res
        av, kind = body.get("apiVersion"), body.get("kind")
        if av and av not in [res.api_version(v) for v in res.versions]:
            raise bad_request(
                f"the API version in the data ({av}) does not match the expected API version "
                f"({res.api_version(target.version)})"
            )
        if kind and kind != res.kind:
            raise bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({res.kind})"
            )
        if body.get("metadata") is None:
            body["metadata"] = {}
        meta = body.get("metadata")
        for key in ("name", "generateName", "namespace", "resourceVersion", "uid"):
            value = meta.get(key) if isinstance(meta, dict) else None
            if value is not None and not isinstance(value, str):
                raise bad_request(
                    f"json: cannot unmarshal {type(value).__name__} into Go struct field "
                    f"ObjectMeta.metadata.{key} of type string"
                )
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        ns = (meta or {}).get("namespace")
        if res.namespaced and ns and target.namespace and ns != target.namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )

    def _unknown_and_prune(
        self,
        target: Target,
        obj: Obj,
        ctx: WriteContext,
        *,
        decoded_body: bool = False,
        apply: bool = False,
    ) -> Obj:
        """Drop undeclared fields; Strict rejects them, Warn reports them in Warning headers.

        ``decoded_body``: the fields come from a POST/PUT body, whose decoding errors the
        apiserver words as ``<Kind> in version "<v>" cannot be handled as a <Kind>: ...``.
        """
        res = target.res
        if res.builtin:
            unknown = builtins.unknown_fields(res, obj)
            pruned = builtins.prune_unknown(res, obj)
        else:
            sch = res.schema(target.version) or {}
            pruned, unknown = schemas.prune(obj, sch)
            meta_unknown = builtins.unknown_fields(res, {"metadata": obj.get("metadata") or {}})
            if meta_unknown:
                pruned = {
                    **pruned,
                    "metadata": builtins.prune_unknown(
                        res, {"metadata": pruned.get("metadata") or {}}
                    )["metadata"],
                }
            unknown = meta_unknown + unknown
        if unknown:
            mode = ctx.field_validation
            if mode == "Strict" and apply:
                # server-side apply reports through structured-merge-diff's typed conversion
                gv = res.api_version(target.version) if res.group else f"/{target.version}"
                where = f"{target.ns}/{target.name or ''}; {gv}, Kind={res.kind}"
                raise bad_request(
                    f"failed to create typed patch object ({where}): "
                    + ", ".join(f".{u}: field not declared in schema" for u in unknown)
                )
            if mode == "Strict":
                text = "strict decoding error: " + ", ".join(
                    f'unknown field "{u}"' for u in unknown
                )
                if decoded_body:
                    kind = res.kind
                    text = f'{kind} in version "{target.version}" cannot be handled as a {kind}: {text}'
                raise bad_request(text)
            if mode == "Warn":
                ctx.warnings += [f'unknown field \\"{u}\\"' for u in unknown]
        return pruned

    def _finish(self, target: Target, obj: Obj, old: Obj | None, ctx: WriteContext) -> Obj:
        """Status-subresource rules, defaults, validation and generation for a write."""
        res = target.res
        meta = obj.setdefault("metadata", {})
        if res.status_subresource:
            if target.subresource == "status":
                assert old is not None
                status = obj.get("status")
                obj = copy.deepcopy(old)
                if status is None:
                    obj.pop("status", None)
                else:
                    obj["status"] = status
                obj["metadata"]["managedFields"] = meta.get(
                    "managedFields", old["metadata"].get("managedFields")
                )
                meta = obj["metadata"]
            elif old is not None and "status" in old:
                obj["status"] = copy.deepcopy(old["status"])
            else:
                obj.pop("status", None)
        if res.group == CRD_GROUP and res.plural == CRD_PLURAL:
            obj["status"] = crd_status(obj)
        obj["apiVersion"] = res.api_version(target.version)
        obj["kind"] = res.kind
        if res.builtin:
            builtins.drop_nulls(obj)
            shape = builtins.shape_errors(res, obj)
            if shape:
                raise invalid_object(res.kind, res.group, obj["metadata"].get("name", ""), shape)
            builtins.default(res, obj, old)
        else:
            obj = schemas.apply_defaults(obj, res.schema(target.version) or {})
        errors: list[FieldError] = []
        name = obj.get("metadata", {}).get("name", "")
        if old is None:
            errors += builtins.validate_name(res, name)
        else:
            errors += builtins.validate_update(res, old, obj)
        errors += builtins.validate_metadata(obj)
        if res.builtin:
            errors += builtins.validate(res, obj)
        else:
            errors += schemas.validate(obj, res.schema(target.version) or {})
        if errors:
            raise invalid_object(res.kind, res.group, name, errors)
        meta = obj["metadata"]
        if old is not None:
            gen = int((old.get("metadata") or {}).get("generation") or 1)
            if _spec_of(obj) != _spec_of(old):
                gen += 1
            meta["generation"] = gen
        elif not res.builtin or res.group:
            meta["generation"] = 1
        if res.group == "apps" and res.plural == "deployments" and target.subresource != "status":
            status = obj.get("status") or {}
            replicas = (obj.get("spec") or {}).get("replicas", 1)
            if (
                status.get("observedGeneration") != meta.get("generation", 1)
                or status.get("replicas", 0) != replicas
            ):
                builtins.roll_out(obj, now_rfc3339())
        return obj

    def _shape(self, target: Target) -> ssa.Shape:
        if target.res.builtin:
            return ssa.TableShape(merge_schema(target.res.group, target.res.plural))
        return ssa.SchemaShape(target.res.schema(target.version))

    def _status_scope(self, target: Target) -> bool | None:
        if not target.res.status_subresource:
            return None
        return target.subresource == "status"

    def _ensure_namespace(self, target: Target) -> None:
        if target.res.namespaced and target.namespace is not None:
            if self.store.get("", "namespaces", "", target.namespace) is None:
                raise not_found("", "namespaces", target.namespace)

    async def _create(self, target: Target, request: Request, ctx: WriteContext) -> Response:
        if target.subresource:
            raise method_not_allowed()
        body = await self._body(request)
        self._check_type(target, body)
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            meta["name"] = meta["generateName"] + suffix
        return self._do_create(target, body, ctx, request, manager_op="Update")

    def _do_create(
        self,
        target: Target,
        body: Obj,
        ctx: WriteContext,
        request: Request,
        *,
        manager_op: str,
    ) -> Response:
        res = target.res
        self._ensure_namespace(target)
        meta = body.setdefault("metadata", {})
        for key in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "selfLink",
            "deletionTimestamp",
        ):
            meta.pop(key, None)
        if target.namespace is not None and res.namespaced:
            meta["namespace"] = target.namespace
        elif not res.namespaced:
            meta.pop("namespace", None)
        obj = self._unknown_and_prune(target, body, ctx, decoded_body=manager_op == "Update")
        obj = self._finish(target, obj, None, ctx)
        name = obj["metadata"].get("name", "")
        if manager_op == "Update":
            ssa.record_update(
                None,
                obj,
                ctx.manager(),
                res.api_version(target.version),
                self._shape(target),
                status_scope=None,
            )
        if ctx.dry_run:
            if self.store.get(res.group, res.plural, target.ns, name) is not None:
                raise already_exists(res.group, res.plural, name)
            obj["metadata"].setdefault("uid", str(uuid.uuid4()))
            obj["metadata"].setdefault("creationTimestamp", now_rfc3339())
            return self._respond(target, request, obj, 201, ctx)
        try:
            created = self.store.create(res.group, res.plural, target.ns, name, obj)
        except StoreAlreadyExists:
            raise already_exists(res.group, res.plural, name) from None
        if res.plural == "namespaces" and not res.group:
            cluster.populate_namespace(self.store, name)
        return self._respond(target, request, created, 201, ctx)

    def _commit(
        self,
        target: Target,
        old: Obj,
        new: Obj,
        ctx: WriteContext,
        request: Request,
        expect_rv: str,
    ) -> Response:
        updated = self._write(target, old, new, ctx, expect_rv)
        return self._respond(target, request, updated, 200, ctx)

    def _write(self, target: Target, old: Obj, new: Obj, ctx: WriteContext, expect_rv: str) -> Obj:
        """Store an update (unless it changes nothing or is a dry run); the object as stored."""
        res = target.res
        assert target.name is not None
        if _comparable(new) == _comparable(old):
            return old  # no-op: no new resourceVersion, no watch event
        if ctx.dry_run:
            return new
        try:
            return self.store.update(
                res.group, res.plural, target.ns, target.name, new, expect_rv=expect_rv
            )
        except StoreConflict:
            raise conflict(res.group, res.plural, target.name) from None
        except StoreNotFound:
            raise not_found(res.group, res.plural, target.name) from None

    # -- scale subresource ---------------------------------------------------------------
    async def _scale(self, target: Target, request: Request, ctx: WriteContext) -> Response:
        res = target.res
        assert res.scale is not None and target.name is not None
        old = self._load(target)
        current = scale.view(res, old)
        if request.method == "GET":
            return json_response(current)
        if request.method == "PUT":
            wanted = await self._body(request)
            rv = (wanted.get("metadata") or {}).get("resourceVersion")
            if rv and str(rv) != old["metadata"]["resourceVersion"]:
                raise conflict(res.group, res.plural, target.name)
        elif request.method == "PATCH":
            kind = check_patch_type(scale.SCALE, request.headers.get("content-type", ""))
            if kind in (APPLY, APPLY_CBOR):
                raise unsupported_media_type(kind, [JSON_PATCH, MERGE, STRATEGIC])
            wanted = apply_patch(scale.SCALE, kind, current, await request.body())
        else:
            raise method_not_allowed()
        spec = wanted.get("spec") if isinstance(wanted, dict) else None
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid_object(
                "Scale",
                "autoscaling",
                target.name,
                [invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
            )
        new = copy.deepcopy(old)
        scale.set_replicas(res, new, replicas)
        main = Target(res, target.version, target.namespace, target.name, "")
        new = self._finish(main, new, old, ctx)
        ssa.record_update(
            old,
            new,
            ctx.manager(),
            res.api_version(target.version),
            self._shape(main),
            subresource="scale",
            status_scope=self._status_scope(main),
        )
        updated = self._write(main, old, new, ctx, old["metadata"]["resourceVersion"])
        return json_response(scale.view(res, updated))

    async def _replace(self, target: Target, request: Request, ctx: WriteContext) -> Response:
        res = target.res
        assert target.name is not None
        body = await self._body(request)
        self._check_type(target, body)
        meta = body.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != target.name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({target.name})"
            )
        meta["name"] = target.name
        old = self._load(target)
        current_rv = old["metadata"]["resourceVersion"]
        rv = meta.get("resourceVersion")
        if not rv and not res.builtin:
            raise invalid_object(
                res.kind,
                res.group,
                target.name,
                [invalid("metadata.resourceVersion", "0x0", "must be specified for an update")],
            )
        if rv and str(rv) != str(current_rv):
            raise conflict(res.group, res.plural, target.name)
        if target.namespace is not None and res.namespaced:
            meta["namespace"] = target.namespace
        obj = self._unknown_and_prune(target, body, ctx, decoded_body=True)
        for key in ("uid", "creationTimestamp"):
            obj["metadata"][key] = old["metadata"].get(key)
        if "managedFields" not in obj["metadata"] and "managedFields" in old["metadata"]:
            obj["metadata"]["managedFields"] = old["metadata"]["managedFields"]
        obj = self._finish(target, obj, old, ctx)
        ssa.record_update(
            old,
            obj,
            ctx.manager(),
            res.api_version(target.version),
            self._shape(target),
            subresource=target.subresource,
            status_scope=self._status_scope(target),
        )
        return self._commit(target, old, obj, ctx, request, current_rv)

    async def _patch(self, target: Target, request: Request, ctx: WriteContext) -> Response:
        res = target.res
        assert target.name is not None
        kind = check_patch_type(res, request.headers.get("content-type", ""))
        raw = await request.body()
        if kind in (APPLY, APPLY_CBOR):
            return await self._apply(target, request, ctx, raw)
        old = self._load(target)
        current_rv = old["metadata"]["resourceVersion"]
        rendered_old = self.render(res, target.version, old)
        patched = apply_patch(res, kind, rendered_old, raw)
        meta = patched.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if meta.get("name") != target.name:
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({target.name})"
            )
        if str(meta.get("resourceVersion", current_rv)) != str(current_rv):
            raise conflict(res.group, res.plural, target.name)
        self._check_type(target, patched)
        obj = self._unknown_and_prune(target, patched, ctx)
        for key in ("uid", "creationTimestamp"):
            obj["metadata"][key] = old["metadata"].get(key)
        obj = self._finish(target, obj, old, ctx)
        ssa.record_update(
            old,
            obj,
            ctx.manager(),
            res.api_version(target.version),
            self._shape(target),
            subresource=target.subresource,
            status_scope=self._status_scope(target),
        )
        return self._commit(target, old, obj, ctx, request, current_rv)

    async def _apply(
        self, target: Target, request: Request, ctx: WriteContext, raw: bytes
    ) -> Response:
        res = target.res
        assert target.name is not None
        manager = ctx.params.get("fieldManager")
        if not manager:
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
                {
                    "kind": "PatchOptions",
                    "group": "meta.k8s.io",
                    "causes": [
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: is required for apply patch",
                            "field": "fieldManager",
                        }
                    ],
                },
            )
        try:
            applied = yaml.load(raw.decode(), Loader=_NoDatesLoader)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise bad_request(f"error decoding YAML: {exc}") from None
        if not isinstance(applied, dict):
            raise bad_request("apply patch must be an object")
        if not applied.get("apiVersion") or not applied.get("kind"):
            raise bad_request("apiVersion and kind must be set in apply configuration")
        self._check_type(target, applied)
        meta = applied.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != target.name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({target.name})"
            )
        meta["name"] = target.name
        if target.namespace is not None and res.namespaced:
            meta["namespace"] = target.namespace
        applied = self._unknown_and_prune(target, applied, ctx, apply=True)
        scope = self._status_scope(target)
        if scope is False:
            applied.pop("status", None)
        elif scope is True:
            applied = {
                k: v
                for k, v in applied.items()
                if k in ("apiVersion", "kind", "metadata", "status")
            }
        force = ctx.params.get("force") in ("true", "1")
        api_version = res.api_version(target.version)
        shape = self._shape(target)
        old = self.store.get(res.group, res.plural, target.ns, target.name)
        if old is None:
            if target.subresource:
                raise not_found(res.group, res.plural, target.name)
            merged = ssa.apply(
                None, applied, manager, api_version, shape, force=force, status_scope=scope
            )
            return self._do_create(target, merged, ctx, request, manager_op="Apply")
        rendered_old = self.render(res, target.version, old)
        merged = ssa.apply(
            rendered_old,
            applied,
            manager,
            api_version,
            shape,
            force=force,
            subresource=target.subresource,
            status_scope=scope,
        )
        current_rv = old["metadata"]["resourceVersion"]
        wanted_rv = (applied.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and str(wanted_rv) != str(current_rv):
            raise conflict(res.group, res.plural, target.name)
        merged["metadata"]["resourceVersion"] = current_rv
        for key in ("uid", "creationTimestamp"):
            merged["metadata"][key] = old["metadata"].get(key)
        obj = self._finish(target, merged, old, ctx)
        return self._commit(target, old, obj, ctx, request, current_rv)

    # -- deletes -------------------------------------------------------------------------
    async def _delete_options(self, request: Request) -> Obj:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            opts = json.loads(raw)
        except ValueError:
            raise bad_request("invalid DeleteOptions body") from None
        return opts if isinstance(opts, dict) else {}

    async def _delete(self, target: Target, request: Request, ctx: WriteContext) -> Response:
        res = target.res
        assert target.name is not None
        opts = await self._delete_options(request)
        if "All" in (opts.get("dryRun") or []):
            ctx.params["dryRun"] = "All"
        obj = self._load(target)
        pre = opts.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"].get("uid"):
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {res.plural} "{target.name}": Precondition failed: '
                f"UID in precondition: {pre['uid']}, UID in object meta: {obj['metadata'].get('uid')}",
            )
        if pre.get("resourceVersion") and str(pre["resourceVersion"]) != obj["metadata"].get(
            "resourceVersion"
        ):
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {res.plural} "{target.name}": Precondition failed: '
                f"ResourceVersion in precondition: {pre['resourceVersion']}, ResourceVersion in object meta: "
                f"{obj['metadata'].get('resourceVersion')}",
            )
        if not ctx.dry_run:
            policy = (
                opts.get("propagationPolicy") or ctx.params.get("propagationPolicy") or "Background"
            )
            if opts.get("orphanDependents") is True:
                policy = "Orphan"
            deleted = self._delete_one(res, target.ns, target.name, policy=policy)
        else:
            deleted = obj
        if (res.group, res.plural) in RETURNS_OBJECT_ON_DELETE or not res.builtin:
            if res.plural == "namespaces" and not res.group:
                deleted = copy.deepcopy(deleted)
                deleted["metadata"]["deletionTimestamp"] = now_rfc3339()
                deleted.setdefault("status", {})["phase"] = "Terminating"
            return self._respond(target, request, deleted, 200, ctx)
        details: Obj = {"name": target.name, "kind": res.plural, "uid": obj["metadata"].get("uid")}
        if res.group:
            details["group"] = res.group
        return json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            }
        )

    def _delete_one(self, res: Resource, ns: str, name: str, *, policy: str = "Background") -> Obj:
        try:
            deleted = self.store.delete(res.group, res.plural, ns, name)
        except StoreNotFound:
            raise not_found(res.group, res.plural, name) from None
        uid = (deleted.get("metadata") or {}).get("uid")
        if uid:
            cluster.collect_garbage(self.store, uid, policy)
        if res.plural == "namespaces" and not res.group:
            for other in self.registry.all():
                if not other.namespaced:
                    continue
                objs, _ = self.store.list(other.group, other.plural, name)
                for o in objs:
                    try:
                        self.store.delete(other.group, other.plural, name, o["metadata"]["name"])
                    except StoreNotFound:
                        pass
        if res.group == CRD_GROUP and res.plural == CRD_PLURAL:
            self.registry.refresh()
        return deleted

    async def _delete_collection(
        self, target: Target, request: Request, ctx: WriteContext
    ) -> Response:
        res = target.res
        if target.subresource:
            raise method_not_allowed()
        opts = await self._delete_options(request)
        if "All" in (opts.get("dryRun") or []):
            ctx.params["dryRun"] = "All"
        match = self._predicate(target, ctx.params)
        objs, _ = self.store.list(res.group, res.plural, target.namespace if res.namespaced else "")
        deleted = []
        for o in objs:
            if not match(o):
                continue
            if ctx.dry_run:
                deleted.append(o)
                continue
            try:
                deleted.append(
                    self._delete_one(res, o["metadata"].get("namespace", ""), o["metadata"]["name"])
                )
            except ApiError:
                pass
        return json_response(
            {
                "kind": res.list_kind,
                "apiVersion": res.api_version(target.version),
                "metadata": {"resourceVersion": str(self.store.current_rv())},
                "items": [self.render(res, target.version, o) for o in deleted],
            }
        )


def _spec_of(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _comparable(obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    out.pop("apiVersion", None)
    out.pop("kind", None)
    meta = out.get("metadata") or {}
    meta.pop("resourceVersion", None)
    for entry in meta.get("managedFields") or []:
        if isinstance(entry, dict):
            entry.pop("time", None)
    return out


def create_kube_app(store: ObjectStore, *, token: str) -> ASGIApp:
    """The sandbox's Kubernetes API server as an ASGI app (bearer ``token`` required)."""
    api = KubeAPI(store, token)
    app = Starlette(routes=[Route("/{path:path}", api.handle, methods=METHODS)])
    app.state.kube = api
    return app


__all__ = ["KubeAPI", "create_kube_app"]
