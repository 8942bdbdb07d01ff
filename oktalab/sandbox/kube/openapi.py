"""OpenAPI v3 documents, generated per group-version from the registry.

kubectl only needs three things from them: each kind's PATCH operation tagged with
``x-kubernetes-group-version-kind`` and a ``fieldValidation`` parameter (so it lets the
server validate instead of fetching the protobuf v2 spec), the list of patch media types
(strategic merge is deliberately not listed: kubectl then falls back to its compiled types
for built-ins and to JSON merge patch for custom resources, exactly as on a real cluster), and
``components.schemas`` with the GVK extension for ``kubectl explain``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .resources import Registry, Resource

Obj = dict[str, Any]

_OBJECT_META: Obj = {
    "description": "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Name must be unique within a namespace."},
        "namespace": {
            "type": "string",
            "description": "Namespace defines the space within which each name must be unique.",
        },
        "labels": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Map of string keys and values that can be used to organize and categorize objects.",
        },
        "annotations": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Annotations is an unstructured key value map stored with a resource.",
        },
        "uid": {
            "type": "string",
            "description": "UID is the unique in time and space value for this object.",
        },
        "resourceVersion": {
            "type": "string",
            "description": "An opaque value that represents the internal version of this object.",
        },
        "generation": {
            "type": "integer",
            "format": "int64",
            "description": "A sequence number representing a specific generation of the desired state.",
        },
        "creationTimestamp": {
            "type": "string",
            "format": "date-time",
            "description": "Time when this object was created.",
        },
    },
}

_BUILTIN_SCHEMAS: dict[str, Obj] = {
    "ConfigMap": {
        "description": "ConfigMap holds configuration data for pods to consume.",
        "properties": {
            "data": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Data contains the configuration data.",
            },
            "binaryData": {
                "type": "object",
                "additionalProperties": {"type": "string", "format": "byte"},
                "description": "BinaryData contains the binary data.",
            },
            "immutable": {
                "type": "boolean",
                "description": "Immutable, if set to true, ensures that data stored in the ConfigMap cannot be updated.",
            },
        },
    },
    "Secret": {
        "description": "Secret holds secret data of a certain type. The total bytes of the values in the Data field must be less than MaxSecretSize bytes.",
        "properties": {
            "data": {
                "type": "object",
                "additionalProperties": {"type": "string", "format": "byte"},
                "description": "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string.",
            },
            "stringData": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "stringData allows specifying non-binary secret data in string form. It is provided as a write-only input field for convenience. All keys and values are merged into the data field on write, overwriting any existing values. The stringData field is never output when reading from the API.",
            },
            "type": {
                "type": "string",
                "description": "Used to facilitate programmatic handling of secret data.",
            },
            "immutable": {
                "type": "boolean",
                "description": "Immutable, if set to true, ensures that data stored in the Secret cannot be updated.",
            },
        },
    },
    "Namespace": {
        "description": "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
        "properties": {
            "spec": {
                "type": "object",
                "description": "Spec defines the behavior of the Namespace.",
                "properties": {"finalizers": {"type": "array", "items": {"type": "string"}}},
            },
            "status": {
                "type": "object",
                "description": "Status describes the current status of a Namespace.",
                "properties": {"phase": {"type": "string"}},
            },
        },
    },
    "Service": {
        "description": "Service is a named abstraction of software service (for example, mysql) consisting of local port (for example 3306) that the proxy listens on, and the selector that determines which pods will answer requests sent through the proxy.",
        "properties": {
            "spec": {
                "type": "object",
                "description": "Spec defines the behavior of a service.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "status": {
                "type": "object",
                "description": "Most recently observed status of the service.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
        },
    },
    "Pod": {
        "description": "Pod is a collection of containers that can run on a host.",
        "properties": {
            "spec": {
                "type": "object",
                "description": "Specification of the desired behavior of the pod.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "status": {
                "type": "object",
                "description": "Most recently observed status of the pod.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
        },
    },
    "Event": {
        "description": "Event is a report of an event somewhere in the cluster.",
        "x-kubernetes-preserve-unknown-fields": True,
    },
    "ServiceAccount": {
        "description": "ServiceAccount binds together: a name, understood by users, and perhaps by peripheral systems, for an identity, a principal that can be authenticated and authorized, a set of secrets.",
        "x-kubernetes-preserve-unknown-fields": True,
    },
    "Deployment": {
        "description": "Deployment enables declarative updates for Pods and ReplicaSets.",
        "properties": {
            "spec": {
                "type": "object",
                "description": "Specification of the desired behavior of the Deployment.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "status": {
                "type": "object",
                "description": "Most recently observed status of the Deployment.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
        },
    },
    "CustomResourceDefinition": {
        "description": "CustomResourceDefinition represents a resource that should be exposed on the API server.  Its name MUST be in the format <.spec.name>.<.spec.group>.",
        "properties": {
            "spec": {
                "type": "object",
                "description": "spec describes how the user wants the resources to appear",
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "status": {
                "type": "object",
                "description": "status indicates the actual state of the CustomResourceDefinition",
                "x-kubernetes-preserve-unknown-fields": True,
            },
        },
    },
}

_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)


def schema_name(res: Resource, version: str) -> str:
    if res.builtin:
        pkg = (
            "io.k8s.api.core"
            if not res.group
            else "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"
        )
        return f"{pkg}.{version}.{res.kind}"
    reversed_group = ".".join(reversed(res.group.split(".")))
    return f"{reversed_group}.{version}.{res.kind}"


def _kind_schema(res: Resource, version: str) -> Obj:
    gvk = [{"group": res.group, "kind": res.kind, "version": version}]
    if res.builtin:
        base = copy.deepcopy(_BUILTIN_SCHEMAS.get(res.kind, {"description": res.kind}))
        base.setdefault("type", "object")
    else:
        base = copy.deepcopy(res.schema(version) or {"type": "object"})
    props = base.setdefault("properties", {})
    props.setdefault(
        "apiVersion",
        {
            "type": "string",
            "description": "APIVersion defines the versioned schema of this representation of an object. "
            "Servers should convert recognized schemas to the latest internal value, and may reject "
            "unrecognized values.",
        },
    )
    props.setdefault(
        "kind",
        {
            "type": "string",
            "description": "Kind is a string value representing the REST resource this object represents.",
        },
    )
    meta = props.get("metadata")
    if not isinstance(meta, dict) or "properties" not in meta:
        props["metadata"] = copy.deepcopy(_OBJECT_META)
    base["x-kubernetes-group-version-kind"] = gvk
    return base


def _operation(res: Resource, version: str, verb: str, content: tuple[str, ...] = ()) -> Obj:
    op: Obj = {
        "description": f"{verb} the specified {res.kind}",
        "operationId": f"{verb}{res.kind}",
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {
            "group": res.group,
            "version": version,
            "kind": res.kind,
        },
        "parameters": [
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {
                "name": "fieldManager",
                "in": "query",
                "schema": {"type": "string", "uniqueItems": True},
            },
            {
                "name": "fieldValidation",
                "in": "query",
                "schema": {"type": "string", "uniqueItems": True},
            },
        ],
        "responses": {"200": {"description": "OK"}},
    }
    if verb == "patch":
        op["parameters"].append(
            {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": True}}
        )
    if content:
        ref = {"schema": {"type": "object"}}
        op["requestBody"] = {"content": {c: ref for c in content}, "required": True}
    return op


def _prefix(res: Resource, version: str) -> str:
    return f"/apis/{res.group}/{version}" if res.group else f"/api/{version}"


def document(registry: Registry, group: str, version: str) -> Obj | None:
    resources = registry.in_group_version(group, version)
    if not resources:
        return None
    paths: Obj = {}
    schemas: Obj = {}
    for res in resources:
        base = _prefix(res, version)
        coll = (
            f"{base}/namespaces/{{namespace}}/{res.plural}"
            if res.namespaced
            else f"{base}/{res.plural}"
        )
        item = f"{coll}/{{name}}"
        collection = {
            "get": {**_operation(res, version, "list"), "x-kubernetes-action": "list"},
            "post": _operation(res, version, "post", ("*/*",)),
        }
        single = {
            "get": _operation(res, version, "get"),
            "put": _operation(res, version, "put", ("*/*",)),
            "patch": _operation(res, version, "patch", _PATCH_TYPES),
            "delete": _operation(res, version, "delete"),
        }
        verbs = {"post": "create", "put": "update", "patch": "patch", "delete": "delete"}
        if "list" not in res.verbs:
            del collection["get"]
        if "get" not in res.verbs:
            del single["get"]
        for method, verb in verbs.items():
            if verb not in res.verbs:
                collection.pop(method, None)
                single.pop(method, None)
        if collection:
            paths[coll] = collection
        if single:
            paths[item] = single
        if res.status_subresource:
            paths[f"{item}/status"] = {
                "get": _operation(res, version, "get"),
                "put": _operation(res, version, "put", ("*/*",)),
                "patch": _operation(res, version, "patch", _PATCH_TYPES),
            }
        schemas[schema_name(res, version)] = _kind_schema(res, version)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.4"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def doc_hash(doc: Obj) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:128].upper()


def index(registry: Registry) -> Obj:
    paths: Obj = {}
    for group, versions in registry.groups().items():
        for version in versions:
            key = f"apis/{group}/{version}" if group else f"api/{version}"
            doc = document(registry, group, version)
            if doc is not None:
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={doc_hash(doc)}"}
    return {"paths": paths}
