"""Pure functions: strategic merge patch, server-side apply, schemas, selectors, protobuf."""

from __future__ import annotations

import pytest

from oktalab.sandbox.kube import protobuf, schema, ssa
from oktalab.sandbox.kube.errors import ApiError
from oktalab.sandbox.kube.selectors import label_selector
from oktalab.sandbox.kube.smp import merge_schema, strategic_merge

SVC = merge_schema("", "services")
POD = merge_schema("", "pods")


def test_smp_kubectl_service_port_removal() -> None:
    live = {
        "spec": {
            "ports": [
                {"port": 80, "targetPort": 8080},
                {"port": 443, "targetPort": 8443, "protocol": "TCP"},
            ]
        }
    }
    patch = {
        "spec": {
            "$setElementOrder/ports": [{"port": 443}],
            "ports": [{"port": 443, "targetPort": 9443}, {"$patch": "delete", "port": 80}],
        }
    }
    assert strategic_merge(live, patch, SVC) == {
        "spec": {"ports": [{"port": 443, "targetPort": 9443, "protocol": "TCP"}]}
    }


def test_smp_containers_env_and_directives() -> None:
    live = {
        "metadata": {"finalizers": ["a"], "labels": {"x": "1", "y": "2"}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "i:1",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                }
            ],
            "volumes": [{"name": "v", "emptyDir": {}}],
        },
    }
    patch = {
        "metadata": {
            "finalizers": ["b"],
            "labels": {"y": None},
            "$deleteFromPrimitiveList/finalizers": ["a"],
        },
        "spec": {
            "containers": [
                {"name": "app", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]},
                {"name": "side", "image": "s"},
            ],
            "volumes": [{"$patch": "replace"}, {"name": "w", "secret": {"secretName": "s"}}],
            "$retainKeys": ["containers", "volumes"],
        },
    }
    out = strategic_merge(live, patch, POD)
    assert out["metadata"] == {"finalizers": ["b"], "labels": {"x": "1"}}
    app, side = out["spec"]["containers"]
    assert app["image"] == "i:1" and app["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]
    assert side == {"name": "side", "image": "s"}
    assert out["spec"]["volumes"] == [{"name": "w", "secret": {"secretName": "s"}}]


def test_smp_map_replace_and_delete() -> None:
    live = {"data": {"a": "1"}, "spec": {"x": {"y": 1, "z": 2}}}
    assert strategic_merge(live, {"spec": {"x": {"$patch": "replace", "w": 3}}}, {}) == {
        "data": {"a": "1"},
        "spec": {"x": {"w": 3}},
    }
    assert strategic_merge(live, {"spec": {"$patch": "delete"}}, {})["spec"] == {}


SHAPE = ssa.SchemaShape(
    {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                        },
                    },
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
            }
        },
    }
)


def test_ssa_ownership_removal_and_conflicts() -> None:
    a1 = {
        "apiVersion": "v1",
        "kind": "W",
        "metadata": {"name": "w", "labels": {"l": "1"}},
        "spec": {"ports": [{"name": "http", "port": 80}], "tags": ["a"]},
    }
    obj = ssa.apply(None, a1, "alice", "v1", SHAPE, force=False)
    fields = obj["metadata"]["managedFields"][0]["fieldsV1"]
    assert fields["f:spec"]["f:ports"]['k:{"name":"http"}'] == {".": {}, "f:name": {}, "f:port": {}}
    assert fields["f:spec"]["f:tags"] == {}
    # bob adds a port: associative list merges, no conflict
    b1 = {
        "apiVersion": "v1",
        "kind": "W",
        "metadata": {"name": "w"},
        "spec": {"ports": [{"name": "https", "port": 443}]},
    }
    obj = ssa.apply(obj, b1, "bob", "v1", SHAPE, force=False)
    assert [p["name"] for p in obj["spec"]["ports"]] == ["https", "http"] or [
        p["name"] for p in obj["spec"]["ports"]
    ] == ["http", "https"]
    # bob changing alice's port conflicts
    b2 = {
        "apiVersion": "v1",
        "kind": "W",
        "metadata": {"name": "w"},
        "spec": {"ports": [{"name": "http", "port": 81}]},
    }
    with pytest.raises(ApiError) as exc:
        ssa.apply(obj, b2, "bob", "v1", SHAPE, force=False)
    assert exc.value.code == 409
    assert (
        exc.value.message
        == 'Apply failed with 1 conflict: conflict with "alice" using v1: .spec.ports[name="http"].port'
    )
    # alice drops her label and tags: they are removed
    a2 = {
        "apiVersion": "v1",
        "kind": "W",
        "metadata": {"name": "w"},
        "spec": {"ports": [{"name": "http", "port": 80}]},
    }
    obj = ssa.apply(obj, a2, "alice", "v1", SHAPE, force=False)
    assert "tags" not in obj["spec"] and not obj["metadata"].get("labels")
    assert {p["name"] for p in obj["spec"]["ports"]} == {"http", "https"}
    # forcing moves ownership
    obj = ssa.apply(obj, b2, "bob", "v1", SHAPE, force=True)
    assert next(p for p in obj["spec"]["ports"] if p["name"] == "http")["port"] == 81


def test_fields_v1_round_trip() -> None:
    paths = {("f:a",), ("f:b", 'k:{"n":1}'), ("f:b", 'k:{"n":1}', "f:x"), ("f:c", 'v:"s"')}
    assert ssa.from_fields_v1(ssa.to_fields_v1(paths)) == paths


def test_schema_prune_default_validate() -> None:
    sch = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["n"],
                "properties": {
                    "n": {"type": "integer", "maximum": 3},
                    "s": {"type": "string", "default": "d", "pattern": "^[a-z]+$"},
                    "ios": {"x-kubernetes-int-or-string": True},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "opt": {"type": "string", "nullable": True},
                },
            }
        },
    }
    obj = {
        "apiVersion": "x/v1",
        "kind": "K",
        "metadata": {"name": "n"},
        "top": 1,
        "spec": {"n": 5, "junk": 1, "ios": "50%", "free": {"a": {"b": 1}}, "opt": None},
    }
    pruned, dropped = schema.prune(obj, sch)
    assert dropped == ["top", "spec.junk"]
    defaulted = schema.apply_defaults(pruned, sch)
    assert defaulted["spec"]["s"] == "d" and defaulted["spec"]["free"] == {"a": {"b": 1}}
    errors = schema.validate(defaulted, sch)
    assert [str(e) for e in errors] == [
        "spec.n: Invalid value: 5: spec.n in body should be less than or equal to 3"
    ]
    errors = schema.validate({"spec": {"s": "A", "ios": 1.5}}, sch)
    assert sorted(e.field for e in errors) == ["spec.ios", "spec.n", "spec.s"]


def test_label_selector_parsing() -> None:
    obj = {"metadata": {"labels": {"a": "1", "b": "x"}}}
    assert label_selector("a in (1, 2), b notin (y), !c")(obj)
    assert not label_selector("a=2")(obj)
    with pytest.raises(ApiError):
        label_selector("a in (")


def test_protobuf_namespace_decoding() -> None:
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    meta = field(1, b"ns1") + field(11, field(1, b"k") + field(2, b"v"))
    raw = field(1, meta)
    unknown = field(1, field(1, b"v1") + field(2, b"Namespace")) + field(2, raw)
    assert protobuf.decode_object(protobuf.MAGIC + unknown) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "ns1", "labels": {"k": "v"}},
    }


def test_validation_keywords_are_worded_like_apiextensions() -> None:
    sch = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "n": {
                        "type": "integer",
                        "minimum": 0,
                        "exclusiveMinimum": True,
                        "multipleOf": 2,
                    },
                    "s": {"type": "string", "nullable": True, "minLength": 2},
                    "tags": {
                        "type": "array",
                        "uniqueItems": True,
                        "maxItems": 2,
                        "items": {"type": "string"},
                    },
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                    },
                    "port": {
                        "type": "object",
                        "properties": {"number": {"type": "integer"}, "name": {"type": "string"}},
                        "oneOf": [{"required": ["number"]}, {"required": ["name"]}],
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }
        },
    }

    def errors(spec: dict) -> list[str]:
        return [str(e) for e in schema.validate({"spec": spec}, sch)]

    assert (
        errors({"n": 2, "s": None, "tags": ["a"], "port": {"number": 1}, "labels": {"a": "b"}})
        == []
    )
    assert errors({"n": 0}) == ["spec.n: Invalid value: 0: spec.n in body should be greater than 0"]
    assert errors({"n": 3}) == [
        "spec.n: Invalid value: 3: spec.n in body should be a multiple of 2"
    ]
    assert errors({"n": "x"}) == [
        'spec.n: Invalid value: "x": spec.n in body must be of type integer: "string"'
    ]
    assert errors({"tags": ["a", "a", "b"]}) == [
        "spec.tags: Too many: 3: must have at most 2 items",
        'spec.tags[1]: Duplicate value: "a"',
    ]
    assert errors({"ports": [{"name": "x"}, {"name": "x"}]}) == [
        'spec.ports[1]: Duplicate value: "{\\"name\\":\\"x\\"}"'
    ]
    assert errors({"port": {"number": 1, "name": "a"}})[0].endswith(
        "must validate one and only one schema (oneOf)"
    )
    assert errors({"labels": {"a": 1}}) == [
        'spec.labels.a: Invalid value: 1: spec.labels.a in body must be of type string: "integer"'
    ]
    assert errors({"s": "x"}) == [
        'spec.s: Invalid value: "x": spec.s in body should be at least 2 chars long'
    ]


def test_printer_column_json_path() -> None:
    from oktalab.sandbox.kube.tables import json_path

    obj = {
        "status": {
            "conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]
        },
        "a": {"b.c": 1},
    }
    assert json_path(obj, '.status.conditions[?(@.type=="Ready")].status') == ["True"]
    assert json_path(obj, ".status.conditions[?(@.type!='Ready')].type") == ["A"]
    assert json_path(obj, ".a['b.c']") == [1]
    assert json_path(obj, ".status.conditions[-1].type") == ["Ready"]
    assert json_path(obj, ".status.conditions[*].type") == ["A", "Ready"]
    assert json_path(obj, ".missing.field") == []
