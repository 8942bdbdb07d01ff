"""State of the sandbox Okta org: a small document store in the shared SQLite file.

Every object (app, user, group, authorization server, claim, policy, grant …) is one JSON
document in ``okta_docs`` keyed by (kind, id); many-to-many relations (group members, app
assignments, app → policy mappings) live in ``okta_links``. Insertion order (``seq``) gives the
stable ordering that Okta's cursor pagination needs. Nothing is cached in memory except parsed
signing keys, so a restarted sandbox on the same file resumes exactly where it stopped.

This module sits below every resource module; seeding the org's built-ins (which needs the
resources) lives above them in :mod:`.org`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import time
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from oktalab.sandbox.store import Database

from .faults import Faults
from .ratelimit import RateLimiter

SCHEMA = """
CREATE TABLE IF NOT EXISTS okta_docs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL,
    UNIQUE (kind, id)
);
CREATE INDEX IF NOT EXISTS okta_docs_parent ON okta_docs (kind, parent);
CREATE TABLE IF NOT EXISTS okta_links (
    kind TEXT NOT NULL,
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (kind, a, b)
);
CREATE INDEX IF NOT EXISTS okta_links_b ON okta_links (kind, b);
CREATE TABLE IF NOT EXISTS okta_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_ALNUM = string.ascii_letters + string.digits
#: Key statuses of an authorization server, in the order Okta lists them
#: (``GET /api/v1/authorizationServers/{id}/credentials/keys``, AuthorizationServerJsonWebKey).
KEY_ORDER = ("ACTIVE", "NEXT", "EXPIRED")


def new_id(prefix: str, length: int = 20) -> str:
    """Okta-shaped ids: a type prefix (``0oa`` app, ``00u`` user …) padded to 20 characters."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length - len(prefix)))


def now_iso(ts: float | None = None) -> str:
    dt = datetime.fromtimestamp(ts if ts is not None else time.time(), UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        _, salt_b64, digest_b64 = stored.split("$")
        salt = base64.b64decode(salt_b64)
        digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
        return hmac.compare_digest(digest, base64.b64decode(digest_b64))
    except (ValueError, TypeError):
        return False


def sha256_b64(value: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()).decode().rstrip("=")


class SigningKey:
    """An RS256 key of one authorization server (or of the org AS, id ``org``)."""

    def __init__(self, kid: str, pem: bytes) -> None:
        self.kid = kid
        self.private = serialization.load_pem_private_key(pem, password=None)
        self.public = self.private.public_key()

    def jwk(self) -> dict[str, str]:
        nums = self.public.public_numbers()

        def b64(n: int) -> str:
            raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")

        return {
            "kty": "RSA",
            "alg": "RS256",
            "kid": self.kid,
            "use": "sig",
            "e": b64(nums.e),
            "n": b64(nums.n),
        }


#: Key owner of the org authorization server's *access tokens*. Okta signs them with a key it
#: does not publish at ``/oauth2/v1/keys``: they are for Okta's own APIs (and introspection),
#: not for local validation (developer.okta.com/docs/concepts/auth-servers/
#: #org-authorization-server). ID tokens of the org server use the published key.
ORG_ACCESS_TOKEN_KEYS = "org-access-tokens"


class OrgState:
    """The stored state of one Okta org in ``db``; all absolute URLs derive from ``org_url``."""

    def __init__(self, db: Database, *, org_url: str) -> None:
        self.db = db
        self.org_url = org_url.rstrip("/")
        self.db.executescript(SCHEMA)
        self.rate_limiter = RateLimiter()
        self.faults = Faults.from_env()
        self._keys: dict[str, list[SigningKey]] = {}

    # ---- documents -------------------------------------------------------------------------
    def get(self, kind: str, id_: str) -> dict[str, Any] | None:
        rows = self.db.query("SELECT data FROM okta_docs WHERE kind=? AND id=?", (kind, id_))
        return json.loads(rows[0]["data"]) if rows else None

    def put(self, kind: str, id_: str, data: dict[str, Any], parent: str = "") -> dict[str, Any]:
        self.db.execute(
            "INSERT INTO okta_docs (kind, id, parent, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, id) DO UPDATE SET data=excluded.data, parent=excluded.parent",
            (kind, id_, parent, json.dumps(data)),
        )
        return data

    def parent_of(self, kind: str, id_: str) -> str | None:
        """The parent id a document was stored under (``""`` for top-level ones)."""
        rows = self.db.query("SELECT parent FROM okta_docs WHERE kind=? AND id=?", (kind, id_))
        return rows[0]["parent"] if rows else None

    def delete(self, kind: str, id_: str) -> bool:
        cur = self.db.execute("DELETE FROM okta_docs WHERE kind=? AND id=?", (kind, id_))
        return cur.rowcount > 0

    def take(self, kind: str, id_: str) -> dict[str, Any] | None:
        """Read and delete atomically: one-time artefacts (codes, session tokens)."""
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT data FROM okta_docs WHERE kind=? AND id=?", (kind, id_)
            ).fetchall()
            if not rows:
                return None
            conn.execute("DELETE FROM okta_docs WHERE kind=? AND id=?", (kind, id_))
            return json.loads(rows[0]["data"])

    def list(self, kind: str, parent: str | None = None) -> list[dict[str, Any]]:
        if parent is None:
            rows = self.db.query("SELECT data FROM okta_docs WHERE kind=? ORDER BY seq", (kind,))
        else:
            rows = self.db.query(
                "SELECT data FROM okta_docs WHERE kind=? AND parent=? ORDER BY seq", (kind, parent)
            )
        return [json.loads(r["data"]) for r in rows]

    def purge_expired(self, kind: str) -> None:
        now = time.time()
        for row in self.db.query("SELECT id, data FROM okta_docs WHERE kind=?", (kind,)):
            if json.loads(row["data"]).get("expires", now + 1) < now:
                self.delete(kind, row["id"])

    # ---- links -------------------------------------------------------------------------------
    def link(self, kind: str, a: str, b: str, data: dict[str, Any] | None = None) -> None:
        self.db.execute(
            "INSERT INTO okta_links (kind, a, b, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, a, b) DO UPDATE SET data=excluded.data",
            (kind, a, b, json.dumps(data or {})),
        )

    @staticmethod
    def _link_where(kind: str, a: str | None, b: str | None) -> tuple[str, tuple[str, ...]]:
        clauses, params = ["kind=?"], [kind]
        for column, value in (("a", a), ("b", b)):
            if value is not None:
                clauses.append(f"{column}=?")
                params.append(value)
        return " AND ".join(clauses), tuple(params)

    def unlink(self, kind: str, a: str | None = None, b: str | None = None) -> int:
        where, params = self._link_where(kind, a, b)
        return self.db.execute(f"DELETE FROM okta_links WHERE {where}", params).rowcount

    def links(
        self, kind: str, a: str | None = None, b: str | None = None
    ) -> list[tuple[str, str, dict[str, Any]]]:
        where, params = self._link_where(kind, a, b)
        rows = self.db.query(
            f"SELECT a, b, data FROM okta_links WHERE {where} ORDER BY rowid", params
        )
        return [(r["a"], r["b"], json.loads(r["data"])) for r in rows]

    # ---- meta --------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        rows = self.db.query("SELECT value FROM okta_meta WHERE key=?", (key,))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO okta_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def builtin(
        self, key: str, kind: str, prefix: str, fields: dict[str, Any], parent: str = ""
    ) -> tuple[str, bool]:
        """A built-in object a new org holds, created once: ``(id, created now?)``.

        Its id is kept in meta ``key``; ``fields`` (without id and timestamps) make it when the
        meta key or the object is missing.
        """
        existing = self.meta(key)
        if existing and self.get(kind, existing) is not None:
            return existing, False
        now = now_iso()
        doc = {"id": new_id(prefix), **fields, "created": now, "lastUpdated": now}
        self.put(kind, doc["id"], doc, parent=parent)
        self.set_meta(key, doc["id"])
        return doc["id"], True

    @property
    def org_id(self) -> str:
        value = self.meta("org_id")
        if value is None:
            value = new_id("00o")
            self.set_meta("org_id", value)
        return value

    # ---- auth --------------------------------------------------------------------------------
    def check_api_token(self, token: str) -> bool:
        stored = self.meta("api_token_sha256")
        return stored is not None and hmac.compare_digest(stored, sha256_b64(token))

    # ---- signing keys --------------------------------------------------------------------------
    def signing_key(self, owner: str) -> SigningKey:
        """The ACTIVE key of an authorization server (``org`` = the org AS); created on demand."""
        return self.signing_keys(owner)[0]

    def key_statuses(self, owner: str) -> list[tuple[SigningKey, str]]:
        """Published keys with their Okta status, ACTIVE first, then NEXT, then EXPIRED.

        As Okta's management API documents them: the ACTIVE key signs; a NEXT key, once
        generated, is published before it becomes active (so caches pick it up); the EXPIRED
        key is the previous one, still published so tokens it signed keep verifying until
        the next rotation drops it.
        """
        if owner not in self._keys:
            docs = self.list("key", parent=owner)
            if not docs:
                docs = [self._new_key(owner, "ACTIVE")]
            if not any(d.get("status") == "ACTIVE" for d in docs):  # stored before statuses
                docs[-1]["status"] = "ACTIVE"
                self.put("key", docs[-1]["kid"], docs[-1], parent=owner)
            docs = sorted(
                (d for d in docs if d.get("status") in KEY_ORDER),
                key=lambda d: KEY_ORDER.index(d["status"]),
            )
            self._keys[owner] = [
                (SigningKey(d["kid"], d["pem"].encode()), d["status"]) for d in docs
            ]
        return self._keys[owner]

    def signing_keys(self, owner: str) -> list[SigningKey]:
        """The keys published in the JWKS (``jwks_uri``): ACTIVE, NEXT if generated, EXPIRED."""
        return [k for k, _ in self.key_statuses(owner)]

    def key_by_kid(self, owner: str, kid: Any) -> SigningKey | None:
        return next((k for k in self.signing_keys(owner) if k.kid == kid), None)

    def rotate_key(self, owner: str) -> SigningKey:
        """``keyRotate``: the ACTIVE key becomes EXPIRED (the older EXPIRED one is dropped),
        the NEXT key (a new one if none was generated) becomes ACTIVE and signs from now on."""
        self.key_statuses(owner)  # creates the first key; statuses of keys stored before them
        docs = self.list("key", parent=owner)
        nxt = next((d for d in docs if d.get("status") == "NEXT"), None)
        for d in docs:
            if d.get("status") in ("EXPIRED", None):
                self.delete("key", d["kid"])
            elif d.get("status") == "ACTIVE":
                self.put("key", d["kid"], {**d, "status": "EXPIRED"}, parent=owner)
        if nxt is not None:
            self.put("key", nxt["kid"], {**nxt, "status": "ACTIVE"}, parent=owner)
        else:
            self._new_key(owner, "ACTIVE")
        self._keys.pop(owner, None)
        return self.signing_key(owner)

    def publish_next_key(self, owner: str) -> SigningKey:
        """Generate and publish the NEXT key (what Okta does weeks before an AUTO rotation)."""
        self.key_statuses(owner)
        nxt = next((d for d in self.list("key", parent=owner) if d.get("status") == "NEXT"), None)
        doc = nxt or self._new_key(owner, "NEXT")
        self._keys.pop(owner, None)
        return SigningKey(doc["kid"], doc["pem"].encode())

    def _new_key(self, owner: str, status: str) -> dict[str, Any]:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        kid = secrets.token_urlsafe(32)
        doc = {"kid": kid, "pem": pem.decode(), "created": now_iso(), "status": status}
        return self.put("key", kid, doc, parent=owner)

    def url(self, path: str) -> str:
        return self.org_url + path
