"""Rate limits (flask-limiter): RATE_LIMIT per API key, else per client address, on every POST.

The POSTs are what runs the networks (match, verify, check: page or API), each photo of a
several-photo match counted once; pages, health probes, thumbnails and metrics are not counted.
Counters live in RATE_LIMIT_STORAGE_URI: memory (one per process) by default, Redis to share them
between gunicorn workers and hosts. Behind a proxy the client address is the proxy's unless
TRUSTED_PROXIES is set.

When Redis goes away (stopped, failing over, unreachable) requests are still served: each process
counts in its own memory until a periodic check (after 1, 2, 4 ... 32 s) finds Redis answering
again, so the limit holds per process meanwhile instead of vanishing. A Redis that accepts
connections but never answers costs a request at most STORAGE_TIMEOUT_S, not a hung thread.
"""

from __future__ import annotations

import logging
import sys

from flask import Flask, g, request
from flask_limiter import Limiter

from app.http.inputs import photo_count

# Seconds to connect to Redis and to wait for each answer; a `?socket_timeout=` in the URI wins.
STORAGE_TIMEOUT_S = 1.0


def client_key() -> str:
    """Who is counted: the API key's name when a valid key came, else the client address."""
    name = getattr(g, "api_key", None)
    return f"key:{name}" if name else f"addr:{request.remote_addr or 'unknown'}"


def not_counted() -> bool:
    """Only POSTs (the requests that run the networks) count against the limit."""
    return request.method != "POST"


def storage_state_or_failure(record: logging.LogRecord) -> bool:
    """flask-limiter's lines worth an operator's eye: its storage going away and coming back, and failures.
    Its other lines name the counted key (a client address) and are dropped."""
    return record.levelno >= logging.WARNING or str(record.msg).startswith("Rate limit storage")


def log_storage_state() -> None:
    """Those lines to stderr (gunicorn's error log), in gunicorn's format; flask-limiter gives them no handler."""
    logger = logging.getLogger("flask-limiter")
    logger.setLevel(logging.INFO)  # "Rate limit storage recovered" is INFO
    if storage_state_or_failure not in logger.filters:
        logger.addFilter(storage_state_or_failure)  # on the logger: dropped lines reach no handler at all
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s",
                                               "%Y-%m-%d %H:%M:%S %z"))
        logger.addHandler(handler)


def storage_options(uri: str) -> dict[str, float]:
    """Connection settings for the counters' storage: bounded waits for any Redis (redis://, rediss://,
    redis+sentinel://, redis+cluster://); nothing for memory://."""
    if uri.startswith("redis"):
        return {"socket_connect_timeout": STORAGE_TIMEOUT_S, "socket_timeout": STORAGE_TIMEOUT_S}
    return {}


def init_app(app: Flask) -> Limiter | None:
    """A limiter when RATE_LIMIT is set (429 with Retry-After past it); None when it is empty."""
    rate = str(app.config["RATE_LIMIT"] or "").strip()
    if not rate:
        return None
    log_storage_state()
    uri = app.config["RATE_LIMIT_STORAGE_URI"]
    return Limiter(client_key, app=app, default_limits=[rate], default_limits_exempt_when=not_counted,
                   storage_uri=uri, storage_options=storage_options(uri), strategy=app.config["RATE_LIMIT_STRATEGY"],
                   headers_enabled=True, swallow_errors=True, in_memory_fallback_enabled=True,
                   key_prefix="lookslike",
                   default_limits_cost=photo_count)  # a request with 3 photos counts 3
