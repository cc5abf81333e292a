"""LFW embeddings cached per embedding variant for bench/lookalike_levers.py, and their cost per photo.

A variant is a gallery of all of LFW built with one embedding setting (default, EMBED_FLIP,
CROP_ALIGN, both); `export` copies its arrays (embeddings, row names, quality columns) into
CACHE/<variant>/ so that every lever is NumPy on the same embeddings.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from app.evaluation.levers import cap_rows

VARIANTS = ("default", "flip", "align", "flip_align")
ARRAYS = ("embeddings", "names", "photo_side", "box", "confidence", "source")


def export(gallery_dir: str, out: str) -> None:
    """Copy a built gallery's arrays (embeddings, row names, quality columns) into a cache folder."""
    from app.pipeline.galleries.reader import Gallery

    gallery = Gallery.load(gallery_dir, deep=True)
    meta = gallery.row_metadata()
    os.makedirs(out, exist_ok=True)
    arrays = {"embeddings": np.asarray(gallery.embeddings, np.float32), "names": gallery.row_names.astype(str),
              "photo_side": meta["photo_side"], "box": meta["box"], "confidence": meta["confidence"],
              "source": meta["source"].astype(str)}
    for key, value in arrays.items():
        np.save(os.path.join(out, f"{key}.npy"), value)
    with open(os.path.join(out, "pipeline.json"), "w", encoding="utf-8") as f:
        json.dump({"gallery": gallery.path, "pipeline": gallery.manifest.get("pipeline"),
                   "rows": len(gallery), "skipped": gallery.manifest.get("skipped")}, f, indent=2)
    print(f"{len(gallery)} rows of {len(set(arrays['names']))} identities -> {out}")


def load(cache: str, variant: str) -> dict | None:
    """A variant's cached arrays, or None when it was not exported."""
    folder = os.path.join(cache, variant)
    if not os.path.isfile(os.path.join(folder, "embeddings.npy")):
        return None
    return {key: np.load(os.path.join(folder, f"{key}.npy")) for key in ARRAYS}


def subset(data: dict, rows: np.ndarray) -> dict:
    """Rows of a variant, identities relabelled 0..n-1."""
    names = data["names"][rows]
    identities, labels = np.unique(names, return_inverse=True)
    return {"G": data["embeddings"][rows], "labels": labels, "identities": identities,
            **{k: data[k][rows] for k in ("photo_side", "box", "confidence")}}


def capped(gallery: dict, cap: int) -> dict:
    """The gallery keeping each identity's `cap` best photos (all when cap is 0)."""
    if not cap:
        return gallery
    keep = cap_rows(gallery["labels"], gallery["photo_side"], gallery["box"], gallery["confidence"], cap)
    return {**gallery, "G": gallery["G"][keep], "labels": gallery["labels"][keep],
            **{k: gallery[k][keep] for k in ("photo_side", "box", "confidence")}}


PHOTO_VARIANTS = {"default": {}, "flip": {"EMBED_FLIP": True}, "align": {"CROP_ALIGN": True},
                  "flip_align": {"EMBED_FLIP": True, "CROP_ALIGN": True}}


def photo_cost(photos: int, lfw: str) -> dict[str, float]:
    """Milliseconds to detect, crop and embed one LFW photo (one thread) per embedding variant,
    the variants taking turns on each photo."""
    from app import create_app
    from app.extensions import get_engine

    files = sorted(str(p) for p in Path(lfw).glob("*/*.jpg"))[::97][:photos]
    blobs = [Path(f).read_bytes() for f in files]
    engines = {}
    for name, overrides in PHOTO_VARIANTS.items():
        app = create_app({"GALLERY": "demo", "RUNTIME_THREADS_ALONE": 1, "CLI_COMMANDS": False, **overrides})
        with app.app_context():
            engines[name] = get_engine()
            engines[name].analyze(blobs[0])  # networks built, sessions warm
    spent = dict.fromkeys(engines, 0.0)
    for blob in blobs:
        for name, engine in engines.items():
            started = time.perf_counter()
            engine.analyze(blob)
            spent[name] += time.perf_counter() - started
    return {name: 1000 * t / len(blobs) for name, t in spent.items()}
