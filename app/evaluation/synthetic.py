"""Synthetic galleries for scale benchmarks and tests, in the real gallery format.

Identities are perturbations of a source gallery's real FaceNet embeddings: each synthetic
identity's centre is a real row moved by noise (cosine about 0.5 to it), and its photos scatter
around the centre (cosine about 0.75, as real photos of one person do). The source gallery's own
rows and identities are included; thumbnails are hard links to the source row each identity came
from, so the served pages and the start-up checks work as for a real gallery.
"""

from __future__ import annotations

import os
import time

import numpy as np

from app.pipeline.galleries import store
from app.pipeline.galleries.reader import FORMAT_VERSION, Gallery
from app.pipeline.galleries.vector_index import build_index
from app.pipeline.scoring.identity_norm import build_references

CENTRE_NOISE = 0.15  # per dimension: a synthetic identity's centre keeps cosine ~0.5 to its real row
PHOTO_NOISE = 0.078  # per dimension: photos keep cosine ~0.75 to their centre


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32)."""
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def synthetic_rows(source: np.ndarray, rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(embeddings, identity per row, source row per identity) of `rows` rows beyond the source's."""
    rng = np.random.default_rng(seed)
    counts = []
    while sum(counts) < rows:
        counts.append(int(rng.integers(1, 21)))
    counts[-1] -= sum(counts) - rows
    origin = rng.integers(0, len(source), len(counts))
    centres = unit(source[origin] + CENTRE_NOISE * rng.standard_normal((len(counts), source.shape[1])))
    labels = np.repeat(np.arange(len(counts)), counts)
    emb = np.empty((rows, source.shape[1]), np.float32)
    for start in range(0, rows, 200_000):
        part = labels[start:start + 200_000]
        noise = PHOTO_NOISE * rng.standard_normal((len(part), emb.shape[1]))
        emb[start:start + len(part)] = unit(centres[part] + noise)
    return emb, labels, origin


def write_synthetic(source: Gallery, galleries: str, name: str, rows: int, config: dict, seed: int = 0,
                    index: bool | None = None) -> Gallery:
    """Write gallery `name`: the source's rows plus `rows` synthetic ones (index when large or asked)."""
    emb, labels, origin = synthetic_rows(np.asarray(source.embeddings), rows, seed)
    n_real = len(source)
    matrix = np.concatenate([np.asarray(source.embeddings), emb])
    all_labels = np.concatenate([source.labels, labels + len(source.identities)]).astype(np.int32)
    first = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])  # each synthetic identity's first row
    table = list(source.identity_table) + [{"id": f"synthetic_{k:07d}", "name": f"Synthetic {k}",
                                            "from": source.identities[source.labels[o]],
                                            "portrait": int(n_real + first[k])}
                                           for k, o in enumerate(origin)]
    version = store.new_version(galleries, name)
    thumb_of = np.r_[np.arange(n_real), origin[labels]]
    for row, src in enumerate(thumb_of):
        store.link_or_copy(source.thumb_path(int(src)), os.path.join(version, "thumbs", f"{row}.jpg"))
    resemblance, reference = build_references(version, matrix, all_labels, len(table), config, sample=500)
    manifest = {"format": FORMAT_VERSION, "name": name, "rows": int(len(matrix)), "identities": len(table),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "pipeline": source.manifest["pipeline"],
                "embedding": source.manifest.get("embedding", {}), "source_dirs": [],
                "synthetic": {"from": source.name, "rows": rows, "seed": seed},
                "resemblance": reference}
    store.write_version(version, matrix, all_labels, table,
                        {"source": np.array([""] * len(matrix)), "box": np.zeros((len(matrix), 4), np.int32),
                         "confidence": np.zeros(len(matrix), np.float32)}, manifest, resemblance)
    if index if index is not None else len(matrix) >= config["INDEX_MIN_ROWS"]:
        build_index(version, np.load(os.path.join(version, "embeddings.npy"), mmap_mode="r"))
    store.publish(galleries, name, version)
    return Gallery.load(os.path.join(galleries, name))
