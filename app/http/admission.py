"""Admission control: at most CPU_SLOTS network-running requests at once per process, a bounded wait.

Every POST (each runs the networks) needs a CPU slot. One that would wait longer than QUEUE_TIMEOUT
(expected wait = requests ahead x recent seconds per request / slots) gets 503 "overloaded" with
Retry-After at once; one still waiting at QUEUE_TIMEOUT gets it then. A request whose client hung up
while it waited is dropped before its work starts. An admitted request carries a deadline
(REQUEST_DEADLINE from its arrival in the app) that the pipeline checks between stages. GETs (pages,
/healthz, /readyz, /metrics) never wait here, so with more gunicorn threads than slots they are
answered while matches run.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from flask import Flask, current_app, g, request

from app.http.inputs import photo_count
from app.pipeline import deadline
from app.pipeline.errors import ClientGone, Overloaded

EWMA_WEIGHT = 0.2  # weight of the newest request in the running mean of seconds per request


class Slots:
    """A counting semaphore that knows its queue and the recent time per request, to refuse early."""

    def __init__(self, slots: int) -> None:
        self.slots = max(1, int(slots))
        self.busy = 0
        self.waiting = 0
        self.seconds = 0.0  # running mean of the time a slot is held per photo; 0 until the first request ends
        self._cond = threading.Condition()
        # For tests, which decide when a match ends (None in service): `on_wait` is called, under the
        # lock, when a request starts waiting for a slot; `on_hold` once a request holds a slot and its
        # work is about to start (it may block, standing in for a long match).
        self.on_wait: Callable[[], None] | None = None
        self.on_hold: Callable[[], None] | None = None

    def expected_wait(self, photos: int = 1) -> float:
        """Seconds a request of `photos` photos arriving now would wait for a slot (0 when one is free)."""
        if self.busy < self.slots and self.waiting == 0:
            return 0.0
        return (self.waiting + photos) * self.seconds / self.slots

    def acquire(self, timeout: float, photos: int = 1) -> bool:
        """Take a slot within `timeout` seconds; False at once when the expected wait is longer. A request
        of several photos holds one slot but counts once per photo in the queue (its work is that long)."""
        with self._cond:
            if self.expected_wait(photos) > timeout:
                return False
            end = time.monotonic() + timeout
            self.waiting += photos
            try:
                if self.busy >= self.slots and self.on_wait is not None:
                    self.on_wait()
                while self.busy >= self.slots:
                    left = end - time.monotonic()
                    if left <= 0 or not self._cond.wait(left):
                        if self.busy >= self.slots:
                            return False
                self.busy += 1
                return True
            finally:
                self.waiting -= photos

    def release(self, held: float, photos: int = 1) -> None:
        """Give a slot back after holding it `held` seconds for `photos` photos."""
        with self._cond:
            self.busy -= 1
            held /= max(photos, 1)
            self.seconds = held if self.seconds == 0 else (1 - EWMA_WEIGHT) * self.seconds + EWMA_WEIGHT * held
            self._cond.notify()


def client_gone(environ: dict) -> bool:
    """True when the client's side of the connection is closed (the body is already read)."""
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if sock is None:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False  # open, nothing more sent
    except OSError:
        return True  # reset


def admit() -> None:
    """before_request: a CPU slot for a POST within the queue bound, or 503; set its deadline."""
    if request.method != "POST":
        return
    config = current_app.config
    arrived = time.monotonic()  # the body is already read (BodyReader); the deadline counts from here
    budget = config["REQUEST_DEADLINE"] / 1000
    wait = min(config["QUEUE_TIMEOUT"] / 1000, budget)
    slots: Slots = current_app.extensions["lookslike.slots"]
    photos = photo_count()
    if not slots.acquire(max(0.0, wait), photos):
        raise Overloaded("The server is busy right now. Please try again in a moment.")
    g.admission_slot = (time.monotonic(), photos)
    if client_gone(request.environ):
        raise ClientGone("The client closed the connection before its request was started.")
    deadline.set_deadline(arrived + budget)
    if slots.on_hold is not None:
        slots.on_hold()


def leave(exc: BaseException | None = None) -> None:
    """teardown_request: give the slot back and clear the deadline."""
    deadline.set_deadline(None)
    taken = g.pop("admission_slot", None)
    if taken is not None:
        current_app.extensions["lookslike.slots"].release(time.monotonic() - taken[0], taken[1])


def init_app(app: Flask) -> None:
    """One Slots per app (CPU_SLOTS); admission after the key, rate-limit and body checks."""
    app.extensions["lookslike.slots"] = Slots(app.config["CPU_SLOTS"])
    app.before_request(admit)
    app.teardown_request(leave)
