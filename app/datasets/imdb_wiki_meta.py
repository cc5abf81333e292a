"""Reading IMDB-WIKI's metadata (`imdb.mat`, `wiki.mat`) into one `Record` per face crop.

The .mat holds one MATLAB struct named after the source (`imdb` or `wiki`) whose fields are
1xN arrays: `dob` (MATLAB serial date number), `photo_taken` (year), `full_path` (cell of paths
relative to the crop folder), `gender` (0 female, 1 male, NaN unknown), `name` (cell of strings,
some empty), `face_location` (cell of 1x4 boxes), `face_score` (-Inf: no face found, the crop is
then the whole image), `second_face_score` (NaN: no second face); `imdb.mat` adds `celeb_names`
(cell) and `celeb_id` (1-based index into it). Cells load as object arrays whose items are
arrays themselves (a 1-element string array, an empty array for an empty string, a 1x4 box);
the reader flattens whatever shape they come in, (1, N), (N, 1) or (N,).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import numpy as np

GENDERS = {0: "female", 1: "male"}
# MATLAB's datenum counts days from year 0 (datenum(1, 1, 1) == 367); Python's ordinal from year 1.
MATLAB_ORDINAL_OFFSET = 366
FIELDS = ("dob", "photo_taken", "full_path", "gender", "name", "face_location", "face_score",
          "second_face_score")
IMDB_FIELDS = ("celeb_names", "celeb_id")


class MetadataError(ValueError):
    """The .mat file cannot be read or lacks the IMDB-WIKI struct and fields."""


@dataclass(frozen=True)
class Record:
    """One face crop as the .mat describes it (values normalised, nothing dropped yet)."""

    source: str  # 'imdb' or 'wiki'
    path: str  # relative to the crop folder, e.g. '17/10000217_1981-05-05_2009.jpg'
    name: str  # IMDb: celeb_names[celeb_id - 1] (else the photo's own name); '' when unknown
    celeb_id: int | None  # IMDb only
    dob: date | None
    year_taken: int | None
    gender: str | None  # 'female', 'male' or None
    face_score: float
    second_face_score: float
    face_location: tuple[float, float, float, float] | None


@dataclass
class Report:
    """What happened to the records: photos left out and fields blanked, by reason.

    Every drop after reading counts against `kept`: read == kept + sum(dropped.values()).
    """

    read: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> photos left out
    blanked: Counter = field(default_factory=Counter)  # reason -> photos kept with a field blanked
    identities: Counter = field(default_factory=Counter)  # note -> identities concerned

    def drop(self, reason: str, count: int = 1) -> None:
        """Leave out `count` kept photos for `reason` (e.g. the build's image checks)."""
        if count:
            self.dropped[reason] += count
            self.kept -= count

    def lines(self) -> list[str]:
        """Human summary, one line per count, largest first."""
        out = [f"read {self.read} photos, kept {self.kept}"]
        for title, counts in (("dropped", self.dropped), ("kept, field blanked", self.blanked),
                              ("identities", self.identities)):
            out += [f"  {title}: {reason} {n}" for reason, n in counts.most_common()]
        return out

    def to_dict(self) -> dict:
        """Plain dict for a manifest."""
        return {"read": self.read, "kept": self.kept, "dropped": dict(self.dropped),
                "blanked": dict(self.blanked), "identities": dict(self.identities)}


def matlab_date(serial: float) -> date | None:
    """The date of a MATLAB serial date number (fraction = time of day); None when not a date."""
    if not math.isfinite(serial):
        return None
    try:
        return date.fromordinal(int(serial) - MATLAB_ORDINAL_OFFSET)
    except (ValueError, OverflowError):
        return None


def _text(item) -> str:
    """A cell item as text: '' for an empty array, a char array joined, nested arrays unwrapped."""
    if isinstance(item, np.ndarray) and item.shape == (1,) and item.dtype.kind == "U":
        return item[0].strip()  # how loadmat gives a MATLAB string: the common case, kept fast
    while isinstance(item, np.ndarray):
        if item.size == 0:
            return ""
        if item.dtype.kind == "U" and item.size > 1:  # a char array loaded one letter per item
            return "".join(item.ravel().tolist()).strip()
        item = item.ravel()[0]
    if isinstance(item, bytes):
        item = item.decode("utf-8", "replace")
    return str(item).strip()


def _box(item) -> tuple[float, float, float, float] | None:
    """A 1x4 face box as a tuple of floats; None when it is not four numbers."""
    if isinstance(item, np.ndarray) and item.size == 4 and item.dtype.kind in "fiu":
        return tuple(item.ravel().tolist())  # type: ignore[return-value]
    values = np.asarray(item, dtype=object).ravel()
    while values.size == 1 and isinstance(values[0], np.ndarray):
        values = values[0].ravel()
    try:
        box = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        return None
    return box if len(box) == 4 else None  # type: ignore[return-value]


def _numbers(values: np.ndarray) -> list[float]:
    """A numeric field as floats (a cell of 1-element arrays is unwrapped too)."""
    if values.dtype == object:
        return [float(np.asarray(v, dtype=float).ravel()[0]) if np.size(v) else math.nan
                for v in values]
    return values.astype(float).tolist()


def _struct(mat: dict, source: str):
    """The source's struct (loaded with struct_as_record=True) as a field getter."""
    top = mat.get(source)
    if top is None:
        raise MetadataError(f"no struct named {source!r} (found: {sorted(k for k in mat if not k.startswith('__'))})")
    while isinstance(top, np.ndarray) and top.dtype.names is None and top.dtype == object and top.size == 1:
        top = top.ravel()[0]
    if not (isinstance(top, np.ndarray) and top.dtype.names and top.size):
        raise MetadataError(f"{source!r} is not a MATLAB struct")
    rec = top.ravel()[0]
    return lambda name: rec[name] if name in top.dtype.names else None


def load_fields(mat_path: str, source: str) -> dict[str, np.ndarray]:
    """The struct's fields, each flattened to one dimension; MetadataError when unreadable."""
    import scipy.io  # a heavy import only where a .mat is read

    try:
        mat = scipy.io.loadmat(mat_path, squeeze_me=False, struct_as_record=True)
    except Exception as err:  # scipy's parser fails on a broken file with any kind of error
        raise MetadataError(f"cannot read {mat_path}: {err}") from err
    try:
        get = _struct(mat, source)
    except MetadataError as err:
        raise MetadataError(f"{mat_path}: {err}") from err
    wanted = FIELDS + (IMDB_FIELDS if source == "imdb" else ())
    fields = {name: get(name) for name in wanted}
    missing = [name for name in FIELDS if fields[name] is None]
    if missing:
        raise MetadataError(f"{mat_path}: the {source!r} struct lacks {', '.join(missing)}")
    flat = {name: np.asarray(value).ravel() for name, value in fields.items() if value is not None}
    sizes = {name: len(flat[name]) for name in FIELDS}
    if len(set(sizes.values())) != 1:
        raise MetadataError(f"{mat_path}: fields of different lengths {sizes}")
    return flat


def read_metadata(mat_path: str, source: str) -> list[Record]:
    """Every crop listed in `imdb.mat` (source 'imdb') or `wiki.mat` (source 'wiki'), in order."""
    if source not in ("imdb", "wiki"):
        raise ValueError(f"source must be 'imdb' or 'wiki', not {source!r}")
    f = load_fields(mat_path, source)
    celeb_names = [_text(v) for v in f.get("celeb_names", [])]
    celeb_ids = _numbers(f["celeb_id"]) if "celeb_id" in f else None
    if source == "imdb" and celeb_ids is not None and len(celeb_ids) != len(f["full_path"]):
        raise MetadataError(f"{mat_path}: celeb_id has {len(celeb_ids)} entries for "
                            f"{len(f['full_path'])} photos")
    dobs, years, genders = _numbers(f["dob"]), _numbers(f["photo_taken"]), _numbers(f["gender"])
    scores, seconds = _numbers(f["face_score"]), _numbers(f["second_face_score"])
    records = []
    for i, item in enumerate(f["full_path"]):
        name = _text(f["name"][i])
        celeb_id = None
        if celeb_ids is not None and math.isfinite(celeb_ids[i]) and celeb_ids[i] >= 1:
            celeb_id = int(celeb_ids[i])
            if celeb_id <= len(celeb_names) and celeb_names[celeb_id - 1]:
                name = celeb_names[celeb_id - 1]
        records.append(Record(
            source=source, path=_text(item).replace("\\", "/"), name=" ".join(name.split()),
            celeb_id=celeb_id, dob=matlab_date(dobs[i]),
            year_taken=int(years[i]) if math.isfinite(years[i]) and years[i] > 0 else None,
            gender=GENDERS.get(int(genders[i])) if math.isfinite(genders[i]) else None,
            face_score=scores[i], second_face_score=seconds[i], face_location=_box(f["face_location"][i])))
    return records
