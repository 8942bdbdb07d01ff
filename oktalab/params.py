"""Parameter sets: validated, typed, loaded from YAML, with no secrets in them.

A parameter set describes *what* to build (app label, redirect URIs, claims, Gloo resource
names, checks). *Where* to build it (org URL, cluster) and the credentials come from the
environment (see :mod:`oktalab.settings`), so the same file runs against the sandbox and a
real org. Every problem is reported with its field path before any remote call is made.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ParameterError

__all__ = [
    "AppGroupsClaimParams",
    "AppParams",
    "GroupParams",
    "PortalParams",
    "RegistrationParams",
    "ClaimParams",
    "ExtAuthParams",
    "KubernetesParams",
    "ParameterSet",
    "load_parameters",
]

GUIDE_STAGES: dict[str, list[str]] = {
    "oidc-gateway": ["okta_app", "claims", "extauth", "verify"],
    "portal-ssr": ["okta_app", "claims", "registration", "portal", "portal_verify"],
}
ALL_STAGES = [
    "okta_app",
    "claims",
    "extauth",
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
    if not _NAME.match(value) or len(value) > 63:
        raise ValueError(
            f"expected {what} (lower-case letters, digits and '-', at most 63), got {value!r}"
        )
    return value


def _check_uri(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise ValueError(f"expected an absolute http(s) URL, got {value!r}")
    return value


class AppParams(_Model):
    """The Okta OIDC app integration (guide 1: SPA; guide 2: Web app 'Petstore')."""

    label: str = Field(
        min_length=1,
        max_length=100,
        description="app name shown in Okta; the lookup key on re-runs",
    )
    type: Literal["browser", "web"] = Field(
        "browser", description="browser = Single-Page App, web = Web app"
    )
    grant_types: list[GrantType] = Field(default_factory=lambda: list(_DEFAULT_GRANTS))
    redirect_uris: list[str] = Field(default_factory=list, description="sign-in redirect URIs")
    post_logout_redirect_uris: list[str] = Field(
        default_factory=list, description="sign-out redirect URIs"
    )
    assign_everyone: bool = Field(True, description="assign the app to the Everyone group")
    pkce_required: bool = True

    @field_validator("redirect_uris", "post_logout_redirect_uris")
    @classmethod
    def _uris(cls, v: list[str]) -> list[str]:
        return [_check_uri(u) for u in v]

    @model_validator(mode="after")
    def _rules(self) -> AppParams:
        if self.type == "browser" and not self.pkce_required:
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

    @model_validator(mode="after")
    def _rules(self) -> ClaimParams:
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
    wait_seconds: float = Field(30, gt=0, le=600)

    _n = field_validator("namespace", "server_name", "policy_name")(lambda cls, v: _dns_label(v))

    @field_validator("route_labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("expected at least one label (an empty selector selects no routes)")
        return v


class VerifyParams(_Model):
    """Checks through the gateway (guide 1, step 5)."""

    gateway_url: str | None = Field(None, description="default: $OKTALAB_GATEWAY_URL")
    protected_path: str = "/productpage"
    open_path: str | None = "/reviews"
    host: str | None = Field(
        None, description="Host header to send, when the gateway routes by host"
    )
    expect_missing: int = Field(
        403, description="status for a request without a token (Gloo ext-auth: 403)"
    )
    expect_invalid: int = Field(403, description="status for a tampered token (Gloo ext-auth: 403)")
    expect_expired: int = Field(
        401, description="status for an expired token (ext-auth-service >= 0.19.19: 401)"
    )

    @field_validator("gateway_url")
    @classmethod
    def _gw(cls, v: str | None) -> str | None:
        return _check_uri(v) if v else v

    @field_validator("protected_path", "open_path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("/"):
            raise ValueError(f"expected a path starting with '/', got {v!r}")
        return v


class GroupParams(_Model):
    """An Okta group (guide 2: PetstoreUsers)."""

    name: str = Field(min_length=1, max_length=255)
    description: str = ""


class AppGroupsClaimParams(_Model):
    """The app's own ID-token groups claim filter (Sign On tab; org authorization server)."""

    name: str = "groups"
    filter_type: Literal["REGEX", "STARTS_WITH", "EQUALS", "CONTAINS"] = "REGEX"
    value: str = ".*"


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

    @field_validator("profile_attributes")
    @classmethod
    def _email_first(cls, v: list[str]) -> list[str]:
        if "email" not in v:
            raise ValueError("expected 'email' among the profile attributes (it is the username)")
        return v


class PortalParams(_Model):
    """Gloo Portal resources of guide 2 (portal.gloo.solo.io/v1beta1)."""

    namespace: str = "default"
    name: str = "petstore-portal"
    display_name: str = "Petstore Portal"
    domain: str = Field("petstore.example.com", description="portal host name (without port)")
    ingress_port: int | Literal["auto"] = Field(
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

    _n = field_validator(
        "namespace", "name", "secret_name", "group_name", "api_product", "environment"
    )(lambda cls, v: _dns_label(v))
    _pub = field_validator("public_url")(lambda cls, v: _check_uri(v) if v else v)

    @field_validator("domain", "environment_domain")
    @classmethod
    def _host(cls, v: str) -> str:
        if not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", v):
            raise ValueError(f"expected a host name without scheme or port, got {v!r}")
        return v

    def prerequisite_names(self) -> list[tuple[str, str]]:
        return (
            [("Environment", self.environment), ("APIProduct", self.api_product)]
            if self.create_prerequisites
            else []
        )


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


class ParameterSet(_Model):
    """Everything a run needs to know, minus where and with which credentials."""

    name: str = Field(description="parameter-set name: output folder, ownership marker")
    guide: Literal["oidc-gateway", "portal-ssr"] = "oidc-gateway"
    target: Literal["sandbox", "external"] = Field(
        "sandbox", description="sandbox = the embedded sandbox"
    )
    stages: list[str] | None = Field(None, description="stages to run; default: all of the guide's")
    authorization_server: str = Field(
        "default", description="Okta authorization server id or 'default'"
    )
    app: AppParams
    claims: list[ClaimParams] = Field(default_factory=list)
    scopes: list[str] = Field(
        default_factory=list,
        description="custom scopes to ensure on the authorization server (e.g. groups)",
    )
    token_preview: TokenPreviewParams = TokenPreviewParams()
    kubernetes: KubernetesParams = KubernetesParams()
    extauth: ExtAuthParams = ExtAuthParams()
    verify: VerifyParams = VerifyParams()
    group: GroupParams | None = None
    app_groups_claim: AppGroupsClaimParams | None = None
    registration: RegistrationParams | None = None
    portal: PortalParams | None = None
    portal_verify: PortalVerifyParams = PortalVerifyParams()
    adopt: list[str] = Field(
        default_factory=list,
        description="existing objects this set may take over, as Kind/namespace/name "
        "(Kind/name when cluster-scoped); anything else owned by others is never changed",
    )

    _n = field_validator("name")(lambda cls, v: _dns_label(v, "a parameter-set name"))

    def adopts(self, kind: str, name: str, namespace: str = "") -> bool:
        """True when the user opted in to taking over this existing object (``adopt``)."""
        key = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
        return key in self.adopt

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
        if self.guide == "oidc-gateway" and not self.app.redirect_uris:
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


def parse_parameters(data: Any, *, source: str | None = None) -> ParameterSet:
    """Validate a mapping; raise ParameterError naming each bad field."""
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
    try:
        return ParameterSet.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown parameter (check the spelling)"
            elif err["type"] == "missing":
                msg = "required parameter is missing"
            elif err["type"] == "literal_error":
                msg = f"{msg}; got {err.get('input')!r}"
            problems.append((loc, msg))
        raise ParameterError(problems, source=source) from None


def load_parameters(path: str | Path, overrides: dict[str, Any] | None = None) -> ParameterSet:
    """Load a YAML parameter file, apply ``overrides`` (a nested mapping), and validate."""
    p = Path(path)
    if not p.is_file():
        raise ParameterError(f"parameter file not found: {p}", source=str(p))
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ParameterError(f"not valid YAML: {exc}", source=str(p)) from None
    if overrides:
        data = _merge(data, overrides)
    return parse_parameters(data, source=str(p))
