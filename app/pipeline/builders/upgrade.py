"""Bring a gallery of an older format to the current one; rename identities; (re)build its index.

Format 1 kept one JSON manifest row per face; format 2 had no portraits and no takedown record."""

from __future__ import annotations

import json
import os
import time

import numpy as np

from app.pipeline.builders.version_files import identity_table, takedowns_manifest
from app.pipeline.errors import StartupError
from app.pipeline.galleries import store
from app.pipeline.galleries.reader import (
    EMBEDDINGS_FILE,
    FORMAT_VERSION,
    IDENTITIES_FILE,
    LABELS_FILE,
    MANIFEST_FILE,
    ROWS_FILE,
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


def upgrade_v2(galleries: str, name: str, served: str, manifest: dict) -> Gallery:
    """Publish a format-2 gallery as the current format: portraits chosen, the takedown record started."""
    labels = np.load(os.path.join(served, LABELS_FILE))
    with open(os.path.join(served, IDENTITIES_FILE), encoding="utf-8") as f:
        table = json.load(f)
    with np.load(os.path.join(served, ROWS_FILE)) as data:
        rows = {key: data[key] for key in data.files}
    rows.setdefault("photo_side", np.zeros(len(labels), np.int32))
    table, labels = identity_table(table, labels, rows)
    version = store.derive_version(galleries, name, os.path.realpath(served),
                                   (MANIFEST_FILE, IDENTITIES_FILE, LABELS_FILE))
    np.save(os.path.join(version, LABELS_FILE), labels)
    manifest = {**manifest, "format": FORMAT_VERSION, "upgraded_from": 2, "identities": len(table),
                "takedowns": manifest.get("takedowns", takedowns_manifest(None, []))}
    for fname, data in ((IDENTITIES_FILE, table), (MANIFEST_FILE, manifest)):
        with open(os.path.join(version, fname), "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
    store.publish(galleries, name, version)
    return Gallery.load(served, deep=True)


def upgrade_gallery(galleries: str, name: str, config: dict, names: dict[str, dict] | None = None) -> Gallery | None:
    """Write gallery `name` (format 1 or 2) as a version of the current format and serve it; None when
    it is current already."""
    served = os.path.join(galleries, name)
    with open(os.path.join(served, MANIFEST_FILE), encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") == FORMAT_VERSION:
        return None
    if manifest.get("format") == 2:
        return upgrade_v2(galleries, name, served, manifest)
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
                    upgraded_from=1, resemblance=reference, takedowns=takedowns_manifest(None, []))
    names = names or {}
    table = [{"id": i, **names.get(i, {}), "name": names.get(i, {}).get("name") or display_name(i)} for i in ids]
    columns = {"source": np.array([os.path.join(source_dir, r["source"]) for r in rows], dtype=str),
               "box": np.array([r["box"] for r in rows], np.int32).reshape(-1, 4),
               "confidence": np.array([r["confidence"] for r in rows], np.float32),
               "photo_side": np.zeros(len(rows), np.int32)}
    table, labels = identity_table(table, labels, columns)
    store.write_version(version, matrix, labels, table, columns, manifest, resemblance)
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
