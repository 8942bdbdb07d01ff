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

from .params import ExtAuthParams, PortalParams

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


def ext_auth_policy(p: ExtAuthParams, *, cluster: str, jwks: Obj, issuer: str | None = None) -> Obj:
    jwt: Obj = {"localJwks": {"inlineString": jwks_inline(jwks)}}
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
