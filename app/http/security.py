"""Open to other sites, closed to abuse: CORS allowlist, proxies, public URLs, security headers.

With PRIVATE_THREADS above one, every response also carries the cross-origin isolation headers:
browsers give a page SharedArrayBuffer, which ONNX Runtime Web's threads need, only when it is
cross-origin isolated.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request, url_for
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from app.settings import thread_count

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


def private_threads(config) -> int | str:
    """PRIVATE_THREADS as the page is told it: "auto" or a number of threads (1: no isolation)."""
    return thread_count(config["PRIVATE_THREADS"], "PRIVATE_THREADS")


def cross_origin_isolated(config) -> bool:
    """True when the pages ask to be cross-origin isolated (PRIVATE_THREADS above one thread)."""
    return private_threads(config) != 1


def isolation_headers(headers) -> None:
    """COOP and COEP make our pages and their workers cross-origin isolated (other responses ignore them).
    require-corp rather than credentialless: Safari knows only the former. CORP same-origin keeps
    other sites from loading our pages, scripts and networks into their own processes; the
    thumbnails go without it, since the API hands their URLs to other sites to show."""
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Embedder-Policy", "require-corp")
    if request.endpoint != "web.gallery_image":
        headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")


def security_headers(response: Response) -> Response:
    """CSP, nosniff, frame-ancestors, Referrer-Policy and Permissions-Policy on every response, and
    the cross-origin isolation headers when PRIVATE_THREADS asks for threads."""
    config = current_app.config
    headers = response.headers
    headers.setdefault("Content-Security-Policy", config["CONTENT_SECURITY_POLICY"])
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY" if "frame-ancestors 'none'" in config["CONTENT_SECURITY_POLICY"]
                       else "SAMEORIGIN")
    headers.setdefault("Referrer-Policy", config["REFERRER_POLICY"])
    headers.setdefault("Permissions-Policy", config["PERMISSIONS_POLICY"])
    if cross_origin_isolated(config):
        isolation_headers(headers)
    return response


def init_app(app: Flask) -> None:
    """Security headers and CORS on responses; ProxyFix when proxies are trusted."""
    private_threads(app.config)  # a PRIVATE_THREADS that is no number fails here, not on every response
    app.after_request(security_headers)
    init_cors(app)
    init_proxies(app)
