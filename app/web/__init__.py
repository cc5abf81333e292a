"""Web pages: upload form, results page, same-person page, gallery thumbnails."""

from __future__ import annotations

import os

import numpy as np
from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file, url_for

from app.extensions import get_engine
from app.http import embedding_inputs, inputs
from app.pipeline.serving.answers import jpeg_data_url, verify_answer

bp = Blueprint("web", __name__)
PAGE_FACE_SIZE = 360  # the visitor's face crops: shown at up to 180 CSS px, so sharp on 2x screens
FEATURED = 8  # celebrities featured on the upload page (those with the most gallery photos)


_SUMMARIES: dict[str, dict] = {}  # by gallery version folder: versions are immutable


def gallery_summary() -> dict:
    """Size of the served gallery and a few of its celebrities, computed once per gallery version
    (every page renders it; scanning the labels per request would cost O(rows))."""
    engine = get_engine()
    if engine.failure:  # the error page still renders (503, see /readyz)
        return {"name": "", "rows": 0, "identities": 0, "featured": []}
    gallery = engine.gallery
    if gallery.path not in _SUMMARIES:
        _SUMMARIES[gallery.path] = summarize(gallery)
    return _SUMMARIES[gallery.path]


def summarize(gallery) -> dict:
    """Gallery name, rows, identities and up to FEATURED celebrities (identity, name, first row)."""
    counts = np.bincount(gallery.labels, minlength=len(gallery.identities))
    featured = sorted(np.flatnonzero(counts), key=lambda k: (-counts[k], gallery.identities[k]))[:FEATURED]
    return {"name": gallery.name, "rows": len(gallery), "identities": len(gallery.identities),
            "featured": [{"identity": gallery.identities[k], "name": gallery.names[k],
                          "row": int(np.flatnonzero(gallery.labels == k)[0])}
                         for k in sorted(featured, key=lambda k: gallery.identities[k])]}


@bp.app_context_processor
def form_defaults() -> dict:
    """Values every page's upload form needs (also when an error re-renders it)."""
    return {"top_k": current_app.config["TOP_K"], "top_k_max": current_app.config["TOP_K_MAX"],
            "gallery": gallery_summary()}


@bp.get("/")
def index():
    """Upload page (works without JavaScript; JS adds drag and drop and the webcam)."""
    return render_template("index.html")


@bp.get("/match")
def match_get():
    """/match is only posted to; a visit (a reload, a shared link) goes to the upload page."""
    return redirect(url_for("web.index"))


@bp.post("/match")
def match():
    """Form post of a photo: results page with the visitor's face and the top-k celebrities.

    Every detected face's box goes to the page (data-* attributes) so that its script can draw
    them on the photo it still holds and re-post with `face=N`; nothing of the photo is kept here.
    """
    result = inputs.match_request(get_engine())
    query = result.query
    return render_template("results.html", face=jpeg_data_url(query.thumbnail(PAGE_FACE_SIZE)),
                           faces_detected=len(query.faces), faces_ignored=query.faces_ignored, cards=cards(result),
                           boxes=[f.original_box() for f in query.faces], face_index=query.face_index,
                           photo_size=list(query.photo.original_size), top_k=len(result.matches),
                           scorer=result.scorer)


@bp.post("/match/embedding")
def match_embedding():
    """Private mode: the page found and embedded the face itself and posts only the embedding (JSON).

    The results page has no face, boxes or photo size: the page's script fills them in from what it
    holds in memory (its crop, its detections); the server never sees them.
    """
    engine = get_engine()
    query = embedding_inputs.embedding_query(engine.config)
    result = engine.match_embedding(query.values, query.model_id, query.top_k)
    return render_template("results.html", private=True, face=None, faces_detected=0, faces_ignored=0,
                           cards=cards(result), boxes=[], face_index=0, photo_size=[0, 0],
                           top_k=len(result.matches), scorer=result.scorer)


def cards(result) -> list[dict]:
    """The results page's celebrity cards, best first."""
    return [{"name": m.name, "identity": m.identity, "score": m.score, "resemblance": m.resemblance, "row": m.row}
            for m in result.matches]


@bp.get("/celebrity/<identity>")
def celebrity(identity: str):
    """A celebrity's own page (gallery photos only, never a visitor's): the link a result shares."""
    gallery = get_engine().gallery
    try:
        k = gallery.identities.index(identity)
    except ValueError:
        abort(404, f"There is no celebrity “{identity}” in this gallery.")
    rows = [int(r) for r in np.flatnonzero(gallery.labels == k)]
    return render_template("celebrity.html", identity=identity, name=gallery.names[k], rows=rows)


@bp.route("/verify", methods=["GET", "POST"])
def verify():
    """Two uploads: both faces side by side and whether they are the same person."""
    if request.method == "GET":
        return render_template("verify.html")
    result = get_engine().verify(inputs.photo_bytes("photo1", "image1"), inputs.photo_bytes("photo2", "image2"))
    return render_template("verify.html", answer=verify_answer(result),
                           faces=[jpeg_data_url(r.thumbnail(PAGE_FACE_SIZE)) for r in result.faces])


@bp.get("/gallery/<gallery>/<int:row>.jpg")
def gallery_image(gallery: str, row: int):
    """Thumbnail of one row of the gallery version this process serves (404 when it has none)."""
    loaded = get_engine().gallery
    path = loaded.thumb_path(row)
    if gallery != loaded.name or not 0 <= row < len(loaded) or not os.path.isfile(path):
        abort(404)
    return send_file(path, mimetype="image/jpeg", max_age=86400)
