"""A small Okta Management API client: SSWS auth, rate-limit aware retries, Link pagination.

Written against Okta's published API, not against the sandbox: the same calls run against a
real org. Writes are safe to retry only where Okta says nothing happened (429), so a retried
POST never creates twice.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from . import __version__, tls
from .errors import OktaAPIError, RateLimited
from .ratelimit import Budget, BudgetTransport, budget_for, server_time
from .settings import Secret
from .writegate import before_write

log = logging.getLogger("oktalab.okta")

Json = dict[str, Any]
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([^";]+)"?')


#: The least ``okta.*`` scopes the stages need with an OAuth 2.0 service app (``.manage``
#: implies ``.read``): apps and their secrets and policy mappings, groups, users (the sign-up
#: test's users and their teardown), authorization servers (claims, scopes, access policies)
#: policies (profile enrollment) and trusted origins (CORS for single-page apps). Okta: "Implement OAuth for Okta with a service app",
#: developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/.
SERVICE_APP_SCOPES = (
    "okta.apps.manage",
    "okta.groups.manage",
    "okta.users.manage",
    "okta.authorizationServers.manage",
    "okta.policies.manage",
    "okta.trustedOrigins.manage",
)
#: Endpoints that accept only an SSWS API token; OAuth tokens get 403 "Invalid session"
#: (E0000005) (github.com/okta/terraform-provider-okta/issues/1253).
SSWS_ONLY_PREFIXES = ("/api/v1/internal/",)


class PrivateKeyJWT:
    """Access tokens for Okta's own APIs from an OAuth 2.0 service app (``client_credentials``
    at the org authorization server, client authentication ``private_key_jwt``).

    ``private_key`` is a PEM (PKCS#8 or PKCS#1) RSA key whose public half is registered in the
    app's JWKS; ``key_id`` is its ``kid`` when the app has several keys. The assertion's
    ``aud`` is the token endpoint, ``iss = sub = client_id``, ``exp`` five minutes ahead, and a
    fresh ``jti`` (RFC 7523 §3; Okta: the service-app guide above). A token is reused until a
    minute before its ``expires_in`` (one hour at Okta).
    """

    def __init__(
        self,
        client_id: str,
        private_key: Secret,
        *,
        key_id: str | None = None,
        scopes: tuple[str, ...] = SERVICE_APP_SCOPES,
    ) -> None:
        self.client_id = client_id
        self._key = private_key
        self.key_id = key_id
        self.scopes = scopes
        self._token: Secret | None = None
        self._expires = 0.0

    def header(self, http: httpx.Client, org_url: str, *, renew: bool = False) -> str:
        if renew or self._token is None or time.time() > self._expires - 60:
            self._fetch(http, org_url)
        assert self._token is not None
        return f"Bearer {self._token.reveal()}"

    def _fetch(self, http: httpx.Client, org_url: str) -> None:
        import uuid

        import jwt

        endpoint = f"{org_url}/oauth2/v1/token"
        now = int(time.time())
        try:
            assertion = jwt.encode(
                {
                    "iss": self.client_id,
                    "sub": self.client_id,
                    "aud": endpoint,
                    "iat": now,
                    "exp": now + 300,
                    "jti": uuid.uuid4().hex,
                },
                self._key.reveal(),
                algorithm="RS256",
                headers={"kid": self.key_id} if self.key_id else None,
            )
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise OktaAPIError(
                status=0,
                method="POST",
                url="/oauth2/v1/token",
                summary=f"the service app's private key (OKTA_PRIVATE_KEY_FILE) is not a usable RSA PEM key: {type(exc).__name__}",
            ) from None
        resp = http.post(
            endpoint,
            data={
                "grant_type": "client_credentials",
                "scope": " ".join(self.scopes),
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            },
            headers={"Accept": "application/json"},
        )
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200 or not body.get("access_token"):
            raise OktaAPIError(
                status=resp.status_code,
                method="POST",
                url="/oauth2/v1/token",
                error_code=str(body.get("error", "")),
                summary=f"the service app {self.client_id} got no access token: "
                f"{body.get('error_description') or body.get('error') or resp.status_code}"
                f" (it needs private_key_jwt and the granted scopes {' '.join(self.scopes)})",
            )
        self._token = Secret(body["access_token"])
        self._expires = time.time() + float(body.get("expires_in", 3600))


class OktaClient:
    """Sync client for one org. ``max_wait`` caps how long a 429 may make us sleep in total.

    Every request first takes a slot of the org's rate-limit budget
    (:func:`oktalab.ratelimit.budget_for`: shared by all clients of the process, and across
    processes when ``OKTALAB_RATE_BUDGET_DIR`` is set), so concurrent workers wait for a
    bucket's reset instead of running into 429s; a 429 that still happens is waited out.
    """

    def __init__(
        self,
        org_url: str,
        token: Secret | PrivateKeyJWT,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        max_wait: float = 120.0,
        page_size: int | None = None,
        transport: httpx.BaseTransport | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.org_url = org_url.rstrip("/")
        self._token = token
        #: ``limit`` sent with every list request (None: each endpoint's default page size).
        self.page_size = page_size
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.requests_made = 0
        self.retries = 0
        #: the org's shared rate-limit budget (see :mod:`oktalab.ratelimit`); default: the
        #: process's (or the run's, with ``OKTALAB_RATE_BUDGET_DIR``) budget of this org
        self.budget = budget or budget_for(self.org_url)
        self._http = httpx.Client(
            base_url=self.org_url,
            timeout=timeout,
            verify=tls.context(),
            transport=BudgetTransport(self.budget, transport),
            headers={"Accept": "application/json", "User-Agent": f"oktalab/{__version__}"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OktaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------
    def request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        """Send one request; retry 429 after X-Rate-Limit-Reset, and 5xx for idempotent methods."""
        if method not in ("GET", "HEAD") and not path.startswith("/api/v1/authn"):
            before_write(f"{method} {path}")  # management API writes (see oktalab.writegate)
        headers = {"Authorization": self._authorization(path)}
        if method in ("POST", "PUT") and json is None:
            headers["Content-Length"] = "0"
        waited = 0.0
        attempt = 0
        renewed = isinstance(self._token, Secret)
        while True:
            attempt += 1
            self.requests_made += 1
            try:
                resp = self._http.request(method, path, json=json, params=params, headers=headers)
            except httpx.TransportError as exc:
                if method in ("GET", "PUT", "DELETE") and attempt <= self.max_retries:
                    self.retries += 1
                    time.sleep(min(0.1 * 2**attempt, 2.0))
                    continue
                raise OktaAPIError(
                    status=0,
                    method=method,
                    url=path,
                    summary=f"connection failed: {exc.__class__.__name__}",
                ) from None
            if resp.status_code == 401 and not renewed:  # the service-app token expired early
                renewed = True
                headers["Authorization"] = self._authorization(path, renew=True)
                continue
            if resp.status_code == 429 and attempt <= self.max_retries:
                delay = self._reset_delay(resp, attempt)
                if waited + delay <= self.max_wait:
                    log.info("rate limited on %s %s; waiting %.1fs", method, path, delay)
                    self.retries += 1
                    time.sleep(delay)
                    waited += delay
                    continue
            if (
                resp.status_code in (500, 502, 503, 504)
                and method in ("GET", "PUT", "DELETE")
                and attempt <= self.max_retries
            ):
                self.retries += 1
                time.sleep(min(0.1 * 2**attempt, 2.0))
                continue
            if resp.status_code >= 400:
                try:
                    body = resp.json()
                except ValueError:
                    body = None
                cls = RateLimited if resp.status_code == 429 else OktaAPIError
                err = cls.from_response(resp.status_code, method, path, body)
                raise err
            return resp

    @property
    def auth_scheme(self) -> str:
        """``SSWS`` (API token) or ``Bearer`` (OAuth 2.0 service app)."""
        return "SSWS" if isinstance(self._token, Secret) else "Bearer"

    def _authorization(self, path: str, *, renew: bool = False) -> str:
        if isinstance(self._token, Secret):
            return f"SSWS {self._token.reveal()}"
        if path.startswith(SSWS_ONLY_PREFIXES) or "/api/v1/internal/" in path:
            raise OktaAPIError(
                status=0,
                method="",
                url=path,
                summary="this endpoint accepts only an SSWS API token, not an OAuth 2.0 access "
                "token (Okta answers 403 'Invalid session'): set OKTA_API_TOKEN for it",
            )
        return self._token.header(self._http, self.org_url, renew=renew)

    @staticmethod
    def _reset_delay(resp: httpx.Response, attempt: int = 1) -> float:
        """Seconds to wait after a 429: until the window resets when the bucket is empty;
        a short backoff when the headers still show capacity (a concurrency or transient 429).

        ``X-Rate-Limit-Reset`` is an epoch second on the *server's* clock, so the wait is
        measured against the response's ``Date`` header (RFC 9110 §6.6.1), not the local
        clock, which may be skewed; without a ``Date`` the local clock is the fallback.
        Source: Okta, "Rate limit best practices" (developer.okta.com/docs/reference/rl-best-practices/).
        """
        try:
            remaining = int(resp.headers.get("X-Rate-Limit-Remaining", "0"))
        except ValueError:
            remaining = 0
        if remaining > 0:
            return min(0.1 * 2**attempt, 2.0)
        reset = resp.headers.get("X-Rate-Limit-Reset")
        if not reset:
            return 1.0
        try:
            reset_at = float(reset)
        except ValueError:
            return 1.0
        now = server_time(resp)
        # Date has one-second resolution: wait out the second it names, plus a margin.
        return max(0.05, min(reset_at - now, 60.0)) + 0.05

    def get(self, path: str, **params: Any) -> Any:
        resp = self.request(
            "GET", path, params={k: v for k, v in params.items() if v is not None} or None
        )
        return resp.json() if resp.content else None

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        resp = self.request(
            "POST",
            path,
            json=body,
            params={k: v for k, v in params.items() if v is not None} or None,
        )
        return resp.json() if resp.content else None

    def put(self, path: str, body: Any = None) -> Any:
        resp = self.request("PUT", path, json=body)
        return resp.json() if resp.content else None

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def paginate(self, path: str, **params: Any) -> Iterator[Json]:
        """Yield items across pages, following ``Link: <...>; rel="next"`` opaquely.

        Okta pages every list with a cursor: the next page's URL comes in a ``link`` header
        with ``rel="next"``, absent on the last page (developer.okta.com/docs/reference/core-okta-api/
        #pagination). ``limit`` defaults to :attr:`page_size` when that is set.
        """
        if self.page_size is not None and "limit" not in params:
            params["limit"] = self.page_size
        elif self.page_size is not None:
            params["limit"] = min(int(params["limit"]), self.page_size)
        resp = self.request(
            "GET", path, params={k: v for k, v in params.items() if v is not None} or None
        )
        while True:
            yield from resp.json()
            nxt = self._next_link(resp)
            if not nxt:
                return
            resp = self.request("GET", nxt)

    def list_all(self, path: str, **params: Any) -> list[Json]:
        """Every item of a paginated list (see :meth:`paginate`)."""
        return list(self.paginate(path, **params))

    @staticmethod
    def _next_link(resp: httpx.Response) -> str | None:
        for header in resp.headers.get_list("link"):
            for url, rel in _LINK.findall(header):
                if rel == "next":
                    return url
        return None

    # -- apps -------------------------------------------------------------------------------
    def find_app(self, label: str) -> Json | None:
        """The app whose label is exactly ``label`` (``q`` is a prefix search, so filter here)."""
        matches = [
            a for a in self.paginate("/api/v1/apps", q=label, limit=200) if a.get("label") == label
        ]
        active = [a for a in matches if a.get("status") == "ACTIVE"]
        found = active or matches
        return found[0] if found else None

    def get_app(self, app_id: str) -> Json:
        return self.get(f"/api/v1/apps/{quote(app_id)}")

    def create_app(self, body: Json, *, activate: bool = True) -> Json:
        return self.post("/api/v1/apps", body, activate=str(activate).lower())

    def replace_app(self, app_id: str, body: Json) -> Json:
        return self.put(f"/api/v1/apps/{quote(app_id)}", body)

    def activate_app(self, app_id: str) -> None:
        self.post(f"/api/v1/apps/{quote(app_id)}/lifecycle/activate")

    def unassign_group(self, app_id: str, group_id: str) -> None:
        self.delete(f"/api/v1/apps/{quote(app_id)}/groups/{quote(group_id)}")

    def get_group(self, group_id: str) -> Json:
        return self.get(f"/api/v1/groups/{quote(group_id)}")

    def replace_group(self, group_id: str, profile: Json) -> Json:
        return self.put(f"/api/v1/groups/{quote(group_id)}", {"profile": profile})

    def replace_scope(self, server_id: str, scope_id: str, body: Json) -> Json:
        return self.put(
            f"/api/v1/authorizationServers/{quote(server_id)}/scopes/{quote(scope_id)}", body
        )

    def replace_policy(self, policy_id: str, body: Json) -> Json:
        return self.put(f"/api/v1/policies/{quote(policy_id)}", body)

    def default_policy(self, policy_type: str) -> Json | None:
        """The org's built-in (``system: true``) policy of a type, e.g. PROFILE_ENROLLMENT."""
        for pol in self.paginate("/api/v1/policies", type=policy_type):
            if pol.get("system"):
                return pol
        return None

    def deactivate_app(self, app_id: str) -> None:
        self.post(f"/api/v1/apps/{quote(app_id)}/lifecycle/deactivate")

    def delete_app(self, app_id: str) -> None:
        self.delete(f"/api/v1/apps/{quote(app_id)}")

    def app_groups(self, app_id: str) -> list[Json]:
        return self.list_all(f"/api/v1/apps/{quote(app_id)}/groups", limit=200)

    def assign_group(self, app_id: str, group_id: str) -> Json:
        return self.put(f"/api/v1/apps/{quote(app_id)}/groups/{quote(group_id)}", {})

    def client_secrets(self, app_id: str) -> list[Json]:
        """The app's client secrets (``OAuth2ClientSecret`` objects), every page."""
        return self.list_all(f"/api/v1/apps/{quote(app_id)}/credentials/secrets")

    def create_client_secret(self, app_id: str) -> Json:
        """Generate a new secret; the response is the only time its value is readable."""
        return self.post(f"/api/v1/apps/{quote(app_id)}/credentials/secrets", {})

    def delete_client_secret(self, app_id: str, secret_id: str) -> None:
        base = f"/api/v1/apps/{quote(app_id)}/credentials/secrets/{quote(secret_id)}"
        self.post(f"{base}/lifecycle/deactivate")
        self.delete(base)

    # -- groups -----------------------------------------------------------------------------
    def find_group(self, name: str) -> Json | None:
        for g in self.paginate("/api/v1/groups", q=name, limit=200):
            if g.get("profile", {}).get("name") == name:
                return g
        return None

    def everyone_group(self) -> Json:
        for g in self.paginate("/api/v1/groups", filter='type eq "BUILT_IN"'):
            if g.get("profile", {}).get("name") == "Everyone":
                return g
        raise OktaAPIError(
            status=404,
            method="GET",
            url="/api/v1/groups",
            summary="the built-in Everyone group was not found",
        )

    def create_group(self, name: str, description: str = "") -> Json:
        return self.post("/api/v1/groups", {"profile": {"name": name, "description": description}})

    def delete_group(self, group_id: str) -> None:
        self.delete(f"/api/v1/groups/{quote(group_id)}")

    # -- users ------------------------------------------------------------------------------
    def get_user(self, id_or_login: str) -> Json:
        return self.get(f"/api/v1/users/{quote(id_or_login, safe='')}")

    def delete_user(self, user_id: str) -> None:
        """Okta deletes in two calls: the first deactivates, the second deletes."""
        user = self.get_user(user_id)
        if user.get("status") != "DEPROVISIONED":
            self.delete(f"/api/v1/users/{quote(user_id)}")
        self.delete(f"/api/v1/users/{quote(user_id)}")

    def user_groups(self, user_id: str) -> list[Json]:
        return self.list_all(f"/api/v1/users/{quote(user_id)}/groups")

    def group_users(self, group_id: str) -> list[Json]:
        """Members of a group, every page."""
        return self.list_all(f"/api/v1/groups/{quote(group_id)}/users")

    def create_user(
        self, profile: Json, *, password: Secret | None = None, group_ids: list[str] | None = None
    ) -> Json:
        body: Json = {"profile": profile}
        if password is not None:
            body["credentials"] = {"password": {"value": password.reveal()}}
        if group_ids:
            body["groupIds"] = group_ids
        return self.post("/api/v1/users", body, activate="true")

    def find_user(self, login: str) -> Json | None:
        try:
            return self.get_user(login)
        except OktaAPIError as exc:
            if exc.status == 404:
                return None
            raise

    def add_user_to_group(self, group_id: str, user_id: str) -> None:
        self.put(f"/api/v1/groups/{quote(group_id)}/users/{quote(user_id)}")

    # -- policies ---------------------------------------------------------------------------
    def find_policy(self, policy_type: str, name: str) -> Json | None:
        for pol in self.paginate("/api/v1/policies", type=policy_type):
            if pol.get("name") == name:
                return pol
        return None

    def create_policy(self, body: Json) -> Json:
        return self.post("/api/v1/policies", body)

    def policy_rules(self, policy_id: str) -> list[Json]:
        return self.list_all(f"/api/v1/policies/{quote(policy_id)}/rules")

    def replace_policy_rule(self, policy_id: str, rule_id: str, body: Json) -> Json:
        return self.put(f"/api/v1/policies/{quote(policy_id)}/rules/{quote(rule_id)}", body)

    def policy_apps(self, policy_id: str) -> list[Json]:
        return self.list_all(f"/api/v1/policies/{quote(policy_id)}/app")

    def assign_app_policy(self, app_id: str, policy_id: str) -> None:
        self.put(f"/api/v1/apps/{quote(app_id)}/policies/{quote(policy_id)}")

    def delete_policy(self, policy_id: str) -> None:
        self.delete(f"/api/v1/policies/{quote(policy_id)}")

    # -- the app's own ID-token groups claim (an internal endpoint the Admin UI and Terraform use)
    def app_groups_claim(self, app_id: str) -> Json:
        return self.get(f"/api/v1/internal/apps/{quote(app_id)}/settings/oauth/idToken") or {}

    def set_app_groups_claim(self, app_id: str, body: Json) -> Json:
        return (
            self.post(f"/api/v1/internal/apps/{quote(app_id)}/settings/oauth/idToken", body) or {}
        )

    # -- authorization servers --------------------------------------------------------------
    def authorization_server(self, server_id: str = "default") -> Json:
        return self.get(f"/api/v1/authorizationServers/{quote(server_id)}")

    def claims(self, server_id: str) -> list[Json]:
        return self.list_all(f"/api/v1/authorizationServers/{quote(server_id)}/claims")

    def create_claim(self, server_id: str, body: Json) -> Json:
        return self.post(f"/api/v1/authorizationServers/{quote(server_id)}/claims", body)

    def replace_claim(self, server_id: str, claim_id: str, body: Json) -> Json:
        return self.put(
            f"/api/v1/authorizationServers/{quote(server_id)}/claims/{quote(claim_id)}", body
        )

    def scopes(self, server_id: str) -> list[Json]:
        return self.list_all(f"/api/v1/authorizationServers/{quote(server_id)}/scopes")

    def create_scope(self, server_id: str, body: Json) -> Json:
        return self.post(f"/api/v1/authorizationServers/{quote(server_id)}/scopes", body)

    def delete_scope(self, server_id: str, scope_id: str) -> None:
        self.delete(f"/api/v1/authorizationServers/{quote(server_id)}/scopes/{quote(scope_id)}")

    def delete_claim(self, server_id: str, claim_id: str) -> None:
        self.delete(f"/api/v1/authorizationServers/{quote(server_id)}/claims/{quote(claim_id)}")

    # -- trusted origins (CORS / redirect), /api/v1/trustedOrigins ---------------------------
    def trusted_origins(self) -> list[Json]:
        """Every Trusted Origin of the org (all pages)."""
        return self.list_all("/api/v1/trustedOrigins")

    def create_trusted_origin(self, body: Json) -> Json:
        """``body``: ``{"name", "origin", "scopes": [{"type": "CORS"|"REDIRECT"}]}``."""
        return self.post("/api/v1/trustedOrigins", body)

    def replace_trusted_origin(self, origin_id: str, body: Json) -> Json:
        return self.put(f"/api/v1/trustedOrigins/{quote(origin_id)}", body)

    def delete_trusted_origin(self, origin_id: str) -> None:
        self.delete(f"/api/v1/trustedOrigins/{quote(origin_id)}")

    # -- authorization server access policies ----------------------------------------------
    def as_policies(self, server_id: str) -> list[Json]:
        """The server's access policies (``OAUTH_AUTHORIZATION_POLICY``), every page."""
        return self.list_all(f"/api/v1/authorizationServers/{quote(server_id)}/policies")

    def as_policy_rules(self, server_id: str, policy_id: str) -> list[Json]:
        return self.list_all(
            f"/api/v1/authorizationServers/{quote(server_id)}/policies/{quote(policy_id)}/rules"
        )

    def create_as_policy(self, server_id: str, body: Json) -> Json:
        return self.post(f"/api/v1/authorizationServers/{quote(server_id)}/policies", body)

    def create_as_policy_rule(self, server_id: str, policy_id: str, body: Json) -> Json:
        return self.post(
            f"/api/v1/authorizationServers/{quote(server_id)}/policies/{quote(policy_id)}/rules",
            body,
        )

    def delete_as_policy(self, server_id: str, policy_id: str) -> None:
        self.delete(f"/api/v1/authorizationServers/{quote(server_id)}/policies/{quote(policy_id)}")
