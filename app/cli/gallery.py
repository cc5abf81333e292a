"""Gallery commands that embed photos: `flask gallery build` and `add` (downloads: gallery_download.py;
versions: gallery_versions.py)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.cli.common import open_gallery
from app.datasets import read_names
from app.extensions import get_engine
from app.instance_paths import galleries_dir
from app.pipeline.builders.chunked_build import build_gallery
from app.pipeline.builders.process_pool import default_workers, pool_runner
from app.pipeline.errors import StartupError
from app.pipeline.galleries.takedowns import Takedowns, load_takedowns

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


def takedowns(exclude: tuple[str, ...] = ()) -> Takedowns:
    """The galleries' takedown list plus the operator's --exclude files, as a CLI error when unreadable."""
    try:
        return load_takedowns(galleries(), exclude)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"takedown list: {exc}") from exc


EXCLUDE_HELP = ("A takedown list of your own (JSON list of {\"id\", \"name\"} or one id or name a line), "
                "honoured besides the galleries' own takedowns.json; repeatable.")


def build_into(src_dir: str, name: str, names: dict[str, dict], resume: bool = False,
               per_identity: int | None = None, engine_name: str = "local", ray_address: str | None = None,
               ray_cpus: int | None = None, workers: int | None = None, exclude: tuple[str, ...] = (),
               source: dict | None = None, clean: bool = False) -> None:
    """Build gallery NAME from SRC_DIR (in local processes, this one, or on Ray) and print the report."""
    excluded = takedowns(exclude)
    try:
        runner, detector, embedder = chunk_runner(engine_name, workers, ray_address, ray_cpus)
        report = build_gallery(src_dir, galleries(), name, detector, embedder, current_app.config,
                               names=names, resume=resume, per_identity=per_identity, runner=runner,
                               takedowns=excluded, source=source, clean=clean)
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
@click.option("--exclude", multiple=True, type=click.Path(exists=True, dir_okay=False), help=EXCLUDE_HELP)
def gallery_build(src_dir: str, name: str, names_file: str | None, resume: bool, per_identity: int | None,
                  clean: bool, engine_name: str, ray_address: str | None, ray_cpus: int | None,
                  workers: int | None, exclude: tuple[str, ...]) -> None:
    """Detect, crop and embed SRC_DIR/<Identity Name>/<photos> into a new version of gallery NAME."""
    if engine_name != "ray" and (ray_address or ray_cpus):
        raise click.UsageError("--ray-address and --ray-cpus need --engine ray")
    if engine_name == "ray" and workers:
        raise click.UsageError("--workers is for the local engine (Ray: --ray-cpus)")
    build_into(src_dir, name, load_names(names_file), resume, per_identity, engine_name, ray_address, ray_cpus,
               workers, exclude, clean=clean)


@gallery_cli.command("add")
@click.argument("name")
@click.argument("src_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--workers", type=click.IntRange(min=1), help=WORKERS_HELP)
@click.option("--exclude", multiple=True, type=click.Path(exists=True, dir_okay=False), help=EXCLUDE_HELP)
def gallery_add(name: str, src_dir: str, workers: int | None, exclude: tuple[str, ...]) -> None:
    """Add the photos of SRC_DIR/<Identity>/ to gallery NAME without re-embedding its rows (atomic)."""
    base = open_gallery(name)
    excluded = takedowns(exclude)
    try:
        base.check_pipeline(current_app.config)
        runner, detector, embedder = chunk_runner(workers=workers)
        report = build_gallery(src_dir, galleries(), name, detector, embedder, current_app.config, base=base,
                               runner=runner, takedowns=excluded)
    except (StartupError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    echo_report(report)
