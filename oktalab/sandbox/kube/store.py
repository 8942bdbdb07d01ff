"""The Kubernetes object store: what etcd is to an API server.

Objects are JSON documents keyed by ``(group, plural, namespace, name)``; cluster-scoped
objects use ``namespace=""``. The core group is ``""``. One counter gives every write a new
``resourceVersion`` (a decimal string, increasing across restarts), and every write is also
appended to an event log so that watches can resume from a resourceVersion.

The store fills the metadata a cluster fills on create (``uid``, ``creationTimestamp``,
``resourceVersion``, ``generation`` = 1 when absent) and bumps ``resourceVersion`` on every
update. Validation, defaulting, pruning, generation bumps on spec changes and the status
subresource rules belong to the API layer, which knows the schemas.

Listeners (``add_listener``) are called synchronously after each committed write with a
:class:`WatchEvent`; controllers and watch streams use them. Write from the event loop
thread, or make listeners thread-safe.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..store import Database

Obj = dict[str, Any]

EVENT_LOG_KEEP = 5000  # events kept for watch resumption; older resourceVersions get 410 Gone


class StoreConflict(Exception):
    """The caller's resourceVersion is stale (HTTP 409 Conflict)."""


class StoreAlreadyExists(Exception):
    """An object with this key already exists (HTTP 409 AlreadyExists)."""


class StoreNotFound(Exception):
    """No object with this key (HTTP 404 NotFound)."""


class StoreGone(Exception):
    """The requested resourceVersion is older than the event log keeps (HTTP 410 Gone)."""


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    group: str
    plural: str
    namespace: str
    name: str
    object: Obj
    resource_version: int


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS kube_objects (
  grp TEXT NOT NULL, plural TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
  rv INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (grp, plural, ns, name)
);
CREATE TABLE IF NOT EXISTS kube_events (
  rv INTEGER PRIMARY KEY, type TEXT NOT NULL,
  grp TEXT NOT NULL, plural TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kube_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class ObjectStore:
    """CRUD over Kubernetes objects with resourceVersions, an event log and listeners."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.db.executescript(_SCHEMA)
        self._listeners: list[Callable[[WatchEvent], None]] = []

    # -- versions -------------------------------------------------------------------------
    def current_rv(self) -> int:
        row = self.db.query("SELECT value FROM kube_meta WHERE key='rv'")
        return int(row[0]["value"]) if row else 0

    def _next_rv(self, conn: Any) -> int:
        row = conn.execute("SELECT value FROM kube_meta WHERE key='rv'").fetchone()
        rv = (int(row["value"]) if row else 0) + 1
        conn.execute(
            "INSERT INTO kube_meta(key, value) VALUES('rv', ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (str(rv),),
        )
        return rv

    # -- reads ----------------------------------------------------------------------------
    def get(self, group: str, plural: str, namespace: str, name: str) -> Obj | None:
        rows = self.db.query(
            "SELECT body FROM kube_objects WHERE grp=? AND plural=? AND ns=? AND name=?",
            (group, plural, namespace, name),
        )
        return json.loads(rows[0]["body"]) if rows else None

    def list(self, group: str, plural: str, namespace: str | None = None) -> tuple[list[Obj], int]:
        """Objects of one resource (all namespaces when ``namespace`` is None) and the list RV."""
        with self.db.transaction() as conn:
            if namespace is None:
                rows = conn.execute(
                    "SELECT body FROM kube_objects WHERE grp=? AND plural=? ORDER BY ns, name",
                    (group, plural),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT body FROM kube_objects WHERE grp=? AND plural=? AND ns=? ORDER BY name",
                    (group, plural, namespace),
                ).fetchall()
            row = conn.execute("SELECT value FROM kube_meta WHERE key='rv'").fetchone()
        return [json.loads(r["body"]) for r in rows], (int(row["value"]) if row else 0)

    def events_since(self, rv: int) -> list[WatchEvent]:
        """Events after ``rv``, oldest first; raises StoreGone when ``rv`` is too old."""
        oldest = self.db.query("SELECT MIN(rv) AS m FROM kube_events")[0]["m"]
        if oldest is not None and rv < oldest - 1:
            raise StoreGone(f"too old resource version: {rv} ({oldest - 1})")
        rows = self.db.query("SELECT * FROM kube_events WHERE rv > ? ORDER BY rv", (rv,))
        return [
            WatchEvent(
                r["type"], r["grp"], r["plural"], r["ns"], r["name"], json.loads(r["body"]), r["rv"]
            )
            for r in rows
        ]

    def event_before(
        self, group: str, plural: str, namespace: str, name: str, rv: int
    ) -> WatchEvent | None:
        """The last logged event of one object before ``rv`` (None when not in the log).

        Lets a resumed watch know whether an object matched its selector before a change.
        """
        rows = self.db.query(
            "SELECT * FROM kube_events WHERE grp=? AND plural=? AND ns=? AND name=? AND rv < ? "
            "ORDER BY rv DESC LIMIT 1",
            (group, plural, namespace, name, rv),
        )
        if not rows:
            return None
        r = rows[0]
        return WatchEvent(
            r["type"], r["grp"], r["plural"], r["ns"], r["name"], json.loads(r["body"]), r["rv"]
        )

    def dependents(self, uid: str) -> Sequence[tuple[str, str, str, str, Obj]]:
        """``(group, plural, namespace, name, object)`` of objects with an ownerReference to ``uid``."""
        rows = self.db.query(
            "SELECT grp, plural, ns, name, body FROM kube_objects WHERE body LIKE ?",
            (f"%{uid}%",),
        )
        out = []
        for r in rows:
            obj = json.loads(r["body"])
            refs = (obj.get("metadata") or {}).get("ownerReferences") or []
            if any(isinstance(ref, dict) and ref.get("uid") == uid for ref in refs):
                out.append((r["grp"], r["plural"], r["ns"], r["name"], obj))
        return out

    # -- writes ---------------------------------------------------------------------------
    def create(self, group: str, plural: str, namespace: str, name: str, obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta["name"] = name
        if namespace:
            meta["namespace"] = namespace
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        meta.setdefault("generation", 1)
        with self.db.transaction() as conn:
            exists = conn.execute(
                "SELECT 1 FROM kube_objects WHERE grp=? AND plural=? AND ns=? AND name=?",
                (group, plural, namespace, name),
            ).fetchone()
            if exists:
                raise StoreAlreadyExists(name)
            rv = self._next_rv(conn)
            meta["resourceVersion"] = str(rv)
            self._write(conn, "ADDED", group, plural, namespace, name, obj, rv)
        self._notify(WatchEvent("ADDED", group, plural, namespace, name, obj, rv))
        return copy.deepcopy(obj)

    def update(
        self,
        group: str,
        plural: str,
        namespace: str,
        name: str,
        obj: Obj,
        *,
        expect_rv: str | None = None,
    ) -> Obj:
        """Replace an object. ``expect_rv`` (when given) must equal the stored resourceVersion."""
        obj = copy.deepcopy(obj)
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT rv, body FROM kube_objects WHERE grp=? AND plural=? AND ns=? AND name=?",
                (group, plural, namespace, name),
            ).fetchone()
            if row is None:
                raise StoreNotFound(name)
            if expect_rv is not None and str(row["rv"]) != str(expect_rv):
                raise StoreConflict(name)
            old_meta = json.loads(row["body"]).get("metadata", {})
            meta = obj.setdefault("metadata", {})
            meta["name"] = name
            if namespace:
                meta["namespace"] = namespace
            for key in ("uid", "creationTimestamp"):
                meta[key] = old_meta.get(key)
            meta.setdefault("generation", old_meta.get("generation", 1))
            rv = self._next_rv(conn)
            meta["resourceVersion"] = str(rv)
            self._write(conn, "MODIFIED", group, plural, namespace, name, obj, rv)
        self._notify(WatchEvent("MODIFIED", group, plural, namespace, name, obj, rv))
        return copy.deepcopy(obj)

    def delete(self, group: str, plural: str, namespace: str, name: str) -> Obj:
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT body FROM kube_objects WHERE grp=? AND plural=? AND ns=? AND name=?",
                (group, plural, namespace, name),
            ).fetchone()
            if row is None:
                raise StoreNotFound(name)
            obj = json.loads(row["body"])
            rv = self._next_rv(conn)
            obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
            conn.execute(
                "DELETE FROM kube_objects WHERE grp=? AND plural=? AND ns=? AND name=?",
                (group, plural, namespace, name),
            )
            self._log(conn, "DELETED", group, plural, namespace, name, obj, rv)
        self._notify(WatchEvent("DELETED", group, plural, namespace, name, obj, rv))
        return obj

    def _write(
        self, conn: Any, type_: str, g: str, p: str, ns: str, name: str, obj: Obj, rv: int
    ) -> None:
        conn.execute(
            "INSERT INTO kube_objects(grp, plural, ns, name, rv, body) VALUES(?,?,?,?,?,?) "
            "ON CONFLICT(grp, plural, ns, name) DO UPDATE SET rv=excluded.rv, body=excluded.body",
            (g, p, ns, name, rv, json.dumps(obj, separators=(",", ":"))),
        )
        self._log(conn, type_, g, p, ns, name, obj, rv)

    def _log(
        self, conn: Any, type_: str, g: str, p: str, ns: str, name: str, obj: Obj, rv: int
    ) -> None:
        conn.execute(
            "INSERT INTO kube_events(rv, type, grp, plural, ns, name, body) VALUES(?,?,?,?,?,?,?)",
            (rv, type_, g, p, ns, name, json.dumps(obj, separators=(",", ":"))),
        )
        conn.execute("DELETE FROM kube_events WHERE rv <= ?", (rv - EVENT_LOG_KEEP,))

    # -- listeners ------------------------------------------------------------------------
    def add_listener(self, fn: Callable[[WatchEvent], None]) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[WatchEvent], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _notify(self, event: WatchEvent) -> None:
        for fn in list(self._listeners):
            fn(event)
