"""Decoding of the protobuf bodies kubectl's typed clients send for a few built-in kinds.

``kubectl create namespace|secret|configmap|serviceaccount|service`` and ``kubectl auth`` POST
``application/vnd.kubernetes.protobuf`` (a ``k8s\\0`` magic, then a ``runtime.Unknown``
wrapping the object). Only decoding is needed (responses may be JSON: kubectl also accepts
it), and only the fields those commands can set; the field numbers are the ones of
kubernetes/api ``core/v1/generated.proto`` and apimachinery's ``meta/v1``/``runtime``.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from .errors import bad_request

Obj = dict[str, Any]
MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

# A field spec: (json name, type); type is "string" | "bytes" | "int" | "bool" | "time" |
# a message spec (dict) | ("map", value type) | ("repeated", type) | "intorstring".
Spec = dict[int, tuple[str, Any]]

TYPE_META: Spec = {1: ("apiVersion", "string"), 2: ("kind", "string")}
UNKNOWN: Spec = {
    1: ("typeMeta", TYPE_META),
    2: ("raw", "raw"),
    3: ("contentEncoding", "string"),
    4: ("contentType", "string"),
}
OWNER_REF: Spec = {
    1: ("kind", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
OBJECT_META: Spec = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    5: ("uid", "string"),
    6: ("resourceVersion", "string"),
    7: ("generation", "int"),
    8: ("creationTimestamp", "time"),
    11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")),
    13: ("ownerReferences", ("repeated", OWNER_REF)),
    14: ("finalizers", ("repeated", "string")),
}
LOCAL_REF: Spec = {1: ("name", "string")}
OBJECT_REF: Spec = {
    1: ("kind", "string"),
    2: ("namespace", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
}
SERVICE_PORT: Spec = {
    1: ("name", "string"),
    2: ("protocol", "string"),
    3: ("port", "int"),
    4: ("targetPort", "intorstring"),
    5: ("nodePort", "int"),
    6: ("appProtocol", "string"),
}
KINDS: dict[str, Spec] = {
    "Namespace": {
        1: ("metadata", OBJECT_META),
        2: ("spec", {1: ("finalizers", ("repeated", "string"))}),
        3: ("status", {1: ("phase", "string")}),
    },
    "ConfigMap": {
        1: ("metadata", OBJECT_META),
        2: ("data", ("map", "string")),
        3: ("binaryData", ("map", "bytes")),
        4: ("immutable", "bool"),
    },
    "Secret": {
        1: ("metadata", OBJECT_META),
        2: ("data", ("map", "bytes")),
        3: ("type", "string"),
        4: ("stringData", ("map", "string")),
        5: ("immutable", "bool"),
    },
    "ServiceAccount": {
        1: ("metadata", OBJECT_META),
        2: ("secrets", ("repeated", OBJECT_REF)),
        3: ("imagePullSecrets", ("repeated", LOCAL_REF)),
        4: ("automountServiceAccountToken", "bool"),
    },
    "SelfSubjectAccessReview": {
        1: ("metadata", OBJECT_META),
        2: (
            "spec",
            {
                1: (
                    "resourceAttributes",
                    {
                        1: ("namespace", "string"),
                        2: ("verb", "string"),
                        3: ("group", "string"),
                        4: ("version", "string"),
                        5: ("resource", "string"),
                        6: ("subresource", "string"),
                        7: ("name", "string"),
                    },
                ),
                2: ("nonResourceAttributes", {1: ("path", "string"), 2: ("verb", "string")}),
            },
        ),
    },
    "SelfSubjectReview": {1: ("metadata", OBJECT_META)},
    "SelfSubjectRulesReview": {
        1: ("metadata", OBJECT_META),
        2: ("spec", {1: ("namespace", "string")}),
    },
    "Service": {
        1: ("metadata", OBJECT_META),
        2: (
            "spec",
            {
                1: ("ports", ("repeated", SERVICE_PORT)),
                2: ("selector", ("map", "string")),
                3: ("clusterIP", "string"),
                4: ("type", "string"),
                5: ("externalIPs", ("repeated", "string")),
                7: ("sessionAffinity", "string"),
                10: ("externalName", "string"),
            },
        ),
    },
}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value = buf[pos : pos + length]
            pos += length
        elif wire == 1:
            value = buf[pos : pos + 8]
            pos += 8
        elif wire == 5:
            value = buf[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _scalar(kind: Any, value: Any) -> Any:
    if kind == "string":
        return bytes(value).decode()
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if kind == "raw":
        return bytes(value)
    if kind == "int":
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "bool":
        return bool(value)
    if kind == "time":
        t = decode_message(value, {1: ("seconds", "int"), 2: ("nanos", "int")})
        return datetime.fromtimestamp(t.get("seconds", 0), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "intorstring":
        ios = decode_message(
            value, {1: ("type", "int"), 2: ("intVal", "int"), 3: ("strVal", "string")}
        )
        return ios.get("strVal", "") if ios.get("type") == 1 else ios.get("intVal", 0)
    if isinstance(kind, dict):
        return decode_message(value, kind)
    raise ValueError(f"unknown field kind {kind!r}")


def decode_message(buf: bytes, spec: Spec) -> Obj:
    out: Obj = {}
    for number, _wire, value in _fields(buf):
        if number not in spec:
            continue
        name, kind = spec[number]
        if isinstance(kind, tuple) and kind[0] == "map":
            entry = decode_message(value, {1: ("key", "string"), 2: ("value", kind[1])})
            out.setdefault(name, {})[entry.get("key", "")] = entry.get(
                "value", "" if kind[1] in ("string", "bytes") else None
            )
        elif isinstance(kind, tuple) and kind[0] == "repeated":
            out.setdefault(name, []).append(_scalar(kind[1], value))
        else:
            decoded = _scalar(kind, value)
            if decoded in ("", 0, False) and not isinstance(decoded, dict):
                continue  # gogo-protobuf writes zero values; Go's JSON would omit them
            out[name] = decoded
    return out


def decode_object(body: bytes) -> Obj:
    """A JSON-shaped object from a ``k8s\\0``-prefixed protobuf body."""
    if not body.startswith(MAGIC):
        raise bad_request("provided protobuf is not a Kubernetes object (no magic prefix)")
    try:
        unknown = decode_message(body[len(MAGIC) :], UNKNOWN)
        type_meta = unknown.get("typeMeta") or {}
        kind = type_meta.get("kind", "")
        spec = KINDS.get(kind)
        if spec is None:
            raise bad_request(
                f"protobuf decoding of kind {kind!r} is not supported by this server; send JSON"
            )
        obj = decode_message(unknown.get("raw", b""), spec)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"unable to decode protobuf body: {exc}") from None
    return {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **obj}
