"""LooksLike: which celebrities look most like the person in a photo.

The application factory; the layers and their allowed imports are in docs/architecture.md.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Flask is imported by create_app, so app.datasets and the pipeline load without it
    from flask import Flask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Application factory: settings (app/settings.py), HTTP layer, blueprints, CLI, and the engine.

    With EAGER_LOAD (set by wsgi.py for gunicorn) the networks and the gallery load here, once per
    process; otherwise on first use.
    """
    from flask import Flask

    from app import settings

    app = Flask(__name__, instance_path=settings.instance_folder(overrides), instance_relative_config=True,
                template_folder=os.path.join(ROOT, "templates"), static_folder=os.path.join(ROOT, "static"))
    from app import api, extensions, http, web
    from app.web import private_mode

    settings.load_config(app, overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    http.init_app(app)
    app.register_blueprint(web.bp)
    app.register_blueprint(private_mode.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api.health)
    app.register_blueprint(api.docs)
    if app.config["CLI_COMMANDS"]:  # off under gunicorn: training and evaluation import TensorFlow
        from app import cli

        cli.init_app(app)
    extensions.init_engine(app)
    return app
