"""Celebrity galleries on disk (format 3), opened memory-mapped and checked at start-up.

A gallery version is a folder of: ``embeddings.npy`` (float32 [N, 128], memory-mapped),
``labels.npy`` (int32 [N], index into the identity table), ``identities.json`` (one entry per
identity: id, display name, ``portrait`` (the row pages show for it: its best photo by the quality
loop's measure) and optional attributes: ``gender`` ("female"/"male"), ``birth_year``), ``rows.npz`` (per-row
source file, box and confidence; columnar, never parsed at start-up), ``thumbs/<row>.jpg``,
``resemblance.npy`` (reference scores for the resemblance percentile), an optional ``index/``
(approximate vector index) and ``manifest.json`` (format, build settings, counts, the takedowns the
version honours). The served name
``galleries/NAME`` is a symlink to the current version (app/pipeline/galleries/store.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from app.pipeline.errors import StartupError
from app.pipeline.galleries.rows import read_rows
from models.facenet import EMBEDDING_DIM

EMBEDDINGS_FILE = "embeddings.npy"
LABELS_FILE = "labels.npy"
IDENTITIES_FILE = "identities.json"
ROWS_FILE = "rows.npz"
MANIFEST_FILE = "manifest.json"
RESEMBLANCE_FILE = "resemblance.npy"
THUMBS_DIR = "thumbs"
FORMAT_VERSION = 3
ATTRIBUTES = ("gender", "birth_year")  # identity attributes pages, the API and filters use
OLD_FORMATS = (1, 2)  # read only by `flask gallery upgrade`
NORM_SAMPLE = 20_000  # rows whose norm and finiteness are checked at start-up (all at build time)

PIPELINE_KEYS = ("DETECT_MAX_SIDE", "MTCNN_MIN_FACE_SIZE", "DETECT_MIN_CONFIDENCE", "MIN_FACE_PX",
                 "FACE_CHOICE", "CROP_MARGIN", "CROP_ALIGN", "EMBED_FLIP")


def pipeline_settings(config: dict) -> dict:
    """The settings that shape an embedding: a gallery only matches queries made the same way."""
    return {key: config[key] for key in PIPELINE_KEYS}


def display_name(identity: str) -> str:
    """Human name of a folder name: 'ben_afflek' -> 'Ben Afflek', 'Aaron_Guiel' -> 'Aaron Guiel'."""
    words = identity.replace("_", " ").split()
    return " ".join(w if any(c.isupper() for c in w) else w.capitalize() for w in words)


def thumb_path(gallery_dir: str, row: int) -> str:
    """Path of the thumbnail JPEG of one gallery row."""
    return os.path.join(gallery_dir, THUMBS_DIR, f"{row}.jpg")


def check_matrix(matrix: np.ndarray, where: str, fix: str, sample: int | None = NORM_SAMPLE) -> None:
    """StartupError unless the rows are finite unit vectors of the embedding width (a sample of them)."""
    if matrix.ndim != 2 or matrix.dtype != np.float32 or matrix.shape[1] != EMBEDDING_DIM or not len(matrix):
        raise StartupError(f"{where} has shape {matrix.shape} {matrix.dtype}; expected [N, {EMBEDDING_DIM}] "
                           f"float32 with N > 0. {fix}")
    rows = np.arange(len(matrix))
    if sample is not None and len(matrix) > sample:
        rows = np.unique(np.r_[np.random.default_rng(0).choice(len(matrix), sample, replace=False),
                               0, len(matrix) - 1])
    part = np.asarray(read_rows(matrix, rows), dtype=np.float64)  # a sample: read, not mapped
    bad = ~np.isfinite(part).all(axis=1) | (np.abs(np.linalg.norm(np.nan_to_num(part), axis=1) - 1) > 1e-3)
    if bad.any():
        raise StartupError(f"{where}: row {int(rows[np.argmax(bad)])} is not a finite unit vector "
                           f"({int(bad.sum())} of {len(rows)} checked rows are damaged). {fix}")


@dataclass
class Gallery:
    """A loaded gallery version: memory-mapped embeddings and labels, the identity table."""

    name: str
    path: str  # the version folder (the served name's symlink resolved)
    embeddings: np.ndarray  # float32 [N, D], memory-mapped, read-only
    labels: np.ndarray  # int32 [N]
    identity_table: list[dict]  # per identity: {"id": folder, "name": display name, ...attributes}
    manifest: dict
    identities: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.identities = [entry["id"] for entry in self.identity_table]
        self.names = [entry.get("name") or display_name(entry["id"]) for entry in self.identity_table]

    def __len__(self) -> int:
        return len(self.labels)

    def portrait(self, label: int) -> int:
        """The row pages show for an identity (its best photo), whatever photo matched."""
        return int(self.identity_table[label]["portrait"])

    def attributes(self, label: int) -> dict:
        """An identity's known attributes (gender, birth_year); a key is absent when the source did not give it."""
        entry = self.identity_table[label]
        return {key: entry[key] for key in ATTRIBUTES if entry.get(key) is not None}

    @property
    def row_names(self) -> np.ndarray:
        """Identity (folder id) of every row."""
        return np.asarray(self.identities)[self.labels]

    def thumb_path(self, row: int) -> str:
        """Thumbnail JPEG of a row."""
        return thumb_path(self.path, row)

    @property
    def version(self) -> str:
        """The version's stamp: its folder's name without the gallery's (image URLs carry it)."""
        folder = os.path.basename(self.path)
        return folder[len(self.name) + 1:] if folder.startswith(f"{self.name}-") else folder

    def row_metadata(self) -> dict[str, np.ndarray]:
        """Per-row source file (relative to the build's source folder), box and confidence."""
        with np.load(os.path.join(self.path, ROWS_FILE)) as data:
            return {key: data[key] for key in data.files}

    def resemblance_reference(self) -> np.ndarray | None:
        """Sorted best-match scores of people not in the gallery, if the build stored them."""
        path = os.path.join(self.path, RESEMBLANCE_FILE)
        return np.load(path) if os.path.isfile(path) else None

    @classmethod
    def load(cls, path: str, deep: bool = False) -> Gallery:
        """Open a gallery (its served name or a version folder) and check its files.

        StartupError names the bad file and the command that fixes it. `deep` checks every row's
        norm (build time); otherwise a sample.
        """
        name = os.path.basename(os.path.normpath(path))
        fix = f"Run `flask gallery build SRC_DIR --name {name}` (or `make gallery`) to rebuild it."
        if not os.path.isdir(path):
            raise StartupError(f"Gallery '{name}' not found: {path} does not exist. {fix}")
        version = os.path.realpath(path)
        manifest_file = os.path.join(version, MANIFEST_FILE)
        try:
            with open(manifest_file, encoding="utf-8") as f:
                manifest = json.load(f)
            fmt = manifest["format"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StartupError(f"Gallery manifest {manifest_file} is missing or corrupt ({exc}). {fix}") from exc
        if fmt in OLD_FORMATS:
            raise StartupError(f"Gallery '{name}' ({manifest_file}) is in the old format {fmt}. Run "
                               f"`flask gallery upgrade {name}` (or `make gallery`) to convert it.")
        if fmt != FORMAT_VERSION:
            raise StartupError(f"Gallery '{name}' has format {fmt}; this app reads {FORMAT_VERSION}. {fix}")
        files = {key: os.path.join(version, f) for key, f in
                 (("matrix", EMBEDDINGS_FILE), ("labels", LABELS_FILE), ("identities", IDENTITIES_FILE))}
        try:
            emb = np.load(files["matrix"], mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise StartupError(f"Gallery matrix {files['matrix']} is missing or corrupt ({exc}). {fix}") from exc
        check_matrix(emb, f"Gallery matrix {files['matrix']}", fix, None if deep else NORM_SAMPLE)
        try:
            labels = np.load(files["labels"])
            with open(files["identities"], encoding="utf-8") as f:
                table = json.load(f)
            ids = [entry["id"] for entry in table]
            portraits = np.array([entry["portrait"] for entry in table], np.int64)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StartupError(f"Gallery '{name}': {files['labels']} or {files['identities']} is missing or "
                               f"corrupt ({exc}). {fix}") from exc
        if labels.shape != (len(emb),) or labels.dtype != np.int32 or not ids or \
                labels.min() < 0 or labels.max() >= len(ids):
            raise StartupError(f"Gallery labels {files['labels']} ({labels.shape} {labels.dtype}) do not match "
                               f"the {len(emb)} rows of the matrix and the {len(ids)} identities. {fix}")
        if len(portraits) and (portraits.min() < 0 or portraits.max() >= len(emb)
                               or (labels[portraits] != np.arange(len(ids))).any()):
            raise StartupError(f"Gallery identities {files['identities']}: a portrait row is not one of its "
                               f"identity's rows. {fix}")
        if manifest.get("rows") != len(emb):
            raise StartupError(f"Gallery manifest {manifest_file} says {manifest.get('rows')} rows, the matrix "
                               f"has {len(emb)}. {fix}")
        thumbs = os.path.join(version, THUMBS_DIR)
        if not (os.path.isfile(thumb_path(version, 0)) and os.path.isfile(thumb_path(version, len(emb) - 1))):
            raise StartupError(f"Gallery thumbnails in {thumbs} are missing (expected {len(emb)}). {fix}")
        return cls(name=name, path=version, embeddings=emb, labels=labels, identity_table=table, manifest=manifest)

    def check_pipeline(self, config: dict) -> None:
        """StartupError unless the gallery was built with the detection and crop settings in force."""
        built, now = self.manifest.get("pipeline"), pipeline_settings(config)
        if built != now:
            changed = sorted(k for k in now if (built or {}).get(k) != now[k])
            raise StartupError(
                f"Gallery '{self.name}' ({os.path.join(self.path, MANIFEST_FILE)}) was built with other "
                f"settings for {', '.join(changed)} than the app now uses, so its embeddings would not "
                f"match the queries'. Rebuild it with `flask gallery build SRC_DIR --name {self.name}` "
                "or restore those settings.")

    def find_identity(self, wanted: str) -> int | None:
        """Index of the identity with this folder id or display name (case-insensitive), else None."""
        wanted = wanted.strip().lower()
        for k, (identity, name) in enumerate(zip(self.identities, self.names)):
            if wanted in (identity.lower(), name.lower()):
                return k
        return None
