"""IMDB-WIKI photos grouped into identities, with gender and birth year, capped and chosen.

IMDb photos are grouped by `celeb_id`; Wikipedia photos by name, split by date of birth when
one name has several (different people with the same name). A person found in both sources
with the same name and date of birth is one identity.

Default subset of `make gallery-celebs`: the `DEFAULT_IDENTITIES` IMDb celebrities with the most
usable photos, at most `DEFAULT_PHOTOS_PER_IDENTITY` photos each (best face scores first), i.e.
at most 60,000 photos. Why IMDb: a look-alike is judged by whether people recognise the face,
and the actors with the most IMDb photos are the best known; Wikipedia has one photo for most
people (nothing for the cleaning step to compare, no choice of portrait) and mostly people a
visitor would not recognise. Why this size, on a 2-core machine in about an hour: the build
runs at ~49 photos/s on LFW (issue floor for these crops: 30/s), so 60,000 photos take 20-33
minutes; the 7 GB archive takes ~10 minutes at 100 Mbit/s and a few minutes to unpack. The
30 photos per person leave the quality loop (20 rows each) and the label cleaning a choice. On
a slow link, `--subset wiki` (0.8 GB) is the fallback; the whole of both sources (~500,000
photos, about 3 hours at 49 photos/s) is for a longer local run or the Ray cluster.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date

from .imdb_wiki_meta import Record, Report

DEFAULT_SUBSET = "imdb"
DEFAULT_IDENTITIES = 2000
DEFAULT_PHOTOS_PER_IDENTITY = 30

HOMONYM_NO_DOB = "homonym_without_dob"  # photo: a name shared by several people, no dob to tell
OVER_CAP = "over_photo_cap"
OUTSIDE_SUBSET = "outside_chosen_identities"
GENDER_CONFLICT = "gender_conflict"
DOB_CONFLICT = "dob_conflict"
HOMONYMS_SPLIT = "name_split_by_dob"
MERGED = "merged_imdb_and_wiki"


@dataclass
class Identity:
    """One person: a folder-safe unique key, display name, attributes and photos."""

    key: str  # 'imdb-123' or 'wiki-Name-1970-01-31'
    name: str
    dob: date | None
    birth_year: int | None
    gender: str | None
    sources: tuple[str, ...]
    photos: list[Record] = field(default_factory=list)


def _norm(name: str) -> str:
    """Name compared across photos and sources: case and spacing ignored."""
    return " ".join(name.casefold().split())


def _majority(values) -> object | None:
    """Most common value (ties: the smallest), None when there is none."""
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _attributes(photos: list[Record], report: Report) -> tuple[date | None, str | None]:
    """(date of birth, gender) of one person's photos, conflicts counted."""
    dobs = {p.dob for p in photos if p.dob is not None}
    if len(dobs) > 1:
        report.identities[DOB_CONFLICT] += 1
    genders = {p.gender for p in photos if p.gender is not None}
    if len(genders) > 1:
        report.identities[GENDER_CONFLICT] += 1
    return _majority(p.dob for p in photos), (genders.pop() if len(genders) == 1 else None)


def _slug(name: str) -> str:
    """Folder-safe form of a name ('Sami Jauhojärvi' -> 'Sami_Jauhojärvi')."""
    return re.sub(r"[^\w]+", "_", name).strip("_") or "unnamed"


def _wiki_people(records: list[Record], report: Report) -> list[list[Record]]:
    """Photos of each person in name-grouped records, homonyms split by date of birth."""
    by_name: dict[str, list[Record]] = {}
    for r in records:
        by_name.setdefault(_norm(r.name), []).append(r)
    people = []
    for photos in by_name.values():
        dobs = sorted({p.dob for p in photos if p.dob is not None})
        if len(dobs) <= 1:
            people.append(photos)
            continue
        report.identities[HOMONYMS_SPLIT] += 1
        report.drop(HOMONYM_NO_DOB, sum(p.dob is None for p in photos))
        people += [[p for p in photos if p.dob == d] for d in dobs]
    return people


def _identity(key: str, photos: list[Record], report: Report) -> Identity:
    """An Identity from one person's photos."""
    dob, gender = _attributes(photos, report)
    return Identity(key=key, name=_majority(p.name for p in photos) or "", dob=dob,
                    birth_year=dob.year if dob else None, gender=gender,
                    sources=tuple(sorted({p.source for p in photos})), photos=list(photos))


def group_identities(records: list[Record], report: Report | None = None) -> list[Identity]:
    """Identities of selected records, most photos first (ties by name, then key)."""
    report = report if report is not None else Report()
    imdb: dict[object, list[Record]] = {}
    for r in records:
        if r.source == "imdb":
            imdb.setdefault(r.celeb_id if r.celeb_id is not None else _norm(r.name), []).append(r)
    groups = [(f"imdb-{cid}" if isinstance(cid, int) else f"imdb-{_slug(photos[0].name)}", photos)
              for cid, photos in sorted(imdb.items(), key=lambda kv: str(kv[0]))]
    twins = {}
    for _, photos in reversed(groups):  # the first IMDb entry wins a (name, dob) shared by two
        dob = _majority(p.dob for p in photos)
        if dob is not None:
            twins[(_norm(_majority(p.name for p in photos)), dob)] = photos
    taken = {key for key, _ in groups}
    people = [(_majority(p.name for p in ps), _majority(p.dob for p in ps), ps)
              for ps in _wiki_people([r for r in records if r.source == "wiki"], report)]
    for name, dob, photos in sorted(people, key=lambda t: (_norm(t[0]), str(t[1]))):
        twin = twins.get((_norm(name), dob)) if dob is not None else None
        if twin is not None:
            twin += photos
            report.identities[MERGED] += 1
            continue
        base = f"wiki-{_slug(name)}" + (f"-{dob.isoformat()}" if dob else "")
        key, n = base, 1
        while key in taken:
            n += 1
            key = f"{base}-{n}"
        taken.add(key)
        groups.append((key, photos))
    identities = [_identity(key, photos, report) for key, photos in groups]
    return sorted(identities, key=lambda i: (-len(i.photos), i.name, i.key))


def _best_first(photos: list[Record]) -> list[Record]:
    """Photos by face score, highest first (ties by path, for a stable choice)."""
    return sorted(photos, key=lambda p: (-p.face_score, p.path))


def cap_photos(identities: list[Identity], per_identity: int,
               report: Report | None = None) -> list[Identity]:
    """Each identity with at most `per_identity` photos, the best face scores kept."""
    if per_identity < 1:
        raise ValueError(f"per_identity must be at least 1, not {per_identity}")
    out = []
    for identity in identities:
        photos = _best_first(identity.photos)
        if report is not None and len(photos) > per_identity:
            report.drop(OVER_CAP, len(photos) - per_identity)
        out.append(replace(identity, photos=photos[:per_identity]))
    return out


def top_identities(identities: list[Identity], count: int, source: str | None = None,
                   report: Report | None = None) -> list[Identity]:
    """The `count` identities with the most photos (of `source` when given: 'imdb' or 'wiki')."""
    pool = [i for i in identities if source is None or source in i.sources]
    chosen = sorted(pool, key=lambda i: (-len(i.photos), i.name, i.key))[:max(count, 0)]
    if report is not None:
        keys = {i.key for i in chosen}
        left = sum(len(i.photos) for i in identities if i.key not in keys)
        report.drop(OUTSIDE_SUBSET, left)
    return chosen


def default_choice(identities: list[Identity], report: Report | None = None) -> list[Identity]:
    """What `make gallery-celebs` builds by default (see the module docstring)."""
    chosen = top_identities(identities, DEFAULT_IDENTITIES, DEFAULT_SUBSET, report)
    return cap_photos(chosen, DEFAULT_PHOTOS_PER_IDENTITY, report)


def write_names_csv(identities: list[Identity], path: str) -> str:
    """A names CSV (folder,name,gender,birth_year) that app.datasets.names.read_names reads."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["folder", "name", "gender", "birth_year"])
        for i in identities:
            out.writerow([i.key, i.name, i.gender or "", i.birth_year or ""])
    return path
