"""User profile schema (``/api/v1/meta/schemas/user/default``): Okta's base attributes plus
custom ones added by the API, which then become valid in user profiles and sign-up forms."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import not_found, validation, want_dict, want_str
from .state import OrgState, now_iso
from .web import json_response, org_of, read_json, require_admin

BASE_TITLES = {
    "login": "Username",
    "firstName": "First name",
    "lastName": "Last name",
    "middleName": "Middle name",
    "honorificPrefix": "Honorific prefix",
    "honorificSuffix": "Honorific suffix",
    "email": "Primary email",
    "title": "Title",
    "displayName": "Display name",
    "nickName": "Nickname",
    "profileUrl": "Profile Url",
    "secondEmail": "Secondary email",
    "mobilePhone": "Mobile phone",
    "primaryPhone": "Primary phone",
    "streetAddress": "Street address",
    "city": "City",
    "state": "State",
    "zipCode": "Zip code",
    "countryCode": "Country code",
    "postalAddress": "Postal Address",
    "preferredLanguage": "Preferred language",
    "locale": "Locale",
    "timezone": "Time zone",
    "userType": "User type",
    "employeeNumber": "Employee number",
    "costCenter": "Cost center",
    "organization": "Organization",
    "division": "Division",
    "department": "Department",
    "managerId": "ManagerId",
    "manager": "Manager",
}
BASE_REQUIRED = ["login", "firstName", "lastName", "email"]
CUSTOM_TYPES = {"string", "boolean", "integer", "number", "array"}
META_KEY = "user_schema_custom"


def custom_attributes(org: OrgState) -> dict[str, dict[str, Any]]:
    raw = org.meta(META_KEY)
    return json.loads(raw) if raw else {}


def attribute_names(org: OrgState) -> set[str]:
    return set(BASE_TITLES) | set(custom_attributes(org))


def check_value(org: OrgState, name: str, value: Any) -> None:
    """Type-check one profile value against the schema (base attributes are strings)."""
    if value is None:
        return
    attr_type = custom_attributes(org).get(name, {}).get("type", "string")
    ok = {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "array": isinstance(value, list),
    }[attr_type]
    if not ok:
        raise validation(name, f"{name}: Does not match the {attr_type} type of the attribute")


def from_form(org: OrgState, name: str, raw: str) -> Any:
    """A sign-up form value converted to the attribute's type (ValueError if it can't be)."""
    attr_type = custom_attributes(org).get(name, {}).get("type", "string")
    if attr_type == "boolean":
        return raw.lower() in ("true", "on", "yes", "1")
    if attr_type == "integer":
        return int(raw)
    if attr_type == "number":
        return float(raw)
    if attr_type == "array":
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def _base_property(name: str) -> dict[str, Any]:
    prop: dict[str, Any] = {
        "title": BASE_TITLES[name],
        "type": "string",
        "mutability": "READ_WRITE",
        "scope": "NONE",
        "permissions": [{"principal": "SELF", "action": "READ_WRITE"}],
        "master": {"type": "PROFILE_MASTER"},
    }
    if name in BASE_REQUIRED:
        prop["required"] = True
    if name == "login":
        prop.update({"minLength": 5, "maxLength": 100, "pattern": ".+"})
    if name in ("email", "secondEmail"):
        prop["format"] = "email"
    if name in ("firstName", "lastName"):
        prop.update({"minLength": 1, "maxLength": 50})
    return prop


def render(org: OrgState) -> dict[str, Any]:
    custom = custom_attributes(org)
    created = org.meta("user_schema_created") or now_iso()
    return {
        "id": org.url("/meta/schemas/user/default"),
        "$schema": "http://json-schema.org/draft-04/schema#",
        "name": "user",
        "title": "User",
        "description": "Okta user profile template",
        "lastUpdated": org.meta("user_schema_updated") or created,
        "created": created,
        "definitions": {
            "custom": {
                "id": "#custom",
                "type": "object",
                "properties": custom,
                "required": [k for k, v in custom.items() if v.get("required")],
            },
            "base": {
                "id": "#base",
                "type": "object",
                "properties": {name: _base_property(name) for name in BASE_TITLES},
                "required": BASE_REQUIRED,
            },
        },
        "type": "object",
        "properties": {
            "profile": {"allOf": [{"$ref": "#/definitions/custom"}, {"$ref": "#/definitions/base"}]}
        },
        "_links": {
            "self": {
                "href": org.url("/api/v1/meta/schemas/user/default"),
                "method": "GET",
                "rel": "self",
            },
        },
    }


def _known_schema(org: OrgState, schema_id: str) -> None:
    if schema_id not in ("default", org.meta("user_type_id")):
        raise not_found(f"Resource not found: {schema_id} (UserSchema)")


async def get_schema(request: Request) -> Response:
    require_admin(request, "okta.schemas.read")
    org = org_of(request)
    _known_schema(org, request.path_params["schemaId"])
    return json_response(render(org))


async def update_schema(request: Request) -> Response:
    """Partial update: add/replace custom properties, or remove one by sending ``null``."""
    require_admin(request, "okta.schemas.manage")
    org = org_of(request)
    _known_schema(org, request.path_params["schemaId"])
    body = await read_json(request, required=True)
    definitions = want_dict(body.get("definitions"), "definitions", {})
    custom_in = want_dict(definitions.get("custom"), "custom", {})
    props = want_dict(custom_in.get("properties"), "properties", {})
    custom = custom_attributes(org)
    for name, attr in props.items():
        if name in BASE_TITLES:
            raise validation(name, f"{name}: A base property with this name already exists.")
        if attr is None:
            custom.pop(name, None)
            continue
        attr = want_dict(attr, name)
        attr_type = attr.get("type")
        if attr_type not in CUSTOM_TYPES:
            raise validation(name, f"{name}: type must be one of {', '.join(sorted(CUSTOM_TYPES))}")
        clean: dict[str, Any] = {
            "title": want_str(attr.get("title"), f"{name}.title"),
            "type": attr_type,
            "mutability": "READ_WRITE",
            "scope": "NONE",
            "permissions": [{"principal": "SELF", "action": "READ_WRITE"}],
            "master": {"type": "PROFILE_MASTER"},
        }
        if attr.get("description") is not None:
            clean["description"] = want_str(attr["description"], f"{name}.description")
        if attr_type == "array":
            items = want_dict(attr.get("items"), "items", {"type": "string"})
            clean["items"] = {"type": items.get("type", "string")}
        custom[name] = clean
    now = now_iso()
    if org.meta("user_schema_created") is None:
        org.set_meta("user_schema_created", now)
    org.set_meta("user_schema_updated", now)
    org.set_meta(META_KEY, json.dumps(custom))
    return json_response(render(org))


routes = [
    Route("/api/v1/meta/schemas/user/{schemaId}", get_schema, methods=["GET"]),
    Route("/api/v1/meta/schemas/user/{schemaId}", update_schema, methods=["POST"]),
]
