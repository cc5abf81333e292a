"""The error vocabulary: problems a user can act on, each with a stable code and a message.

The pipeline raises these; the HTTP layer (app/http/error_responses.py) maps each code to a status and
renders the same code and message for pages and the API, and the CLI prints them.
"""

from __future__ import annotations


class LooksLikeError(Exception):
    """A problem with the user's input, reported without a traceback."""

    code = "bad_request"

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def for_field(self, field: str) -> LooksLikeError:
        """Name the input field the problem is in (message prefixed with it)."""
        self.field = field
        self.message = f"{field}: {self.message}"
        return self

    def to_dict(self) -> dict:
        """JSON body of the error: {"error": code, "message": ..., "field"?: ...}."""
        body = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class BadRequest(LooksLikeError):
    """The request is malformed: missing field, bad base64, bad parameter, unknown subject."""

    code = "bad_request"


class ImageTooLarge(LooksLikeError):
    """The upload or the decoded image exceeds the configured limits."""

    code = "too_large"


class DecodeTooLarge(LooksLikeError):
    """Decoding the image would take more memory than DECODE_BUDGET_MB (known from its header)."""

    code = "decode_too_large"


class UnreadableImage(LooksLikeError):
    """The bytes are not an image we can decode."""

    code = "unsupported_media"


class NoFace(LooksLikeError):
    """No face was found in the image."""

    code = "no_face"


class NoSuchFace(LooksLikeError):
    """The request asked for a face index the photo does not have."""

    code = "no_such_face"


class FaceTooSmall(LooksLikeError):
    """A face was found but is too small to compare reliably."""

    code = "face_too_small"


class DifferentPeople(LooksLikeError):
    """Several photos of "one visitor" show different people: `odd` is the position of the one photo that
    differs from the others (None when no one photo does), `photos` how many were sent."""

    code = "different_people"

    def __init__(self, message: str, field: str | None = None, odd: int | None = None, photos: int = 0):
        super().__init__(message, field)
        self.odd = odd
        self.photos = photos


class NoCelebrityPasses(LooksLikeError):
    """The search's filters (gender, birth years) leave no celebrity of the gallery to compare with."""

    code = "no_celebrity_passes"


class ModelMismatch(LooksLikeError):
    """An embedding was computed with another network or other crop settings than the served ones."""

    code = "model_mismatch"


class Unauthorized(LooksLikeError):
    """An API key is required and the request has none, or a wrong one."""

    code = "unauthorized"


class RequestTimeout(LooksLikeError):
    """The client took too long to send its request body."""

    code = "request_timeout"


class Unavailable(LooksLikeError):
    """The service is not ready to answer (still loading); try again later."""

    code = "unavailable"


class Overloaded(LooksLikeError):
    """Every CPU slot is busy and the wait for one would pass QUEUE_TIMEOUT; try again shortly."""

    code = "overloaded"


class DeadlineExceeded(LooksLikeError):
    """The request could not be finished within REQUEST_DEADLINE; its work was abandoned."""

    code = "deadline_exceeded"


class ClientGone(LooksLikeError):
    """The client closed the connection while its request waited: its work is not started."""

    code = "client_gone"


class InternalError(LooksLikeError):
    """Something failed on the server's side; the message never carries details."""

    code = "internal_error"


class StartupError(RuntimeError):
    """The app cannot start: weights or gallery missing or corrupt (message says what to run)."""
