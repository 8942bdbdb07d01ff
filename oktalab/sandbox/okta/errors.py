"""Okta's two error dialects: the Management API error object and the OAuth 2.0 error JSON.

Handlers raise; the app turns the exception into the exact wire shape so that clients written
against Okta's documentation (and Okta's SDK, which parses ``errorCode``) see what they expect.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import JSONResponse

# (status, summary template) for the codes the sandbox emits; taken from Okta's error catalogue.
CODES: dict[str, tuple[int, str]] = {
    "E0000001": (400, "Api validation failed: {0}"),
    "E0000003": (400, "The request body was not well-formed."),
    "E0000004": (401, "Authentication failed"),
    "E0000005": (403, "Invalid session"),
    "E0000006": (403, "You do not have permission to perform the requested action"),
    "E0000007": (404, "Not found: {0}"),
    "E0000008": (404, "The requested path was not found"),
    "E0000009": (500, "Internal Server Error"),
    "E0000011": (401, "Invalid token provided"),
    "E0000016": (403, "Activation failed because the user is already active"),
    "E0000022": (405, "The endpoint does not support the provided HTTP method"),
    "E0000031": (400, "Invalid search criteria."),
    "E0000038": (403, "This operation is not allowed in the user's current status."),
    "E0000047": (429, "API call exceeded rate limit due to too many requests."),
    "E0000056": (403, "Delete application forbidden."),
    "E0000079": (403, "This operation is not allowed in the current authentication state."),
    "E0000062": (409, "The specified user is already assigned to the application."),
    "E0000111": (403, "Cannot modify the {0} object because it is read-only."),
}


def error_id() -> str:
    return "oae" + secrets.token_urlsafe(16).replace("-", "A").replace("_", "B")[:22]


class OktaApiError(Exception):
    """A Management API failure rendered as Okta's error object."""

    def __init__(
        self,
        code: str,
        arg: str = "",
        causes: list[str] | None = None,
        *,
        status: int | None = None,
        summary: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        default_status, template = CODES[code]
        self.code = code
        self.status = status or default_status
        self.summary = summary or template.replace("{0}", arg)
        self.causes = causes or []
        self.headers = headers or {}
        super().__init__(f"{code} {self.summary}")

    def body(self) -> dict[str, Any]:
        return {
            "errorCode": self.code,
            "errorSummary": self.summary,
            "errorLink": self.code,
            "errorId": error_id(),
            "errorCauses": [{"errorSummary": c} for c in self.causes],
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def validation(field: str, *causes: str) -> OktaApiError:
    """E0000001 naming the offending field, as Okta does (``Api validation failed: label``)."""
    return OktaApiError(
        "E0000001", field, list(causes) or [f"{field}: The field cannot be left blank"]
    )


def not_found(what: str = "Resource not found") -> OktaApiError:
    return OktaApiError("E0000007", what)


class OAuthError(Exception):
    """An OAuth 2.0 / OIDC endpoint failure: ``{"error", "error_description"}``."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}
        super().__init__(f"{error}: {description}")

    def response(self) -> JSONResponse:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **self.headers}
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers=headers,
        )


# ---- typed field checks: a value of the wrong JSON type is refused, never stored ------------------

_MISSING: Any = object()


def want_str(value: Any, field: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise validation(field, f"{field}: must be a string")
    return value


def required_str(value: Any, field: str) -> str:
    """A non-blank string, else E0000001 ``<field>: The field cannot be left blank``."""
    if not isinstance(value, str) or not value.strip():
        raise validation(field, f"{field}: The field cannot be left blank")
    return value


def want_status(value: Any, default: str = "ACTIVE") -> str:
    """``ACTIVE`` or ``INACTIVE`` (absent: ``default``), else E0000001 naming ``status``."""
    if value is None:
        return default
    if value not in ("ACTIVE", "INACTIVE"):
        raise validation("status", "status: must be ACTIVE or INACTIVE")
    return str(value)


def want_bool(value: Any, field: str, default: bool | None = None) -> bool:
    if value is None and default is not None:
        return default
    if not isinstance(value, bool):
        raise validation(field, f"{field}: must be a boolean")
    return value


def want_int(
    value: Any, field: str, default: int | None = None, lo: int | None = None, hi: int | None = None
) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise validation(field, f"{field}: must be an integer")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise validation(field, f"{field}: must be between {lo} and {hi}")
    return value


def want_str_list(value: Any, field: str, default: list[str] | None = None) -> list[str]:
    if value is None and default is not None:
        return list(default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise validation(field, f"{field}: must be an array of strings")
    return list(value)


def want_dict(value: Any, field: str, default: dict[str, Any] | None = None) -> dict[str, Any]:
    if value is None and default is not None:
        return dict(default)
    if not isinstance(value, dict):
        raise validation(field, f"{field}: must be an object")
    return value
