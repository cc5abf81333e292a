"""Query commands: `flask match`, `flask verify`, `flask check` (the API's answers in a terminal)."""

from __future__ import annotations

import json
import os

import click
from flask.cli import with_appcontext

from app.cli.common import fail_on_input_error, read_bytes
from app.extensions import get_engine
from app.pipeline.serving.answers import check_answer, match_answer, verify_answer


def local_thumb_url(gallery: str, version: str, row: int) -> str:
    """Path of a gallery thumbnail on the server (no host: the CLI has no request)."""
    return f"/gallery/{gallery}/{version}/{row}.jpg"


@click.command("match")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--top", "top_k", type=click.IntRange(min=1), default=None,
              help="Number of matches (1 to TOP_K_MAX).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
@click.option("--gender", type=click.Choice(["female", "male"]), help="Only celebrities of this gender.")
@click.option("--born-after", type=int, help="Only celebrities born after this year.")
@click.option("--born-before", type=int, help="Only celebrities born before this year.")
@with_appcontext
@fail_on_input_error
def match_command(images: tuple[str, ...], top_k: int | None, as_json: bool, gender: str | None, born_after: int | None,
                  born_before: int | None) -> None:
    """Print the celebrities that look most like the face in IMAGES (up to MATCH_PHOTOS_MAX photos of one
    person, matched together)."""
    engine = get_engine()
    if top_k is not None and top_k > engine.config["TOP_K_MAX"]:
        raise click.BadParameter(f"at most {engine.config['TOP_K_MAX']}", param_hint="--top")
    filters = {k: v for k, v in (("gender", gender), ("born_after", born_after), ("born_before", born_before))
               if v is not None}
    if len(images) > engine.config["MATCH_PHOTOS_MAX"]:
        raise click.BadParameter(f"at most {engine.config['MATCH_PHOTOS_MAX']} photos", param_hint="IMAGES")
    photos = [read_bytes(path) for path in images]
    payload = match_answer(engine.match(photos, top_k, filters=filters), local_thumb_url)
    if as_json:
        click.echo(json.dumps(payload, indent=2))
        return
    face = payload["face"]
    click.echo(f"face {face['box']} (confidence {face['confidence']:.3f}; "
               f"{payload['faces_detected']} detected{ignored_note(payload)}) vs gallery {payload['gallery']}")
    if payload["photos_used"] > 1:
        click.echo(f"{payload['photos_used']} photos of one person, matched together")
    if "filters" in payload:
        click.echo(filters_note(payload["filters"]))
    for rank, m in enumerate(payload["matches"], 1):
        born = f"born {m['birth_year']}" if m.get("birth_year") else ""
        click.echo(f"{rank:2d}. {m['name']:30s} {born:10s} {m['score'] * 100:5.1f}%  {m['image_url']}")


def filters_note(filters: dict) -> str:
    """What the filters kept, and how many celebrities they left out for lack of data."""
    note = f"among {filters['celebrities']} celebrities passing the filters"
    if filters["left_out_unknown"]:
        note += f" ({filters['left_out_unknown']} left out: no recorded value for a filter)"
    return note


def ignored_note(payload: dict) -> str:
    """', N smaller faces ignored' when the photo had more than MAX_FACES faces."""
    return f", {payload['faces_ignored']} smaller faces ignored" if payload.get("faces_ignored") else ""


@click.command("verify")
@click.argument("image1", type=click.Path(exists=True, dir_okay=False))
@click.argument("image2", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
@with_appcontext
@fail_on_input_error
def verify_command(image1: str, image2: str, as_json: bool) -> None:
    """Are the faces in IMAGE1 and IMAGE2 the same person?"""
    answer = verify_answer(get_engine().verify(read_bytes(image1), read_bytes(image2)))
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
    if (subject is None) == (anchors is None):
        raise click.UsageError("give exactly one of --subject and --anchors")
    anchor_data = [read_bytes(os.path.join(anchors, f)) for f in sorted(os.listdir(anchors))
                   if not f.startswith(".") and os.path.isfile(os.path.join(anchors, f))] if anchors else []
    answer = check_answer(get_engine().check(read_bytes(image), subject, anchor_data))
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    who = answer.get("subject") or anchors
    click.echo(f"{'is' if answer['is_subject'] else 'is not'} {who}: probability "
               f"{answer['probability']:.3f} over {answer['anchors_used']} anchors")
