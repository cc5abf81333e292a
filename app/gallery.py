"""Celebrity galleries: built from SRC_DIR/<Identity>/<photos>, stored as a memory-mapped matrix."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from app.detect import Detector, Face, crop_box
from app.embed import Embedder
from app.batch import embedded_chunks
from app.errors import StartupError
from app.imaging import Photo

EMBEDDINGS_FILE = "embeddings.npy"
MANIFEST_FILE = "manifest.json"
THUMBS_DIR = "thumbs"
FORMAT_VERSION = 1
THUMB_MARGIN = 0.45  # thumbnails show some hair and chin around the box


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


def face_thumbnail(photo: Photo, face: Face, size: int) -> np.ndarray:
    """Square, face-centred RGB thumbnail of a detected face."""
    x, y, w, h = face.box
    side = max(w, h) * (1 + 2 * THUMB_MARGIN)
    side = min(side, photo.width, photo.height)
    cx, cy = x + w / 2, y + h / 2
    left = min(max(cx - side / 2, 0), photo.width - side)
    top = min(max(cy - side / 2, 0), photo.height - side)
    return crop_box(photo.rgb, (left, top, side, side), 0.0, size)


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
    def load(cls, path: str) -> "Gallery":
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


@dataclass
class BuildReport:
    """What a gallery build did."""

    path: str  # the gallery folder written
    source_dir: str
    rows: int
    identities: int
    photos: int
    skipped: Counter
    skipped_files: list[tuple[str, str]]
    seconds: float

    def summary(self) -> str:
        """One line for the terminal."""
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        return (f"gallery {os.path.basename(self.path)}: {self.rows} faces of {self.identities} identities "
                f"from {self.photos} photos in {self.seconds:.1f}s; skipped: {skipped}")


def list_photos(src_dir: str) -> list[tuple[str, str]]:
    """(identity, path) for every file under SRC_DIR/<identity>/, sorted."""
    items = []
    for identity in sorted(os.listdir(src_dir)):
        folder = os.path.join(src_dir, identity)
        if not os.path.isdir(folder) or identity.startswith("."):
            continue
        for fname in sorted(os.listdir(folder)):
            full = os.path.join(folder, fname)
            if os.path.isfile(full) and not fname.startswith("."):
                items.append((identity, full))
    return items


def build_gallery(src_dir: str, out_dir: str, detector: Detector, embedder: Embedder,
                  config: dict, progress: bool = True) -> BuildReport:
    """Detect, crop and embed every photo of src_dir into a new gallery at out_dir (atomic)."""
    if not os.path.isdir(src_dir):
        raise FileNotFoundError(f"{src_dir} is not a folder of <identity>/<photos> sub-folders")
    items = list_photos(src_dir)
    if not items:
        raise ValueError(f"{src_dir} has no <identity>/<photo> files")
    start = time.perf_counter()
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(out_dir)}.building-")
    try:
        os.makedirs(os.path.join(tmp, THUMBS_DIR))
        report = BuildReport(path=out_dir, source_dir=os.path.abspath(src_dir), rows=0, identities=0, photos=len(items),
                             skipped=Counter(), skipped_files=[], seconds=0.0)
        rows: list[dict] = []
        embeddings: list[np.ndarray] = []
        identity_of = {path: identity for identity, path in items}
        for chunk in embedded_chunks([path for _, path in items], detector, embedder, config,
                                     f"gallery {os.path.basename(out_dir)}", progress):
            for item in chunk:
                if item.error:
                    report.skipped[item.error] += 1
                    report.skipped_files.append((item.path, item.error))
                    continue
                Image.fromarray(face_thumbnail(item.photo, item.face, config["THUMB_SIZE"])).save(
                    thumb_path(tmp, len(rows)), quality=88)
                embeddings.append(item.embedding)
                rows.append({"identity": identity_of[item.path],
                             "source": os.path.relpath(item.path, report.source_dir),
                             "box": item.face.original_box(), "confidence": round(item.face.confidence, 4)})
        if not rows:
            raise ValueError(f"no usable face in any of the {len(items)} photos of {src_dir}")
        matrix = np.stack(embeddings).astype(np.float32)
        np.save(os.path.join(tmp, EMBEDDINGS_FILE), matrix)
        report.rows = len(rows)
        report.identities = len({r["identity"] for r in rows})
        report.seconds = time.perf_counter() - start
        manifest = {
            "format": FORMAT_VERSION, "name": os.path.basename(out_dir), "source_dir": report.source_dir,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "embedding": {"model": "facenet_keras (Inception-ResNet-v1, MS-Celeb-1M)",
                          "dim": int(matrix.shape[1])},
            "pipeline": pipeline_settings(config),
            "photos": report.photos, "identities": report.identities,
            "skipped": dict(report.skipped),
            "skipped_files": [{"file": os.path.relpath(p, report.source_dir), "reason": r}
                              for p, r in report.skipped_files],
            "rows": rows,
        }
        with open(os.path.join(tmp, MANIFEST_FILE), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)
        _swap_into_place(tmp, out_dir)
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_into_place(tmp: str, out_dir: str) -> None:
    """Rename a finished build over out_dir, removing the previous gallery only afterwards."""
    old = None
    if os.path.exists(out_dir):
        old = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(out_dir)), prefix=".old-")
        os.replace(out_dir, os.path.join(old, "g"))
    os.replace(tmp, out_dir)
    if old:
        shutil.rmtree(old, ignore_errors=True)
