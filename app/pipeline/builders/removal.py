"""Takedowns: publish a version of a gallery without some identities, and remember them.

The new version drops the identities' rows, thumbnails and index entries; it is published with the
same atomic flip as a build, and the older versions (which still hold those faces) are deleted, so
no rollback brings them back. The identities are added to the takedown list beside the galleries,
which every later build, download and import honours. A running server drops them at its next
reload (a new version is picked up then; thumbnail files of the old version are gone at once).
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np

from app.pipeline.builders.version_files import identity_table
from app.pipeline.galleries import store
from app.pipeline.galleries.reader import THUMBS_DIR, Gallery, thumb_path
from app.pipeline.galleries.takedowns import Takedowns, record_takedowns
from app.pipeline.galleries.vector_index import build_index, has_index
from app.pipeline.scoring.identity_norm import build_references


def find_identities(gallery: Gallery, wanted: list[str]) -> list[int]:
    """Labels of the wanted identities (id or display name); ValueError naming the ones not found."""
    found = {w: gallery.find_identity(w) for w in wanted}
    missing = [w for w, k in found.items() if k is None]
    if missing:
        raise ValueError(f"not in gallery '{gallery.name}': {', '.join(missing)} "
                         f"(`flask gallery info {gallery.name}` lists its identities by id and name)")
    return sorted({k for k in found.values() if k is not None})


def write_without(gallery: Gallery, labels_out: list[int], version: str, config: dict) -> list[dict]:
    """Write into the empty `.partial` folder `version` a copy of `gallery` without the identities
    `labels_out` (rows, thumbnails, index entries); the removed identities ({"id", "name"})."""
    keep = ~np.isin(gallery.labels, labels_out)
    if not keep.any():
        raise ValueError(f"removing {', '.join(gallery.identities[k] for k in labels_out)} would leave "
                         f"gallery '{gallery.name}' empty")
    removed = [{"id": gallery.identities[k], "name": gallery.names[k]} for k in labels_out]
    kept_rows = np.flatnonzero(keep)
    meta = gallery.row_metadata()
    rows = {key: value[kept_rows] for key, value in meta.items()}
    rows.setdefault("photo_side", np.zeros(len(kept_rows), np.int32))
    matrix = np.asarray(gallery.embeddings[kept_rows], np.float32)
    table, labels = identity_table(gallery.identity_table, gallery.labels[kept_rows], rows)
    os.makedirs(os.path.join(version, THUMBS_DIR), exist_ok=True)
    for new, old in enumerate(kept_rows):
        store.link_or_copy(gallery.thumb_path(int(old)), thumb_path(version, new))
    resemblance, reference = build_references(version, matrix, labels, len(table), config)
    previous = gallery.manifest.get("takedowns", {})
    left_out = sorted(set(previous.get("left_out", [])) | {e["id"] for e in removed})
    manifest = {**gallery.manifest, "rows": len(matrix), "identities": len(table),
                "removed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "resemblance": reference,
                "takedowns": {**previous, "left_out": left_out}}
    store.write_version(version, matrix, labels, table, rows, manifest, resemblance)
    if has_index(gallery.path):
        build_index(version, matrix)
    return removed


def remove_identities(galleries: str, name: str, wanted: list[str], reason: str,
                      config: dict) -> tuple[Gallery, list[dict], Takedowns]:
    """Publish gallery `name` without the wanted identities; (new gallery, removed entries, takedown list)."""
    gallery = Gallery.load(os.path.join(galleries, name))
    labels_out = find_identities(gallery, wanted)
    if len(labels_out) == len(gallery.identities):
        raise ValueError(f"removing {', '.join(wanted)} would leave gallery '{name}' empty")
    version = store.new_version(galleries, name)
    try:
        removed = write_without(gallery, labels_out, version, config)
        store.publish(galleries, name, version)
    finally:
        if os.path.isdir(version):  # not published: nothing half-written stays
            shutil.rmtree(version, ignore_errors=True)
    store.prune(galleries, name, keep=1)
    takedowns = record_takedowns(galleries, name, removed, reason)
    return Gallery.load(os.path.join(galleries, name)), removed, takedowns
