"""Rate limits (flask-limiter): RATE_LIMIT per API key, else per client address, on every POST.

The POSTs are what runs the networks (match, verify, check: page or API), each photo of a
several-photo match counted once; pages, health probes, thumbnails and metrics are not counted.
Counters live in RATE_LIMIT_STORAGE_URI: memory (one per process) by default, Redis to share them
between gunicorn workers and hosts. Behind a proxy the client address is the proxy's unless
TRUSTED_PROXIES is set.
"""

from __future__ import annotations

import logging

from flask import Flask, g, request
from flask_limiter import Limiter

from app.http.inputs import photo_count


def client_key() -> str:
    """Who is counted: the API key's name when a valid key came, else the client address."""
    name = getattr(g, "api_key", None)
    return f"key:{name}" if name else f"addr:{request.remote_addr or 'unknown'}"


def not_counted() -> bool:
    """Only POSTs (the requests that run the networks) count against the limit."""
    return request.method != "POST"


def init_app(app: Flask) -> Limiter | None:
    """A limiter when RATE_LIMIT is set (429 with Retry-After past it); None when it is empty."""
    rate = str(app.config["RATE_LIMIT"] or "").strip()
    if not rate:
        return None
    # flask-limiter logs each breach at INFO with the counted key (a client address): keep it out.
    logging.getLogger("flask-limiter").setLevel(logging.WARNING)
    return Limiter(client_key, app=app, default_limits=[rate], default_limits_exempt_when=not_counted,
                   storage_uri=app.config["RATE_LIMIT_STORAGE_URI"], strategy=app.config["RATE_LIMIT_STRATEGY"],
                   headers_enabled=True, swallow_errors=True, key_prefix="lookslike",
                   default_limits_cost=photo_count)  # a request with 3 photos counts 3
