"""A per-request deadline for the CPU-heavy path, checked between its stages.

The HTTP layer (app/http/admission.py) sets the calling thread's deadline when it admits a
request and clears it when the request ends; the per-photo path calls `check` between decode,
detection, embedding and scoring, so a request past its deadline stops at the next stage instead
of finishing work nobody waits for. The CLI sets none, so nothing is ever cut short there.
"""

from __future__ import annotations

import threading
import time

from app.pipeline.errors import DeadlineExceeded

_local = threading.local()


def set_deadline(at: float | None) -> None:
    """Set (time.monotonic() seconds) or clear (None) the calling thread's deadline."""
    _local.at = at


def remaining() -> float | None:
    """Seconds left before the calling thread's deadline, or None when it has none."""
    at = getattr(_local, "at", None)
    return None if at is None else at - time.monotonic()


def check(stage: str) -> None:
    """Raise DeadlineExceeded when the calling thread's deadline has passed (before `stage`)."""
    left = remaining()
    if left is not None and left <= 0:
        raise DeadlineExceeded(f"The server could not finish this request in time (stopped before {stage}). "
                               "Please try again in a moment.")
