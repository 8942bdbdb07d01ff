"""The three non-apply patch types: JSON merge patch, JSON patch and strategic merge patch."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch

from .errors import ApiError, bad_request, unsupported_media_type
from .resources import Resource
from .smp import PatchError, merge_schema, strategic_merge

Obj = dict[str, Any]

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
APPLY_CBOR = "application/apply-patch+cbor"


def accepted_patch_types(res: Resource) -> list[str]:
    if res.builtin:
        return [JSON_PATCH, MERGE, STRATEGIC, APPLY]
    return [JSON_PATCH, MERGE, APPLY]


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def check_patch_type(res: Resource, content_type: str) -> str:
    kind = media_type(content_type)
    if kind not in accepted_patch_types(res):
        raise unsupported_media_type(kind, accepted_patch_types(res))
    return kind


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise bad_request(f"error decoding patch: {exc}") from None


def apply_patch(res: Resource, kind: str, current: Obj, raw: bytes) -> Obj:
    """The object after applying a (non-apply) patch of media type ``kind``."""
    body = decode_json(raw)
    if kind == MERGE:
        if not isinstance(body, dict):
            raise bad_request("error decoding patch: merge patch must be a JSON object")
        return merge_patch(current, body)
    if kind == JSON_PATCH:
        if not isinstance(body, list):
            raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        try:
            result = jsonpatch.JsonPatch(body).apply(copy.deepcopy(current))
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise ApiError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our request: {exc}",
            ) from None
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise ApiError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our request: {exc}",
            ) from None
        if not isinstance(result, dict):
            raise bad_request("json patch result is not an object")
        return result
    if kind == STRATEGIC:
        if not isinstance(body, dict):
            raise bad_request("error decoding patch: strategic merge patch must be a JSON object")
        try:
            return strategic_merge(current, body, merge_schema(res.group, res.plural))
        except PatchError as exc:
            raise bad_request(str(exc)) from None
    raise unsupported_media_type(kind, accepted_patch_types(res))
