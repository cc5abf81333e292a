"""The app's one Engine: created by the factory, found by pages, API and CLI through get_engine."""

from __future__ import annotations

import os

from flask import Flask, current_app

from app.instance_paths import browser_runtime_dir, calibration_path, galleries_dir, models_dir, weights_path
from app.pipeline.errors import StartupError
from app.pipeline.serving.browser_assets import BrowserAssets, load_browser_assets
from app.pipeline.serving.engine import Engine, EnginePaths

EXTENSION = "lookslike"
ASSETS = "lookslike.browser_assets"
RUNTIME_SUMS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts",
                            "onnxruntime-web.sha256")  # the pinned ONNX Runtime Web files (make browser-runtime)


def init_engine(app: Flask) -> Engine:
    """Attach an Engine to the app; load everything now when EAGER_LOAD is set."""
    paths = EnginePaths(weights=weights_path(app), galleries=galleries_dir(app), models=models_dir(app),
                        calibration=calibration_path(app), check_calibration=calibration_path(app, "check"))
    engine = Engine(app.config, paths)
    app.extensions[EXTENSION] = engine
    if app.config["EAGER_LOAD"]:
        try:
            if app.config["GALLERY_URL"]:
                serve_gallery_url(engine, background=app.config["REPORT_STARTUP_ERRORS"])
            else:
                engine.load_all()
        except StartupError as exc:
            if not app.config["REPORT_STARTUP_ERRORS"]:
                raise
            engine.failure = str(exc)  # /readyz says it; photo requests get 503
            app.logger.error("start-up failed: %s", exc)
    return engine


def serve_gallery_url(engine: Engine, background: bool) -> None:
    """GALLERY_URL: the networks now; the gallery fetched, verified and watched (builders/gallery_watch.py),
    in a thread when `background` (gunicorn: /readyz says "fetching" until it is served)."""
    from app.pipeline.builders.gallery_watch import watch_gallery

    engine.load_networks()
    watch_gallery(engine, background)


def get_engine() -> Engine:
    """The current app's engine."""
    return current_app.extensions[EXTENSION]


def get_browser_assets() -> BrowserAssets:
    """The current app's private-mode assets (checked once per process, like the networks)."""
    app = current_app
    if ASSETS not in app.extensions:
        assets = load_browser_assets(os.path.dirname(weights_path(app)), browser_runtime_dir(app), RUNTIME_SUMS,
                                     app.config)
        if not assets.available:
            app.logger.warning("private mode is off: %s (%s)", assets.reason, assets.fix)
        app.extensions[ASSETS] = assets
    return app.extensions[ASSETS]
