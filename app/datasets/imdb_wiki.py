"""IMDB-WIKI face crops (Rothe, Timofte and Van Gool, ETH Zurich): the published archives, their
terms of use, and which listed photos a gallery can use.

Source: the dataset's page, https://data.vision.ee.ethz.ch/cvl/rrothe/imdb-wiki/ ("faces only"
downloads `static/imdb_crop.tar`, about 7 GB, 460,723 crops of 20,284 IMDb celebrities, and
`static/wiki_crop.tar`, about 0.8 GB, 62,328 crops from Wikipedia; the metadata layout is read in
imdb_wiki_meta.py). The page publishes no checksum: a download's sha256 is recorded, and can be
pinned by the operator.

Flow: `read_metadata` -> `select` (one real face per photo, file present) -> `group_identities`
and `cap_photos` / `top_identities` (imdb_wiki_identities.py) -> the build, which checks each crop
with `check_crop` and counts its drops in the same `Report`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

from .imdb_wiki_meta import MetadataError, Record, Report, read_metadata

PAGE = "https://data.vision.ee.ethz.ch/cvl/rrothe/imdb-wiki/"
CITATION = ("R. Rothe, R. Timofte, L. Van Gool. Deep expectation of real and apparent age from a "
            "single image without facial landmarks. IJCV, 2016")
# The page's conditions in brief; shown before a download and recorded in the gallery manifest.
TERMS = ("IMDB-WIKI is made available for academic research purposes only; the images were "
         "collected from the Internet and their copyright belongs to the original owners "
         f"(conditions: {PAGE}). Cite: {CITATION}. A gallery built from it is for research use: "
         "do not serve it publicly or commercially.")


@dataclass(frozen=True)
class CropArchive:
    """One published archive: where it is, what it unpacks to, its rough size for a space check."""

    source: str  # 'imdb' or 'wiki': also the name of the struct inside the .mat
    filename: str
    url: str
    folder: str  # top folder inside the archive: the crop folder
    approx_bytes: int  # used only when the server does not say (no Content-Length)

    @property
    def mat_name(self) -> str:
        """The metadata file inside `folder`."""
        return f"{self.source}.mat"


IMDB = CropArchive("imdb", "imdb_crop.tar", PAGE + "static/imdb_crop.tar", "imdb_crop", 7_500_000_000)
WIKI = CropArchive("wiki", "wiki_crop.tar", PAGE + "static/wiki_crop.tar", "wiki_crop", 1_000_000_000)
ARCHIVES = {"imdb": IMDB, "wiki": WIKI}
# Archives of each --subset, IMDb first: the order --url/--from/--sha256 are paired in.
SUBSETS = {"imdb": (IMDB,), "wiki": (WIKI,), "both": (IMDB, WIKI)}

# A detection scoring under 1.0 is not trusted as a face: below it for the main face, the photo
# has no reliable face; at or above it for a second face, the photo shows two people.
MIN_FACE_SCORE = 1.0
MAX_SECOND_FACE_SCORE = 1.0
# Crops carry a 40% margin each side, so a 64 px crop holds a face of about 35 px, just above
# the pipeline's smallest usable face (MIN_FACE_PX, 32).
MIN_CROP_SIDE = 64

# Reasons, as counted in the Report.
PATH_OUTSIDE = "path_outside_crop_folder"
EMPTY_NAME = "empty_name"
NO_FACE = "no_face"
LOW_SCORE = "low_face_score"
SECOND_FACE = "second_face"
MISSING_FILE = "missing_file"
DOB_AFTER_PHOTO = "dob_after_photo_taken"
UNDECODABLE = "undecodable"
TINY = "tiny"
GREYSCALE = "greyscale"

__all__ = ["ARCHIVES", "CITATION", "IMDB", "PAGE", "SUBSETS", "TERMS", "WIKI", "CropArchive",
           "MetadataError", "Record", "Report", "StructureError", "check_crop", "check_structure",
           "crop_path", "read_metadata", "select"]


class StructureError(ValueError):
    """An extracted archive is not laid out as IMDB-WIKI: no .mat, or paths that do not resolve."""


def _lexically_inside(path: str) -> bool:
    """Whether a listed path is relative and never climbs out ('..'), before touching the disk."""
    if not path or "\0" in path or path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        return False
    return ".." not in path.replace("\\", "/").split("/")


def crop_path(crop_dir: str, path: str) -> str | None:
    """Absolute path of a listed crop; None when it is absolute or resolves outside `crop_dir`
    (through '..' or a link)."""
    if not _lexically_inside(path):
        return None
    root = os.path.realpath(crop_dir)
    full = os.path.realpath(os.path.join(root, path))
    return full if os.path.commonpath([root, full]) == root and full != root else None


def _reason(record: Record, min_face_score: float, max_second_face_score: float) -> str | None:
    """Why the metadata alone rules a photo out; None when it may be kept."""
    if not record.name:
        return EMPTY_NAME
    if not math.isfinite(record.face_score):
        return NO_FACE  # -Inf: the detector found no face (NaN: no score at all)
    if record.face_score < min_face_score:
        return LOW_SCORE
    if math.isfinite(record.second_face_score) and record.second_face_score >= max_second_face_score:
        return SECOND_FACE
    return None


def select(records: list[Record], crop_dir: str | None = None, *,
           min_face_score: float = MIN_FACE_SCORE,
           max_second_face_score: float = MAX_SECOND_FACE_SCORE,
           report: Report | None = None) -> tuple[list[Record], Report]:
    """Records of photos with a name, one real face and (with `crop_dir`) a file inside the folder.

    A date of birth after the year the photo was taken is blanked (photo kept) and counted.
    Returns the kept records and the report (`report` updated when given).
    """
    report = report if report is not None else Report()
    report.read += len(records)
    report.kept += len(records)
    kept = []
    for record in records:
        reason = None if _lexically_inside(record.path) else PATH_OUTSIDE
        reason = reason or _reason(record, min_face_score, max_second_face_score)
        if reason is None and crop_dir is not None:
            full = crop_path(crop_dir, record.path)
            reason = PATH_OUTSIDE if full is None else None if os.path.isfile(full) else MISSING_FILE
        if reason is not None:
            report.drop(reason)
            continue
        if record.dob is not None and record.year_taken is not None and record.dob.year > record.year_taken:
            record = replace(record, dob=None)
            report.blanked[DOB_AFTER_PHOTO] += 1
        kept.append(record)
    return kept, report


def check_crop(path: str, min_side: int = MIN_CROP_SIDE) -> str | None:
    """Why a crop file is unusable (UNDECODABLE, TINY, GREYSCALE); None when it is fine."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            size, mode = img.size, img.mode
            rgb = img.convert("RGB") if mode not in ("1", "L", "LA", "I", "I;16", "F") else None
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return UNDECODABLE
    if min(size) < min_side:
        return TINY
    if rgb is None:
        return GREYSCALE
    rgb.thumbnail((64, 64))
    pixels = np.asarray(rgb, dtype=np.int16).reshape(-1, 3)
    spread = pixels.max(axis=1) - pixels.min(axis=1)
    # A grey photo saved as colour JPEG keeps channels within a few levels of each other.
    return GREYSCALE if float(np.percentile(spread, 99)) <= 12 else None


def check_structure(crop_dir: str, archive: CropArchive, records: list[Record] | None = None,
                    examples: int = 3) -> str:
    """The .mat path when `crop_dir` holds it and every record's file resolves inside the folder;
    StructureError naming the problems otherwise."""
    mat = os.path.join(crop_dir, archive.mat_name)
    if not os.path.isdir(crop_dir):
        raise StructureError(f"{crop_dir} is not a folder: the {archive.filename} archive unpacks "
                             f"to {archive.folder}/")
    if not os.path.isfile(mat):
        raise StructureError(f"{mat} is missing: {archive.filename} holds {archive.folder}/"
                             f"{archive.mat_name} with the metadata")
    outside, missing = [], []
    for record in records or ():
        full = crop_path(crop_dir, record.path)
        if full is None:
            outside.append(record.path)
        elif not os.path.isfile(full):
            missing.append(record.path)
    problems = []
    if outside:
        problems.append(f"{len(outside)} paths outside the crop folder (e.g. {outside[:examples]})")
    if missing:
        problems.append(f"{len(missing)} listed photos missing (e.g. {missing[:examples]})")
    if problems:
        raise StructureError(f"{crop_dir}: " + "; ".join(problems))
    return mat
