"""Prometheus metrics at /metrics: requests by route and status, latency, match stages, gallery size, CPU slots.

Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before any worker starts, so each
worker writes its samples there and a scrape of any worker reports the sum over all of them
(prometheus-client's multiprocess mode); the directory is emptied when gunicorn starts.
"""

from __future__ import annotations

import hmac
import os
import time

from flask import Flask, Response, current_app, g, has_app_context, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from app.pipeline.errors import Unauthorized

METHODS = {"GET", "POST", "HEAD", "OPTIONS"}
REJECTED_STATUSES = {401, 408, 413, 429, 503}
REQUESTS = Counter("lookslike_http_requests_total", "HTTP requests by route, method and status.",
                   ["route", "method", "status"])
LATENCY = Histogram("lookslike_http_request_duration_seconds", "Time to answer a request, by route "
                    "(the body is already read).", ["route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
STAGES = Histogram("lookslike_match_stage_seconds", "Time of each stage of a match: decode, detect, embed, "
                   "score.", ["stage"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
REJECTED = Counter("lookslike_http_rejected_total", "Requests turned away, by status (401 no key, 408 slow "
                   "body, 413 too large, 429 rate limited, 503 not ready or overloaded).", ["status"])

SHED = Counter("lookslike_shed_total", "Requests answered 503 under overload, by reason: overloaded (no CPU slot "
               "within QUEUE_TIMEOUT), deadline_exceeded (REQUEST_DEADLINE passed), client_gone.", ["reason"])
SHED_CODES = {"overloaded", "deadline_exceeded", "client_gone"}


class GalleryCollector:
    """The served gallery's rows and identities, readiness and CPU slots, read from the app at scrape time."""

    def collect(self) -> list[GaugeMetricFamily]:
        """Gauge families for the current app's engine (nothing outside a request)."""
        slots = GaugeMetricFamily("lookslike_cpu_slots", "Matches the process that answered runs at once "
                                  "(CPU_SLOTS as it resolved it).")
        ready = GaugeMetricFamily("lookslike_ready", "1 when the networks and the gallery are loaded.")
        rows = GaugeMetricFamily("lookslike_gallery_rows", "Faces in the served gallery.", labels=["gallery"])
        people = GaugeMetricFamily("lookslike_gallery_identities", "Identities in the served gallery.",
                                   labels=["gallery"])
        engine = current_app.extensions.get("lookslike") if has_app_context() else None
        if has_app_context() and "lookslike.slots" in current_app.extensions:
            slots.add_metric([], float(current_app.extensions["lookslike.slots"].slots))
        if engine is not None:
            ready.add_metric([], 1.0 if engine.ready() else 0.0)
            if engine.ready():
                gallery = engine.gallery
                rows.add_metric([gallery.name], float(len(gallery)))
                people.add_metric([gallery.name], float(len(gallery.identities)))
        return [ready, rows, people, slots]


GALLERY = GalleryCollector()
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    REGISTRY.register(GALLERY)


def observe_stages(timings: dict[str, float]) -> None:
    """Record a match's stage durations (decode, detect, embed, score)."""
    for stage, seconds in timings.items():
        STAGES.labels(stage).observe(seconds)


def count_shed(code: str) -> None:
    """Count a request turned away under overload (its error code names the reason)."""
    if code in SHED_CODES:
        SHED.labels(code).inc()


def count_rejected(status: int, code: str) -> None:
    """Count an answer gunicorn's worker gave itself, before the app (408 slow request, 503 no thread free)."""
    if status in REJECTED_STATUSES:
        REJECTED.labels(str(status)).inc()
    count_shed(code)


def start_timer() -> None:
    """before_request: note when the request started."""
    g.metrics_t0 = time.perf_counter()


def record(response: Response) -> Response:
    """after_request: count the request by route, method and status, and time it."""
    route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    method = request.method if request.method in METHODS else "OTHER"
    REQUESTS.labels(route, method, str(response.status_code)).inc()
    if response.status_code in REJECTED_STATUSES:
        REJECTED.labels(str(response.status_code)).inc()
    t0 = g.get("metrics_t0")
    if t0 is not None:
        LATENCY.labels(route).observe(time.perf_counter() - t0)
    return response


def exposition() -> Response:
    """The metrics in Prometheus text format (Bearer METRICS_TOKEN when one is set)."""
    token = current_app.config["METRICS_TOKEN"]
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise Unauthorized("/metrics needs Authorization: Bearer with the metrics token.")
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(GALLERY)
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Time and count every request."""
    app.before_request_funcs.setdefault(None, []).insert(0, start_timer)
    app.after_request(record)
