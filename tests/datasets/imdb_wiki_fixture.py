"""Small archives in the exact IMDB-WIKI layout, written by the tests.

`<folder>/<source>.mat` through scipy.io.savemat with the real field names and MATLAB shapes
(1xN numeric rows, cells as (1, N) object arrays, dob as serial date numbers, -Inf and NaN
scores, an empty name), crops in `<folder>/NN/<file>.jpg` made from the demo photos (and
../shared/data/edge-cases/two_people.jpg for the two-face photo when present, else two demo
photos side by side), tarred with `<folder>/` on top like the published archives. Each row
says what the loader should make of it (`drop`: the reason it is left out; `crop`: the image
check's verdict).
"""

from __future__ import annotations

import glob
import hashlib
import io
import math
import os
import tarfile
from dataclasses import dataclass
from datetime import date

import numpy as np
import scipy.io
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "instance", "datasets", "5-celebrity-faces", "train")
TWO_PEOPLE = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "edge-cases", "two_people.jpg"))
NAN, INF = math.nan, math.inf


def demo(person: str, index: int = 0) -> bytes:
    """Bytes of the index-th demo photo of a person (ben_afflek, elton_john, jerry_seinfeld, ...)."""
    files = sorted(glob.glob(os.path.join(DEMO, person, "*")))
    if not files:
        raise FileNotFoundError(f"no demo photos in {os.path.join(DEMO, person)}: run `make demo`")
    with open(files[index % len(files)], "rb") as f:
        return f.read()


def encode(img: Image.Image) -> bytes:
    """JPEG bytes."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def altered(data: bytes, how: str) -> bytes:
    """A demo photo made grey ('grey', mode L), tiny ('tiny', 40x40) or a 1x1 pixel ('dot')."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if how == "grey":
        return encode(img.convert("L"))
    return encode(img.resize((40, 40) if how == "tiny" else (1, 1)))


def two_faces() -> bytes:
    """A photo of two people: the shared edge case, else two demo photos side by side."""
    if os.path.isfile(TWO_PEOPLE):
        with open(TWO_PEOPLE, "rb") as f:
            return f.read()
    left, right = (Image.open(io.BytesIO(demo(p))).convert("RGB") for p in ("ben_afflek", "madonna"))
    height = min(left.height, right.height)
    left, right = (im.resize((im.width * height // im.height, height)) for im in (left, right))
    both = Image.new("RGB", (left.width + right.width, height))
    both.paste(left, (0, 0))
    both.paste(right, (left.width, 0))
    return encode(both)


@dataclass
class Row:
    """One photo as the .mat lists it, its crop bytes (None: listed but absent) and the verdicts."""

    path: str
    name: str
    dob: date | None
    taken: int
    gender: float
    score: float
    second: float
    data: bytes | None
    celeb_id: int = 0  # IMDb only (1-based)
    drop: str | None = None  # reason select() gives
    crop: str | None = None  # check_crop()'s verdict on the file


def serial(day: date | None) -> float:
    """MATLAB serial date number of a date (NaN for None)."""
    return day.toordinal() + 366 if day else NAN


BEN, MADONNA, JERRY = date(1972, 8, 15), date(1958, 8, 16), date(1954, 4, 29)
ELTON_WIKI, ELTON_IMDB = date(1947, 3, 25), date(1947, 3, 26)


def wiki_rows() -> list[Row]:
    """Wikipedia rows: good photos, every rough edge, a mislabelled photo, homonyms."""
    r = Row
    return [
        r("10/1_1972-08-15_2010.jpg", "Ben Affleck", BEN, 2010, 1, 4.1, NAN, demo("ben_afflek", 0)),
        r("10/2_1972-08-15_2012.jpg", "Ben Affleck", BEN, 2012, 1, 3.0, NAN, demo("ben_afflek", 1)),
        r("21/3_1958-08-16_2005.jpg", "Madonna", MADONNA, 2005, NAN, 3.5, NAN, demo("madonna", 0)),
        r("21/4_1958-08-16_2007.jpg", "Madonna", MADONNA, 2007, 0, 3.2, NAN, demo("elton_john", 3)),  # mislabelled
        r("21/5_1958-08-16_2008.jpg", "Madonna", MADONNA, 2008, 0, 2.9, NAN, None, drop="missing_file"),
        r("33/6_1960-01-01_2009.jpg", "", date(1960, 1, 1), 2009, 1, 3.3, NAN, demo("jerry_seinfeld", 0),
          drop="empty_name"),
        r("33/7_1954-04-29_2011.jpg", "Jerry Seinfeld", JERRY, 2011, 1, 0.4, NAN, demo("jerry_seinfeld", 1),
          drop="low_face_score"),
        r("33/8_2015-01-01_2009.jpg", "Jerry Seinfeld", date(2015, 1, 1), 2009, 1, 2.5, NAN,
          demo("jerry_seinfeld", 2)),  # dob after the photo: blanked
        r("47/9_1947-03-25_2001.jpg", "Elton John", ELTON_WIKI, 2001, 1, 3.8, 2.7, two_faces(), drop="second_face"),
        r("47/10_1947-03-25_2003.jpg", "Elton John", ELTON_WIKI, 2003, 1, 4.4, 0.3, demo("elton_john", 0)),
        r("47/11_1947-03-25_2004.jpg", "Elton John", ELTON_WIKI, 2004, 0, 4.0, NAN, demo("elton_john", 1)),
        r("58/12_1979-06-24_2010.jpg", "Mindy Kaling", date(1979, 6, 24), 2010, 0, -INF, NAN,
          altered(demo("mindy_kaling", 0), "dot"), drop="no_face", crop="tiny"),
        r("58/13_1979-06-24_2012.jpg", "Mindy Kaling", date(1979, 6, 24), 2012, 0, 3.9, NAN,
          altered(demo("mindy_kaling", 1), "grey"), crop="greyscale"),
        r("58/14_1979-06-24_2013.jpg", "Mindy Kaling", date(1979, 6, 24), 2013, 0, 3.1, NAN,
          altered(demo("mindy_kaling", 2), "tiny"), crop="tiny"),
        r("58/15_1979-06-24_2014.jpg", "Mindy Kaling", date(1979, 6, 24), 2014, 0, 2.2, NAN,
          b"\xff\xd8\xff\xe0 not really a jpeg", crop="undecodable"),
        r("69/16_1981-06-13_2011.jpg", "Chris  Evans", date(1981, 6, 13), 2011, 1, 3.6, NAN, demo("ben_afflek", 2)),
        r("69/17_1966-04-01_2011.jpg", "Chris Evans", date(1966, 4, 1), 2011, 1, 3.4, NAN, demo("jerry_seinfeld", 3)),
        r("69/18_nan_2011.jpg", "Chris Evans", None, 2011, 1, 3.2, NAN, demo("elton_john", 2),
          drop="homonym_without_dob"),
    ]


IMDB_NAMES = ["Ben Affleck", "Jerry Seinfeld", "Madonna", "Elton John", "Nobody Listed", ""]


def imdb_rows() -> list[Row]:
    """IMDb rows (celeb_id into IMDB_NAMES): Ben Affleck and Madonna also in wiki_rows with the
    same date of birth; Elton John with another one."""
    r = Row
    return [
        r("01/nm0000255_rm1_1972-08-15_2004.jpg", "Ben Affleck", BEN, 2004, 1, 4.6, NAN, demo("ben_afflek", 3), 1),
        r("01/nm0000255_rm2_1972-08-15_2006.jpg", "Ben Affleck", BEN, 2006, 1, 3.9, NAN, demo("ben_afflek", 4), 1),
        r("01/nm0000255_rm3_1972-08-15_2008.jpg", "Ben Affleck", BEN, 2008, 1, 2.1, NAN, demo("ben_afflek", 5), 1),
        r("01/nm0000255_rm4_1972-08-15_2009.jpg", "Ben Affleck", BEN, 2009, 1, -INF, NAN,
          altered(demo("ben_afflek", 6), "dot"), 1, drop="no_face"),
        r("02/nm0000632_rm5_1954-04-29_1998.jpg", "", JERRY, 1998, 1, 4.2, NAN, demo("jerry_seinfeld", 4), 2),
        r("02/nm0000632_rm6_1954-04-29_1999.jpg", "Jerry Seinfeld", JERRY, 1999, 1, 3.7, 1.9, two_faces(), 2,
          drop="second_face"),
        r("03/nm0000187_rm7_1958-08-16_1990.jpg", "Madonna", MADONNA, 1990, 0, 4.8, NAN, demo("madonna", 1), 3),
        r("04/nm0005056_rm8_1947-03-26_1985.jpg", "Elton John", ELTON_IMDB, 1985, 1, 3.3, NAN,
          demo("elton_john", 4), 4),
        r("05/nm9999999_rm9_1980-01-01_2010.jpg", "", date(1980, 1, 1), 2010, 1, 3.0, NAN, demo("madonna", 2), 6,
          drop="empty_name"),
    ]


def cell(items: list, shape: str = "row") -> np.ndarray:
    """A MATLAB cell: object array (1, N) ('row', as the real files) or (N, 1) ('column')."""
    out = np.empty((1, len(items)) if shape == "row" else (len(items), 1), dtype=object)
    for i, item in enumerate(items):
        out.flat[i] = item
    return out


def numbers(values: list[float], shape: str = "row") -> np.ndarray:
    """A MATLAB numeric 1xN (or Nx1) row of doubles."""
    arr = np.asarray(values, dtype=np.float64)
    return arr.reshape(1, -1) if shape == "row" else arr.reshape(-1, 1)


def write_mat(path: str, source: str, rows: list[Row], shape: str = "row") -> None:
    """The source's .mat: struct `source` with IMDB-WIKI's fields (IMDb adds celeb_names/celeb_id)."""
    boxes = [np.array([[10.5, 12.0, 90.25, 101.0]]) for _ in rows]
    struct = {
        "dob": numbers([serial(r.dob) for r in rows], shape),
        "photo_taken": numbers([r.taken for r in rows], shape).astype(np.uint16),
        "full_path": cell([r.path for r in rows], shape),
        "gender": numbers([r.gender for r in rows], shape),
        "name": cell([r.name for r in rows], shape),
        "face_location": cell(boxes, shape),
        "face_score": numbers([r.score for r in rows], shape),
        "second_face_score": numbers([r.second for r in rows], shape),
    }
    if source == "imdb":
        struct["celeb_names"] = cell(IMDB_NAMES, shape)
        struct["celeb_id"] = numbers([r.celeb_id for r in rows], shape).astype(np.uint16)
    scipy.io.savemat(path, {source: struct})


@dataclass
class CropTar:
    """A written archive: path, bytes, sha256, its rows and the crop folder name inside."""

    path: str
    data: bytes
    sha256: str
    rows: list[Row]
    folder: str


def write_crop_folder(root: str, source: str, rows: list[Row], shape: str = "row") -> str:
    """`root/<source>_crop/` with the .mat and the crops present in `rows`; the folder."""
    folder = os.path.join(root, f"{source}_crop")
    os.makedirs(folder, exist_ok=True)
    write_mat(os.path.join(folder, f"{source}.mat"), source, rows, shape)
    for row in rows:
        if row.data is not None:
            os.makedirs(os.path.join(folder, os.path.dirname(row.path)), exist_ok=True)
            with open(os.path.join(folder, row.path), "wb") as f:
                f.write(row.data)
    return folder


def write_crop_tar(root: str, source: str, rows: list[Row] | None = None, with_mat: bool = True) -> CropTar:
    """`root/<source>_crop.tar` laid out like the published archive (optionally without the .mat)."""
    rows = rows if rows is not None else (imdb_rows() if source == "imdb" else wiki_rows())
    folder = write_crop_folder(os.path.join(root, f"src-{source}"), source, rows)
    if not with_mat:
        os.remove(os.path.join(folder, f"{source}.mat"))
    path = os.path.join(root, f"{source}_crop.tar")
    with tarfile.open(path, "w") as tar:
        tar.add(folder, arcname=f"{source}_crop")
    with open(path, "rb") as f:
        data = f.read()
    return CropTar(path, data, hashlib.sha256(data).hexdigest(), rows, f"{source}_crop")
