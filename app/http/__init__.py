"""The HTTP layer shared by the pages and the API: uploads, errors, privacy and security, limits, metrics."""

from __future__ import annotations

import io

from flask import Flask, Request, Response, request

from app.http import admission, auth, body, error_responses, limits, prometheus, security


class InMemoryRequest(Request):
    """Keeps uploads in memory: a visitor's photo is never spooled to a temporary file on disk."""

    form_data_parser_class = body.FormParser

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        """In-memory stream for every uploaded file (size is bounded by MAX_CONTENT_LENGTH)."""
        return io.BytesIO()


def no_store(response: Response) -> Response:
    """Cache-Control: no-store on every answer to a POST (it holds biometric data)."""
    if request.method == "POST":
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """In-memory uploads read within a deadline, one error vocabulary, no-store answers to posts,
    security headers and CORS, API keys, rate limits, metrics, and admission control (CPU slots).

    Order matters: the body check and the metrics timer run before the key check, and the key
    check before the rate limiter (which counts per key); admission comes last, so a request that
    is refused anyway never takes a CPU slot.
    """
    app.request_class = InMemoryRequest
    app.after_request(no_store)
    error_responses.init_app(app)
    security.init_app(app)
    auth.init_app(app)
    limits.init_app(app)
    body.init_app(app)
    prometheus.init_app(app)
    admission.init_app(app)
