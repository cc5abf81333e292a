"""Gallery commands: `flask gallery build` and `flask gallery info`."""

from __future__ import annotations

import os
import time
from dataclasses import replace

import click
import numpy as np
from flask import current_app
from flask.cli import AppGroup

from app.cli.common import open_gallery
from app.config import datasets_dir, galleries_dir
from app.datasets import LFW, DownloadError, UnsafeArchive, fetch_lfw, read_names
from app.extensions import get_engine
from app.pipeline.builders.chunked_build import build_gallery
from app.pipeline.builders.process_pool import default_workers, pool_runner
from app.pipeline.builders.upgrade import index_gallery, rename_identities, upgrade_gallery
from app.pipeline.errors import StartupError

gallery_cli = AppGroup("gallery", help="Celebrity galleries.")


def galleries() -> str:
    """The galleries folder of the current app."""
    return galleries_dir(current_app)


def echo_report(report) -> None:
    """The skipped files and the photos cleaning dropped (first 20 of each), then the summary line of a build."""
    dropped = report.cleaning.dropped_files if report.cleaning else []
    for what, files in (("skipped", report.skipped_files), ("dropped", dropped)):
        for path, reason in files[:20]:
            click.echo(f"  {what} ({reason}): {path}")
        if len(files) > 20:
            click.echo(f"  ... and {len(files) - 20} more {what} (see manifest.json)")
    click.echo(report.summary())


def load_names(path: str | None) -> dict[str, dict]:
    """Folder id -> display name and attributes from a names CSV (VGGFace2 identity_meta.csv or
    folder,name[,gender]); empty without a file."""
    if not path:
        return {}
    try:
        return read_names(path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"names file {path}: {exc}") from exc


PER_IDENTITY_HELP = ("Keep the K best photos of each identity (resolution, detection confidence, face size; "
                     "thresholds relaxed step by step when fewer than K pass).")
CLEAN_HELP = ("Drop the photos that disagree with the rest of their identity (wrong labels) and identities of 3+ "
              "photos that agree on no one person, before the quality loop; each is listed in the report.")
NAMES_HELP = "CSV of display names and attributes: VGGFace2 identity_meta.csv or folder,name[,gender]."


def chunk_runner(engine_name: str = "local", workers: int | None = None, ray_address: str | None = None,
                 ray_cpus: int | None = None):
    """(runner, detector, embedder) of a build: Ray actors, a pool of local processes, or this process."""
    engine = get_engine()
    if engine_name == "ray":
        from app.pipeline.builders.ray_actors import ray_runner

        return ray_runner(current_app.config, engine.paths.weights, address=ray_address, num_cpus=ray_cpus), None, None
    workers = workers or int(current_app.config["BUILD_WORKERS"]) or default_workers()
    if workers > 1:  # the processes build their own networks
        return pool_runner(current_app.config, engine.paths.weights, workers), None, None
    return None, engine.detector, engine.embedder


def build_into(src_dir: str, name: str, names: dict[str, dict], resume: bool = False,
               per_identity: int | None = None, engine_name: str = "local", ray_address: str | None = None,
               ray_cpus: int | None = None, workers: int | None = None, clean: bool = False) -> None:
    """Build gallery NAME from SRC_DIR (in local processes, this one, or on Ray) and print the report."""
    try:
        runner, detector, embedder = chunk_runner(engine_name, workers, ray_address, ray_cpus)
        report = build_gallery(src_dir, galleries(), name, detector, embedder, current_app.config,
                               names=names, resume=resume, per_identity=per_identity, runner=runner, clean=clean)
    except (StartupError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    echo_report(report)


WORKERS_HELP = "Local processes that detect and embed (default: BUILD_WORKERS, else one per CPU; 1: this process)."


@gallery_cli.command("build")
@click.argument("src_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--name", required=True, help="Gallery name: instance/galleries/NAME.")
@click.option("--names", "names_file", type=click.Path(exists=True, dir_okay=False), help=NAMES_HELP)
@click.option("--resume", is_flag=True, help="Continue a killed build of NAME from its last finished chunk.")
@click.option("--per-identity", type=click.IntRange(min=1), help=PER_IDENTITY_HELP)
@click.option("--clean/--no-clean", default=False, show_default=True, help=CLEAN_HELP)
@click.option("--engine", "engine_name", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where photos are decoded, detected and embedded: this process, or Ray actors "
                   "(optional extra: pip install -r requirements-ray.txt).")
@click.option("--ray-address", help="Ray cluster to use (e.g. ray://head:10001 or auto); "
                                    "without it Ray starts locally.")
@click.option("--ray-cpus", type=click.IntRange(min=1), help="CPUs of the local Ray (default: all).")
@click.option("--workers", type=click.IntRange(min=1), help=WORKERS_HELP)
def gallery_build(src_dir: str, name: str, names_file: str | None, resume: bool, per_identity: int | None,
                  clean: bool, engine_name: str, ray_address: str | None, ray_cpus: int | None,
                  workers: int | None) -> None:
    """Detect, crop and embed SRC_DIR/<Identity Name>/<photos> into a new version of gallery NAME."""
    if engine_name != "ray" and (ray_address or ray_cpus):
        raise click.UsageError("--ray-address and --ray-cpus need --engine ray")
    if engine_name == "ray" and workers:
        raise click.UsageError("--workers is for the local engine (Ray: --ray-cpus)")
    build_into(src_dir, name, load_names(names_file), resume, per_identity, engine_name, ray_address, ray_cpus,
               workers, clean)


@gallery_cli.command("download")
@click.argument("dataset", type=click.Choice(["lfw"]))
@click.option("--name", default="lfw", show_default=True, help="Gallery to build from it.")
@click.option("--url", help=f"Download from here instead of {LFW.url}.")
@click.option("--sha256", help="The archive's sha256 (with --url).")
@click.option("--from", "from_file", type=click.Path(exists=True, dir_okay=False),
              help="Use this lfw.tgz already on disk instead of downloading.")
@click.option("--resume", is_flag=True, help="Continue a killed gallery build.")
@click.option("--per-identity", type=click.IntRange(min=1), help=PER_IDENTITY_HELP)
@click.option("--clean/--no-clean", default=False, show_default=True, help=CLEAN_HELP)
@click.option("--workers", type=click.IntRange(min=1), help=WORKERS_HELP)
def gallery_download(dataset: str, name: str, url: str | None, sha256: str | None, from_file: str | None,
                     resume: bool, per_identity: int | None, clean: bool, workers: int | None) -> None:
    """Download Labeled Faces in the Wild (5,749 people), check and unpack it, build gallery NAME."""
    if (url is None) != (sha256 is None):
        raise click.UsageError("--url and --sha256 go together")
    source = replace(LFW, url=url, sha256=sha256) if url else LFW
    root = os.path.join(datasets_dir(current_app), "lfw")
    os.makedirs(root, exist_ok=True)
    try:
        photos = fetch_lfw(root, source, from_file=from_file)
    except (DownloadError, UnsafeArchive, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"LFW photos in {photos}")
    build_into(photos, name, {}, resume, per_identity, workers=workers, clean=clean)


@gallery_cli.command("add")
@click.argument("name")
@click.argument("src_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--workers", type=click.IntRange(min=1), help=WORKERS_HELP)
def gallery_add(name: str, src_dir: str, workers: int | None) -> None:
    """Add the photos of SRC_DIR/<Identity>/ to gallery NAME without re-embedding its rows (atomic)."""
    base = open_gallery(name)
    try:
        base.check_pipeline(current_app.config)
        runner, detector, embedder = chunk_runner(workers=workers)
        report = build_gallery(src_dir, galleries(), name, detector, embedder, current_app.config, base=base,
                               runner=runner)
    except (StartupError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    echo_report(report)


@gallery_cli.command("names")
@click.argument("name")
@click.argument("names_file", type=click.Path(exists=True, dir_okay=False))
def gallery_names(name: str, names_file: str) -> None:
    """Set the display names and attributes of gallery NAME's identities from a names CSV."""
    open_gallery(name)
    gallery = rename_identities(galleries(), name, load_names(names_file))
    click.echo(f"gallery {name}: names from {names_file} ({len(gallery.identities)} identities)")


@gallery_cli.command("index")
@click.argument("name")
def gallery_index(name: str) -> None:
    """(Re)build gallery NAME's vector index (faiss PQ fast-scan) as a new version."""
    open_gallery(name)
    start = time.perf_counter()
    gallery = index_gallery(galleries(), name)
    click.echo(f"gallery {name}: index of {len(gallery):,} rows built in {time.perf_counter() - start:.0f} s "
               f"at {gallery.path}")


@gallery_cli.command("upgrade")
@click.argument("name")
@click.option("--names", "names_file", type=click.Path(exists=True, dir_okay=False), help=NAMES_HELP)
def gallery_upgrade(name: str, names_file: str | None) -> None:
    """Convert gallery NAME from format 1 to format 2 (no photo is embedded again)."""
    if not os.path.isdir(os.path.join(galleries(), name)):
        raise click.ClickException(f"no gallery {name} in {galleries()}")
    try:
        gallery = upgrade_gallery(galleries(), name, current_app.config, load_names(names_file))
    except StartupError as exc:
        raise click.ClickException(str(exc)) from exc
    if gallery is None:
        click.echo(f"gallery {name} is already in format 2")
    else:
        click.echo(f"gallery {name}: upgraded to format 2 ({len(gallery)} faces of {len(gallery.identities)} "
                   f"identities) at {gallery.path}")


@gallery_cli.command("info")
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
