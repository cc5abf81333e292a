"""Helpers shared by the CLI commands: galleries by name, files, errors as one-line messages."""

from __future__ import annotations

import functools
import os

import click
from flask import current_app

from app.instance_paths import galleries_dir
from app.pipeline.errors import LooksLikeError, StartupError
from app.pipeline.galleries.reader import Gallery

# Top-level modules of requirements/build.txt that requirements/serving.txt lacks: a serving install
# (the slim Docker image) has none of them.
BUILD_ONLY_MODULES = frozenset({"tensorflow", "keras", "keras_facenet", "mtcnn", "scipy", "onnx", "tf2onnx",
                                "matplotlib"})
BUILD_REQUIREMENTS_FIX = "pip install -r requirements/build.txt"


def is_build_only(exc: ModuleNotFoundError) -> bool:
    """True when the missing module comes with the build requirements (a serving install lacks it)."""
    return (exc.name or "").split(".")[0] in BUILD_ONLY_MODULES


def build_requirements_message(command: str, module: str | None) -> str:
    """What a command that needs TensorFlow (or another build-only package) says in a serving install."""
    return (f"`{command}` needs the build requirements: {BUILD_REQUIREMENTS_FIX} "
            f"(module {module!r} is not installed here: a serving install has only requirements/serving.txt)")


def needs_build_requirements(func):
    """Turn a missing build-only package into a one-line CLI error naming what to install."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ModuleNotFoundError as exc:
            if not is_build_only(exc):
                raise
            raise click.ClickException(
                build_requirements_message(click.get_current_context().command_path, exc.name)) from exc
    return wrapper


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
