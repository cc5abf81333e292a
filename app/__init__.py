"""LooksLike: which celebrities look most like the person in a photo."""

from __future__ import annotations

import io
import os
from typing import Any

import click
from flask import Flask, Request


class InMemoryRequest(Request):
    """Keeps uploads in memory: a visitor's photo is never spooled to a temporary file on disk."""

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        """In-memory stream for every uploaded file (size is bounded by MAX_CONTENT_LENGTH)."""
        return io.BytesIO()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory: config, blueprints, CLI, and the networks and gallery loaded once."""
    app = Flask(__name__, instance_relative_config=True,
                template_folder=os.path.join(os.path.dirname(__file__), "..", "templates"),
                static_folder=os.path.join(os.path.dirname(__file__), "..", "static"))
    app.request_class = InMemoryRequest

    from app import config
    config.load_config(app, test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.command.name != "run" and not (test_config or {}).get("EAGER_LOAD"):
        # Under a `flask` command other than `run`: load networks on first use, so that
        # `flask weights fetch` and `flask gallery build` work before any weights or gallery exist.
        app.config["EAGER_LOAD"] = False

    from app import api, cli, engine, web
    app.register_blueprint(web.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api.health)
    web.register_error_pages(app)
    web.register_privacy_headers(app)
    cli.init_app(app)
    engine.init_app(app)
    return app
