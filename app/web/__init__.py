"""Web pages: upload form, results page, same-person page, gallery thumbnails."""

from __future__ import annotations

import numpy as np
from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file, url_for

from app.extensions import get_engine
from app.http import embedding_inputs, inputs, prometheus
from app.pipeline.serving.answers import jpeg_data_url, verify_answer
from app.web.scripts import module_scripts
from app.web.visitor_messages import photo_index, visitor_message

bp = Blueprint("web", __name__)
PAGE_FACE_SIZE = 360  # the visitor's face crops: shown at up to 180 CSS px, so sharp on 2x screens
FEATURED = 8  # celebrities featured on the upload page (those with the most gallery photos)


_SUMMARIES: dict[str, dict] = {}  # by gallery version folder: versions are immutable


def gallery_summary() -> dict:
    """Size of the served gallery and a few of its celebrities, computed once per gallery version
    (every page renders it; scanning the labels per request would cost O(rows))."""
    engine = get_engine()
    if engine.failure or engine.pending:  # the error page still renders (503, see /readyz)
        return {"name": "", "version": "", "rows": 0, "identities": 0, "featured": []}
    gallery = engine.gallery
    if gallery.path not in _SUMMARIES:
        if len(_SUMMARIES) >= 8:  # versions come and go under GALLERY_URL: keep the few in use
            _SUMMARIES.clear()
        _SUMMARIES[gallery.path] = summarize(gallery)
    return _SUMMARIES[gallery.path]


def summarize(gallery) -> dict:
    """Gallery name, version, rows, identities and up to FEATURED celebrities (identity, name, portrait URL)."""
    counts = np.bincount(gallery.labels, minlength=len(gallery.identities))
    featured = sorted(np.flatnonzero(counts), key=lambda k: (-counts[k], gallery.identities[k]))[:FEATURED]
    return {"name": gallery.name, "version": gallery.version, "rows": len(gallery),
            "identities": len(gallery.identities),
            "featured": [{"identity": gallery.identities[k], "name": gallery.names[k],
                          "image": thumb_url(gallery.name, gallery.version, gallery.portrait(k))}
                         for k in sorted(featured, key=lambda k: gallery.identities[k])]}


def thumb_url(gallery: str, version: str, row: int, external: bool = False) -> str:
    """URL of a row's thumbnail in one gallery version: a cached page keeps showing the faces it named."""
    return url_for("web.gallery_image", gallery=gallery, version=version, row=row, _external=external)


@bp.app_context_processor
def form_defaults() -> dict:
    """Values every page's upload form needs (also when an error re-renders it)."""
    return {"top_k": current_app.config["TOP_K"], "top_k_max": current_app.config["TOP_K_MAX"],
            "photos_max": current_app.config["MATCH_PHOTOS_MAX"], "gallery": gallery_summary()}


@bp.app_context_processor
def page_scripts() -> dict:
    """The pages' own ES modules (static/js/page/), loaded by every page."""
    return {"page_modules": module_scripts("js/page")}


bp.add_app_template_global(visitor_message)  # the error box's words, on every page (templates/_macros.html)
bp.add_app_template_global(photo_index, "error_photo")


@bp.get("/")
def index():
    """Upload page (works without JavaScript; JS adds drag and drop and the webcam). `?more=1`, the close
    call's link: the page asks for 2 or 3 photos of the visitor together."""
    return render_template("index.html", adding=bool(request.args.get("more")))


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
    asked = inputs.match_inputs()
    result = get_engine().match(asked.photos, asked.top_k, asked.face_index, asked.filters)
    prometheus.observe_stages(result.timings)
    query = result.query
    return render_template("results.html", face=jpeg_data_url(query.thumbnail(PAGE_FACE_SIZE)),
                           faces_detected=len(query.faces), faces_ignored=query.faces_ignored, cards=cards(result),
                           boxes=[f.original_box() for f in query.faces], face_index=query.face_index,
                           photo_size=list(query.photo.original_size), top_k=len(result.matches),
                           scorer=result.scorer, filters=result.filters, filters_sent=asked.filters,
                           certainty=result.certainty, photos_used=result.photos_used)


@bp.post("/match/embedding")
def match_embedding():
    """Private mode: the page found and embedded the face itself and posts only the embedding (JSON), or
    the embeddings of several photos of the visitor.

    The results page has no face, boxes or photo size: the page's script fills them in from what it
    holds in memory (its crop, its detections); the server never sees them.
    """
    engine = get_engine()
    query = embedding_inputs.embedding_query(engine.config)
    filters = inputs.search_filters()
    result = engine.match_embedding(query.values, query.fields, query.model_id, query.top_k, filters)
    return render_template("results.html", private=True, face=None, faces_detected=0, faces_ignored=0,
                           cards=cards(result), boxes=[], face_index=0, photo_size=[0, 0],
                           top_k=len(result.matches), scorer=result.scorer, filters=result.filters,
                           filters_sent=filters, certainty=result.certainty, photos_used=result.photos_used)


def cards(result) -> list[dict]:
    """The results page's celebrity cards, best first."""
    return [{"name": m.name, "identity": m.identity, "score": m.score, "resemblance": m.resemblance,
             "image": thumb_url(result.gallery, result.version, m.portrait), "born": m.attributes.get("birth_year")}
            for m in result.matches]


@bp.get("/celebrity/<identity>")
def celebrity(identity: str):
    """A celebrity's own page (gallery photos only, never a visitor's): the link a result shares."""
    gallery = get_engine().gallery
    try:
        k = gallery.identities.index(identity)
    except ValueError:
        abort(404, f"There is no celebrity “{identity}” in this gallery.")
    portrait = gallery.portrait(k)
    rows = [portrait] + [int(r) for r in np.flatnonzero(gallery.labels == k) if r != portrait]
    photos = [thumb_url(gallery.name, gallery.version, r) for r in rows]
    return render_template("celebrity.html", identity=identity, name=gallery.names[k], photos=photos,
                           share_image=thumb_url(gallery.name, gallery.version, portrait, external=True),
                           born=gallery.attributes(k).get("birth_year"))


@bp.route("/verify", methods=["GET", "POST"])
def verify():
    """Two uploads: both faces side by side and whether they are the same person."""
    if request.method == "GET":
        return render_template("verify.html")
    result = get_engine().verify(inputs.photo_bytes("photo1", "image1"), inputs.photo_bytes("photo2", "image2"))
    return render_template("verify.html", answer=verify_answer(result),
                           faces=[jpeg_data_url(r.thumbnail(PAGE_FACE_SIZE)) for r in result.faces])


@bp.get("/gallery/<gallery>/<version>/<int:row>.jpg")
def gallery_image(gallery: str, version: str, row: int):
    """Thumbnail of one row of a version of the served gallery still on this server (404 otherwise). A version
    never changes, so the answer may be cached for long."""
    path = get_engine().thumbnail(gallery, version, row)
    if path is None:
        abort(404)
    return send_file(path, mimetype="image/jpeg", max_age=86400)
