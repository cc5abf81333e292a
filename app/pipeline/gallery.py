"""Celebrity galleries on disk: a memory-mapped embedding matrix, a manifest and thumbnails."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from app.pipeline.errors import StartupError

EMBEDDINGS_FILE = "embeddings.npy"
MANIFEST_FILE = "manifest.json"
THUMBS_DIR = "thumbs"
FORMAT_VERSION = 1


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


@dataclass
class Gallery:
    """A loaded gallery: memory-mapped embeddings plus one manifest row per embedding."""

    name: str
    path: str
    embeddings: np.ndarray  # float32 [N, D], memory-mapped, read-only
    rows: list[dict]
    manifest: dict
    identities: list[str] = field(default_factory=list)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))

    def __post_init__(self):
        self.identities = sorted({r["identity"] for r in self.rows})
        index = {name: i for i, name in enumerate(self.identities)}
        self.labels = np.array([index[r["identity"]] for r in self.rows], dtype=np.int32)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def row_names(self) -> np.ndarray:
        """Identity (folder name) of every row."""
        return np.asarray(self.identities)[self.labels]

    @classmethod
    def load(cls, path: str) -> Gallery:
        """Open a gallery folder; StartupError names the bad file and the command that fixes it."""
        name = os.path.basename(os.path.normpath(path))
        fix = f"Run `flask gallery build SRC_DIR --name {name}` (or `make gallery`) to (re)build it."
        manifest_file = os.path.join(path, MANIFEST_FILE)
        matrix_file = os.path.join(path, EMBEDDINGS_FILE)
        if not os.path.isdir(path):
            raise StartupError(f"Gallery '{name}' not found: {path} does not exist. {fix}")
        try:
            with open(manifest_file, encoding="utf-8") as f:
                manifest = json.load(f)
            rows = manifest["rows"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StartupError(f"Gallery manifest {manifest_file} is missing or corrupt ({exc}). {fix}") from exc
        try:
            emb = np.load(matrix_file, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise StartupError(f"Gallery matrix {matrix_file} is missing or corrupt ({exc}). {fix}") from exc
        if emb.ndim != 2 or emb.dtype != np.float32 or emb.shape[0] != len(rows) or len(rows) == 0:
            raise StartupError(f"Gallery matrix {matrix_file} has shape {emb.shape} {emb.dtype}, but the "
                               f"manifest lists {len(rows)} rows of float32. {fix}")
        return cls(name=name, path=path, embeddings=emb, rows=rows, manifest=manifest)

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

    def thumb_path(self, row: int) -> str:
        """Thumbnail JPEG of a row."""
        return thumb_path(self.path, row)
