"""OpenAPI 3 from the code (apispec): the routes marked @documented, their docstrings, the error vocabulary.

Paths and methods come from the app's URL map, summaries and descriptions from the views'
docstrings, the error responses from app/http/error_responses.py's STATUS map (so a new error code shows up
in the spec by itself), and the limits from the app's configuration.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

from apispec import APISpec
from flask import Flask

from app.http.error_responses import STATUS

AUTH = [{"ApiKey": []}, {"Bearer": []}]
ERROR_SCHEMA = {
    "type": "object", "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "enum": sorted(STATUS), "description": "Stable error code."},
        "message": {"type": "string", "description": "What went wrong and what to do, for people."},
        "field": {"type": "string", "description": "The input field the problem is in, when there is one."},
    },
}
STATUS_TEXT = {400: "Bad request", 401: "No valid API key", 404: "Not found", 405: "Method not allowed",
               408: "The body did not arrive in time", 409: "Embedding of another model", 413: "Too large",
               415: "Not an image we can read", 422: "No usable face", 429: "Rate limited", 500: "Server error",
               503: "Not ready"}


def documented(*, errors: tuple[int, ...] = (), auth: bool = False, **operation) -> Callable:
    """Mark a view for the spec: its operation fields, the error statuses it can answer, and auth."""
    def mark(view: Callable) -> Callable:
        view.openapi = {"errors": errors, "auth": auth, "operation": operation}
        return view
    return mark


def openapi_path(rule: str) -> str:
    """werkzeug's /a/<int:row> as OpenAPI's /a/{row}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def error_responses(statuses: tuple[int, ...]) -> dict:
    """One response per status, listing the error codes that status carries."""
    out = {}
    for status in sorted(set(statuses)):
        codes = sorted(code for code, s in STATUS.items() if s == status)
        out[str(status)] = {"description": f"{STATUS_TEXT.get(status, 'Error')}: error " + ", ".join(codes),
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return out


def operation_of(view: Callable, endpoint: str, details: dict) -> dict:
    """The OpenAPI operation of a marked view: docstring, its fields and details, its error responses."""
    mark = view.openapi
    doc = inspect.getdoc(view) or endpoint
    summary, _, description = doc.partition("\n")
    op = {"operationId": endpoint.replace(".", "_"), "summary": summary.strip(), **mark["operation"], **details}
    if description.strip():
        op["description"] = description.strip()
    op["responses"] = {**op.get("responses", {}), **error_responses(mark["errors"])}
    if mark["auth"]:
        op["security"] = AUTH
        op["responses"].update(error_responses((401,)))
    return op


def build_spec(app: Flask, schemas: dict, details: dict[str, dict], info: dict) -> dict:
    """The OpenAPI 3.0 document of every @documented route of the app."""
    spec = APISpec(title=info["title"], version=info["version"], openapi_version="3.0.3",
                   info={"description": info["description"]},
                   servers=[{"url": app.config["PUBLIC_URL"].rstrip("/") or "/"}])
    spec.components.security_scheme("ApiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    spec.components.security_scheme("Bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", ERROR_SCHEMA)
    for name, schema in schemas.items():
        spec.components.schema(name, schema)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        if view is None or not hasattr(view, "openapi"):
            continue
        methods = sorted(m.lower() for m in (rule.methods or ()) if m not in ("HEAD", "OPTIONS"))
        extra = details.get(rule.endpoint, {})
        operations = {m: operation_of(view, rule.endpoint, extra) for m in methods}
        spec.path(path=openapi_path(rule.rule), operations=operations)
    return spec.to_dict()
