"""Galleries as artifacts: `flask gallery export NAME FILE` and `flask gallery import FILE|URL`."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import with_appcontext

from app.cli.gallery import galleries
from app.datasets.download import DownloadError
from app.extensions import get_engine
from app.instance_paths import calibration_path, models_dir, weights_path
from app.pipeline.builders.artifact_export import export_gallery, served_model
from app.pipeline.builders.artifact_fetch import FetchError, sync_gallery
from app.pipeline.builders.artifact_import import ImportResult, artifacts_lock, import_artifact
from app.pipeline.builders.gallery_watch import gallery_source
from app.pipeline.errors import StartupError
from app.pipeline.galleries.artifact import ArtifactError


@click.command("export")
@with_appcontext
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def gallery_export(name: str, file: str) -> None:
    """Write gallery NAME's served version, with its calibrations, trained model and takedown list, as one
    artifact FILE (a tar; gzip when FILE ends in .gz or .tgz) that `flask gallery import` verifies."""
    try:
        meta = export_gallery(galleries(), name, file, weights_path(current_app),
                              os.path.dirname(calibration_path(current_app)), models_dir(current_app))
    except (StartupError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    sections = sorted({entry["path"].split("/")[0] for entry in meta["files"]})
    click.echo(f"gallery {name} version {meta['version']}: {meta['rows']} faces of {meta['identities']} identities, "
               f"{len(meta['files'])} files ({', '.join(sections)}) -> {file} ({os.path.getsize(file):,} bytes)")


def echo_import(result: ImportResult) -> None:
    """What an import published."""
    for entry in result.removed:
        click.echo(f"  left out (takedown list): {entry['name']} ({entry['id']})")
    for path in result.installed:
        click.echo(f"  installed {path}")
    state = "was already here; now served" if result.already else "published"
    click.echo(f"gallery {result.name} version {result.version} {state}: {result.rows} faces of "
               f"{result.identities} identities at {result.path} (artifact sha256 {result.artifact_sha256}); "
               "a running server serves it after a graceful reload (`kill -HUP` of gunicorn's master)")


@click.command("import")
@with_appcontext
@click.argument("source")
@click.option("--sha256", help="The artifact's sha256 (hex): anything else is refused.")
@click.option("--name", help="Publish under this name [default: the artifact's].")
def gallery_import(source: str, sha256: str | None, name: str | None) -> None:
    """Verify the gallery artifact SOURCE (a file, or an http(s) URL fetched with retries) completely, then publish
    it as a new version of its gallery; anything wrong is refused with nothing changed."""
    engine = get_engine()
    try:
        if source.startswith(("http://", "https://")):
            result = sync_gallery(gallery_source(engine, source, sha256, name)).imported
            if result is None:
                click.echo(f"{source} holds the version last imported from it; nothing changed")
                return
        else:
            if not os.path.isfile(source):
                raise click.BadParameter(f"{source} is neither a file nor an http(s) URL", param_hint="SOURCE")
            with artifacts_lock(galleries()):
                result = import_artifact(source, galleries(), served_model(engine.paths.weights, engine.runtime,
                                                                           engine.config),
                                         engine.config, os.path.dirname(engine.paths.calibration), engine.paths.models,
                                         name, sha256)
    except (ArtifactError, FetchError, DownloadError, StartupError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    echo_import(result)


ARTIFACT_COMMANDS = (gallery_export, gallery_import)
