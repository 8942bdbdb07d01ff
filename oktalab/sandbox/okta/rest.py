"""Okta resources declared once, served by one generic collection handler.

A :class:`Resource` states what Okta's API reference states about a collection: its path (the
parent's path parameter included), the id prefix, the parent, the Okta type named in a 404,
the ``okta.*`` scope family, the spec schema its objects follow, list options (default and
maximum ``limit``, ``q`` fields, ``filter`` / ``search`` attributes), lifecycle operations and
what a delete requires. :func:`routes` turns declarations into Starlette routes, all served by
the handlers below:

* list: the resource's own query parameters, ``q``, ``filter`` (SCIM-like, E0000031 when it
  does not parse), ``search``, then cursor pagination (``limit``, ``after``) with the two
  ``Link`` headers Okta sends: ``<…?limit=20>; rel="self"`` and, while more follow,
  ``<…?limit=20&after=…>; rel="next"`` (``../shared/research/okta.md``, "Pagination");
* create / get / replace (``PUT``, full or merging) / delete, the parents looked up first (a
  404 names Okta's type, e.g. ``Not found: Resource not found: x (AppInstance)``); system
  objects refused (E0000111 read-only, or E0000006); the declared delete precondition;
  a delete cascades to child resources and drops the resource's links;
* ``lifecycle/activate`` and ``lifecycle/deactivate`` with the answer Okta gives for that
  resource (``{}``, 204, or the object).

Authentication and request bodies are in :mod:`.web`; error rendering, rate-limit accounting
and fault injection in :mod:`.server`. A resource module keeps only what is its own: the
validation (``build``), the JSON it renders (``render``) and endpoints no other resource has.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import OktaApiError, not_found, validation
from .filters import compile_filter
from .state import OrgState, new_id, now_iso
from .web import (
    LIFECYCLE_STATUS,
    json_response,
    lifecycle_action,
    no_content,
    org_of,
    read_json,
    require_admin,
)

Doc = dict[str, Any]
Render = Callable[[OrgState, Doc, str], Doc]
"""``(org, stored document, its item path)`` → the JSON Okta answers with."""
Build = Callable[["Ctx", Doc, Doc | None], Doc]
"""``(ctx, request body, existing document or None)`` → validated fields; raises E0000001."""
Hook = Callable[["Ctx", Doc], None]
Endpoint = Callable[["Ctx"], Awaitable[Response]]


@dataclass(frozen=True)
class Listing:
    """How ``GET <collection>`` selects and pages (Okta's per-endpoint query parameters)."""

    default_limit: int = 0
    """Page size without ``?limit=``; 0 = the whole list (endpoints Okta documents no default for)."""
    max_limit: int = 200
    q: tuple[str, ...] = ()
    """Dotted fields ``?q=`` matches by case-insensitive prefix."""
    q_limit: int | None = None
    """Default page size of a ``q`` search where Okta has its own (users: 10)."""
    filter: frozenset[str] | None = None
    """Attributes ``?filter=`` may name; ``None`` = no filter parameter."""
    search: bool = False
    hidden: Callable[[Doc], bool] | None = None
    """Left out unless ``filter``/``search`` asks (Okta hides DEPROVISIONED users)."""
    view: Callable[[OrgState, Doc], Doc] | None = None
    """The document ``filter`` sees (e.g. an app with ``user.id`` / ``group.id``)."""
    select: Callable[[Ctx, list[Doc]], list[Doc]] | None = None
    """The resource's own query parameters (``type`` and ``status`` of policies)."""


@dataclass(frozen=True)
class Lifecycle:
    """``POST …/lifecycle/{activate|deactivate}``."""

    answer: str = "empty"
    """``empty``: 200 ``{}``; ``none``: 204; ``object``: 200 with the object."""
    check: Callable[[Ctx, Doc, str], None] | None = None
    touch: bool = True


@dataclass(frozen=True)
class Resource:
    """One Okta collection; see the module docstring."""

    kind: str
    """Document kind in the store."""
    path: str
    """Collection route (``/api/v1/apps``); under a parent, relative to the parent's item
    route (``claims`` → ``/api/v1/authorizationServers/{authServerId}/claims``)."""
    id_param: str
    okta_type: str
    """Okta's name for it in 404 summaries (``AppInstance``, ``OAuth2Claim`` …)."""
    prefix: str | Callable[[Doc], str]
    render: Render
    build: Build | None = None
    parent: Resource | None = None
    scope: str = ""
    """``okta.apps`` → ``okta.apps.read`` for reads, ``okta.apps.manage`` for writes; under a
    parent, the parent's by default."""
    schema: str = ""
    """The component of Okta's management spec its objects follow (default: ``okta_type``)."""
    listing: Listing = field(default_factory=Listing)
    create_status: int = 200
    timestamps: bool = True
    merge: bool = True
    """PUT keeps stored fields the body does not set (else: replaces all but id/created)."""
    lifecycle: Lifecycle | None = None
    system: str | None = None
    """Error code a ``system`` object answers PUT/DELETE with (E0000111 or E0000006)."""
    protect_put: bool = True
    """False: a system object may still be replaced (Okta keeps its name), only DELETE fails."""
    delete_check: Hook | None = None
    """Raises what Okta answers when the object cannot be deleted yet (e.g. still ACTIVE)."""
    links: tuple[tuple[str, str], ...] = ()
    """``(link kind, side)`` pairs dropped when the object is deleted."""
    on_delete: Hook | None = None
    """Runs before the object, its children and links are removed (e.g. re-map apps)."""
    after_create: Hook | None = None
    """Runs after a create (e.g. what a new authorization server holds)."""
    lookup: Callable[[OrgState, str], Doc | None] | None = None
    """Finds a top-level object by path value (aliases: ``default``, a user's login)."""
    ops: tuple[str, ...] = ("list", "create", "get", "replace", "delete")
    custom: Mapping[str, Endpoint] = field(default_factory=dict)
    """Endpoints of this resource with behaviour of their own, by op name."""
    update_methods: tuple[str, ...] = ("PUT",)

    def __post_init__(self) -> None:
        if self.parent is not None:
            if not self.path.startswith("/"):
                object.__setattr__(self, "path", f"{self.parent.item}/{self.path}")
            if not self.scope:
                object.__setattr__(self, "scope", self.parent.scope)
        if not self.schema:
            object.__setattr__(self, "schema", self.okta_type)
        REGISTRY.append(self)

    @property
    def item(self) -> str:
        return f"{self.path}/{{{self.id_param}}}"

    def chain(self) -> list[Resource]:
        """This resource's ancestors, outermost first."""
        out: list[Resource] = []
        node = self.parent
        while node is not None:
            out.insert(0, node)
            node = node.parent
        return out

    def href(self, doc: Doc, parent_ids: list[str]) -> str:
        """The item path of ``doc`` under parents with these ids."""
        path = self.item
        for res, pid in zip(self.chain(), parent_ids, strict=True):
            path = path.replace(f"{{{res.id_param}}}", pid)
        return path.replace(f"{{{self.id_param}}}", doc["id"])

    def show(self, org: OrgState, doc: Doc, *parent_ids: str) -> Doc:
        return self.render(org, doc, self.href(doc, list(parent_ids)))

    def find(self, org: OrgState, value: str, parent_id: str = "") -> Doc:
        """The object named by a path value (under ``parent_id``), else Okta's 404."""
        doc = self.lookup(org, value) if self.lookup else org.get(self.kind, value)
        if (
            doc is not None
            and self.parent is not None
            and org.parent_of(self.kind, doc["id"]) != (parent_id)
        ):
            doc = None
        if doc is None:
            raise not_found(f"Resource not found: {value} ({self.okta_type})")
        return doc

    def children(self) -> list[Resource]:
        return [r for r in REGISTRY if r.parent is self]

    def remove(self, org: OrgState, doc: Doc) -> None:
        """Delete ``doc`` with its child objects and links (no precondition checked)."""
        for child in self.children():
            for sub in org.list(child.kind, parent=doc["id"]):
                child.remove(org, sub)
        for kind, side in self.links:
            org.unlink(kind, **{side: doc["id"]})
        org.delete(self.kind, doc["id"])


REGISTRY: list[Resource] = []


def resource(kind: str) -> Resource:
    """The declaration of ``kind`` (see :mod:`.resources`), for a module's own endpoints.

    Looked up at run time, so that a resource module need not import the table that imports
    it; a missing declaration is a programming error (KeyError).
    """
    for res in REGISTRY:
        if res.kind == kind:
            return res
    raise KeyError(kind)


@dataclass
class Ctx:
    """One request on one resource: the org, the parents found, the object (item ops)."""

    request: Request
    org: OrgState
    res: Resource
    parents: list[Doc]
    doc: Doc | None = None

    @property
    def parent(self) -> Doc | None:
        return self.parents[-1] if self.parents else None

    @property
    def parent_id(self) -> str:
        return self.parents[-1]["id"] if self.parents else ""

    def show(self, doc: Doc, res: Resource | None = None) -> Doc:
        res = res or self.res
        return res.show(self.org, doc, *(p["id"] for p in self.parents))


def siblings(ctx: Ctx, existing: Doc | None) -> list[Doc]:
    """The other objects of the request's collection (for uniqueness checks on create/PUT)."""
    parent = ctx.parent_id if ctx.res.parent else None
    mine = existing["id"] if existing else None
    return [d for d in ctx.org.list(ctx.res.kind, parent=parent) if d["id"] != mine]


def duplicate(field: str) -> OktaApiError:
    """Okta's E0000001 for a value that must be unique in the org."""
    return validation(
        field, f"{field}: An object with this field already exists in the current organization"
    )


def context(res: Resource, request: Request, access: str, *, item: bool) -> Ctx:
    """Authorize (``read``/``manage``), then find the parents and, for item ops, the object."""
    require_admin(request, f"{res.scope}.{access}")
    org = org_of(request)
    parents: list[Doc] = []
    for ancestor in res.chain():
        parent_id = parents[-1]["id"] if parents else ""
        parents.append(ancestor.find(org, request.path_params[ancestor.id_param], parent_id))
    ctx = Ctx(request, org, res, parents)
    if item:
        ctx.doc = res.find(org, request.path_params[res.id_param], ctx.parent_id)
    return ctx


# ---- pagination -----------------------------------------------------------------------------


def parse_limit(request: Request, default: int, maximum: int = 200) -> int:
    """``?limit=``: absent or negative → ``default``; above ``maximum`` → ``maximum``."""
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise OktaApiError("E0000001", "limit", ["limit: must be an integer"]) from exc
    if value < 0:
        return default
    return min(value, maximum) if maximum > 0 else value


def paginate(
    request: Request,
    items: list[Doc],
    *,
    default_limit: int = 0,
    max_limit: int = 200,
    key: str = "id",
) -> Response:
    """One page of ``items`` after the ``after`` cursor, with Okta's ``link`` headers.

    ``rel="self"`` repeats the request; ``rel="next"`` (only while more follow) carries the
    same parameters with ``limit`` and ``after`` = the last id of this page. An unknown cursor
    answers an empty page, as Okta does. Objects hidden by an injected ``hide_recent`` fault
    (eventual consistency, see :mod:`.faults`) are left out here, for every list.
    """
    org = org_of(request)
    window = org.faults.hide_recent(request.method, request.url.path)
    if window:
        cutoff = now_iso(time.time() - window / 1000)
        items = [
            i for i in items if not isinstance(i.get("created"), str) or i["created"] <= cutoff
        ]
    limit = parse_limit(request, default_limit, max_limit)
    after = request.query_params.get("after")
    start = 0
    if after:
        start = next((i + 1 for i, item in enumerate(items) if item.get(key) == after), len(items))
    page = items[start : start + limit] if limit > 0 else items[start:]
    base = org.url(request.url.path)
    self_qs = urlencode(list(request.query_params.multi_items()))
    response = JSONResponse(page)
    response.headers.append("link", f'<{base}{"?" + self_qs if self_qs else ""}>; rel="self"')
    if limit > 0 and start + limit < len(items) and page:
        params = [
            (k, v) for k, v in request.query_params.multi_items() if k not in ("after", "limit")
        ]
        next_qs = urlencode([*params, ("limit", str(limit)), ("after", str(page[-1].get(key)))])
        response.headers.append("link", f'<{base}?{next_qs}>; rel="next"')
    return response


def _dotted(doc: Doc, path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def select(ctx: Ctx, docs: list[Doc], listing: Listing) -> tuple[list[Doc], int]:
    """Apply the resource's own parameters, ``q``, ``filter`` and ``search``; the page size."""
    params = ctx.request.query_params
    default = listing.default_limit
    if listing.select is not None:
        docs = listing.select(ctx, docs)
    q = params.get("q")
    if q and listing.q:
        low = q.lower()
        docs = [
            d
            for d in docs
            if any(str(_dotted(d, f) or "").lower().startswith(low) for f in listing.q)
        ]
        default = listing.q_limit or default
    searched = False
    for name, allowed in (("filter", listing.filter), ("search", None)):
        text = params.get(name)
        if not text or (name == "filter" and listing.filter is None):
            continue
        if name == "search" and not listing.search:
            continue
        try:
            pred = compile_filter(text, allowed)
        except ValueError as exc:
            raise OktaApiError("E0000031") from exc
        view = listing.view
        docs = [d for d in docs if pred(view(ctx.org, d) if view else d)]
        searched = True
    if listing.hidden is not None and not searched:
        docs = [d for d in docs if not listing.hidden(d)]
    return docs, default


# ---- the generic handlers ---------------------------------------------------------------------


async def list_op(ctx: Ctx) -> Response:
    res = ctx.res
    docs = ctx.org.list(res.kind, parent=ctx.parent_id if res.parent else None)
    docs, default = select(ctx, docs, res.listing)
    return paginate(
        ctx.request,
        [ctx.show(d) for d in docs],
        default_limit=default,
        max_limit=res.listing.max_limit,
    )


def new_doc(ctx: Ctx, fields: Doc) -> Doc:
    """A new object: an Okta-shaped id, the validated fields, ``created``/``lastUpdated``."""
    res = ctx.res
    prefix = res.prefix(fields) if callable(res.prefix) else res.prefix
    doc = {"id": new_id(prefix), **fields}
    if res.timestamps:
        now = now_iso()
        doc.setdefault("created", now)
        doc.setdefault("lastUpdated", now)
    return doc


async def create_op(ctx: Ctx) -> Response:
    res = ctx.res
    assert res.build is not None
    body = await read_json(ctx.request, required=True)
    doc = new_doc(ctx, res.build(ctx, body, None))
    ctx.org.put(res.kind, doc["id"], doc, parent=ctx.parent_id)
    if res.after_create is not None:
        res.after_create(ctx, doc)
    return json_response(ctx.show(doc), status=res.create_status)


async def get_op(ctx: Ctx) -> Response:
    assert ctx.doc is not None
    return json_response(ctx.show(ctx.doc))


def refuse_system(ctx: Ctx, doc: Doc) -> None:
    if ctx.res.system and doc.get("system"):
        raise OktaApiError(ctx.res.system, ctx.res.okta_type)


async def replace_op(ctx: Ctx) -> Response:
    res, doc = ctx.res, ctx.doc
    assert res.build is not None and doc is not None
    if res.protect_put:
        refuse_system(ctx, doc)
    body = await read_json(ctx.request, required=True)
    fields = res.build(ctx, body, doc)
    updated = {**doc, **fields} if res.merge else {"id": doc["id"], **fields}
    if res.timestamps:
        updated["created"] = doc["created"]
        updated["lastUpdated"] = now_iso()
    ctx.org.put(res.kind, doc["id"], updated, parent=ctx.parent_id)
    return json_response(ctx.show(updated))


async def delete_op(ctx: Ctx) -> Response:
    res, doc = ctx.res, ctx.doc
    assert doc is not None
    refuse_system(ctx, doc)
    if res.delete_check is not None:
        res.delete_check(ctx, doc)
    if res.on_delete is not None:
        res.on_delete(ctx, doc)
    res.remove(ctx.org, doc)
    return no_content()


async def lifecycle_op(ctx: Ctx) -> Response:
    res, doc, spec = ctx.res, ctx.doc, ctx.res.lifecycle
    assert doc is not None and spec is not None
    action = lifecycle_action(ctx.request)
    if spec.check is not None:
        spec.check(ctx, doc, action)
    doc["status"] = LIFECYCLE_STATUS[action]
    if spec.touch:
        doc["lastUpdated"] = now_iso()
    ctx.org.put(res.kind, doc["id"], doc, parent=ctx.parent_id)
    if spec.answer == "none":
        return no_content()
    if spec.answer == "object":
        return json_response(ctx.show(doc))
    return json_response({})


GENERIC: dict[str, Endpoint] = {
    "list": list_op,
    "create": create_op,
    "get": get_op,
    "replace": replace_op,
    "delete": delete_op,
    "lifecycle": lifecycle_op,
}
# op → (read or manage, item op?, methods)
OPS: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    "list": ("read", False, ("GET",)),
    "create": ("manage", False, ("POST",)),
    "get": ("read", True, ("GET",)),
    "replace": ("manage", True, ("PUT",)),
    "delete": ("manage", True, ("DELETE",)),
    "lifecycle": ("manage", True, ("POST",)),
}


def endpoint(res: Resource, op: str) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of ``op`` on ``res``: authorize, find, then the handler."""
    access, item, _ = OPS[op]
    handler = res.custom.get(op) or GENERIC[op]

    async def serve(request: Request) -> Response:
        return await handler(context(res, request, access, item=item))

    serve.__name__ = f"{op}_{res.kind}"
    return serve


def routes(*resources: Resource) -> list[Route]:
    """Routes for the declared ops of ``resources`` (lifecycle when declared)."""
    out: list[Route] = []
    for res in resources:
        ops = [*res.ops, *(["lifecycle"] if res.lifecycle or "lifecycle" in res.custom else [])]
        for op in ops:
            _, item, methods = OPS[op]
            path = res.item if item else res.path
            if op == "lifecycle":
                path += "/lifecycle/{action}"
            if op == "replace":
                methods = res.update_methods
            out.append(Route(path, endpoint(res, op), methods=list(methods)))
    return out


def links(org: OrgState, path: str, status: str, **extra: Doc) -> Doc:
    """The ``_links`` most Okta objects carry: ``self`` and the next lifecycle operation."""
    lifecycle = "deactivate" if status == "ACTIVE" else "activate"
    return {
        "self": {"href": org.url(path), "hints": {"allow": ["GET", "PUT", "DELETE"]}},
        lifecycle: {"href": org.url(f"{path}/lifecycle/{lifecycle}"), "hints": {"allow": ["POST"]}},
        **extra,
    }
