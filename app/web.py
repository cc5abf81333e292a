"""Web pages: upload form, results page, gallery thumbnails, and error pages."""

from __future__ import annotations

import base64

from flask import Blueprint, Flask, abort, current_app, render_template, request, send_file
from werkzeug.exceptions import HTTPException

from app import inputs
from app.engine import get_engine
from app.errors import LooksLikeError
from app.gallery import display_name
from app.imaging import encode_jpeg
from app.verify import verify_photos

bp = Blueprint("web", __name__)


def data_url(rgb) -> str:
    """Inline JPEG data: URL (the visitor's face is never written to disk)."""
    return "data:image/jpeg;base64," + base64.b64encode(encode_jpeg(rgb)).decode("ascii")


def upload_page(error: LooksLikeError | None = None, status: int = 200):
    """The upload page, with an error message when a previous attempt failed."""
    return render_template("index.html", error=error, top_k=current_app.config["TOP_K"],
                           top_k_max=current_app.config["TOP_K_MAX"]), status


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


@bp.post("/match")
def match():
    """Form post of a photo: results page with the visitor's face and the top-k celebrities."""
    engine = get_engine()
    result = inputs.match_request(engine)
    cards = [{"name": display_name(m.identity), "score": m.score, "row": m.row}
             for m in result.matches]
    return render_template("results.html", face=data_url(result.query.thumbnail(current_app.config["THUMB_SIZE"])),
                           faces_detected=len(result.query.faces), cards=cards,
                           gallery=engine.gallery.name, scorer=engine.scorer.name)


@bp.route("/verify", methods=["GET", "POST"])
def verify():
    """Two uploads: both faces side by side and whether they are the same person."""
    if request.method == "GET":
        return render_template("verify.html")
    answer, results = verify_photos(get_engine(), inputs.photo_bytes("photo1", "image1"),
                                    inputs.photo_bytes("photo2", "image2"))
    return render_template("verify.html", answer=answer, faces=[data_url(r.thumbnail(current_app.config["THUMB_SIZE"])) for r in results])


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
