"""Private mode on the pages: its assets under content-named URLs, and what every page is told of it.

The page's modules (static/js/private/) download the assets the rendered manifest lists, check each
file's sha256 before using it, run the networks in the browser and post only the embedding to
/match/embedding (app/web/__init__.py). ONNX Runtime Web's module and the page's own modules are
loaded with Subresource Integrity.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, request, send_file, url_for
from flask.typing import ResponseReturnValue

from app.extensions import get_browser_assets, get_engine
from app.http.security import private_threads
from app.pipeline.errors import StartupError
from app.pipeline.serving.browser_assets import page_manifest
from app.web.scripts import module_scripts

bp = Blueprint("private", __name__)
IMMUTABLE = "public, max-age=31536000, immutable"  # every asset's name holds its sha256
MODULES = "js/private"  # private mode's ES modules, under static/


@bp.get("/assets/<name>")
def asset(name: str) -> ResponseReturnValue:
    """One private-mode asset by its content-named file name: cached for good, gzipped when accepted."""
    item = get_browser_assets().by_name.get(name)
    if item is None:
        abort(404)
    packed = bool(item.gzip_path) and "gzip" in request.accept_encodings
    resp = send_file(item.gzip_path if packed else item.path, mimetype=item.mime, conditional=True,
                     etag=item.sha256[:32] + ("-gz" if packed else ""))
    resp.headers["Cache-Control"] = IMMUTABLE
    resp.headers["Vary"] = "Accept-Encoding"
    if packed:
        resp.headers["Content-Encoding"] = "gzip"
    return resp


def private_manifest() -> dict:
    """What the page is told of private mode: the model and the assets, or why it is not offered."""
    engine = get_engine()
    if engine.failure:
        return {"available": False, "reason": "the service failed to start"}
    assets = get_browser_assets()
    try:
        model = engine.embedding_model()
    except (OSError, StartupError):
        return {"available": False, "reason": "the server's face network is not installed"}
    manifest = page_manifest(assets, model, lambda name: url_for("private.asset", name=name),
                             url_for("web.match_embedding"))
    # ONNX Runtime's threads: "auto" or a number; the page uses one unless it is cross-origin isolated.
    return {**manifest, "threads": private_threads(current_app.config)} if manifest["available"] else manifest


@bp.app_context_processor
def private_mode_context() -> dict:
    """Every page's private-mode manifest and the modules that use it."""
    manifest = private_manifest()
    return {"private_mode": manifest, "private_modules": module_scripts(MODULES) if manifest["available"] else []}
