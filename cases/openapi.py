"""The OpenAPI description of the machine API (the exchange's restriction feed)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from leors.core.error_pages import api_get_only

_SUBJECT = {
    "type": "object",
    "required": ["kind", "value", "chain"],
    "properties": {
        "kind": {"type": "string", "enum": ["uid", "email", "phone", "wallet", "tx_hash"]},
        "value": {"type": "string"},
        "chain": {"type": "string"},
    },
}
_RESTRICTION = {
    "type": "object",
    "required": ["type", "id", "case", "subjects", "starts_at", "ends_at", "kept_past_end", "kept_until"],
    "properties": {
        "type": {"type": "string", "enum": ["freeze", "preservation"]},
        "id": {"type": "integer"},
        "case": {"type": "string"},
        "subjects": {"type": "array", "items": _SUBJECT},
        "starts_at": {"type": "string", "format": "date-time"},
        "ends_at": {"type": "string", "format": "date-time"},
        "kept_past_end": {
            "type": "boolean",
            "description": "In force past ends_at: a freeze kept by a further order accepted before its end and "
                           "awaiting activation (R8), or a hold kept by an extension filed before its end and under "
                           "review (R7). Keep enforcing it while it is listed.",
        },
        "kept_until": {
            "type": "string", "format": "date-time", "nullable": True,
            "description": "For a kept freeze, the latest moment it stays in force unless the further order is "
                           "activated (freeze.extended then gives its new end). Null otherwise: a kept hold stays "
                           "in force until its extension's review ends, which has no set moment.",
        },
    },
}
_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}

SCHEMA: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "LEORS machine API", "version": "1"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/restrictions/": {
            "get": {
                "summary": "The freezes and preservation holds in force now, for reconciliation.",
                "description": "Start without parameters, then follow each page's next link until it is null. "
                               "A walk by next lists every restriction that stays in force throughout it "
                               "exactly once. The first page counts them; the pages after it do not "
                               "(count and page are null). page=N, the first version's numbered pages, "
                               "is kept: such a walk can skip a restriction when another ends meanwhile.",
                "parameters": [
                    {"name": "after", "in": "query", "required": False,
                     "description": "The position of the page before, copied unchanged from its next link.",
                     "schema": {"type": "string", "pattern": "^[fp]\\.[0-9]{1,17}\\.[0-9]{1,18}$"}},
                    {"name": "page", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 1000000}}],
                "responses": {
                    "200": {"description": "One page of restrictions in force.", "content": {"application/json": {
                        "schema": {"type": "object", "required": ["as_of", "count", "page", "next", "previous",
                                                                  "results"],
                                   "properties": {"as_of": {"type": "string", "format": "date-time"},
                                                  "count": {"type": "integer", "nullable": True},
                                                  "page": {"type": "integer", "nullable": True},
                                                  "next": {"type": "string", "nullable": True},
                                                  "previous": {"type": "string", "nullable": True},
                                                  "results": {"type": "array", "items": _RESTRICTION}}}}}},
                    "400": {"description": "A bad cursor or page number, both at once, one given twice, or another "
                                           "parameter.",
                            "content": {"application/json": {"schema": _ERROR}}},
                    "401": {"description": "No valid bearer token.",
                            "content": {"application/json": {"schema": _ERROR}}},
                    "405": {"description": "Any other method than GET, HEAD included (Allow: GET).",
                            "content": {"application/json": {"schema": _ERROR}}},
                },
            }
        }
    },
}


@csrf_exempt  # public and read-only, as the feed: anything but GET is 405, never a CSRF page
@api_get_only
def openapi_schema(request: HttpRequest) -> JsonResponse:
    return JsonResponse(SCHEMA)
