"""Many photo files through the per-photo path, in batches, skipping unusable files."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from app.pipeline.errors import LooksLikeError
from app.pipeline.photos.analysis import FaceResult, analyze_photos
from app.pipeline.photos.detect import Detector
from app.pipeline.photos.embed import Embedder
from app.pipeline.photos.imaging import encode_jpeg
from models.facenet import EMBEDDING_DIM


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


def photo_records(paths: list[str], detector, embedder, config: dict) -> dict[str, np.ndarray]:
    """One row per file through the per-photo path: error code ("" when a face was embedded),
    embedding, box, confidence, shorter photo side and the JPEG thumbnail (b"" when skipped).

    Every engine computes a chunk's photos with this (the local one in process, the Ray one in its
    actors), so their checkpoints are the same."""
    items = analyze_files(paths, detector, embedder, config)
    n = len(items)
    rec = {"error": np.array([item.error or "" for item in items], dtype="U32"),
           "embedding": np.zeros((n, EMBEDDING_DIM), np.float32), "box": np.zeros((n, 4), np.int32),
           "confidence": np.zeros(n, np.float32), "photo_side": np.zeros(n, np.int32),
           "thumb": np.full(n, b"", dtype=object)}
    for i, item in enumerate(items):
        if item.error is None:
            result = item.result
            rec["embedding"][i] = result.embedding
            rec["box"][i] = result.face.original_box()
            rec["confidence"][i] = result.face.confidence
            rec["photo_side"][i] = min(result.photo.original_size)
            rec["thumb"][i] = encode_jpeg(result.thumbnail(config["THUMB_SIZE"]), quality=88)
    return rec


def embed_files(paths: list[str], detector: Detector, embedder: Embedder, config: dict,
                desc: str = "embedding", progress: bool = True) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Embeddings of the main face of each file, and the skip reason of each unusable file."""
    from tqdm import tqdm

    embeddings: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    batch = int(config["EMBED_BATCH_SIZE"])
    with tqdm(total=len(paths), desc=desc, unit="photo", disable=not progress) as bar:
        for i in range(0, len(paths), batch):
            for item in analyze_files(paths[i:i + batch], detector, embedder, config):
                if item.error:
                    skipped[item.path] = item.error
                else:
                    embeddings[item.path] = item.result.embedding
            bar.update(min(batch, len(paths) - i))
    return embeddings, skipped


def list_photos(src_dir: str) -> list[tuple[str, str]]:
    """(identity, absolute path) for every file under SRC_DIR/<identity>/, sorted."""
    items = []
    for identity in sorted(os.listdir(src_dir)):
        folder = os.path.join(src_dir, identity)
        if not os.path.isdir(folder) or identity.startswith("."):
            continue
        for fname in sorted(os.listdir(folder)):
            full = os.path.abspath(os.path.join(folder, fname))
            if os.path.isfile(full) and not fname.startswith("."):
                items.append((identity, full))
    return items
