"""Many photo files at once: decode, detect (batched by shape), crop, embed, skipping bad files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from app.detect import Detector, Face
from app.embed import Embedder
from app.errors import LooksLikeError
from app.imaging import Photo, decode_image


@dataclass
class FileFace:
    """The main face of one file, or why there is none (`error` holds the error code)."""

    path: str
    photo: Photo | None = None
    face: Face | None = None
    crop: np.ndarray | None = None
    embedding: np.ndarray | None = None
    error: str | None = None


def read_photo(path: str, config: dict) -> Photo:
    """Decode an image file with the configured limits."""
    with open(path, "rb") as f:
        return decode_image(f.read(), config["MAX_IMAGE_PIXELS"], config["DETECT_MAX_SIDE"])


def crop_files(paths: list[str], detector: Detector, config: dict) -> list[FileFace]:
    """Main face and FaceNet crop of each file (error code instead for unusable files)."""
    out = [FileFace(path) for path in paths]
    decoded = []
    for item in out:
        try:
            item.photo = read_photo(item.path, config)
            decoded.append(item)
        except LooksLikeError as exc:
            item.error = exc.code
        except OSError:
            item.error = "missing"
    for item, faces in zip(decoded, detector.detect_batch([i.photo for i in decoded])):
        try:
            item.face = detector.main_face(faces, item.photo)
            item.crop = detector.crop(item.photo, item.face)
        except LooksLikeError as exc:
            item.error = exc.code
    return out


def embedded_chunks(paths: list[str], detector: Detector, embedder: Embedder, config: dict,
                    desc: str, progress: bool = True) -> Iterator[list[FileFace]]:
    """Files in chunks of EMBED_BATCH_SIZE, each usable one with its embedding, under a tqdm bar."""
    from tqdm import tqdm

    batch = int(config["EMBED_BATCH_SIZE"])
    faces = skipped = 0
    with tqdm(total=len(paths), desc=desc, unit="photo", disable=not progress) as bar:
        for i in range(0, len(paths), batch):
            items = crop_files(paths[i:i + batch], detector, config)
            good = [item for item in items if item.error is None]
            if good:
                for item, emb in zip(good, embedder.embed(np.stack([g.crop for g in good]))):
                    item.embedding = emb
            yield items
            faces, skipped = faces + len(good), skipped + len(items) - len(good)
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
                embeddings[item.path] = item.embedding
    return embeddings, skipped
