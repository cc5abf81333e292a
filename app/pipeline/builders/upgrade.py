"""Convert a format-1 gallery (one JSON manifest row per face) into a format-2 version."""

from __future__ import annotations

import json
import os
import time

import numpy as np

from app.pipeline.errors import StartupError
from app.pipeline.galleries import store
from app.pipeline.galleries.reader import (
    EMBEDDINGS_FILE,
    FORMAT_VERSION,
    IDENTITIES_FILE,
    MANIFEST_FILE,
    Gallery,
    display_name,
    thumb_path,
)
from app.pipeline.galleries.store import link_or_copy
from app.pipeline.scoring.identity_norm import build_references


def read_v1(path: str) -> tuple[dict, np.ndarray]:
    """(manifest, matrix) of a format-1 gallery folder; StartupError when it is not one."""
    try:
        with open(os.path.join(path, MANIFEST_FILE), encoding="utf-8") as f:
            manifest = json.load(f)
        matrix = np.load(os.path.join(path, EMBEDDINGS_FILE))
    except (OSError, ValueError) as exc:
        raise StartupError(f"{path} is not a readable gallery ({exc})") from exc
    if manifest.get("format") != 1 or len(manifest.get("rows", [])) != len(matrix):
        raise StartupError(f"{path} is not a format-1 gallery (format {manifest.get('format')})")
    return manifest, matrix


def upgrade_gallery(galleries: str, name: str, config: dict, names: dict[str, dict] | None = None) -> Gallery | None:
    """Write gallery `name` (format 1) as a format-2 version and serve it; None when already format 2."""
    served = os.path.join(galleries, name)
    with open(os.path.join(served, MANIFEST_FILE), encoding="utf-8") as f:
        if json.load(f).get("format") == FORMAT_VERSION:
            return None
    old, matrix = read_v1(served)
    rows = old["rows"]
    ids = sorted({r["identity"] for r in rows})
    index = {identity: k for k, identity in enumerate(ids)}
    labels = np.array([index[r["identity"]] for r in rows], np.int32)
    source_dir = old.get("source_dir", "")
    version = store.new_version(galleries, name)
    for row in range(len(rows)):
        link_or_copy(thumb_path(served, row), thumb_path(version, row))
    resemblance, reference = build_references(version, matrix, labels, len(ids), config)
    manifest = {key: old[key] for key in ("name", "created", "embedding", "pipeline", "photos", "skipped",
                                           "skipped_files") if key in old}
    manifest.update(format=FORMAT_VERSION, rows=len(rows), identities=len(ids), source_dirs=[source_dir],
                    upgraded_from=1, resemblance=reference)
    names = names or {}
    table = [{"id": i, **names.get(i, {}), "name": names.get(i, {}).get("name") or display_name(i)} for i in ids]
    store.write_version(version, matrix, labels, table,
                        {"source": np.array([os.path.join(source_dir, r["source"]) for r in rows], dtype=str),
                         "box": np.array([r["box"] for r in rows], np.int32).reshape(-1, 4),
                         "confidence": np.array([r["confidence"] for r in rows], np.float32)},
                        manifest, resemblance)
    store.publish(galleries, name, version)
    return Gallery.load(served, deep=True)


def rename_identities(galleries: str, name: str, names: dict[str, dict]) -> Gallery:
    """Publish a version of gallery `name` whose identity table takes display names and attributes
    from `names` (folder id -> {"name": ..., other attributes}); every other file is hard-linked."""
    gallery = Gallery.load(os.path.join(galleries, name))
    version = store.derive_version(galleries, name, gallery.path, (MANIFEST_FILE, IDENTITIES_FILE))
    table = []
    for entry in gallery.identity_table:
        extra = dict(names.get(entry["id"], {}))
        table.append({**entry, **extra, "name": extra.get("name") or entry.get("name") or display_name(entry["id"])})
    with open(os.path.join(version, IDENTITIES_FILE), "w", encoding="utf-8") as f:
        json.dump(table, f, indent=1)
    with open(os.path.join(version, MANIFEST_FILE), "w", encoding="utf-8") as f:
        json.dump({**gallery.manifest, "renamed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, f, indent=1)
    store.publish(galleries, name, version)
    return Gallery.load(os.path.join(galleries, name))


def index_gallery(galleries: str, name: str) -> Gallery:
    """Publish a version of gallery `name` with a (re)built vector index; other files hard-linked."""
    from app.pipeline.galleries.vector_index import INDEX_DIR, build_index

    gallery = Gallery.load(os.path.join(galleries, name))
    version = store.derive_version(galleries, name, gallery.path, (INDEX_DIR,))
    build_index(version, gallery.embeddings)
    store.publish(galleries, name, version)
    return Gallery.load(os.path.join(galleries, name))
