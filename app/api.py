"""JSON API (/api/v1) and the health probes."""

from __future__ import annotations

from typing import Callable

from flask import Blueprint, jsonify, url_for

from app import inputs
from app.engine import MatchResult, get_engine
from app.errors import LooksLikeError
from app.gallery import display_name
from app.verify import check_photo, verify_photos

bp = Blueprint("api", __name__, url_prefix="/api/v1")
health = Blueprint("health", __name__)


def match_payload(result: MatchResult, gallery_name: str, scorer_name: str,
                  image_url: Callable[[str, int], str]) -> dict:
    """The JSON answer to a match, shared by the API and `flask match --json`."""
    return {
        "face": result.query.face.to_dict(),
        "faces_detected": len(result.query.faces),
        "faces": [f.to_dict() for f in result.query.faces],
        "face_index": result.query.face_index,
        "gallery": gallery_name,
        "scorer": scorer_name,
        "matches": [{"name": display_name(m.identity), "identity": m.identity,
                     "score": round(m.score, 4), "cosine": round(m.cosine, 4),
                     "image_url": image_url(gallery_name, m.row)} for m in result.matches],
    }


def external_thumb_url(gallery: str, row: int) -> str:
    """Absolute URL of a gallery thumbnail, for API clients on other sites."""
    return url_for("web.gallery_image", gallery=gallery, row=row, _external=True)


@bp.errorhandler(LooksLikeError)
def input_error(exc: LooksLikeError):
    """Typed input errors as JSON with their own status."""
    return jsonify(exc.to_dict()), exc.status


@bp.post("/match")
def match():
    """POST a photo (multipart `photo` or JSON base64 `image`), get the top-k look-alikes."""
    engine = get_engine()
    result = inputs.match_request(engine)
    resp = jsonify(match_payload(result, engine.gallery.name, engine.scorer.name, external_thumb_url))
    resp.headers["Server-Timing"] = server_timing(result.timings)
    return resp


def server_timing(timings: dict[str, float]) -> str:
    """Stage durations as a Server-Timing header (milliseconds)."""
    return ", ".join(f"{stage};dur={seconds * 1000:.1f}" for stage, seconds in timings.items())


@bp.post("/verify")
def verify():
    """POST two photos (`photo1`, `photo2` or JSON `image1`, `image2`): same person?"""
    answer, _ = verify_photos(get_engine(), inputs.photo_bytes("photo1", "image1"),
                              inputs.photo_bytes("photo2", "image2"))
    return jsonify(answer)


@bp.post("/check")
def check():
    """POST `photo` and a `subject` name or 1-10 `anchor` photos: is this that person?"""
    engine = get_engine()
    anchors = inputs.photo_list("anchor", "anchors", engine.config["CHECK_MAX_ANCHORS"])
    return jsonify(check_photo(engine, inputs.photo_bytes("photo", "image"),
                               inputs.text_field("subject"), anchors))


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
                    "gallery_identities": len(gallery.identities), "scorer": engine.scorer.name})
