"""Batch builds: many photo files through the per-photo path, into a new gallery (atomic)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from app.pipeline.detect import Detector
from app.pipeline.embed import Embedder
from app.pipeline.errors import LooksLikeError
from app.pipeline.faces import FaceResult, analyze_photos
from app.pipeline.gallery import (
    EMBEDDINGS_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    THUMBS_DIR,
    pipeline_settings,
    thumb_path,
)


@dataclass
class FileFace:
    """The main face of one file, or why there is none (`error` holds the error code)."""

    path: str
    result: FaceResult | None = None
    error: str | None = None


def read_file(path: str) -> bytes | None:
    """File bytes, None when the file cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def analyze_files(paths: list[str], detector: Detector, embedder: Embedder, config: dict) -> list[FileFace]:
    """The embedded main face of each file (error code instead for unusable files)."""
    out = [FileFace(path) for path in paths]
    blobs = [read_file(path) for path in paths]
    for item, data in zip(out, blobs):
        if data is None:
            item.error = "missing"
    readable = [item for item in out if item.error is None]
    results = analyze_photos([data for data in blobs if data is not None], detector, embedder, config)
    for item, result in zip(readable, results):
        if isinstance(result, LooksLikeError):
            item.error = result.code
        else:
            item.result = result
    return out


def embedded_chunks(paths: list[str], detector: Detector, embedder: Embedder, config: dict,
                    desc: str, progress: bool = True) -> Iterator[list[FileFace]]:
    """Files in chunks of EMBED_BATCH_SIZE, each usable one with its embedding, under a tqdm bar."""
    from tqdm import tqdm

    batch = int(config["EMBED_BATCH_SIZE"])
    faces = skipped = 0
    with tqdm(total=len(paths), desc=desc, unit="photo", disable=not progress) as bar:
        for i in range(0, len(paths), batch):
            items = analyze_files(paths[i:i + batch], detector, embedder, config)
            good = sum(item.error is None for item in items)
            yield items
            faces, skipped = faces + good, skipped + len(items) - good
            bar.update(len(items))
            bar.set_postfix(faces=faces, skipped=skipped)


def embed_files(paths: list[str], detector: Detector, embedder: Embedder, config: dict,
                desc: str = "embedding", progress: bool = True) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Embeddings of the main face of each file, and the skip reason of each unusable file."""
    embeddings: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for items in embedded_chunks(paths, detector, embedder, config, desc, progress):
        for item in items:
            if item.error:
                skipped[item.path] = item.error
            else:
                embeddings[item.path] = item.result.embedding
    return embeddings, skipped


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
                face = item.result.face
                Image.fromarray(item.result.thumbnail(config["THUMB_SIZE"])).save(
                    thumb_path(tmp, len(rows)), quality=88)
                embeddings.append(item.result.embedding)
                rows.append({"identity": identity_of[item.path],
                             "source": os.path.relpath(item.path, report.source_dir),
                             "box": face.original_box(), "confidence": round(face.confidence, 4)})
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
