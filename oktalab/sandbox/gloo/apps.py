"""The sample upstreams behind the gateway: Bookinfo and the Gloo Portal petstore.

They answer in JSON with the payloads of the real sample apps (productpage answers JSON
instead of HTML so notebooks can assert on it) and echo the headers the gateway added, so a
test can see what ext-auth passed upstream (``claimsToHeaders``).
"""

from __future__ import annotations

import re
from typing import Any

Obj = dict[str, Any]

#: Headers never echoed back (credentials).
_HIDDEN = {"authorization", "cookie", "proxy-authorization"}

PETS: list[Obj] = [
    {"id": 1, "name": "Dog", "status": "available"},
    {"id": 2, "name": "Cat", "status": "pending"},
]

_REVIEWS = [
    {
        "reviewer": "Reviewer1",
        "text": "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!",
    },
    {
        "reviewer": "Reviewer2",
        "text": "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.",
    },
]


def _id_from(path: str, prefix: str) -> int:
    m = re.match(rf"^/{prefix}/(\d+)", path)
    return int(m.group(1)) if m else 0


def echo_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(headers.items()) if k not in _HIDDEN}


def bookinfo(app: str, method: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    """One Bookinfo service's answer (status, JSON body)."""
    if app == "productpage":
        return 200, {
            "app": "productpage",
            "version": "v1",
            "path": path,
            "method": method,
            "product": {
                "id": 0,
                "title": "The Comedy of Errors",
                "descriptionHtml": "Wikipedia Summary: The Comedy of Errors is one of William Shakespeare's early plays.",
            },
            "requestHeaders": echo_headers(headers),
        }
    if app == "details":
        return 200, {
            "id": _id_from(path, "details"),
            "author": "William Shakespeare",
            "year": 1595,
            "type": "paperback",
            "pages": 200,
            "publisher": "PublisherA",
            "language": "English",
            "ISBN-10": "1234567890",
            "ISBN-13": "123-1234567890",
        }
    if app == "reviews":
        return 200, {
            "id": str(_id_from(path, "reviews")),
            "podname": "reviews-v1-6b7f2c9d4-abc2d",
            "clustername": "null",
            "reviews": _REVIEWS,
        }
    if app == "ratings":
        return 200, {"id": _id_from(path, "ratings"), "ratings": {"Reviewer1": 5, "Reviewer2": 4}}
    return 200, {
        "app": app,
        "path": path,
        "method": method,
        "requestHeaders": echo_headers(headers),
    }


def petstore(method: str, path: str) -> tuple[int, Any]:
    """The petstore sample API of the Gloo Portal guides (``/api/pets``)."""
    m = re.match(r"^/api/pets/?$", path)
    if m:
        if method == "GET":
            return 200, PETS
        if method == "POST":
            return 200, {"id": len(PETS) + 1, "status": "created"}
        return 405, {"code": 405, "message": "method not allowed"}
    m = re.match(r"^/api/pets/(\d+)$", path)
    if m:
        pet = next((p for p in PETS if p["id"] == int(m.group(1))), None)
        if method == "GET":
            return (200, pet) if pet else (404, {"code": 404, "message": "pet not found"})
        if method == "DELETE":
            return (200, {}) if pet else (404, {"code": 404, "message": "pet not found"})
        return 405, {"code": 405, "message": "method not allowed"}
    if path in ("/swagger.json", "/openapi.json"):
        return 200, PETSTORE_OPENAPI
    return 404, {"code": 404, "message": "path not found"}


PETSTORE_OPENAPI: Obj = {
    "swagger": "2.0",
    "info": {
        "title": "Swagger Petstore",
        "version": "1.0.0",
        "description": "A sample petstore API",
    },
    "basePath": "/api",
    "paths": {
        "/pets": {
            "get": {"operationId": "findPets", "summary": "Returns all pets"},
            "post": {"operationId": "addPet", "summary": "Creates a new pet"},
        },
        "/pets/{id}": {
            "get": {"operationId": "findPetById", "summary": "Returns a pet by id"},
            "delete": {"operationId": "deletePet", "summary": "Deletes a pet by id"},
        },
    },
}
