"""Domain error codes to HTTP statuses, rendered alike for pages (HTML) and the API (JSON)."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from app.pipeline.errors import LooksLikeError

STATUS = {"bad_request": 400, "not_found": 404, "method_not_allowed": 405, "too_large": 413,
          "unsupported_media": 415, "no_face": 422, "face_too_small": 422}
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
PAGE_OF_ENDPOINT = {"web.verify": "verify.html"}  # pages that show their own errors; others: upload


def wants_json() -> bool:
    """API callers get JSON errors, page visitors get the page they came from."""
    return request.path.startswith("/api/")


def error_response(error: LooksLikeError, status: int | None = None):
    """The error's code and message, as JSON for the API or on the page for visitors."""
    status = status or STATUS.get(error.code, 400)
    if wants_json():
        return jsonify(error.to_dict()), status
    return render_template(PAGE_OF_ENDPOINT.get(request.endpoint, "index.html"), error=error), status


def http_error(exc: HTTPException):
    """werkzeug's HTTP errors (413 from the body limit, 404, 405, ...) in the caller's format."""
    error = LooksLikeError(exc.description or exc.name)
    error.code = HTTP_CODES.get(exc.code, "http_error")
    if exc.code == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
        error.message = f"The upload is larger than the {limit:g} MB limit. Please send a smaller photo."
    return error_response(error, exc.code)


def init_app(app: Flask) -> None:
    """Register the handlers for domain errors and HTTP errors."""
    app.register_error_handler(LooksLikeError, error_response)
    app.register_error_handler(HTTPException, http_error)
