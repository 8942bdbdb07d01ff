"""Kubernetes ``Status`` errors, raised anywhere in the API layer and rendered once.

Clients key their behaviour on ``reason`` and ``code`` (kubectl's apply retries on Conflict,
the python client maps codes to ``ApiException``), and kubectl prints ``message`` verbatim, so
the constructors below reproduce apimachinery's wording.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as a ``Status`` object."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(name: str, group: str, plural: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = plural
    return details


def qualified(group: str, plural: str) -> str:
    """``configmaps`` for core, ``widgets.example.com`` for a group (apimachinery's GroupResource)."""
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified(group, plural)} "{name}" not found',
        _details(name, group, plural),
    )


def unknown_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(group, plural)} "{name}" already exists',
        _details(name, group, plural),
    )


def conflict(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(group, plural)} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        _details(name, group, plural),
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed() -> ApiError:
    return ApiError(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        {},
    )


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
        {},
    )


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


class FieldError:
    """One ``field.Error``: rendered as ``<field>: <type>: <detail>`` and as a Status cause."""

    def __init__(self, cause: str, field: str, message: str) -> None:
        self.cause = cause  # FieldValueInvalid, FieldValueRequired, ...
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def render_value(value: Any) -> str:
    """apimachinery prints strings quoted and other values as Go would (roughly)."""
    import json

    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return '"' + json.dumps(value, separators=(",", ":")).replace('"', '\\"') + '"'
    return str(value)


def required(field: str, detail: str = "") -> FieldError:
    return FieldError(
        "FieldValueRequired", field, "Required value" + (f": {detail}" if detail else "")
    )


def invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError("FieldValueInvalid", field, f"Invalid value: {render_value(value)}: {detail}")


def type_invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(
        "FieldValueTypeInvalid", field, f"Invalid value: {render_value(value)}: {detail}"
    )


def not_supported(field: str, value: Any, allowed: list[Any]) -> FieldError:
    supported = ", ".join(render_value(v) for v in allowed)
    return FieldError(
        "FieldValueNotSupported",
        field,
        f"Unsupported value: {render_value(value)}: supported values: {supported}",
    )


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", field, f"Forbidden: {detail}")


def invalid_object(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    """422 Invalid: ``Widget.example.com "w1" is invalid: spec.size: ...``."""
    qualified_kind = f"{kind}.{group}" if group else kind
    text = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(e) for e in errors) + "]"
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [
        {"reason": e.cause, "message": e.message, "field": e.field} for e in errors
    ]
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {text}', details)
