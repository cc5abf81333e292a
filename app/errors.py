"""Errors a user can act on, each with its HTTP status and a stable machine-readable code."""

from __future__ import annotations


class LooksLikeError(Exception):
    """Base class: a problem with the user's input, reported without a traceback."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict:
        """JSON body of the error response."""
        body = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class BadRequest(LooksLikeError):
    """The request is malformed: missing field, bad base64, bad parameter."""

    status = 400
    code = "bad_request"


class ImageTooLarge(LooksLikeError):
    """The upload or the decoded image exceeds the configured limits."""

    status = 413
    code = "too_large"


class UnreadableImage(LooksLikeError):
    """The bytes are not an image we can decode."""

    status = 415
    code = "unsupported_media"


class NoFace(LooksLikeError):
    """No face was found in the image."""

    status = 422
    code = "no_face"


class FaceTooSmall(LooksLikeError):
    """A face was found but is too small to compare reliably."""

    status = 422
    code = "face_too_small"


class NoSuchFace(LooksLikeError):
    """The request asked for a face index the photo does not have."""

    status = 422
    code = "no_such_face"


class StartupError(RuntimeError):
    """The app cannot start: weights or gallery missing or corrupt (message says what to run)."""
