"""`flask gallery download lfw|imdb-wiki`: fetch a published face dataset, check it, build a gallery from it."""

from __future__ import annotations

import os
from dataclasses import replace

import click
from flask import current_app
from flask.cli import with_appcontext

from app.cli.gallery import CLEAN_HELP, EXCLUDE_HELP, PER_IDENTITY_HELP, WORKERS_HELP, build_into, load_names
from app.datasets import LFW, DownloadError, UnsafeArchive, fetch_lfw
from app.datasets.imdb_wiki import PAGE, SUBSETS, TERMS, StructureError
from app.datasets.imdb_wiki_fetch import fetch_imdb_wiki
from app.datasets.imdb_wiki_identities import DEFAULT_IDENTITIES, DEFAULT_PHOTOS_PER_IDENTITY
from app.datasets.imdb_wiki_meta import MetadataError
from app.datasets.imdb_wiki_staging import choose, stage
from app.instance_paths import datasets_dir

DEFAULT_NAMES = {"lfw": "lfw", "imdb-wiki": "celebs"}
CELEBS_PER_IDENTITY = 20  # rows per celebrity: nobody wins a match by sheer photo count


def fetch_lfw_photos(urls: tuple[str, ...], sha256s: tuple[str, ...], froms: tuple[str, ...]) -> str:
    """LFW's photo folder, downloaded (or unpacked from --from) and checked."""
    if len(urls) > 1 or len(sha256s) > 1 or len(froms) > 1:
        raise click.UsageError("LFW is one archive: give --url, --sha256 and --from at most once")
    if bool(urls) != bool(sha256s):
        raise click.UsageError("--url and --sha256 go together for LFW")
    source = replace(LFW, url=urls[0], sha256=sha256s[0]) if urls else LFW
    root = os.path.join(datasets_dir(current_app), "lfw")
    os.makedirs(root, exist_ok=True)
    try:
        return fetch_lfw(root, source, from_file=froms[0] if froms else None)
    except (DownloadError, UnsafeArchive, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from exc


def stage_imdb_wiki(subset: str, urls, sha256s, froms, identities: int | None,
                    photos: int | None) -> tuple[str, dict, dict]:
    """(folder to build, names, the manifest's source record) of the IMDB-WIKI people chosen."""
    click.echo(f"IMDB-WIKI ({PAGE}), terms of use:\n  {TERMS}")
    root = os.path.join(datasets_dir(current_app), "imdb-wiki")
    try:
        fetched = fetch_imdb_wiki(root, subset, urls, froms, sha256s)
        people, report = choose(fetched, identities, photos)
    except (DownloadError, UnsafeArchive, StructureError, MetadataError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    staged = stage(fetched, people, os.path.join(root, "staged", subset), report)
    for line in report.lines():
        click.echo(line)
    click.echo(f"{len(staged.identities)} people staged in {staged.src_dir}")
    source = {"dataset": "IMDB-WIKI", "page": PAGE, "terms": TERMS, "subset": subset,
              "archives": [{"file": f.archive.filename, "sha256": f.sha256, "origin": f.origin} for f in fetched],
              "selection": report.to_dict(), "identities_chosen": identities, "photos_per_identity": photos}
    return staged.src_dir, load_names(staged.names_csv), source


@click.command("download")
@with_appcontext
@click.argument("dataset", type=click.Choice(sorted(DEFAULT_NAMES)))
@click.option("--name", help="Gallery to build from it [default: lfw, or celebs for imdb-wiki].")
@click.option("--subset", type=click.Choice(sorted(SUBSETS)), default="imdb", show_default=True,
              help="imdb-wiki: which archives (both: a person in the two with the same name and birth date is one).")
@click.option("--url", "urls", multiple=True, help="Download from here instead of the publisher (repeatable: "
                                                    "one per archive of the subset, IMDb first).")
@click.option("--sha256", "sha256s", multiple=True, help="Pin each archive's sha256 (checks --from files too); "
                                                         "imdb-wiki publishes none, so it is recorded, not required.")
@click.option("--from", "froms", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Use archives already on disk instead of downloading (repeatable, IMDb first).")
@click.option("--identities", type=click.IntRange(min=1), default=DEFAULT_IDENTITIES, show_default=True,
              help="imdb-wiki: the people with the most usable photos to keep.")
@click.option("--all-identities", is_flag=True, help="imdb-wiki: keep every person (hours on 2 cores; see docs).")
@click.option("--photos", type=click.IntRange(min=1), default=DEFAULT_PHOTOS_PER_IDENTITY, show_default=True,
              help="imdb-wiki: photos per person read (best face scores first), before the quality loop.")
@click.option("--resume", is_flag=True, help="Continue a killed gallery build.")
@click.option("--per-identity", type=click.IntRange(min=1),
              help=PER_IDENTITY_HELP + f" [default: {CELEBS_PER_IDENTITY} for imdb-wiki, all for lfw]")
@click.option("--clean/--no-clean", default=None, help=CLEAN_HELP + " [default: on for imdb-wiki, whose IMDb "
              "photos often show a co-star; off for lfw]")
@click.option("--workers", type=click.IntRange(min=1), help=WORKERS_HELP)
@click.option("--exclude", multiple=True, type=click.Path(exists=True, dir_okay=False), help=EXCLUDE_HELP)
def gallery_download(dataset: str, name: str | None, subset: str, urls: tuple[str, ...], sha256s: tuple[str, ...],
                     froms: tuple[str, ...], identities: int, all_identities: bool, photos: int, resume: bool,
                     per_identity: int | None, clean: bool | None, workers: int | None,
                     exclude: tuple[str, ...]) -> None:
    """Download a published face dataset (LFW: 5,749 people; IMDB-WIKI: celebrities from IMDb and
    Wikipedia), check and unpack it, and build gallery NAME from it."""
    name = name or DEFAULT_NAMES[dataset]
    if dataset == "lfw":
        photos_dir = fetch_lfw_photos(urls, sha256s, froms)
        click.echo(f"LFW photos in {photos_dir}")
        build_into(photos_dir, name, {}, resume, per_identity, workers=workers, exclude=exclude, clean=bool(clean))
        return
    src, names, source = stage_imdb_wiki(subset, urls, sha256s, froms, None if all_identities else identities,
                                         photos)
    build_into(src, name, names, resume, per_identity or CELEBS_PER_IDENTITY, workers=workers, exclude=exclude,
               source=source, clean=clean is not False)
