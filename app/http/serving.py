"""gunicorn plumbing (named in gunicorn.conf.py): JSON-lines access log, JSON errors under /api/.

The access log never carries photo data (no bodies, no query strings) and, unless the
ACCESS_LOG_CLIENT setting is true, no client address; both it and TRUSTED_PROXIES are read through
app/settings.py, like every other setting, once per process. Requests gunicorn itself rejects (a
malformed header, a bad chunk) get JSON in the API's error shape when their path is known to be
under /api/, and gunicorn's warning about them no longer names the client's address.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta

from gunicorn.glogging import Logger
from gunicorn.util import write_nonblock
from gunicorn.workers.gthread import ThreadWorker

from app.http.error_responses import HTTP_CODES
from app.settings import current, flag


def client_address(environ: dict) -> str:
    """The client's address: the peer, or the TRUSTED_PROXIES-th X-Forwarded-For entry from the right."""
    hops = int(current()["TRUSTED_PROXIES"] or 0)
    forwarded = [a.strip() for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if hops > 0 and len(forwarded) >= hops:
        return forwarded[-hops]
    return environ.get("REMOTE_ADDR", "")


class JsonAccessLogger(Logger):
    """gunicorn's logger with one JSON object per access line."""

    def access(self, resp, req, environ: dict, request_time: timedelta) -> None:
        """Time, method, path (no query string), status, bytes, duration, worker; no address by default."""
        if not self.access_log_enabled:
            return
        status = getattr(resp, "status_code", None) or str(getattr(resp, "status", "0")).split(" ", 1)[0]
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                 "method": environ.get("REQUEST_METHOD", getattr(req, "method", "")),
                 "path": environ.get("PATH_INFO", getattr(req, "path", "")),
                 "status": int(status) if str(status).isdigit() else 0,
                 "bytes": getattr(resp, "sent", None),
                 "duration_ms": round(request_time.total_seconds() * 1000, 1),
                 "pid": os.getpid()}
        if flag(current()["ACCESS_LOG_CLIENT"]):
            entry["client"] = client_address(environ)
        try:
            self.access_log.info(json.dumps(entry, ensure_ascii=True))
        except Exception:
            self.exception("access log line failed")


class Capture:
    """Stands in for the client socket while gunicorn writes its error page, to read the status."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        """Non-blocking, so gunicorn writes straight away."""
        return 0.0

    def setblocking(self, flag) -> None:
        """Nothing to change."""

    def sendall(self, data: bytes) -> None:
        """Keep what gunicorn would have sent."""
        self.data += data


def request_path(req, exc: BaseException) -> str:
    """The path of the request gunicorn rejected, when its request line was read before the error.

    gunicorn passes no request when a header is bad; the request object that was being parsed is
    still in the exception's traceback, with its path already set.
    """
    for candidate in (req, getattr(exc, "req", None)):
        if isinstance(getattr(candidate, "path", None), str):
            return candidate.path
    tb = exc.__traceback__
    while tb is not None:
        path = getattr(tb.tb_frame.f_locals.get("self"), "path", None)
        if isinstance(path, str):
            return path
        tb = tb.tb_next
    return ""


def json_error_bytes(status: int, reason: str, code: str, message: str, extra_headers: str = "") -> bytes:
    """A whole HTTP/1.1 error response in the app's JSON shape, for answers gunicorn's worker sends itself."""
    body = json.dumps({"error": code, "message": message})
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"{extra_headers}Content-Length: {len(body)}\r\n\r\n")
    return (head + body).encode("latin-1")


class JsonErrorWorker(ThreadWorker):
    """gthread worker whose own error answers (before the app runs) are JSON under /api/."""

    def handle_error(self, req, client, addr, exc: BaseException) -> None:
        """gunicorn's handling (status, log line), without the client address; JSON for /api/ paths."""
        if not request_path(req, exc).startswith("/api/"):
            return super().handle_error(req, client, None, exc)
        capture = Capture()
        super().handle_error(req, capture, None, exc)
        found = re.match(rb"HTTP/1\.1 (\d{3}) ([^\r\n]*)", capture.data)
        status, reason = (int(found.group(1)), found.group(2).decode("latin-1")) if found else (400, "Bad Request")
        message = f"{reason}: {exc}" if status < 500 else "Something went wrong on our side. Please try again."
        code = HTTP_CODES.get(status, "bad_request" if status < 500 else "internal_error")
        try:
            write_nonblock(client, json_error_bytes(status, reason, code, message[:300]))
        except Exception:
            self.log.debug("Failed to send error message.")
