"""Gloo Portal 1.x manifests of the self-registration guide (portal.gloo.solo.io/v1beta1)."""

from __future__ import annotations

from typing import Any

API = "portal.gloo.solo.io/v1beta1"


def api_product() -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "APIProduct",
        "metadata": {"name": "petstore-product", "namespace": "default"},
        "spec": {
            "displayInfo": {"description": "Petstore Product", "title": "Petstore Product"},
            "versions": [
                {
                    "name": "v1",
                    "apis": [{"apiDoc": {"name": "petstore-schema", "namespace": "default"}}],
                    "gatewayConfig": {
                        "route": {
                            "inlineRoute": {
                                "backends": [
                                    {
                                        "kube": {
                                            "name": "petstore",
                                            "namespace": "default",
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


def environment(domains: list[str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Environment",
        "metadata": {"name": "dev", "namespace": "default"},
        "spec": {
            "domains": domains or ["api.example.com", "api.example.com:32000"],
            "displayInfo": {
                "description": "This environment is meant for developers",
                "displayName": "Development",
            },
            "apiProducts": [
                {
                    "namespaces": ["*"],
                    "labels": [{"key": "app", "operator": "Equals", "values": ["petstore"]}],
                }
            ],
        },
    }


def portal(
    *,
    issuer: str,
    client_id: str = "0oaksnsdvwTd1b5wR5d6",
    domains: list[str] | None = None,
    callback: str | None = None,
) -> dict[str, Any]:
    oidc: dict[str, Any] = {
        "clientId": client_id,
        "clientSecret": {
            "name": "petstore-portaloidc-secret",
            "namespace": "default",
            "key": "client_secret",
        },
        "groupClaimKey": "groups",
        "issuer": issuer,
        "additionalScopes": ["groups"],
    }
    if callback:
        oidc["callbackUrlPrefix"] = callback
    return {
        "apiVersion": API,
        "kind": "Portal",
        "metadata": {"name": "petstore-portal", "namespace": "default"},
        "spec": {
            "customStyling": {},
            "description": "The Gloo Portal for the Petstore API",
            "displayName": "Petstore Portal",
            "domains": domains or ["petstore.example.com", "petstore.example.com:32000"],
            "publishedEnvironments": [{"name": "dev", "namespace": "default"}],
            "staticPages": [],
            "oidcAuth": oidc,
        },
    }


def group() -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Group",
        "metadata": {"name": "oidc-group", "namespace": "default"},
        "spec": {
            "accessLevel": {
                "apis": [
                    {
                        "products": {"names": ["petstore-product"], "namespaces": ["default"]},
                        "environments": {"names": ["dev"], "namespaces": ["default"]},
                    }
                ],
                "portals": [{"name": "petstore-portal", "namespace": "default"}],
            },
            "oidcGroup": {"groupName": "PetstoreUsers"},
        },
    }


PETSTORE_SWAGGER = """
swagger: "2.0"
info: {title: Swagger Petstore, version: 1.0.0, description: A sample API}
basePath: /api
paths:
  /pets:
    get: {operationId: findPets, summary: Returns all pets}
  /pets/{id}:
    get: {operationId: findPetById, summary: Returns a pet}
"""


def api_doc(
    *, inline: str | None = PETSTORE_SWAGGER, fetch_url: str | None = None
) -> dict[str, Any]:
    content: dict[str, Any] = {"fetchUrl": fetch_url} if fetch_url else {"inlineString": inline}
    return {
        "apiVersion": API,
        "kind": "APIDoc",
        "metadata": {"name": "petstore-schema", "namespace": "default"},
        "spec": {"openApi": {"content": content}},
    }
