"""Open to other sites, closed to abuse: CORS allowlist, proxies, public URLs, security headers."""

from __future__ import annotations

from flask import Flask, Response, current_app, request, url_for
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

API_HEADERS = ["Content-Type", "X-API-Key", "Authorization"]
EXPOSED_HEADERS = ["Retry-After", "Server-Timing", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                   "X-RateLimit-Reset"]


def as_list(value) -> list[str]:
    """A config list given as a list or as a comma-separated string, blanks dropped."""
    if isinstance(value, str):
        value = value.split(",")
    return [item.strip() for item in value or [] if item and item.strip()]


def init_cors(app: Flask) -> None:
    """CORS on the JSON API for the allowlisted origins only (none by default: same-origin)."""
    origins = as_list(app.config["CORS_ORIGINS"])
    if not origins:
        return
    anyone = origins == ["*"]
    CORS(app, resources={r"/api/*": {"origins": "*" if anyone else origins}}, send_wildcard=anyone,
         methods=["GET", "POST", "OPTIONS"], allow_headers=API_HEADERS, expose_headers=EXPOSED_HEADERS,
         supports_credentials=False, max_age=app.config["CORS_MAX_AGE"], vary_header=True)


def init_proxies(app: Flask) -> None:
    """Trust X-Forwarded-For/-Proto/-Host from TRUSTED_PROXIES hops; without it they are ignored."""
    hops = int(app.config["TRUSTED_PROXIES"] or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)


def public_url(endpoint: str, **values) -> str:
    """URL of an endpoint for clients elsewhere: from PUBLIC_URL, the trusted proxy's host, or a path.

    The Host header is used only behind TRUSTED_PROXIES (the proxy vouches for it); otherwise a
    request's Host could put another site's name into our answers.
    """
    path = url_for(endpoint, **values)
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    if base:
        return base + path
    if int(current_app.config["TRUSTED_PROXIES"] or 0) > 0:
        return request.host_url.rstrip("/") + path
    return path


def security_headers(response: Response) -> Response:
    """CSP, nosniff, frame-ancestors, Referrer-Policy and Permissions-Policy on every response."""
    config = current_app.config
    headers = response.headers
    headers.setdefault("Content-Security-Policy", config["CONTENT_SECURITY_POLICY"])
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY" if "frame-ancestors 'none'" in config["CONTENT_SECURITY_POLICY"]
                       else "SAMEORIGIN")
    headers.setdefault("Referrer-Policy", config["REFERRER_POLICY"])
    headers.setdefault("Permissions-Policy", config["PERMISSIONS_POLICY"])
    return response


def init_app(app: Flask) -> None:
    """Security headers and CORS on responses; ProxyFix when proxies are trusted."""
    app.after_request(security_headers)
    init_cors(app)
    init_proxies(app)
