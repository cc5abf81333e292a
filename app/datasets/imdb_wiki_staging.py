"""IMDB-WIKI crops laid out for a gallery build: one folder of links per chosen person, and a names CSV.

The archives keep their crops in `NN/` folders named by photo; a gallery build reads
`<identity>/<photos>`. Staging links each chosen crop (never a copy: the crops stay where they were
unpacked) into `<dest>/<identity key>/`, after the image checks (undecodable, tiny, greyscale), and
writes the names CSV with display names, gender and birth year. Every photo left out is counted
by reason in the one Report, from the .mat's rows to the build.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from tqdm import tqdm

from .imdb_wiki import check_crop, crop_path, select
from .imdb_wiki_fetch import Fetched
from .imdb_wiki_identities import (
    DEFAULT_IDENTITIES,
    DEFAULT_PHOTOS_PER_IDENTITY,
    Identity,
    cap_photos,
    group_identities,
    top_identities,
    write_names_csv,
)
from .imdb_wiki_meta import Report, read_metadata

NAMES_CSV = "names.csv"


@dataclass
class Staged:
    """A folder a gallery build reads, its names CSV, the people in it and the report of what was left out."""

    src_dir: str
    names_csv: str
    identities: list[Identity]
    report: Report


def choose(fetched: list[Fetched], identities: int | None = DEFAULT_IDENTITIES,
           photos_per_identity: int | None = DEFAULT_PHOTOS_PER_IDENTITY,
           report: Report | None = None) -> tuple[list[Identity], Report]:
    """The people to build from the unpacked archives: one real face per photo, grouped, the
    `identities` with the most photos (None: all), each capped at `photos_per_identity` (None: all)."""
    report = report if report is not None else Report()
    kept = []
    for archive in fetched:
        records = read_metadata(archive.mat_path, archive.archive.source)
        kept += select(records, archive.crop_dir, report=report)[0]
    people = group_identities(kept, report)
    if identities is not None:
        people = top_identities(people, identities, report=report)
    if photos_per_identity is not None:
        people = cap_photos(people, photos_per_identity, report)
    return people, report


def stage(fetched: list[Fetched], people: list[Identity], dest: str, report: Report,
          progress: bool = True) -> Staged:
    """Link the chosen people's usable crops into `dest/<key>/` (made anew) and write the names CSV."""
    crop_dirs = {archive.archive.source: archive.crop_dir for archive in fetched}
    if os.path.lexists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    staged = []
    total = sum(len(person.photos) for person in people)
    with tqdm(total=total, desc="checking crops", unit="photo", disable=not progress) as bar:
        for person in people:
            linked = 0
            for record in person.photos:
                bar.update()
                path = crop_path(crop_dirs[record.source], record.path)
                reason = "path_outside_crop_folder" if path is None else check_crop(path)
                if reason is not None:
                    report.drop(reason)
                    continue
                folder = os.path.join(dest, person.key)
                os.makedirs(folder, exist_ok=True)
                os.symlink(path, os.path.join(folder, f"{record.source}-{os.path.basename(record.path)}"))
                linked += 1
            if linked:
                staged.append(person)
    names = write_names_csv(staged, os.path.join(dest, NAMES_CSV))  # a file: builds read only the folders
    return Staged(dest, names, staged, report)
