"""A gthread worker that reads each request whole in its event loop before a thread takes it.

gunicorn's gthread worker hands a connection to a thread as soon as its first byte arrives; the
thread then blocks reading the headers and the body. A client sending a byte every few seconds
thus holds a thread (the app's BODY_TIMEOUT frees it only after 60 s), and 4 such clients stall a
4-thread worker. `BufferingWorker` instead reads every request in the worker's own poller loop,
non-blocking, as nginx would: only a complete request (headers and the whole body, Content-Length
or chunked) goes to a thread. A request still incomplete after BODY_TIMEOUT gets 408 from the loop
itself. Bodies over MAX_CONTENT_LENGTH, malformed framing and TLS connections are handed over at
once (the app or gunicorn answers them as before), and so is any request once the worker holds
BUFFER_LIMIT bytes of unfinished requests, so memory stays bounded.

A whole POST that arrives while every thread has a request gets 503 "overloaded" with
Retry-After from the loop: gthread would otherwise queue it without bound in front of the
threads, where the app's admission control (QUEUE_TIMEOUT) cannot see it, and /healthz behind it.
"""

from __future__ import annotations

import errno
import selectors
import time
from functools import partial

from gunicorn import http
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import TConn

from app.http.prometheus import count_rejected
from app.http.serving import JsonErrorWorker, json_error_bytes
from app.settings import current, number

HEAD_LIMIT = 4094 + 50 * 8190 + 64  # gunicorn.conf.py's request line and header limits, with slack
WAIT, COMPLETE, HAND_OVER, CONTINUE = "wait", "complete", "hand over", "continue"


def chunked_state(buf: bytearray, pos: int, max_body: float) -> str:
    """Whether a chunked body starting at `pos` is complete, still arriving, or for gunicorn to reject."""
    total = 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return HAND_OVER if len(buf) - pos > 1024 else WAIT
        try:
            size = int(bytes(buf[pos:eol]).split(b";")[0].strip(), 16)
        except ValueError:
            return HAND_OVER
        if size == 0:
            return COMPLETE if buf[eol + 2:eol + 4] == b"\r\n" or buf.find(b"\r\n\r\n", eol) >= 0 else WAIT
        total += size
        if size < 0 or total > max_body:
            return HAND_OVER
        pos = eol + 2 + size + 2
        if pos > len(buf):
            return WAIT


def request_state(buf: bytearray, max_body: float) -> str:
    """Whether the bytes so far hold one whole request (WAIT, COMPLETE, CONTINUE: send 100 Continue,
    HAND_OVER: let gunicorn and the app answer it now)."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return HAND_OVER if len(buf) > HEAD_LIMIT else WAIT
    headers = {}
    for line in bytes(buf[:head_end]).decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return chunked_state(buf, head_end + 4, max_body)
    length = headers.get("content-length")
    if length is None:
        return COMPLETE
    if not length.isdigit() or int(length) > max_body:
        return HAND_OVER  # gunicorn rejects a bad length; the app answers 413 without reading the body
    if len(buf) - head_end - 4 >= int(length):
        return COMPLETE
    return CONTINUE if headers.get("expect", "").lower() == "100-continue" else WAIT


class Pending:
    """A request being read: its bytes so far and its deadline."""

    def __init__(self, deadline: float) -> None:
        self.buf = bytearray()
        self.deadline = deadline
        self.continued = False


class BufferingWorker(JsonErrorWorker):
    """gthread worker whose threads only ever get whole requests (see the module docstring)."""

    def init_process(self) -> None:
        """The table of requests being read (settings come with the app, load_wsgi)."""
        self.reading: dict[TConn, Pending] = {}
        self.in_threads = 0  # requests handed to the thread pool and not finished
        super().init_process()

    def load_wsgi(self) -> None:
        """Load the app, then take its settings: the very values it resolved (app/settings.py)."""
        super().load_wsgi()
        config = current()
        self.body_timeout = number(config["BODY_TIMEOUT"])
        self.max_body = number(config["MAX_CONTENT_LENGTH"])
        self.buffer_limit = max(4 * self.max_body, 64 * 2**20) if self.max_body < float("inf") else 256 * 2**20
        self.retry_after = int(number(config["RETRY_AFTER"]))

    def enqueue_req(self, conn: TConn) -> None:
        """Hand a request to the thread pool, counted."""
        self.in_threads += 1
        super().enqueue_req(conn)

    def finish_request(self, conn: TConn, fs) -> None:
        """A thread finished a request."""
        self.in_threads -= 1
        super().finish_request(conn, fs)

    def accept(self, listener) -> None:
        """A new connection: read its first request in the loop."""
        try:
            sock, client = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, sock, client, listener.getsockname())
        if self.cfg.is_ssl or negotiation.prior_knowledge_allowed(self.cfg, client):
            self.enqueue_req(conn)  # TLS and HTTP/2 are read by gunicorn's own code
        else:
            self.start_reading(conn)

    def on_client_socket_readable(self, conn: TConn, client) -> None:
        """A kept-alive connection sends its next request: read it in the loop too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self.start_reading(conn)

    def start_reading(self, conn: TConn) -> None:
        """Watch the connection until a whole request has arrived."""
        conn.sock.setblocking(False)
        self.reading[conn] = Pending(time.monotonic() + self.body_timeout)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_readable, conn))

    def on_readable(self, conn: TConn, sock) -> None:
        """Take what has arrived; hand the request to a thread once it is whole."""
        pending = self.reading[conn]
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            return self.forget(conn, close=True)
        pending.buf += data
        state = request_state(pending.buf, self.max_body)
        if state == CONTINUE and not pending.continued:
            pending.continued = True
            try:
                sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            except OSError:
                pass
        buffered = sum(len(p.buf) for p in self.reading.values())
        if state == COMPLETE and self.in_threads >= self.cfg.threads and pending.buf.startswith(b"POST "):
            return self.answer(conn, 503, "Service Unavailable", "overloaded", "The server is busy. Please try "
                               f"again in {self.retry_after} seconds.", f"Retry-After: {self.retry_after}\r\n")
        if state in (COMPLETE, HAND_OVER) or buffered > self.buffer_limit:
            self.forget(conn)
            if conn.parser is None:
                conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.parser.unreader.unread(bytes(pending.buf))
            conn.data_ready = True
            self.enqueue_req(conn)

    def forget(self, conn: TConn, close: bool = False) -> None:
        """Stop reading the connection in the loop (and close it)."""
        self.reading.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        if close:
            self.nr_conns -= 1
            conn.close()

    def murder_pending(self) -> None:
        """gunicorn's expiry, and 408 for requests still incomplete at their deadline."""
        super().murder_pending()
        now = time.monotonic()
        for conn, pending in list(self.reading.items()):
            if pending.deadline <= now:
                self.answer(conn, 408, "Request Timeout", "request_timeout", f"The request did not arrive within "
                            f"{self.body_timeout:g} seconds. Please try again on a faster connection.")

    def answer(self, conn: TConn, status: int, reason: str, code: str, message: str, extra: str = "") -> None:
        """Answer a connection from the loop with the app's JSON error shape (counted in /metrics), and close it."""
        count_rejected(status, code)
        try:
            conn.sock.send(json_error_bytes(status, reason, code, message, extra))
        except OSError:
            pass
        self.forget(conn, close=True)
