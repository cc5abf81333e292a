"""Domain error codes to HTTP statuses, rendered alike for pages (HTML) and the API (JSON)."""

from __future__ import annotations

import logging
import re

from flask import Flask, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, InternalServerError

from app.http.prometheus import count_shed
from app.pipeline.errors import InternalError, LooksLikeError, StartupError, Unavailable

STATUS = {"bad_request": 400, "unauthorized": 401, "not_found": 404, "method_not_allowed": 405,
          "request_timeout": 408, "too_large": 413, "decode_too_large": 413,
          "unsupported_media": 415, "no_face": 422, "no_such_face": 422,
          "face_too_small": 422, "no_celebrity_passes": 422, "different_people": 422, "model_mismatch": 409,
          "rate_limited": 429, "internal_error": 500, "unavailable": 503, "overloaded": 503, "deadline_exceeded": 503,
          "client_gone": 503}
HTTP_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
              408: "request_timeout", 413: "too_large", 415: "unsupported_media", 429: "rate_limited",
              500: "internal_error", 503: "unavailable"}
PAGE_OF_ENDPOINT = {"web.verify": "verify.html"}  # pages that show their own errors; others: upload
BODY = "lookslike.body"  # environ key of the buffered request body (app/http/body.py)
log = logging.getLogger("lookslike")


def wants_json() -> bool:
    """API callers get JSON errors, page visitors get the page they came from."""
    return request.path.startswith("/api/") or request.path == "/metrics"


def error_response(error: LooksLikeError, status: int | None = None) -> ResponseReturnValue:
    """The error's code and message, as JSON for the API or on the page for visitors."""
    status = status or STATUS.get(error.code, 400)
    count_shed(error.code)
    headers = {"Retry-After": str(current_app.config["RETRY_AFTER"])} if status == 503 else {}
    if wants_json():
        return jsonify(error.to_dict()), status, headers
    return render_template(PAGE_OF_ENDPOINT.get(request.endpoint, "index.html"), error=error), status, headers


def too_large_message() -> str:
    """Which limit a 413 from werkzeug hit: the body size, the form's parts, or one form field."""
    config = current_app.config
    body = request.environ.get(BODY)
    size = request.content_length if request.content_length is not None else (len(body) if body else None)
    limit = config["MAX_CONTENT_LENGTH"]
    if size is None or size > limit or body is None:
        return f"The upload is larger than the {limit / (1024 * 1024):g} MB limit. Please send a smaller photo."
    boundary = re.search(r'boundary="?([^";,]+)', request.content_type or "")
    parts = body.count(b"--" + boundary.group(1).encode("latin-1", "replace")) - 1 if boundary else 0
    if parts > config["MAX_FORM_PARTS"]:
        return f"The form has more than {config['MAX_FORM_PARTS']} parts. Send one field per input."
    kb = config["MAX_FORM_MEMORY_SIZE"] / 1000
    return (f"A text field of the form (or a part's headers) is larger than {kb:g} KB. "
            "Send photos as file uploads (filename set), not as text fields.")


def http_error(exc: HTTPException) -> ResponseReturnValue:
    """werkzeug's HTTP errors (413 from the body limit, 404, 405, 429, ...) in the caller's format."""
    error = LooksLikeError(exc.description or exc.name)
    error.code = HTTP_CODES.get(exc.code, "http_error")
    if exc.code == 413:
        error.message = too_large_message()
    elif exc.code == 429:
        error.message = f"Too many requests: the limit is {exc.description}. Please try again later."
    resp = error_response(error, exc.code)
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        resp = current_app.make_response(resp)
        resp.headers["Allow"] = ", ".join(exc.valid_methods)
    return resp


def server_error(exc: InternalServerError) -> ResponseReturnValue:
    """An unexpected failure: logged with its traceback, answered without details (JSON for the API)."""
    original = getattr(exc, "original_exception", None) or exc
    log.error("unhandled %s on %s %s", type(original).__name__, request.method, request.path,
              exc_info=original if isinstance(original, BaseException) else None)
    return error_response(InternalError("Something went wrong on our side. Please try again."), 500)


def startup_error(exc: StartupError) -> ResponseReturnValue:
    """Weights or gallery unusable: 503 (the details, with the fix, are in the log and on /readyz)."""
    log.error("start-up failed: %s", exc)
    return error_response(Unavailable("The service cannot answer: it failed to start. See /readyz."), 503)


def init_app(app: Flask) -> None:
    """Register the handlers for domain errors, HTTP errors, start-up failures and unexpected failures."""
    app.register_error_handler(LooksLikeError, error_response)
    app.register_error_handler(StartupError, startup_error)
    app.register_error_handler(InternalServerError, server_error)
    app.register_error_handler(HTTPException, http_error)
