"""Helpers shared by the CLI commands: galleries by name, files, errors as one-line messages."""

from __future__ import annotations

import functools
import os

import click
from flask import current_app

from app.config import galleries_dir
from app.pipeline.errors import LooksLikeError, StartupError
from app.pipeline.galleries.reader import Gallery


def open_gallery(name: str) -> Gallery:
    """A gallery by name, as a CLI error when missing or corrupt."""
    try:
        return Gallery.load(os.path.join(galleries_dir(current_app), name))
    except StartupError as exc:
        raise click.ClickException(str(exc)) from exc


def read_bytes(path: str) -> bytes:
    """File bytes."""
    with open(path, "rb") as f:
        return f.read()


def fail_on_input_error(func):
    """Turn a LooksLikeError into a one-line CLI error: the code and message pages and API show."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except LooksLikeError as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from exc
        except StartupError as exc:
            raise click.ClickException(str(exc)) from exc
    return wrapper
