"""Request bodies: read whole, in memory, within a deadline, before Flask parses them.

No client can hold a thread or memory beyond the limits, whatever it sends.

`BodyReader` (WSGI middleware) reads the body before the app runs: a client slower than
BODY_TIMEOUT gets 408 and frees its worker thread (under gunicorn and werkzeug's server a watchdog
shuts the socket's read side at the deadline, so neither a stalled nor a trickling client can hold
the thread longer); broken framing (a bad chunk size, a body shorter
than its Content-Length) gets 400 instead of a 500 deep inside form parsing. `FormParser` accepts
part headers that are not UTF-8 (a filename in Latin-1 or Shift-JIS) and names a malformed
multipart body instead of silently seeing no fields.
"""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO

from flask import Flask, request
from werkzeug.formparser import FormDataParser
from werkzeug.wsgi import get_content_length

from app.http.error_responses import BODY
from app.pipeline.errors import BadRequest, LooksLikeError, RequestTimeout

ERROR = "lookslike.body_error"  # environ key: the LooksLikeError met while reading the body
CHUNK = 64 * 1024


class BodyReader:
    """WSGI middleware: the request body read in full within `timeout` seconds, or an error noted."""

    def __init__(self, app: Callable, max_length: int | None, timeout: float) -> None:
        self.app = app
        self.max_length = max_length
        self.timeout = timeout

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        """Buffer the body (when there is one within the limit), then call the app."""
        length = get_content_length(environ)
        chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
        too_long = length is not None and self.max_length is not None and length > self.max_length
        if (length or chunked) and not too_long:
            try:
                body = self.read(environ, length)
            except LooksLikeError as exc:
                environ[ERROR] = exc
                body = b""
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # what the app gets is no longer chunked
            environ[BODY] = body
        return self.app(environ, start_response)

    def read(self, environ: dict, length: int | None) -> bytes:
        """Up to `length` bytes (chunked: up to the limit + 1), within the deadline."""
        stream = environ["wsgi.input"]
        want = length if length is not None else (self.max_length or 2**62) + 1
        deadline = time.monotonic() + self.timeout
        watchdog = Watchdog(environ.get("gunicorn.socket") or environ.get("werkzeug.socket"), self.timeout)
        chunks, got = [], 0
        try:
            while got < want:
                if time.monotonic() >= deadline:
                    raise TimeoutError
                chunk = stream.read(min(CHUNK, want - got))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        except Exception as exc:  # the server's body reader: bad chunk size, early end, reset
            if isinstance(exc, TimeoutError) or watchdog.fired:
                raise self.too_slow() from exc
            raise BadRequest(f"The request body is malformed ({type(exc).__name__}: {str(exc)[:80]}).") from exc
        finally:
            watchdog.cancel()
        if watchdog.fired:
            raise self.too_slow()
        if length is not None and got < length:
            raise BadRequest(f"The request body ended after {got} of the {length} bytes its Content-Length "
                             "announced.")
        return b"".join(chunks)

    def too_slow(self) -> RequestTimeout:
        """The 408 for a body that did not arrive in time."""
        return RequestTimeout(f"The request body did not arrive within {self.timeout:g} seconds. "
                              "Please try again on a faster connection.")


class Watchdog:
    """Ends reading from the client's socket at the deadline, however the bytes trickle in.

    A socket timeout restarts with every byte received, so a client sending one byte a second
    would never hit it; shutting the socket's read side wakes the blocked read with an end of file.
    """

    def __init__(self, sock: socket.socket | None, seconds: float) -> None:
        self.sock = sock
        self.fired = False
        self.timer = threading.Timer(seconds, self.fire) if sock is not None else None
        if self.timer is not None:
            self.timer.daemon = True
            self.timer.start()

    def fire(self) -> None:
        """Deadline reached: no more reading from this client."""
        self.fired = True
        try:
            self.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass

    def cancel(self) -> None:
        """The body is read (or failed) before the deadline."""
        if self.timer is not None:
            self.timer.cancel()


def raise_body_error() -> None:
    """before_request: answer with the error met while reading the body (408 or 400)."""
    error = request.environ.get(ERROR)
    if error is not None:
        raise error


def readable_part_headers(body: bytes, boundary: bytes) -> bytes:
    """The multipart body with each part's headers made valid UTF-8 (undecodable bytes replaced)."""
    pattern = re.compile(rb"(--" + re.escape(boundary) + rb"\r?\n)(.*?)(\r?\n\r?\n)", re.DOTALL)

    def fix(m: re.Match) -> bytes:
        return m.group(1) + m.group(2).decode("utf-8", "replace").encode("utf-8") + m.group(3)
    return pattern.sub(fix, body)


class FormParser(FormDataParser):
    """werkzeug's form parser, with non-UTF-8 part headers accepted and malformed bodies named."""

    def _parse_multipart(self, stream: IO[bytes], mimetype: str, content_length: int | None,
                         options: dict[str, str]) -> tuple:
        """Parse; on undecodable part headers, parse again with them made readable."""
        try:
            return super()._parse_multipart(stream, mimetype, content_length, options)
        except UnicodeDecodeError:
            body = request.environ.get(BODY)
            boundary = options.get("boundary", "").encode("latin-1", "replace")
            if body is None or not boundary:
                raise BadRequest("The multipart form's part headers are not readable text.") from None
            fixed = readable_part_headers(body, boundary)
            try:
                return super()._parse_multipart(io.BytesIO(fixed), mimetype, len(fixed), options)
            except ValueError as exc:
                raise malformed(exc) from exc
        except ValueError as exc:  # werkzeug's parser says what is wrong; it would otherwise be silent
            raise malformed(exc) from exc


def malformed(exc: ValueError) -> BadRequest:
    """The 400 for a multipart body werkzeug cannot parse, with its reason."""
    return BadRequest(f"The multipart form is malformed: {str(exc)[:120]}.")


def init_app(app: Flask) -> None:
    """Wrap the WSGI app in the body reader; raise its errors through the one error vocabulary."""
    app.wsgi_app = BodyReader(app.wsgi_app, app.config["MAX_CONTENT_LENGTH"], float(app.config["BODY_TIMEOUT"]))
    app.before_request_funcs.setdefault(None, []).insert(0, raise_body_error)
