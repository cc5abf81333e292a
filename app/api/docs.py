"""The OpenAPI document of this app (built once per app) and the /api page's view of it."""

from __future__ import annotations

from flask import current_app

from app.api.schemas import SCHEMAS, operations
from app.http.error_responses import STATUS
from app.http.openapi import build_spec

INFO = {"title": "LooksLike API", "version": "1",
        "description": "Which celebrities look like the person in a photo; are two photos the same person? "
                       "Errors are JSON {\"error\": code, \"message\": ...}. When the server has API keys, "
                       "/api/v1/* needs X-API-Key or Authorization: Bearer; a rate limit answers 429 with "
                       "Retry-After."}
CACHE = "lookslike.openapi"


def openapi_document() -> dict:
    """The current app's OpenAPI 3 document (built on first use)."""
    app = current_app._get_current_object()
    if CACHE not in app.extensions:
        app.extensions[CACHE] = build_spec(app, SCHEMAS, operations(app), INFO)
    return app.extensions[CACHE]


def resolve(spec: dict, schema: dict) -> dict:
    """A schema with a top-level $ref followed."""
    ref = schema.get("$ref", "")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def type_of(spec: dict, schema: dict) -> str:
    """A short type for people: string, integer (1-20), file, array of file, Match..."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    if schema.get("type") == "array":
        return "array of " + type_of(spec, schema.get("items", {}))
    kind = {"binary": "file", "byte": "base64"}.get(schema.get("format", ""), schema.get("type", "object"))
    if "minimum" in schema and "maximum" in schema:
        kind += f" ({schema['minimum']}-{schema['maximum']})"
    return kind


def fields(spec: dict, schema: dict) -> list[dict]:
    """Rows for a schema's properties: name, type, required, description."""
    schema = resolve(spec, schema)
    need = set(schema.get("required", []))
    return [{"name": name, "type": type_of(spec, prop), "required": name in need,
             "description": prop.get("description", "") or resolve(spec, prop).get("description", "")}
            for name, prop in schema.get("properties", {}).items()]


def api_page_model(spec: dict) -> dict:
    """The spec flattened for templates/api.html: operations, their inputs and answers, schemas, errors."""
    ops = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            bodies = [{"media": media, "fields": fields(spec, content["schema"])}
                      for media, content in op.get("requestBody", {}).get("content", {}).items()]
            responses = [{"status": status, "description": r["description"],
                          "schema": type_of(spec, r["content"]["application/json"]["schema"])
                          if "application/json" in r.get("content", {}) else ""}
                         for status, r in op["responses"].items()]
            ops.append({"method": method.upper(), "path": path, "id": op["operationId"], "summary": op["summary"],
                        "description": op.get("description", ""), "auth": bool(op.get("security")),
                        "bodies": bodies, "responses": responses})
    schemas = [{"name": name, "fields": fields(spec, schema)} for name, schema in spec["components"]["schemas"].items()]
    errors = [{"code": code, "status": status} for code, status in sorted(STATUS.items(), key=lambda i: (i[1], i[0]))]
    return {"info": spec["info"], "operations": ops, "schemas": schemas, "errors": errors}
