"""JSON API (/api/v1) and the health probes."""

from __future__ import annotations

from flask import Blueprint, jsonify, url_for

from app.extensions import get_engine
from app.http import inputs
from app.pipeline.answers import check_answer, match_answer, verify_answer

bp = Blueprint("api", __name__, url_prefix="/api/v1")
health = Blueprint("health", __name__)


def external_thumb_url(gallery: str, row: int) -> str:
    """Absolute URL of a gallery thumbnail, for API clients on other sites."""
    return url_for("web.gallery_image", gallery=gallery, row=row, _external=True)


def server_timing(timings: dict[str, float]) -> str:
    """Stage durations as a Server-Timing header (milliseconds)."""
    return ", ".join(f"{stage};dur={seconds * 1000:.1f}" for stage, seconds in timings.items())


@bp.post("/match")
def match():
    """POST a photo (multipart `photo` or JSON base64 `image`), get the top-k look-alikes."""
    result = inputs.match_request(get_engine())
    resp = jsonify(match_answer(result, external_thumb_url))
    resp.headers["Server-Timing"] = server_timing(result.timings)
    return resp


@bp.post("/verify")
def verify():
    """POST two photos (`photo1`, `photo2` or JSON `image1`, `image2`): same person?"""
    result = get_engine().verify(inputs.photo_bytes("photo1", "image1"), inputs.photo_bytes("photo2", "image2"))
    return jsonify(verify_answer(result))


@bp.post("/check")
def check():
    """POST `photo` and a `subject` name or 1-10 `anchor` photos: is this that person?"""
    engine = get_engine()
    anchors = inputs.photo_list("anchor", "anchors", engine.config["CHECK_MAX_ANCHORS"])
    result = engine.check(inputs.photo_bytes("photo", "image"), inputs.text_field("subject"), anchors)
    return jsonify(check_answer(result))


@health.get("/healthz")
def healthz():
    """The process is alive."""
    return jsonify({"status": "ok"})


@health.get("/readyz")
def readyz():
    """Weights and gallery are loaded: ready to answer."""
    engine = get_engine()
    if not engine.ready():
        return jsonify({"status": "loading"}), 503
    gallery = engine.gallery
    return jsonify({"status": "ready", "gallery": gallery.name, "gallery_rows": len(gallery),
                    "gallery_identities": len(gallery.identities), "scorer": engine.scorer.name,
                    "index": engine.index_info()})
