"""gunicorn target for the overload tests (`held_slots:app_with_held_slots()`): wsgi.py's app, whose CPU
slots the test holds as long as it wants.

Admission control's test hooks (app/http/admission.py, `Slots.on_wait` and `Slots.on_hold`) report to
the test over a UNIX socket (path in HELD_SLOTS_SOCKET): a request that starts waiting for a slot
connects and sends b"w"; one that holds a slot connects, sends b"h" and keeps the slot, as a long
match would, until the test closes that connection. So a test knows, without guessing from time,
that a match is in flight and which requests are queued behind it.
"""

from __future__ import annotations

import os
import socket

from flask import Flask

WAITING, HOLDING = b"w", b"h"


def tell(event: bytes) -> socket.socket:
    """A connection to the test, `event` sent on it."""
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(os.environ["HELD_SLOTS_SOCKET"])
    sock.sendall(event)
    return sock


def waiting() -> None:
    """A request starts waiting for a slot."""
    tell(WAITING).close()


def holding() -> None:
    """A request holds a slot: keep it until the test lets go (closes its end)."""
    with tell(HOLDING) as sock:
        sock.recv(1)


def app_with_held_slots() -> Flask:
    """wsgi.py's app (networks and gallery loaded), its slot reporting to the test."""
    from wsgi import app

    slots = app.extensions["lookslike.slots"]
    slots.on_wait, slots.on_hold = waiting, holding
    return app
