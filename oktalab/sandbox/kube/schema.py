"""Structural-schema handling of custom resources: pruning, defaulting and validation.

The apiserver decodes, prunes unknown fields (or rejects them under
``fieldValidation=Strict``), applies ``default``\\ s, then validates against the
``openAPIV3Schema``. Validation is hand-written rather than ``jsonschema``: OpenAPI's
``nullable``, ``x-kubernetes-int-or-string`` and list types have no JSON-Schema keyword, the
errors must be worded as apiextensions-apiserver words them (kubectl prints them), and
importing ``jsonschema`` costs over a second at every sandbox start.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .errors import FieldError, invalid, not_supported, render_value, required, type_invalid

Obj = dict[str, Any]
ROOT_KEEP = ("apiVersion", "kind", "metadata")


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


# -- pruning -------------------------------------------------------------------------------
def prune(obj: Obj, schema: Obj) -> tuple[Obj, list[str]]:
    """A copy of ``obj`` without fields the schema does not declare, and their paths."""
    obj = copy.deepcopy(obj)
    dropped: list[str] = []
    props = schema.get("properties") or {}
    for key in list(obj):
        if key in ROOT_KEEP:
            if key in props and key != "metadata":
                _prune(obj[key], props[key], key, dropped)
            continue
        if key in props:
            _prune(obj[key], props[key], key, dropped)
        elif not schema.get("x-kubernetes-preserve-unknown-fields"):
            dropped.append(key)
            del obj[key]
    return obj, dropped


def _prune(value: Any, schema: Obj, path: str, dropped: list[str]) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        embedded = schema.get("x-kubernetes-embedded-resource")
        for key in list(value):
            if props and key in props:
                _prune(value[key], props[key], join(path, key), dropped)
            elif isinstance(addl, dict):
                _prune(value[key], addl, join(path, key), dropped)
            elif addl is True or preserve or (embedded and key in ROOT_KEEP):
                continue
            else:
                dropped.append(join(path, key))
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _prune(item, schema["items"], join(path, i), dropped)


# -- defaulting ----------------------------------------------------------------------------
def apply_defaults(obj: Obj, schema: Obj) -> Obj:
    obj = copy.deepcopy(obj)
    _default(obj, schema, top=True)
    return obj


def _default(value: Any, schema: Obj, top: bool = False) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if top and key == "metadata":
                continue
            if key in value and value[key] is None and not sub.get("nullable"):
                del value[key]  # non-nullable nulls are pruned before defaulting
            if key not in value and isinstance(sub, dict) and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                _default(value[key], sub)
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            for key in value:
                if key not in props:
                    _default(value[key], addl)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _default(item, schema["items"])


# -- validation ----------------------------------------------------------------------------
def validate(obj: Obj, schema: Obj) -> list[FieldError]:
    """Errors of ``obj`` against a CRD's openAPIV3Schema, ordered by field path."""
    errors: list[FieldError] = []
    props = schema.get("properties") or {}
    for key in schema.get("required") or []:
        if key not in obj and key != "metadata":
            errors.append(required(key))
    for key, value in obj.items():
        if key == "metadata" or key not in props:
            continue
        _check(value, props[key], key, errors)
    errors.sort(key=lambda e: e.field)
    return _unique(errors)


def _unique(errors: list[FieldError]) -> list[FieldError]:
    seen: set[str] = set()
    out = []
    for e in errors:
        if str(e) not in seen:
            seen.add(str(e))
            out.append(e)
    return out


_TYPES = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _check(value: Any, schema: Any, path: str, errors: list[FieldError]) -> None:
    """kube-openapi's validation of one value, worded like apiextensions-apiserver."""
    if not isinstance(schema, dict):
        return
    body = path or "<root>"
    if value is None:
        if not schema.get("nullable") and schema.get("type"):
            errors.append(
                type_invalid(
                    path, value, f'{body} in body must be of type {schema["type"]}: "null"'
                )
            )
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not (_TYPES["integer"](value) or isinstance(value, str)):
            errors.append(
                type_invalid(
                    path,
                    value,
                    f"{body} in body must be of type integer-or-string: {render_value(value)}",
                )
            )
            return
    elif schema.get("type") in _TYPES and not _TYPES[schema["type"]](value):
        errors.append(
            type_invalid(
                path, value, f"{body} in body must be of type {schema['type']}: {_go_type(value)}"
            )
        )
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(not_supported(path, value, list(schema["enum"])))
    if isinstance(value, str):
        _check_string(value, schema, path, body, errors)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, schema, path, body, errors)
    elif isinstance(value, list):
        _check_array(value, schema, path, body, errors)
    elif isinstance(value, dict):
        _check_object(value, schema, path, body, errors)
    for sub in schema.get("allOf") or []:
        _check(value, sub, path, errors)
    if schema.get("anyOf") and not any(_passes(value, sub, path) for sub in schema["anyOf"]):
        errors.append(
            invalid(path, value, f"{body} in body must validate at least one schema (anyOf)")
        )
    if schema.get("oneOf") and sum(1 for sub in schema["oneOf"] if _passes(value, sub, path)) != 1:
        errors.append(
            invalid(path, value, f"{body} in body must validate one and only one schema (oneOf)")
        )
    if isinstance(schema.get("not"), dict) and _passes(value, schema["not"], path):
        errors.append(invalid(path, value, f"{body} in body should not validate the schema (not)"))


def _passes(value: Any, schema: Any, path: str) -> bool:
    errors: list[FieldError] = []
    _check(value, schema, path, errors)
    return not errors


def _go_type(value: Any) -> str:
    """How the error names a mistyped value: quoted JSON type, as apiextensions does."""
    if isinstance(value, bool):
        return '"boolean"'
    if isinstance(value, (int, float)):
        return '"integer"' if isinstance(value, int) or value.is_integer() else '"number"'
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return '"string"'


def _check_string(value: str, schema: Obj, path: str, body: str, errors: list[FieldError]) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(
            invalid(
                path, value, f"{body} in body should be at least {schema['minLength']} chars long"
            )
        )
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(
            FieldError(
                "FieldValueTooLong",
                path,
                f"Too long: may not be more than {schema['maxLength']} bytes",
            )
        )
    if "pattern" in schema:
        try:
            ok = re.search(schema["pattern"], value) is not None
        except re.error:
            ok = True  # a pattern Python cannot compile is not the object's fault
        if not ok:
            errors.append(
                invalid(path, value, f"{body} in body should match '{schema['pattern']}'")
            )


def _check_number(
    value: float, schema: Obj, path: str, body: str, errors: list[FieldError]
) -> None:
    if "minimum" in schema:
        low = schema["minimum"]
        if schema.get("exclusiveMinimum") and value <= low:
            errors.append(invalid(path, value, f"{body} in body should be greater than {low}"))
        elif value < low:
            errors.append(
                invalid(path, value, f"{body} in body should be greater than or equal to {low}")
            )
    if "maximum" in schema:
        high = schema["maximum"]
        if schema.get("exclusiveMaximum") and value >= high:
            errors.append(invalid(path, value, f"{body} in body should be less than {high}"))
        elif value > high:
            errors.append(
                invalid(path, value, f"{body} in body should be less than or equal to {high}")
            )
    step = schema.get("multipleOf")
    if step and (value / step) != int(value / step):
        errors.append(invalid(path, value, f"{body} in body should be a multiple of {step}"))


def _check_array(
    value: list[Any], schema: Obj, path: str, body: str, errors: list[FieldError]
) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(
            invalid(path, value, f"{body} in body should have at least {schema['minItems']} items")
        )
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(
            FieldError(
                "FieldValueTooMany",
                path,
                f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
            )
        )
    if schema.get("uniqueItems") or schema.get("x-kubernetes-list-type") == "set":
        for i, item in enumerate(value):
            if item in value[:i]:
                errors.append(
                    FieldError(
                        "FieldValueDuplicate",
                        join(path, i),
                        f"Duplicate value: {render_value(item)}",
                    )
                )
    keys = schema.get("x-kubernetes-list-map-keys")
    if schema.get("x-kubernetes-list-type") == "map" and keys:
        seen: list[Any] = []
        for i, item in enumerate(value):
            if isinstance(item, dict):
                ident = {k: item.get(k) for k in keys}
                if ident in seen:
                    errors.append(
                        FieldError(
                            "FieldValueDuplicate",
                            join(path, i),
                            f"Duplicate value: {render_value(ident)}",
                        )
                    )
                seen.append(ident)
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            _check(item, items, join(path, i), errors)


def _check_object(value: Obj, schema: Obj, path: str, body: str, errors: list[FieldError]) -> None:
    for key in schema.get("required") or []:
        if key not in value:
            errors.append(required(join(path, key)))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errors.append(
            invalid(
                path,
                value,
                f"{body} in body should have at least {schema['minProperties']} properties",
            )
        )
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errors.append(
            FieldError(
                "FieldValueTooMany",
                path,
                f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
            )
        )
    props = schema.get("properties") or {}
    addl = schema.get("additionalProperties")
    embedded = schema.get("x-kubernetes-embedded-resource")
    for key, sub in value.items():
        if embedded and key == "metadata":
            continue
        if key in props:
            _check(sub, props[key], join(path, key), errors)
        elif isinstance(addl, dict):
            _check(sub, addl, join(path, key), errors)


# -- schema navigation (server-side apply, tables) -------------------------------------------
def child(schema: Obj | None, key: str) -> Obj | None:
    if not isinstance(schema, dict):
        return None
    props = schema.get("properties") or {}
    if key in props:
        return props[key]
    addl = schema.get("additionalProperties")
    return addl if isinstance(addl, dict) else None


def list_type(schema: Obj | None) -> tuple[str, tuple[str, ...]]:
    if not isinstance(schema, dict):
        return "atomic", ()
    kind = schema.get("x-kubernetes-list-type", "atomic")
    return kind, tuple(schema.get("x-kubernetes-list-map-keys") or ())
