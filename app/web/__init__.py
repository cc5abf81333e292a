"""Web pages: upload form, results page, same-person page, gallery thumbnails."""

from __future__ import annotations

import base64

from flask import Blueprint, abort, current_app, render_template, request, send_file

from app.extensions import get_engine
from app.http import inputs
from app.pipeline.answers import verify_answer
from app.pipeline.imaging import encode_jpeg

bp = Blueprint("web", __name__)


def data_url(rgb) -> str:
    """Inline JPEG data: URL (the visitor's face is never written to disk)."""
    return "data:image/jpeg;base64," + base64.b64encode(encode_jpeg(rgb)).decode("ascii")


@bp.app_context_processor
def form_defaults() -> dict:
    """Values every page's upload form needs (also when an error re-renders it)."""
    return {"top_k": current_app.config["TOP_K"], "top_k_max": current_app.config["TOP_K_MAX"]}


@bp.get("/")
def index():
    """Upload page (works without JavaScript; JS adds drag and drop and the webcam)."""
    return render_template("index.html")


@bp.post("/match")
def match():
    """Form post of a photo: results page with the visitor's face and the top-k celebrities."""
    result = inputs.match_request(get_engine())
    cards = [{"name": m.name, "score": m.score, "resemblance": m.resemblance, "row": m.row}
             for m in result.matches]
    return render_template("results.html", face=data_url(result.query.thumbnail(current_app.config["THUMB_SIZE"])),
                           faces_detected=len(result.query.faces), cards=cards,
                           gallery=result.gallery, scorer=result.scorer)


@bp.route("/verify", methods=["GET", "POST"])
def verify():
    """Two uploads: both faces side by side and whether they are the same person."""
    if request.method == "GET":
        return render_template("verify.html")
    result = get_engine().verify(inputs.photo_bytes("photo1", "image1"), inputs.photo_bytes("photo2", "image2"))
    size = current_app.config["THUMB_SIZE"]
    return render_template("verify.html", answer=verify_answer(result),
                           faces=[data_url(r.thumbnail(size)) for r in result.faces])


@bp.get("/gallery/<gallery>/<int:row>.jpg")
def gallery_image(gallery: str, row: int):
    """Thumbnail of one row of the loaded gallery."""
    loaded = get_engine().gallery
    if gallery != loaded.name or not 0 <= row < len(loaded):
        abort(404)
    return send_file(loaded.thumb_path(row), mimetype="image/jpeg", max_age=86400)
