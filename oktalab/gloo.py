"""Builders for the Gloo manifests of the guides. Pure functions: dicts in, dicts out.

They produce exactly what the guides apply, with values from parameters instead of
``$CLUSTER_NAME`` and a hand-pasted ``$CERT_KEYS`` (the source of the guide's "invalid
character 'k'" error): the JWKS is serialised here, from what the server published.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

from .params import (
    ApiProductParams,
    ExtAuthParams,
    GatewayPortalParams,
    PortalGroupParams,
    PortalParams,
    WorkloadRef,
)

Obj = dict[str, Any]


def ext_auth_server(p: ExtAuthParams, *, cluster: str) -> Obj:
    return {
        "apiVersion": "admin.gloo.solo.io/v2",
        "kind": "ExtAuthServer",
        "metadata": {"name": p.server_name, "namespace": p.namespace},
        "spec": {
            "destinationServer": {
                "ref": {
                    "cluster": cluster,
                    "name": p.service.name,
                    "namespace": p.service.namespace,
                },
                "port": {"name": p.service_port_name},
            }
        },
    }


def jwks_inline(jwks: Obj) -> str:
    """Serialise a JWKS deterministically, so an unchanged key set re-applies as unchanged."""
    return json.dumps(jwks, separators=(",", ":"), sort_keys=True)


def ext_auth_policy(
    p: ExtAuthParams,
    *,
    cluster: str,
    jwks: Obj,
    issuer: str | None = None,
    jwks_uri: str | None = None,
) -> Obj:
    """The guide's ExtAuthPolicy. ``p.jwks == "remote"`` (and a ``jwks_uri``) sets Gloo's
    ``jwt.remoteJwks.url`` instead of ``localJwks.inlineString`` (enterprise.gloo v1
    ``JwtValidation``: a oneof; the ext-auth service refreshes a remote set every 5 minutes
    by default)."""
    jwt: Obj = (
        {"remoteJwks": {"url": jwks_uri}}
        if p.jwks == "remote" and jwks_uri
        else {"localJwks": {"inlineString": jwks_inline(jwks)}}
    )
    if p.issuer_check and issuer:
        jwt["issuer"] = issuer
    return {
        "apiVersion": "security.policy.gloo.solo.io/v2",
        "kind": "ExtAuthPolicy",
        "metadata": {"name": p.policy_name, "namespace": p.namespace},
        "spec": {
            "applyToRoutes": [{"route": {"labels": dict(p.route_labels)}}],
            "config": {
                "server": {"name": p.server_name, "namespace": p.namespace, "cluster": cluster},
                "glooAuth": {"configs": [{"oauth2": {"accessTokenValidation": {"jwt": jwt}}}]},
            },
        },
    }


# -- Gloo Portal 1.x (portal.gloo.solo.io/v1beta1), guide 2 ----------------------------------
PORTAL_API = "portal.gloo.solo.io/v1beta1"


def client_secret_secret(p: PortalParams, secret: str) -> Obj:
    """The Secret holding the client secret, encoded exactly (the guide's ``echo | base64`` adds a newline)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": p.secret_name, "namespace": p.namespace},
        "data": {p.secret_key: base64.b64encode(secret.encode()).decode()},
    }


def with_port(host: str, origin: str) -> str:
    """A Gloo Portal domain: the host, plus ``:port`` when the gateway is not on the default port."""
    port = urlsplit(origin).port
    return f"{host}:{port}" if port else host


def api_product(p: PortalParams) -> Obj:
    return {
        "apiVersion": PORTAL_API,
        "kind": "APIProduct",
        "metadata": {
            "name": p.api_product,
            "namespace": p.namespace,
            "labels": {"app": "petstore"},
        },
        "spec": {
            "displayInfo": {
                "title": "Petstore Product",
                "description": "Fabulous API product for the Petstore",
            },
            "versions": [
                {
                    "name": "v1",
                    "gatewayConfig": {
                        "route": {
                            "inlineRoute": {
                                "backends": [
                                    {
                                        "kube": {
                                            "name": "petstore",
                                            "namespace": p.namespace,
                                            "port": 8080,
                                        }
                                    }
                                ]
                            }
                        }
                    },
                    "tags": {"stable": {}},
                }
            ],
        },
    }


def environment(p: PortalParams, origin: str) -> Obj:
    return {
        "apiVersion": PORTAL_API,
        "kind": "Environment",
        "metadata": {"name": p.environment, "namespace": p.namespace},
        "spec": {
            "domains": [with_port(p.environment_domain, origin)],
            "displayInfo": {
                "displayName": "Development",
                "description": "This environment is meant for developers",
            },
            "basePath": "/",
            "apiProducts": [
                {
                    "namespaces": ["*"],
                    "labels": [{"key": "app", "operator": "Equals", "values": ["petstore"]}],
                    "versions": {"names": ["*"]},
                }
            ],
        },
    }


def portal(p: PortalParams, *, origin: str, client_id: str, issuer: str) -> Obj:
    return {
        "apiVersion": PORTAL_API,
        "kind": "Portal",
        "metadata": {"name": p.name, "namespace": p.namespace},
        "spec": {
            "displayName": p.display_name,
            "description": "The Gloo Portal for the Petstore API",
            "domains": [with_port(p.domain, origin)],
            "customStyling": {},
            "staticPages": [],
            "publishedEnvironments": [{"name": p.environment, "namespace": p.namespace}],
            "oidcAuth": {
                "callbackUrlPrefix": origin + "/",
                "clientId": client_id,
                "clientSecret": {
                    "name": p.secret_name,
                    "namespace": p.namespace,
                    "key": p.secret_key,
                },
                "groupClaimKey": p.group_claim_key,
                "issuer": issuer,
                "additionalScopes": list(p.additional_scopes),
            },
        },
    }


def portal_group(p: PortalParams, okta_group: str) -> Obj:
    return {
        "apiVersion": PORTAL_API,
        "kind": "Group",
        "metadata": {"name": p.group_name, "namespace": p.namespace},
        "spec": {
            "displayName": okta_group,
            "accessLevel": {
                "apis": [
                    {
                        "products": {"names": [p.api_product], "namespaces": [p.namespace]},
                        "environments": {"names": [p.environment], "namespaces": [p.namespace]},
                    }
                ],
                "portals": [{"name": p.name, "namespace": p.namespace}],
            },
            "oidcGroup": {"groupName": okta_group},
        },
    }


# -- Gloo Platform Portal (guide 1, step 1): apimanagement.gloo.solo.io/v2 -------------------
APIM_API = "apimanagement.gloo.solo.io/v2"
NETWORKING_API = "networking.gloo.solo.io/v2"
#: RouteTable labels the Portal and PortalGroups select API products by.
PORTAL_LABEL = "portal"
PRODUCT_LABEL = "api-product"
PRIVATE_LABEL = "portal-visibility"


def api_product_table(p: GatewayPortalParams, product: ApiProductParams, *, cluster: str) -> Obj:
    """An API product version: a RouteTable with ``portalMetadata`` (route_table.proto)."""
    labels = {PORTAL_LABEL: p.name, PRODUCT_LABEL: product.id}
    if product.restricted:
        labels[PRIVATE_LABEL] = "private"
    meta = {
        "apiProductId": product.id,
        "apiProductDisplayName": product.display_name or product.id,
        "apiVersion": product.version,
    }
    meta.update(
        {k: v for k, v in (("title", product.title), ("description", product.description)) if v}
    )
    return {
        "apiVersion": NETWORKING_API,
        "kind": "RouteTable",
        "metadata": {"name": product.table_name, "namespace": product.namespace, "labels": labels},
        "spec": {
            "portalMetadata": meta,
            "http": [
                {
                    "name": product.id,
                    "matchers": [{"uri": {"prefix": product.path}}],
                    "forwardTo": {
                        "destinations": [
                            {
                                "ref": {
                                    "name": product.service,
                                    "namespace": product.namespace,
                                    "cluster": cluster,
                                },
                                "port": {"number": product.port},
                            }
                        ]
                    },
                }
            ],
        },
    }


def portal_route_table(p: GatewayPortalParams, *, cluster: str) -> Obj:
    """The portal host on the gateway: ``/v1`` → portal server (labelled for ext-auth),
    ``/`` → the frontend app."""

    def dest(ref: WorkloadRef) -> Obj:
        return {
            "destinations": [
                {
                    "ref": {"name": ref.name, "namespace": ref.namespace, "cluster": cluster},
                    "port": {"number": ref.port},
                }
            ]
        }

    return {
        "apiVersion": NETWORKING_API,
        "kind": "RouteTable",
        "metadata": {"name": p.route_table, "namespace": p.namespace},
        "spec": {
            "hosts": [p.domain],
            "virtualGateways": [
                {"name": "north-south-gw", "namespace": "istio-gateways", "cluster": cluster}
            ],
            "http": [
                {
                    "name": "portal-api",
                    "labels": dict(p.route_labels),
                    "matchers": [{"uri": {"prefix": "/v1"}}],
                    "forwardTo": dest(p.portal_server),
                },
                {
                    "name": "portal-frontend",
                    "matchers": [{"uri": {"prefix": "/"}}],
                    "forwardTo": dest(p.frontend),
                },
            ],
        },
    }


def platform_portal(p: GatewayPortalParams, *, origin: str) -> Obj:
    """``Portal``: public, restricted products private by label (portal.proto Visibility)."""
    domains = [p.domain]
    if with_port(p.domain, origin) != p.domain:
        domains.append(with_port(p.domain, origin))
    spec: Obj = {
        "portalBackendSelectors": [
            {
                "selector": {
                    "labels": {"app": p.portal_server.name},
                    "namespace": p.portal_server.namespace,
                }
            }
        ],
        "domains": domains,
        "apis": [{"labels": {PORTAL_LABEL: p.name}}],
        "visibility": {"public": True, "privateAPILabels": {PRIVATE_LABEL: "private"}},
    }
    if p.usage_plans:
        spec["usagePlans"] = [{"name": n} for n in p.usage_plans]
    return {
        "apiVersion": APIM_API,
        "kind": "Portal",
        "metadata": {"name": p.name, "namespace": p.namespace},
        "spec": spec,
    }


def platform_portal_group(p: GatewayPortalParams, group: PortalGroupParams) -> Obj:
    """``PortalGroup``: members by claims, access to the listed products (portal_group.proto)."""
    spec: Obj = {
        "name": group.name,
        "membership": [{"claims": [{"key": k, "value": str(v)} for k, v in group.claims.items()]}],
        "accessLevel": {
            "apis": [
                {"labels": {PORTAL_LABEL: p.name, PRODUCT_LABEL: pid}} for pid in group.products
            ]
        },
    }
    if group.description:
        spec["description"] = group.description
    return {
        "apiVersion": APIM_API,
        "kind": "PortalGroup",
        "metadata": {
            "name": group.name,
            "namespace": p.namespace,
            "labels": {PORTAL_LABEL: p.name},
        },
        "spec": spec,
    }


def frontend_config(
    p: GatewayPortalParams, *, client_id: str, authorize: str, token: str, logout: str
) -> Obj:
    """The frontend's settings, under the starter app's ``VITE_*`` names (no secret: a SPA has none)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": p.frontend_config, "namespace": p.frontend.namespace},
        "data": {
            "VITE_CLIENT_ID": client_id,
            "VITE_AUTH_ENDPOINT": authorize,
            "VITE_TOKEN_ENDPOINT": token,
            "VITE_LOGOUT_ENDPOINT": logout,
            "VITE_PORTAL_SERVER_URL": "/v1",
            "VITE_SCOPES": " ".join(p.scopes),
        },
    }
