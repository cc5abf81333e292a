"""Gallery commands: `flask gallery build` and `flask gallery info`."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import AppGroup

from app.cli.common import open_gallery
from app.config import galleries_dir
from app.extensions import get_engine
from app.pipeline.build import build_gallery
from app.pipeline.errors import StartupError
from app.pipeline.gallery import display_name

gallery_cli = AppGroup("gallery", help="Celebrity galleries.")


@gallery_cli.command("build")
@click.argument("src_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--name", required=True, help="Gallery name: instance/galleries/NAME/.")
def gallery_build(src_dir: str, name: str) -> None:
    """Detect, crop and embed SRC_DIR/<Identity Name>/<photos> into gallery NAME."""
    engine = get_engine()
    out = os.path.join(galleries_dir(current_app), name)
    try:
        report = build_gallery(src_dir, out, engine.detector, engine.embedder, current_app.config)
    except (StartupError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    for path, reason in report.skipped_files[:20]:
        click.echo(f"  skipped ({reason}): {path}")
    if len(report.skipped_files) > 20:
        click.echo(f"  ... and {len(report.skipped_files) - 20} more (see manifest.json)")
    click.echo(report.summary())


@gallery_cli.command("info")
@click.argument("name")
def gallery_info(name: str) -> None:
    """Identities, photos and skipped counts of gallery NAME."""
    gallery = open_gallery(name)
    m = gallery.manifest
    counts = {i: int((gallery.labels == k).sum()) for k, i in enumerate(gallery.identities)}
    click.echo(f"gallery {name}: {len(gallery)} faces, {len(gallery.identities)} identities, "
               f"{m.get('photos', '?')} photos, built {m.get('created', '?')} from {m.get('source_dir', '?')}")
    skipped = m.get("skipped", {})
    click.echo("skipped: " + (", ".join(f"{v} {k}" for k, v in sorted(skipped.items())) or "none"))
    for identity, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]:
        click.echo(f"  {display_name(identity):30s} {n}")
    if len(counts) > 20:
        click.echo(f"  ... and {len(counts) - 20} more identities")
