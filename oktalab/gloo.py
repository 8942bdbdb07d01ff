"""Builders for the Gloo manifests of the guides. Pure functions: dicts in, dicts out.

They produce exactly what the guides apply, with values from parameters instead of
``$CLUSTER_NAME`` and a hand-pasted ``$CERT_KEYS`` (the source of the guide's "invalid
character 'k'" error): the JWKS is serialised here, from what the server published.
"""

from __future__ import annotations

import json
from typing import Any

from .params import ExtAuthParams

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
