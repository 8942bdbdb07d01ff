"""Parameter sets: validated, typed, loaded from YAML, with no secrets in them.

A parameter set describes *what* to build (app label, redirect URIs, claims, Gloo resource
names, checks). *Where* to build it (org URL, cluster) and the credentials come from the
environment (see :mod:`oktalab.settings`), so the same file runs against the sandbox and a
real org. Every problem is reported with its field path before any remote call is made.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from . import rules
from .errors import ParameterError

__all__ = [
    "AccessPolicyParams",
    "AppGroupsClaimParams",
    "AppParams",
    "GroupParams",
    "GatewayPortalParams",
    "PortalParams",
    "RegistrationParams",
    "ClaimParams",
    "ExtAuthParams",
    "KubernetesParams",
    "ParameterSet",
    "load_parameters",
    "load_yaml",
]

GUIDE_STAGES: dict[str, list[str]] = {
    "oidc-gateway": ["okta_app", "claims", "extauth", "portal_groups", "verify"],
    "portal-ssr": ["okta_app", "claims", "registration", "portal", "portal_verify"],
}
ALL_STAGES = [
    "okta_app",
    "claims",
    "extauth",
    "portal_groups",
    "verify",
    "registration",
    "portal",
    "portal_verify",
    "teardown",
]
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Fields that must never be parameters: a secret in a notebook parameter ends up in the executed notebook.
_SECRET_KEYS = re.compile(
    r"^(secret|password|passwd|token|api_token|access_token|refresh_token|id_token|private_key|api_key)$"
    r"|(_secret|_password|_passwd|api_token|_api_key|private_key)$",
    re.I,
)


GrantType = Literal["authorization_code", "refresh_token", "implicit"]
ProfileAttribute = Literal["email", "firstName", "lastName", "organization"]
_DEFAULT_GRANTS: tuple[GrantType, ...] = ("authorization_code", "refresh_token")
_DEFAULT_PROFILE: tuple[ProfileAttribute, ...] = ("email", "firstName", "lastName")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _dns_label(value: str, what: str = "a Kubernetes name") -> str:
    return rules.dns1123_label(value, what)


def _check_uri(value: str) -> str:
    return rules.http_url(value)


def _unique(values: list[str], what: str) -> list[str]:
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"expected each {what} once, repeated: {dupes}")
    return values


def _scopes(values: list[str]) -> list[str]:
    return _unique([rules.scope_token(v) for v in values], "scope")


def _claim_name(value: str) -> str:
    """Okta claim names: no spaces or invisible characters (a JWT claim name, RFC 7519 §4)."""
    rules.plain_text(value, "a claim name")
    if re.search(r"\s", value):
        raise ValueError(f"expected a claim name without spaces, got {value!r}")
    return value


def _route_labels(v: dict[str, str], empty: str) -> dict[str, str]:
    """A label selector's labels: keys are qualified names, values label values (Kubernetes)."""
    if not v:
        raise ValueError(empty)
    for key, value in v.items():
        rules.qualified_name(key)
        try:
            rules.label_value(value)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    return v


def _port_or_auto(v: Any) -> Any:
    if v != "auto":
        try:
            rules.port(v)
        except ValueError as exc:
            raise ValueError(f"{exc}, or 'auto'") from None
    return v


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"expected a regular expression for the REGEX filter: {exc}") from None
    return value


Port = Annotated[StrictInt, Field(ge=1, le=65535, description="TCP port 1..65535")]
# A check that expects anything but a refusal would pass on an unprotected route.
RefusalStatus = Literal[401, 403]

# Okta kinds accepted in ``adopt`` entries (``<kind>/<name>``); Kubernetes kinds are
# capitalised (``<Kind>/<namespace>/<name>`` or ``<Kind>/<name>`` for cluster-scoped ones).
OKTA_ADOPT_KINDS = (
    "app",
    "group",
    "claim",
    "scope",
    "policy",
    "rule",
    "origin",
    "access_policy",
)
ADOPT_ENV = "OKTALAB_ADOPT"
_KUBE_KIND = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")


def parse_adopt(entry: str) -> tuple[str, str, str]:
    """``KIND/NAME`` → ``(kind, namespace, name)``; raise ValueError naming the rule.

    Okta: ``app/<label>``, ``group/<name>``, ``claim/<name>``, ``scope/<name>``,
    ``policy/<name>``, ``rule/<name>``, ``origin/<name>``, ``access_policy/<name>`` (an
    authorization server's access policy; the name may contain '/').
    Kubernetes: ``<Kind>/<namespace>/<name>`` or ``<Kind>/<name>`` (cluster-scoped), names
    per DNS-1123.
    """
    rules.plain_text(entry, "an adopt entry")
    kind, sep, rest = entry.partition("/")
    if not sep or not rest or not kind:
        raise ValueError(
            f"expected KIND/NAME (e.g. app/Petstore, Secret/default/name), got {entry!r}"
        )
    if kind in OKTA_ADOPT_KINDS:
        return kind, "", rest
    if not _KUBE_KIND.match(kind):
        raise ValueError(
            f"expected an Okta kind ({', '.join(OKTA_ADOPT_KINDS)}, lower case) or a Kubernetes "
            f"Kind (capitalised, e.g. Secret), got {kind!r} in {entry!r}"
        )
    parts = rest.split("/")
    if len(parts) > 2:
        raise ValueError(f"expected <Kind>/<namespace>/<name> or <Kind>/<name>, got {entry!r}")
    name = rules.dns1123_subdomain(parts[-1], "a Kubernetes object name")
    namespace = rules.dns1123_label(parts[0], "a namespace") if len(parts) == 2 else ""
    return kind, namespace, name


def adopt_from_env() -> list[str]:
    """``--adopt`` entries handed to notebook kernels: ``$OKTALAB_ADOPT``, a JSON list."""
    raw = os.environ.get(ADOPT_ENV, "").strip()
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        raise ParameterError([(ADOPT_ENV, "expected a JSON list of KIND/NAME strings")]) from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ParameterError([(ADOPT_ENV, "expected a JSON list of KIND/NAME strings")])
    return value


class AppParams(_Model):
    """The Okta OIDC app integration (guide 1: SPA; guide 2: Web app 'Petstore')."""

    label: str = Field(
        min_length=1,
        max_length=100,
        description="app name shown in Okta; the lookup key on re-runs",
    )
    _lbl = field_validator("label")(lambda cls, v: rules.plain_text(v, "an app label"))
    type: Literal["browser", "web"] = Field(
        "browser", description="browser = Single-Page App, web = Web app"
    )
    grant_types: list[GrantType] = Field(default_factory=lambda: list(_DEFAULT_GRANTS))
    redirect_uris: list[str] = Field(default_factory=list, description="sign-in redirect URIs")
    post_logout_redirect_uris: list[str] = Field(
        default_factory=list, description="sign-out redirect URIs"
    )
    assign_everyone: bool = Field(True, description="assign the app to the Everyone group")
    pkce_required: bool | None = Field(
        None,
        description="require PKCE; default: on for a browser app, off for a web app (as in the guides)",
    )

    @field_validator("redirect_uris", "post_logout_redirect_uris")
    @classmethod
    def _uris(cls, v: list[str]) -> list[str]:
        problems = []
        for i, uri in enumerate(v):
            try:
                rules.redirect_uri(uri)
            except ValueError as exc:
                problems.append(f"[{i}] {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return _unique(v, "URI")

    @field_validator("grant_types")
    @classmethod
    def _grants(cls, v: list[str]) -> list[str]:
        return _unique(v, "grant type")

    @property
    def pkce(self) -> bool:
        """Whether the app requires PKCE: the parameter, else Okta's default for the app type
        (``pkce_required`` is true for browser apps; the web-app guide leaves it off)."""
        return self.pkce_required if self.pkce_required is not None else self.type == "browser"

    @model_validator(mode="after")
    def _rules(self) -> AppParams:
        if self.type == "browser" and self.pkce_required is False:
            raise ValueError(
                "pkce_required: a browser (SPA) app has no secret, so PKCE must stay required"
            )
        return self


class ClaimParams(_Model):
    """A custom claim on the authorization server."""

    name: str = Field(min_length=1, max_length=100)
    value: str = Field(
        min_length=1, description="Okta expression (user.email) or group filter value"
    )
    claim_type: Literal["RESOURCE", "IDENTITY"] = Field(
        "RESOURCE", description="RESOURCE = access token, IDENTITY = ID token"
    )
    value_type: Literal["EXPRESSION", "GROUPS"] = "EXPRESSION"
    group_filter_type: Literal["REGEX", "STARTS_WITH", "EQUALS", "CONTAINS"] | None = None
    scopes: list[str] = Field(
        default_factory=list, description="scopes the claim is tied to; [] = any scope"
    )
    always_include_in_token: bool = True

    _nm = field_validator("name")(lambda cls, v: _claim_name(v))
    _val = field_validator("value")(lambda cls, v: rules.plain_text(v, "a claim value"))
    _sc = field_validator("scopes")(lambda cls, v: _scopes(v))

    @model_validator(mode="after")
    def _rules(self) -> ClaimParams:
        if self.group_filter_type == "REGEX":
            try:
                _regex(self.value)
            except ValueError as exc:
                raise ValueError(f"value: {exc}") from None
        if self.value_type == "GROUPS" and self.group_filter_type is None:
            raise ValueError(
                "group_filter_type: a GROUPS claim needs REGEX, STARTS_WITH, EQUALS or CONTAINS"
            )
        if self.value_type == "EXPRESSION" and self.group_filter_type is not None:
            raise ValueError("group_filter_type: only GROUPS claims take a group filter")
        if self.name in {
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "jti",
            "cid",
            "uid",
            "scp",
            "ver",
            "auth_time",
        }:
            raise ValueError(f"name: {self.name!r} is a reserved claim; choose another name")
        return self


class TokenPreviewParams(_Model):
    enabled: bool = Field(True, description="sign the test user in and show the tokens")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])

    @field_validator("scopes")
    @classmethod
    def _sc(cls, v: list[str]) -> list[str]:
        if "openid" not in v:
            raise ValueError("expected 'openid' among the scopes (the preview reads the ID token)")
        return _scopes(v)


class AccessPolicyParams(_Model):
    """An access policy on the authorization server that admits this app (Okta: "Policy
    evaluation failed" at /authorize and /token when no rule does)."""

    create: bool = Field(
        False,
        description="create a policy and rule for this app when none admits it (else fail with the diagnosis)",
    )
    name: str = Field("oktalab", min_length=1, max_length=100, description="name of the policy")
    groups: list[str] = Field(
        default_factory=lambda: ["EVERYONE"],
        description="group ids (or EVERYONE) the created rule admits",
    )


class KubernetesParams(_Model):
    cluster_name: str = Field(
        "cluster1", description="Gloo cluster name used in references ($CLUSTER_NAME)"
    )
    context: str | None = Field(None, description="kubeconfig context; default: the current one")
    force_conflicts: bool = Field(
        False,
        description="server-side apply with force=true: take fields another field manager owns "
        "on objects this set owns (kubectl's --force-conflicts); never takes others' objects",
    )

    _c = field_validator("cluster_name")(lambda cls, v: _dns_label(v, "a cluster name"))
    _ctx = field_validator("context")(
        lambda cls, v: rules.plain_text(v, "a kubeconfig context") if v else v
    )


class ObjectRef(_Model):
    name: str
    namespace: str

    _n = field_validator("name", "namespace")(lambda cls, v: _dns_label(v))


class ExtAuthParams(_Model):
    """The ExtAuthServer and ExtAuthPolicy of guide 1, step 4."""

    namespace: str = "gloo-mesh-addons"
    server_name: str = "ext-auth-server"
    service: ObjectRef = ObjectRef(name="ext-auth-service", namespace="gloo-mesh-addons")
    service_port_name: str = "grpc"
    policy_name: str = "oauth-okta"
    route_labels: dict[str, str] = Field(default_factory=lambda: {"oauth": "true"})
    issuer_check: bool = Field(False, description="also set jwt.issuer (the guide does not)")
    jwks: Literal["inline", "remote"] = Field(
        "inline",
        description="inline: the JWKS read at apply time goes into localJwks (the guide); "
        "remote: Gloo's remoteJwks fetches the authorization server's jwks_uri itself, so "
        "a key rotation needs no re-run",
    )
    wait_seconds: float = Field(30, gt=0, le=600)

    _n = field_validator("namespace", "server_name", "policy_name")(lambda cls, v: _dns_label(v))
    _pn = field_validator("service_port_name")(lambda cls, v: rules.port_name(v))

    @field_validator("route_labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("expected at least one label (an empty selector selects no routes)")
        for key, value in v.items():
            rules.qualified_name(key)
            try:
                rules.label_value(value)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return v


class VerifyParams(_Model):
    """Checks through the gateway (guide 1, step 5)."""

    gateway_url: str | None = Field(None, description="default: $OKTALAB_GATEWAY_URL")
    protected_path: str = "/productpage"
    open_path: str | None = "/reviews"
    host: str | None = Field(
        None, description="Host header to send, when the gateway routes by host"
    )
    expect_missing: RefusalStatus = Field(
        403, description="status for a request without a token (Gloo ext-auth: 403)"
    )
    expect_invalid: RefusalStatus = Field(
        403, description="status for a tampered token (Gloo ext-auth: 403)"
    )
    expect_expired: RefusalStatus = Field(
        401, description="status for an expired token (ext-auth-service >= 0.19.19: 401)"
    )

    @field_validator("expect_missing", "expect_invalid", "expect_expired", mode="before")
    @classmethod
    def _refusal(cls, v: Any) -> Any:
        if v not in (401, 403) or isinstance(v, bool):
            raise ValueError(
                f"expected 401 or 403, got {v!r}: a check that accepts any other status cannot "
                "tell a protected route from an unprotected one"
            )
        return v

    @field_validator("host")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        if v is None:
            return v
        rules.header_value(v, "a Host header value")
        name, _, port = v.rpartition(":") if not v.endswith("]") else (v, "", "")
        if not name:
            name, port = v, ""
        if port:
            if not port.isdigit():
                raise ValueError(f"expected host[:port], got {v!r}")
            rules.port(int(port))
        rules.host_name(name.strip("[]"), "a Host header (host[:port])")
        return v

    @field_validator("gateway_url")
    @classmethod
    def _gw(cls, v: str | None) -> str | None:
        return _check_uri(v) if v else v

    @field_validator("protected_path", "open_path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("/"):
            raise ValueError(f"expected a path starting with '/', got {v!r}")
        return rules.url_path(v) if v is not None else v


class GroupParams(_Model):
    """An Okta group (guide 2: PetstoreUsers)."""

    name: str = Field(min_length=1, max_length=255)
    description: str = Field("", max_length=1024)

    _t = field_validator("name", "description")(lambda cls, v: rules.plain_text(v, "text"))


class AppGroupsClaimParams(_Model):
    """The app's own ID-token groups claim filter (Sign On tab; org authorization server)."""

    name: str = "groups"
    filter_type: Literal["REGEX", "STARTS_WITH", "EQUALS", "CONTAINS"] = "REGEX"
    value: str = Field(".*", min_length=1)

    _nm = field_validator("name")(lambda cls, v: _claim_name(v))
    _val = field_validator("value")(lambda cls, v: rules.plain_text(v, "a filter value"))

    @model_validator(mode="after")
    def _re(self) -> AppGroupsClaimParams:
        if self.filter_type == "REGEX":
            try:
                _regex(self.value)
            except ValueError as exc:
                raise ValueError(f"value: {exc}") from None
        return self


class RegistrationParams(_Model):
    """Self-service registration: a profile enrollment policy mapped to the app."""

    policy_name: str = Field("oktalab self-service registration", min_length=1, max_length=255)
    target_group: str = Field(description="group new users join; must be the guide's group name")
    email_verification: bool = False
    profile_attributes: list[ProfileAttribute] = Field(
        default_factory=lambda: list(_DEFAULT_PROFILE)
    )
    app_self_service: bool = Field(True, description="users may request the app, no approval")
    assign_group_to_app: bool = True

    _t = field_validator("policy_name", "target_group")(
        lambda cls, v: rules.plain_text(v, "a name")
    )

    @field_validator("profile_attributes")
    @classmethod
    def _email_first(cls, v: list[str]) -> list[str]:
        if "email" not in v:
            raise ValueError("expected 'email' among the profile attributes (it is the username)")
        return _unique(v, "profile attribute")


class PortalParams(_Model):
    """Gloo Portal resources of guide 2 (portal.gloo.solo.io/v1beta1)."""

    namespace: str = "default"
    name: str = "petstore-portal"
    display_name: str = "Petstore Portal"
    domain: str = Field("petstore.example.com", description="portal host name (without port)")
    ingress_port: Port | Literal["auto"] = Field(
        "auto", description="gateway port; auto = the port of $OKTALAB_GATEWAY_URL"
    )
    scheme: Literal["http", "https"] = "http"
    secret_name: str = "petstore-portaloidc-secret"
    secret_key: str = "client_secret"
    group_claim_key: str = "groups"
    additional_scopes: list[str] = Field(default_factory=lambda: ["groups"])
    group_name: str = Field("oidc-group", description="the portal Group shadowing the Okta group")
    api_product: str = "petstore-product"
    environment: str = "dev"
    create_prerequisites: bool = Field(
        True,
        description="also create the getting-started APIProduct, Environment and petstore backend",
    )
    environment_domain: str = Field(
        "api.petstore.example.com", description="host name of the API environment"
    )
    wait_seconds: float = Field(30, gt=0, le=600)
    public_url: str | None = Field(
        None,
        description="the portal's address behind a proxy (e.g. <jupyter>/proxy/<gateway port>"
        "/portals/<namespace>/<name>); its /callback is registered too",
    )

    @field_validator("ingress_port", mode="before")
    @classmethod
    def _port(cls, v: Any) -> Any:
        if v != "auto":
            try:
                rules.port(v)
            except ValueError as exc:
                raise ValueError(f"{exc}, or 'auto'") from None
        return v

    _n = field_validator("namespace", "name", "group_name", "api_product", "environment")(
        lambda cls, v: _dns_label(v)
    )
    _sn = field_validator("secret_name")(
        lambda cls, v: rules.dns1123_subdomain(v, "a Secret name (DNS-1123 subdomain)")
    )
    _sk = field_validator("secret_key")(lambda cls, v: rules.secret_key(v))
    _gc = field_validator("group_claim_key")(lambda cls, v: _claim_name(v))
    _as = field_validator("additional_scopes")(lambda cls, v: _scopes(v))
    _dn = field_validator("display_name")(lambda cls, v: rules.plain_text(v, "a display name"))
    _pub = field_validator("public_url")(lambda cls, v: _check_uri(v) if v else v)

    @field_validator("domain", "environment_domain")
    @classmethod
    def _host(cls, v: str) -> str:
        if not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", v):
            raise ValueError(f"expected a host name without scheme or port, got {v!r}")
        return rules.dns1123_subdomain(v, "a lower-case host name")

    def prerequisite_names(self) -> list[tuple[str, str]]:
        return (
            [("Environment", self.environment), ("APIProduct", self.api_product)]
            if self.create_prerequisites
            else []
        )


class ApiProductParams(_Model):
    """One API product version the portal publishes: a RouteTable with ``portalMetadata``
    (GMG 2.5 ``route_table.proto`` PortalMetadata: apiProductId and apiVersion are required)."""

    id: str = Field(description="portalMetadata.apiProductId")
    display_name: str = Field("", description="portalMetadata.apiProductDisplayName")
    version: str = Field("v1", min_length=1, description="portalMetadata.apiVersion")
    title: str = ""
    description: str = ""
    route_table: str | None = Field(None, description="RouteTable name; default <id>-api")
    namespace: str = Field("bookinfo", description="namespace of the RouteTable and the service")
    service: str = Field(description="the Service the API routes to")
    port: int = Field(9080, gt=0, lt=65536)
    path: str = Field(description="the API's path prefix")
    restricted: bool = Field(
        True, description="private: only portal groups that grant it may see it"
    )

    _n = field_validator("id", "namespace", "service")(lambda cls, v: _dns_label(v))

    @field_validator("route_table")
    @classmethod
    def _rt(cls, v: str | None) -> str | None:
        return _dns_label(v) if v is not None else v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"expected a path starting with '/', got {v!r}")
        return v

    @property
    def table_name(self) -> str:
        return self.route_table or f"{self.id}-api"


class PortalGroupParams(_Model):
    """A PortalGroup: users whose token carries all ``claims`` see ``products``
    (GMG 2.5 ``portal_group.proto``: membership claims key/value, accessLevel.apis)."""

    name: str
    description: str = ""
    claims: dict[str, str | None] = Field(
        description="claim key: value, e.g. organization: oktalab"
    )
    products: list[str] = Field(default_factory=list, description="API product ids granted")

    _n = field_validator("name")(lambda cls, v: _dns_label(v))

    @field_validator("claims")
    @classmethod
    def _claims(cls, v: dict[str, str | None]) -> dict[str, str | None]:
        if not v:
            raise ValueError("expected at least one claim (key: value) that identifies members")
        for key, value in v.items():
            if not key.strip():
                raise ValueError("a claim key cannot be empty")
            if value is None or not str(value).strip():
                raise ValueError(
                    f"claim {key!r} has no value; a portal group matches key and value"
                )
        return v

    @field_validator("products")
    @classmethod
    def _products(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("a portal group that grants no API product does nothing; list some")
        return v


class WorkloadRef(_Model):
    name: str
    namespace: str
    port: Port

    _n = field_validator("name", "namespace")(lambda cls, v: _dns_label(v))


class GatewayPortalParams(_Model):
    """Guide 1, step 1: Gloo Platform Portal (``apimanagement.gloo.solo.io/v2``) and its frontend.

    The frontend app is served on ``domain`` through the gateway; its ``/callback`` and
    ``/logout`` are the SPA's redirect URIs. The portal server's API (``/v1``) is guarded by
    the ExtAuthPolicy of stage 3 through ``route_labels``.
    """

    namespace: str = "gloo-mesh"
    name: str = "developer-portal"
    domain: str = Field("portal.localhost", description="host of the frontend and portal API")
    ingress_port: Port | Literal["auto"] = Field(
        "auto", description="gateway port; auto = the port of $OKTALAB_GATEWAY_URL"
    )
    scheme: Literal["http", "https"] = "http"
    route_table: str = "developer-portal"
    route_labels: dict[str, str] = Field(
        default_factory=lambda: {"oauth": "true"},
        description="labels on the portal API route; stage 3's ExtAuthPolicy selects them",
    )
    portal_server: WorkloadRef = WorkloadRef(
        name="gloo-mesh-portal-server", namespace="gloo-mesh", port=8080
    )
    frontend: WorkloadRef = WorkloadRef(name="portal-frontend", namespace="gloo-mesh", port=4000)
    frontend_config: str = Field(
        "portal-frontend-config", description="ConfigMap with the frontend's VITE_* settings"
    )
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    usage_plans: list[str] = Field(default_factory=list)
    api_products: list[ApiProductParams] = Field(min_length=1)
    groups: list[PortalGroupParams] = Field(min_length=1)
    wait_seconds: float = Field(30, gt=0, le=600)
    public_url: str | None = Field(
        None,
        description="the frontend's address behind a proxy (e.g. <jupyter>/proxy/<gateway port>"
        "/portals/<namespace>/<name>); its /callback and /logout are registered too",
    )
    verify_browser: bool = Field(True, description="step 5 in Chromium (skipped without it)")
    second_user: bool = Field(
        True, description="also sign in a user without the claims: no restricted product"
    )

    _n = field_validator("namespace", "name", "route_table", "frontend_config")(
        lambda cls, v: _dns_label(v)
    )
    _pub = field_validator("public_url")(lambda cls, v: _check_uri(v) if v else v)

    _ip = field_validator("ingress_port", mode="before")(lambda cls, v: _port_or_auto(v))
    _sc = field_validator("scopes")(lambda cls, v: _scopes(v))

    @field_validator("domain")
    @classmethod
    def _host(cls, v: str) -> str:
        if not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", v):
            raise ValueError(f"expected a host name without scheme or port, got {v!r}")
        return rules.dns1123_subdomain(v, "a lower-case host name")

    @field_validator("route_labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        return _route_labels(v, "expected at least one label (the ExtAuthPolicy selects by labels)")

    @model_validator(mode="after")
    def _refs(self) -> GatewayPortalParams:
        ids = [p.id for p in self.api_products]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"api_products: duplicate ids {dupes}")
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ValueError("groups: duplicate group names")
        for i, g in enumerate(self.groups):
            unknown = [p for p in g.products if p not in ids]
            if unknown:
                raise ValueError(f"groups[{i}].products: {unknown} not among api_products {ids}")
        return self


class PortalVerifyParams(_Model):
    """The sign-up test of guide 2."""

    driver: Literal["auto", "browser", "http"] = Field(
        "auto",
        description="browser = Chromium via Playwright; http = form-driving client (sandbox pages only)",
    )
    email_domain: str = "example.com"
    check_outsider: bool = Field(
        True, description="also check that a user outside the group sees no API product"
    )
    screenshot: bool = True

    _ed = field_validator("email_domain")(lambda cls, v: rules.host_name(v, "an e-mail domain"))


class ParameterSet(_Model):
    """Everything a run needs to know, minus where and with which credentials."""

    name: str = Field(description="parameter-set name: output folder, ownership marker")
    guide: Literal["oidc-gateway", "portal-ssr"] = "oidc-gateway"
    # The file it was read from (load_parameters), for the repair commands rows name.
    _source_file: str = PrivateAttr(default="")
    target: Literal["sandbox", "external"] = Field(
        "sandbox", description="sandbox = the embedded sandbox"
    )
    stages: list[str] | None = Field(None, description="stages to run; default: all of the guide's")
    authorization_server: str = Field(
        "default", description="Okta authorization server id or 'default'"
    )
    sign_in: Literal["auto", "idx", "authn"] = Field(
        "auto",
        description="how the token preview and gateway checks sign the test user in: "
        "idx = Identity Engine interaction code flow, authn = Classic /api/v1/authn, "
        "auto = as the org's /.well-known/okta-organization pipeline says",
    )
    app: AppParams
    claims: list[ClaimParams] = Field(default_factory=list)
    scopes: list[str] = Field(
        default_factory=list,
        description="custom scopes to ensure on the authorization server (e.g. groups)",
    )
    token_preview: TokenPreviewParams = TokenPreviewParams()
    access_policy: AccessPolicyParams = AccessPolicyParams()
    clock_skew_seconds: float = Field(
        120,
        ge=0,
        le=600,
        description="leeway for exp/iat/nbf in token checks (okta-jwt-verifier's default is 120 s)",
    )
    kubernetes: KubernetesParams = KubernetesParams()
    extauth: ExtAuthParams = ExtAuthParams()
    verify: VerifyParams = VerifyParams()
    group: GroupParams | None = None
    app_groups_claim: AppGroupsClaimParams | None = None
    registration: RegistrationParams | None = None
    portal: PortalParams | None = None
    gateway_portal: GatewayPortalParams | None = Field(
        None, description="guide 1: read from the `portal` section when guide is oidc-gateway"
    )
    portal_verify: PortalVerifyParams = PortalVerifyParams()
    adopt: list[str] = Field(
        default_factory=list,
        description="objects this set may take over although it did not create them "
        "(KIND/NAME: app/<label>, group/<name>, claim/<name>, scope/<name>, policy/<name>, "
        "rule/<name>, origin/<name>, <Kind>/<namespace>/<name>, <Kind>/<name>); "
        "teardown restores them to their recorded state",
    )

    _n = field_validator("name")(lambda cls, v: _dns_label(v, "a parameter-set name"))
    _as = field_validator("authorization_server")(lambda cls, v: rules.authorization_server_id(v))
    _sc = field_validator("scopes")(lambda cls, v: _scopes(v))

    @field_validator("adopt")
    @classmethod
    def _adopt(cls, v: list[str]) -> list[str]:
        problems = []
        for i, entry in enumerate(v):
            try:
                parse_adopt(entry)
            except ValueError as exc:
                problems.append(f"[{i}] {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return _unique(v, "adopt entry")

    @property
    def source_file(self) -> str:
        """The file :func:`load_parameters` read this set from ("" when built in code)."""
        return self._source_file

    def adopts(self, kind: str, name: str, namespace: str = "") -> bool:
        """Whether the user opted in to adopting this object (``adopt:`` or ``--adopt``).

        ``kind`` is an Okta kind (``app``, ``group``, ``claim``, ``scope``, ``policy``,
        ``rule``, ``origin``, ``access_policy``: lower case) or a Kubernetes Kind (``Secret``, ``Group``: as the
        API spells it), so ``group/x`` and ``Group/ns/x`` never match each other.
        A Kubernetes entry without a namespace matches only ``namespace == ""``
        (cluster-scoped objects): adoption is per object, never per name in any namespace.
        """
        okta = kind in OKTA_ADOPT_KINDS
        want = (kind, "" if okta else namespace, name)
        return any(parse_adopt(e) == want for e in self.adopt)

    @model_validator(mode="before")
    @classmethod
    def _guide1_portal(cls, data: Any) -> Any:
        """Guide 1's ``portal`` section describes Gloo Platform Portal, not Gloo Portal 1.x."""
        if (
            isinstance(data, dict)
            and data.get("guide", "oidc-gateway") == "oidc-gateway"
            and "portal" in data
            and "gateway_portal" not in data
        ):
            data = dict(data)
            data["gateway_portal"] = data.pop("portal")
        return data

    @field_validator("stages")
    @classmethod
    def _stages(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            unknown = [s for s in v if s not in ALL_STAGES]
            if unknown:
                raise ValueError(f"unknown stage(s) {unknown}; expected some of {ALL_STAGES}")
        return v

    @model_validator(mode="after")
    def _claims_unique(self) -> ParameterSet:
        names = [c.name for c in self.claims]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"claims: duplicate claim names {dupes}")
        return self

    @model_validator(mode="after")
    def _guide_needs(self) -> ParameterSet:
        if (
            self.guide == "oidc-gateway"
            and not self.app.redirect_uris
            and self.gateway_portal is None
        ):
            raise ValueError(
                "app.redirect_uris: the authorization code flow needs at least one sign-in redirect URI"
            )
        if self.guide == "portal-ssr":
            missing = [k for k in ("group", "registration", "portal") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"the portal-ssr guide needs the sections {missing}")
            if self.app.type != "web":
                raise ValueError(
                    "app.type: the portal-ssr guide uses a Web app (type: web) with a client secret"
                )
            assert self.registration and self.group
            if self.registration.target_group != self.group.name:
                raise ValueError(
                    f"registration.target_group: expected the group of this guide ({self.group.name!r}), "
                    f"got {self.registration.target_group!r}"
                )
        return self

    @property
    def stage_list(self) -> list[str]:
        return list(self.stages) if self.stages is not None else list(GUIDE_STAGES[self.guide])


def _find_secrets(data: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            p = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and _SECRET_KEYS.search(k) and not isinstance(v, dict | list):
                found.append(p)
            found += _find_secrets(v, p)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += _find_secrets(v, f"{path}[{i}]")
    return found


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base.get(k), v) if k in base else v
        return out
    return over


def _find_invisible(data: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string (keys too) with a control or invisible character, by field path."""
    found: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            p = f"{path}.{k}" if path else str(k)
            if not isinstance(k, str):
                found.append((p, f"expected a text key, got {type(k).__name__} {k!r}"))
                continue
            bad = rules.invisible_or_control(k)
            if bad:
                found.append(
                    (f"{path}[{k!r}]", f"key contains a control or invisible character ({bad})")
                )
                continue
            found += _find_invisible(v, p)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += _find_invisible(v, f"{path}.{i}")
    elif isinstance(data, str):
        bad = rules.invisible_or_control(data)
        if bad:
            found.append(
                (path, f"expected text without control or invisible characters, found {bad}")
            )
    return found


def parse_parameters(data: Any, *, source: str | None = None) -> ParameterSet:
    """Validate a mapping; raise ParameterError naming each bad field (one message per field)."""
    if not isinstance(data, dict):
        raise ParameterError("expected a mapping of parameters at the top level", source=source)
    secrets = _find_secrets(data)
    if secrets:
        raise ParameterError(
            [
                (
                    p,
                    "secrets are not parameters: set them in the environment (e.g. OKTA_API_TOKEN) or a *_FILE",
                )
                for p in secrets
            ],
            source=source,
        )
    invisible = _find_invisible(data)
    if invisible:
        raise ParameterError(invisible, source=source)
    try:
        return ParameterSet.model_validate(data)
    except ValidationError as exc:
        problems: dict[str, list[str]] = {}
        for err in exc.errors():
            loc = ".".join(
                str(p)
                for p in err["loc"]
                if not str(p).startswith(("function-", "literal[", "constrained-"))
            )
            if loc.startswith("gateway_portal"):  # the user wrote it as `portal`
                loc = "portal" + loc.removeprefix("gateway_portal")
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown parameter (check the spelling)"
            elif err["type"] == "missing":
                msg = "required parameter is missing"
            elif err["type"] == "literal_error":
                msg = f"{msg}; got {err.get('input')!r}"
            if msg not in problems.setdefault(loc, []):
                problems[loc].append(msg)
        raise ParameterError(
            [(loc, "; ".join(msgs)) for loc, msgs in problems.items()], source=source
        ) from None


# -- YAML ----------------------------------------------------------------------------------
MAX_YAML_BYTES = 256 * 1024  # parameter files are a few kB
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 20_000  # after alias expansion: what a consumer walking the data would see


class _StrictSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader; the document is checked as a node graph before construction."""


def _check_nodes(root: yaml.Node) -> list[tuple[str, str]]:
    """Duplicate keys, depth, recursive aliases and the expanded size, with field paths.

    Sizes are memoised per node, so an alias bomb (each level referring to the previous one
    ten times) is measured in linear time and refused instead of being expanded.
    """
    problems: list[tuple[str, str]] = []
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def walk(node: yaml.Node, path: str, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            problems.append((path or "(top)", "recursive alias: an anchor refers to itself"))
            return MAX_YAML_NODES + 1
        if depth > MAX_YAML_DEPTH:
            problems.append((path or "(top)", f"nested deeper than {MAX_YAML_DEPTH} levels"))
            return MAX_YAML_NODES + 1
        active.add(key)
        size = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for k, v in node.value:
                name = str(k.value) if isinstance(k, yaml.ScalarNode) else "?"
                child = f"{path}.{name}" if path else name
                if name != "<<" and name in seen:
                    problems.append(
                        (
                            child,
                            f"duplicate key (line {seen[name] + 1} and line "
                            f"{k.start_mark.line + 1}); YAML would keep only the last",
                        )
                    )
                seen[name] = k.start_mark.line
                size += walk(k, child, depth + 1) + walk(v, child, depth + 1)
                if size > MAX_YAML_NODES:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                size += walk(item, f"{path}[{i}]", depth + 1)
                if size > MAX_YAML_NODES:
                    break
        active.discard(key)
        sizes[key] = size
        return size

    total = walk(root, "", 0)
    if total > MAX_YAML_NODES and not problems:
        problems.append(
            ("(document)", f"expands to more than {MAX_YAML_NODES} values (too many aliases)")
        )
    return problems


def load_yaml(text: str | bytes, *, source: str | None = None) -> Any:
    """Parse one YAML document safely: at most 256 KiB, 32 levels, 20,000 values after alias
    expansion, no duplicate keys, safe tags only (``yaml.SafeLoader``).

    Raises ParameterError naming the field path (duplicates) or the limit.
    """
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_YAML_BYTES:
        raise ParameterError(
            f"file is {size} bytes; parameter files are limited to {MAX_YAML_BYTES} bytes",
            source=source,
        )
    loader = _StrictSafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ParameterError(
                f"nested deeper than {MAX_YAML_DEPTH} levels", source=source
            ) from None
        if node is None:
            return None
        problems = _check_nodes(node)
        if problems:
            raise ParameterError(problems, source=source)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ParameterError(f"not valid YAML: {exc}", source=source) from None
    finally:
        loader.dispose()


def load_parameters(path: str | Path, overrides: dict[str, Any] | None = None) -> ParameterSet:
    """Load a YAML parameter file, apply ``overrides`` (a nested mapping), and validate.

    ``$OKTALAB_ADOPT`` (a JSON list, set by ``oktalab run --adopt``) is added to ``adopt``.
    Raises ParameterError (every bad field, before any remote call).
    """
    p = Path(path)
    if not p.is_file():
        raise ParameterError(f"parameter file not found: {p}", source=str(p))
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ParameterError(f"cannot read the file: {exc.strerror}", source=str(p)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParameterError("not UTF-8 text", source=str(p)) from None
    data = load_yaml(text, source=str(p))
    if data is None:
        data = {}
    if overrides:
        data = _merge(data, overrides)
    ps = parse_parameters(with_adopt_env(data), source=str(p))
    ps._source_file = str(p)
    return ps


def with_adopt_env(data: Any) -> Any:
    """``data`` with ``$OKTALAB_ADOPT`` (``oktalab run --adopt``, a JSON list) added to its
    ``adopt`` list, as every parameter set is loaded."""
    extra = adopt_from_env()
    if extra and isinstance(data, dict):
        current = data.get("adopt") or []
        if isinstance(current, list):
            data = {**data, "adopt": current + [e for e in extra if e not in current]}
    return data
