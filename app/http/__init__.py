"""The HTTP layer shared by the pages and the API: uploads in memory, errors, privacy headers."""

from __future__ import annotations

import io

from flask import Flask, Request, request

from app.http import errors


class InMemoryRequest(Request):
    """Keeps uploads in memory: a visitor's photo is never spooled to a temporary file on disk."""

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        """In-memory stream for every uploaded file (size is bounded by MAX_CONTENT_LENGTH)."""
        return io.BytesIO()


def no_store(response):
    """Cache-Control: no-store on every answer to a POST (it holds biometric data)."""
    if request.method == "POST":
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """In-memory uploads, one error vocabulary for pages and API, no-store answers to posts."""
    app.request_class = InMemoryRequest
    app.after_request(no_store)
    errors.init_app(app)
