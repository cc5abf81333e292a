"""JSON API (/api/v1), the health probes, /metrics, the OpenAPI document and the /api page."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from app.api.docs import api_page_model, openapi_document
from app.extensions import get_browser_assets, get_engine
from app.http import embedding_inputs, inputs, prometheus
from app.http.openapi import documented
from app.http.security import public_url
from app.pipeline.serving.answers import check_answer, embedding_match_answer, match_answer, verify_answer
from app.pipeline.serving.browser_assets import page_manifest

bp = Blueprint("api", __name__, url_prefix="/api/v1")
health = Blueprint("health", __name__)
docs = Blueprint("docs", __name__)  # the human-readable /api page
PHOTO_ERRORS = (400, 408, 413, 415, 422, 429, 500, 503)
MATCH_ERRORS = PHOTO_ERRORS + (409,)


def external_thumb_url(gallery: str, version: str, row: int) -> str:
    """URL of a gallery thumbnail for API clients: PUBLIC_URL-based, or a path (see public_url)."""
    return public_url("web.gallery_image", gallery=gallery, version=version, row=row)


def server_timing(timings: dict[str, float]) -> str:
    """Stage durations as a Server-Timing header (milliseconds)."""
    return ", ".join(f"{stage};dur={seconds * 1000:.1f}" for stage, seconds in timings.items())


@bp.post("/match")
@documented(errors=MATCH_ERRORS, auth=True)
def match() -> ResponseReturnValue:
    """Who does this person look like?

    POST a photo (multipart `photo`, or JSON base64 `image`), get the face used and the top-k
    celebrity look-alikes; up to MATCH_PHOTOS_MAX photos of one person (`photo` repeated, or JSON
    `images`) are matched together. Or POST JSON `embedding` (the L2-normalized FaceNet embedding of a
    face, computed as GET /api/v1/model describes), or `embeddings` (one per photo of one person), with
    their `embedding_model` id: the answer is the same without the face fields (face, face_index,
    faces, faces_detected, faces_total, faces_ignored); an id other than the served one gets 409
    model_mismatch. The `Server-Timing` header gives the time of each stage.
    """
    engine = get_engine()
    if embedding_inputs.sends_embedding():
        query = embedding_inputs.embedding_query(engine.config)
        result = engine.match_embedding(query.values, query.fields, query.model_id, query.top_k,
                                        inputs.search_filters())
        resp = jsonify(embedding_match_answer(result, external_thumb_url))
    else:
        asked = inputs.match_inputs()
        result = engine.match(asked.photos, asked.top_k, asked.face_index, asked.filters)
        resp = jsonify(match_answer(result, external_thumb_url))
    prometheus.observe_stages(result.timings)
    resp.headers["Server-Timing"] = server_timing(result.timings)
    return resp


@bp.get("/model")
@documented(errors=(503,), auth=True)
def model() -> ResponseReturnValue:
    """The served embedding model: what a client needs to compute embeddings the server accepts.

    Its `id` (send it as `embedding_model`) covers the FaceNet weights' sha256 and every setting
    that changes an embedding (detection, main face, crop, flip, input side).
    """
    engine, assets = get_engine(), get_browser_assets()
    manifest = page_manifest(assets, engine.embedding_model(), lambda name: public_url("private.asset", name=name),
                             public_url("web.match_embedding"))
    private = {"available": assets.available, "reason": assets.reason}
    return jsonify({**engine.embedding_model(), "private_mode": private, "assets": manifest.get("assets")})


@bp.post("/verify")
@documented(errors=PHOTO_ERRORS, auth=True)
def verify() -> ResponseReturnValue:
    """Are two photos the same person?

    POST two photos (`photo1`, `photo2`, or JSON `image1`, `image2`); the answer has the calibrated
    probability that they show the same person.
    """
    result = get_engine().verify(inputs.photo_bytes("photo1", "image1"), inputs.photo_bytes("photo2", "image2"))
    return jsonify(verify_answer(result))


@bp.post("/check")
@documented(errors=PHOTO_ERRORS, auth=True)
def check() -> ResponseReturnValue:
    """Is this photo that person?

    POST `photo` and either a gallery `subject` or 1 to CHECK_MAX_ANCHORS `anchor` photos of the person.
    """
    engine = get_engine()
    anchors = inputs.photo_list("anchor", "anchors", engine.config["CHECK_MAX_ANCHORS"])
    result = engine.check(inputs.photo_bytes("photo", "image"), inputs.text_field("subject"), anchors)
    return jsonify(check_answer(result))


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """This API's OpenAPI 3 document (always open: it says how to authenticate)."""
    return jsonify(openapi_document())


@docs.get("/api")
def api_page() -> ResponseReturnValue:
    """The API's reference page, rendered from the OpenAPI document (no scripts, no CDN)."""
    return render_template("api.html", api=api_page_model(openapi_document()))


@health.get("/healthz")
@documented()
def healthz() -> ResponseReturnValue:
    """The process is alive."""
    return jsonify({"status": "ok"})


@health.get("/readyz")
@documented()
def readyz() -> ResponseReturnValue:
    """Weights and gallery are loaded: ready to answer (503 while loading, with what it waits for, or with why
    start-up failed)."""
    engine = get_engine()
    if engine.failure:
        return jsonify({"status": "failed", "error": "startup_failed", "message": engine.failure}), 503
    if not engine.ready():
        return jsonify({"status": "loading", **({"message": engine.pending} if engine.pending else {})}), 503
    gallery = engine.gallery
    return jsonify({"status": "ready", "gallery": gallery.name, "gallery_version": gallery.version,
                    "gallery_rows": len(gallery),
                    "gallery_identities": len(gallery.identities), "scorer": engine.scorer.name,
                    "model": engine.model_name() or None, "embedding_model": engine.embedding_model()["id"],
                    "index": engine.index_info()})


@health.get("/metrics")
def prometheus_metrics() -> ResponseReturnValue:
    """Prometheus metrics (404 when METRICS_ENABLED is off; Bearer METRICS_TOKEN when one is set)."""
    if not current_app.config["METRICS_ENABLED"]:
        abort(404)
    return prometheus.exposition()
