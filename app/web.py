"""Web pages: upload form, results page, gallery thumbnails, and error pages."""

from __future__ import annotations

import base64

import numpy as np
from flask import Blueprint, Flask, abort, current_app, redirect, render_template, request, send_file, url_for
from werkzeug.exceptions import HTTPException

from app import inputs
from app.engine import get_engine
from app.errors import LooksLikeError
from app.gallery import display_name
from app.imaging import encode_jpeg
from app.verify import verify_photos

bp = Blueprint("web", __name__)

# The visitor's face crops on the pages: shown at up to 180 CSS px, so sharp on 2x screens.
PAGE_FACE_SIZE = 360
# Celebrities featured on the upload page (those with the most gallery photos).
FEATURED = 8


def data_url(rgb) -> str:
    """Inline JPEG data: URL (the visitor's face is never written to disk)."""
    return "data:image/jpeg;base64," + base64.b64encode(encode_jpeg(rgb)).decode("ascii")


def gallery_summary() -> dict:
    """Size of the served gallery and a few of its celebrities (identity, name, first row)."""
    gallery = get_engine().gallery
    counts = np.bincount(gallery.labels, minlength=len(gallery.identities))
    featured = sorted(np.flatnonzero(counts), key=lambda k: (-counts[k], gallery.identities[k]))[:FEATURED]
    first_row = {k: int(np.flatnonzero(gallery.labels == k)[0]) for k in featured}
    return {"name": gallery.name, "rows": len(gallery), "identities": len(gallery.identities),
            "featured": [{"identity": gallery.identities[k], "name": display_name(gallery.identities[k]),
                          "row": first_row[k]} for k in sorted(featured, key=lambda k: gallery.identities[k])]}


def upload_page(error: LooksLikeError | None = None, status: int = 200):
    """The upload page, with an error message when a previous attempt failed."""
    return render_template("index.html", error=error, top_k=current_app.config["TOP_K"],
                           top_k_max=current_app.config["TOP_K_MAX"], gallery=gallery_summary()), status


@bp.errorhandler(LooksLikeError)
def input_error(exc: LooksLikeError):
    """Typed input errors re-render the page the form came from, with the message and status."""
    if request.endpoint == "web.verify":
        return render_template("verify.html", error=exc), exc.status
    return upload_page(exc, exc.status)


@bp.get("/")
def index():
    """Upload page (works without JavaScript; JS adds drag and drop and the webcam)."""
    return upload_page()


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
    engine = get_engine()
    result = inputs.match_request(engine)
    cards = [{"name": display_name(m.identity), "identity": m.identity, "score": m.score,
              "resemblance": getattr(m, "resemblance", None), "row": m.row}
             for m in result.matches]
    query = result.query
    return render_template("results.html", face=data_url(query.thumbnail(PAGE_FACE_SIZE)),
                           faces_detected=len(query.faces), cards=cards,
                           boxes=[f.original_box() for f in query.faces], face_index=query.face_index,
                           photo_size=list(query.photo.original_size), top_k=len(result.matches),
                           gallery=gallery_summary(), scorer=engine.scorer.name)


@bp.get("/celebrity/<identity>")
def celebrity(identity: str):
    """A celebrity's own page (gallery photos only, never a visitor's): the link a result shares."""
    gallery = get_engine().gallery
    try:
        k = gallery.identities.index(identity)
    except ValueError:
        abort(404, f"There is no celebrity “{identity}” in this gallery.")
    rows = [int(r) for r in np.flatnonzero(gallery.labels == k)]
    return render_template("celebrity.html", identity=identity, name=display_name(identity), rows=rows,
                           gallery=gallery_summary())


@bp.route("/verify", methods=["GET", "POST"])
def verify():
    """Two uploads: both faces side by side and whether they are the same person."""
    if request.method == "GET":
        return render_template("verify.html")
    answer, results = verify_photos(get_engine(), inputs.photo_bytes("photo1", "image1"),
                                    inputs.photo_bytes("photo2", "image2"))
    return render_template("verify.html", answer=answer, faces=[data_url(r.thumbnail(PAGE_FACE_SIZE)) for r in results])


@bp.get("/gallery/<gallery>/<int:row>.jpg")
def gallery_image(gallery: str, row: int):
    """Thumbnail of one row of the loaded gallery."""
    loaded = get_engine().gallery
    if gallery != loaded.name or not 0 <= row < len(loaded):
        abort(404)
    return send_file(loaded.thumb_path(row), mimetype="image/jpeg", max_age=86400)


def register_privacy_headers(app: Flask) -> None:
    """Answers to a posted photo hold biometric data: forbid any cache from keeping them."""

    @app.after_request
    def no_store(response):
        """Cache-Control: no-store on every answer to a POST."""
        if request.method == "POST":
            response.headers["Cache-Control"] = "no-store"
        return response


def register_error_pages(app: Flask) -> None:
    """HTTP errors (413 from the body limit, 404, 405, ...) as JSON under /api, pages elsewhere."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        """Render werkzeug's HTTP errors in the caller's format."""
        code = {413: "too_large", 404: "not_found", 405: "method_not_allowed"}.get(exc.code, "http_error")
        message = exc.description or exc.name
        if exc.code == 413:
            limit = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
            message = f"The upload is larger than the {limit:g} MB limit. Please send a smaller photo."
        if request.path.startswith("/api/"):
            return {"error": code, "message": message}, exc.code
        error = LooksLikeError(message)
        if request.endpoint == "web.verify":
            return render_template("verify.html", error=error), exc.code
        return upload_page(error, exc.code)
