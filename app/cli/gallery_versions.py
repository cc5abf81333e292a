"""Gallery commands on versions: names, index, upgrade, info, and takedowns (`flask gallery remove`)."""

from __future__ import annotations

import os
import time

import click
import numpy as np
from flask import current_app
from flask.cli import with_appcontext

from app.cli.common import open_gallery
from app.cli.gallery import NAMES_HELP, galleries, load_names
from app.pipeline.builders.removal import remove_identities
from app.pipeline.builders.upgrade import index_gallery, rename_identities, upgrade_gallery
from app.pipeline.errors import StartupError
from app.pipeline.galleries.reader import FORMAT_VERSION
from app.pipeline.galleries.takedowns import TAKEDOWNS_FILE


@click.command("names")
@with_appcontext
@click.argument("name")
@click.argument("names_file", type=click.Path(exists=True, dir_okay=False))
def gallery_names(name: str, names_file: str) -> None:
    """Set the display names and attributes of gallery NAME's identities from a names CSV."""
    open_gallery(name)
    gallery = rename_identities(galleries(), name, load_names(names_file))
    click.echo(f"gallery {name}: names from {names_file} ({len(gallery.identities)} identities)")


@click.command("index")
@with_appcontext
@click.argument("name")
def gallery_index(name: str) -> None:
    """(Re)build gallery NAME's vector index (faiss PQ fast-scan) as a new version."""
    open_gallery(name)
    start = time.perf_counter()
    gallery = index_gallery(galleries(), name)
    click.echo(f"gallery {name}: index of {len(gallery):,} rows built in {time.perf_counter() - start:.0f} s "
               f"at {gallery.path}")


@click.command("upgrade")
@with_appcontext
@click.argument("name")
@click.option("--names", "names_file", type=click.Path(exists=True, dir_okay=False), help=NAMES_HELP)
def gallery_upgrade(name: str, names_file: str | None) -> None:
    """Convert gallery NAME from an older format to the current one (no photo is embedded again)."""
    if not os.path.isdir(os.path.join(galleries(), name)):
        raise click.ClickException(f"no gallery {name} in {galleries()}")
    try:
        gallery = upgrade_gallery(galleries(), name, current_app.config, load_names(names_file))
    except StartupError as exc:
        raise click.ClickException(str(exc)) from exc
    if gallery is None:
        click.echo(f"gallery {name} is already in format {FORMAT_VERSION}")
    else:
        click.echo(f"gallery {name}: upgraded to format {FORMAT_VERSION} ({len(gallery)} faces of "
                   f"{len(gallery.identities)} identities) at {gallery.path}")


@click.command("info")
@with_appcontext
@click.argument("name")
def gallery_info(name: str) -> None:
    """Identities, photos and skipped counts of gallery NAME."""
    gallery = open_gallery(name)
    m = gallery.manifest
    counts = np.bincount(gallery.labels, minlength=len(gallery.identities))
    click.echo(f"gallery {name}: {len(gallery)} faces, {len(gallery.identities)} identities, "
               f"{m.get('photos', '?')} photos, built {m.get('created', '?')} from "
               f"{', '.join(m.get('source_dirs', [])) or '?'}; version {os.path.basename(gallery.path)}")
    skipped = m.get("skipped", {})
    click.echo("skipped: " + (", ".join(f"{v} {k}" for k, v in sorted(skipped.items())) or "none"))
    order = sorted(range(len(counts)), key=lambda k: (-counts[k], gallery.names[k]))
    for k in order[:20]:
        click.echo(f"  {gallery.names[k]:30s} {counts[k]}")
    if len(counts) > 20:
        click.echo(f"  ... and {len(counts) - 20} more identities")


@click.command("remove")
@with_appcontext
@click.argument("name")
@click.argument("identities", nargs=-1, required=True)
@click.option("--reason", default="takedown request", show_default=True, help="Recorded in the takedown list.")
def gallery_remove(name: str, identities: tuple[str, ...], reason: str) -> None:
    """Publish gallery NAME without IDENTITIES (ids or display names) and add them to the takedown list."""
    open_gallery(name)
    try:
        gallery, removed, listed = remove_identities(galleries(), name, list(identities), reason, current_app.config)
    except (StartupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    for entry in removed:
        click.echo(f"  removed: {entry['name']} ({entry['id']})")
    click.echo(f"gallery {name}: {len(removed)} identities removed, {len(gallery)} faces of "
               f"{len(gallery.identities)} identities left at {gallery.path}; the takedown list "
               f"({os.path.join(galleries(), TAKEDOWNS_FILE)}) holds {len(listed)} people, left out of every later "
               "build; running servers drop them at their next reload")


VERSION_COMMANDS = (gallery_names, gallery_index, gallery_upgrade, gallery_info, gallery_remove)
