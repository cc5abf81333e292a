"""Gallery versions on disk: immutable version folders, an atomically flipped name, clean-up.

``galleries/NAME`` is a symlink to ``galleries/.versions/NAME-<stamp>/``. A build writes a new
version as ``<stamp>.partial``, renames it complete, then replaces the symlink in one atomic
rename, so a crash at any step leaves the previous gallery served. A running server keeps the
version it resolved at start-up until a graceful reload (gunicorn SIGHUP) or, with GALLERY_URL,
until it has verified a newer one; versions are immutable, so the stamp names its content (image
URLs carry it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import numpy as np

from app.pipeline.galleries.reader import (
    EMBEDDINGS_FILE,
    IDENTITIES_FILE,
    LABELS_FILE,
    MANIFEST_FILE,
    RESEMBLANCE_FILE,
    ROWS_FILE,
    THUMBS_DIR,
)

VERSIONS_DIR = ".versions"
PARTIAL = ".partial"
KEEP_VERSIONS = 3  # the current version and the two before it (a server may still serve one)
VERSION_STAMP = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{0,100}")  # no '.', '/': never a partial or another folder


def served_galleries(galleries: str) -> list[str]:
    """Names of the galleries in the galleries folder (not versions or work folders)."""
    return sorted(n for n in (os.listdir(galleries) if os.path.isdir(galleries) else []) if not n.startswith("."))


def versions_root(galleries: str) -> str:
    """Folder of every gallery's versions."""
    return os.path.join(galleries, VERSIONS_DIR)


def new_version(galleries: str, name: str) -> str:
    """A fresh, empty `.partial` version folder for gallery `name`."""
    root = versions_root(galleries)
    os.makedirs(root, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 10**9:09d}"
    path = os.path.join(root, f"{name}-{stamp}{PARTIAL}")
    os.makedirs(os.path.join(path, THUMBS_DIR))
    return path


def _write_json(path: str, data) -> None:
    """Write JSON to path (inside a .partial folder, so no temporary name is needed)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)


def write_version(path: str, embeddings: np.ndarray, labels: np.ndarray, identity_table: list[dict],
                  rows: dict[str, np.ndarray], manifest: dict, resemblance: np.ndarray | None) -> None:
    """Write every file of a gallery version except the thumbnails (already in path/thumbs)."""
    np.save(os.path.join(path, EMBEDDINGS_FILE), np.ascontiguousarray(embeddings, dtype=np.float32))
    np.save(os.path.join(path, LABELS_FILE), np.asarray(labels, dtype=np.int32))
    np.savez(os.path.join(path, ROWS_FILE), **rows)
    if resemblance is not None:
        np.save(os.path.join(path, RESEMBLANCE_FILE), np.asarray(resemblance, dtype=np.float64))
    _write_json(os.path.join(path, IDENTITIES_FILE), identity_table)
    _write_json(os.path.join(path, MANIFEST_FILE), manifest)  # last: a manifest means a whole version


def publish(galleries: str, name: str, partial: str) -> str:
    """Mark a finished version complete and point `galleries/name` at it atomically; its path."""
    final = partial[:-len(PARTIAL)]
    os.replace(partial, final)
    return point_to(galleries, name, final)


def point_to(galleries: str, name: str, final: str) -> str:
    """Point `galleries/name` at a complete version folder in one atomic rename, prune older versions; its path."""
    served = os.path.join(galleries, name)
    if os.path.isdir(served) and not os.path.islink(served):  # a gallery from before versioning
        os.replace(served, os.path.join(versions_root(galleries), f"{name}-legacy-{time.time_ns()}"))
    link = os.path.join(galleries, f".{name}.link-{os.getpid()}")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.relpath(final, galleries), link)
    os.replace(link, served)
    prune(galleries, name)
    return final


def version_folder(galleries: str, name: str, version: str) -> str | None:
    """The complete version folder of gallery `name` with this stamp (as image URLs carry it), else None."""
    if not VERSION_STAMP.fullmatch(version) or not is_version_of(f"{name}-{version}", name):
        return None
    path = os.path.join(versions_root(galleries), f"{name}-{version}")
    return path if os.path.isdir(path) else None


def is_version_of(folder: str, name: str) -> bool:
    """True when a folder name under .versions/ is a version (complete or partial) of `name`."""
    rest = folder[len(name) + 1:] if folder.startswith(f"{name}-") else ""
    return rest[:1].isdigit() or rest.startswith("legacy-")


def versions_of(galleries: str, name: str, partial: bool = False) -> list[str]:
    """Version folders of gallery `name` (complete ones, or the `.partial` ones), oldest first."""
    root = versions_root(galleries)
    found = [os.path.join(root, d) for d in (os.listdir(root) if os.path.isdir(root) else [])
             if is_version_of(d, name) and d.endswith(PARTIAL) == partial]
    return sorted(found, key=os.path.getmtime)


def prune(galleries: str, name: str, keep: int = KEEP_VERSIONS) -> None:
    """Remove all but the newest `keep` versions of `name` (never the one it points to)."""
    current = os.path.realpath(os.path.join(galleries, name))
    old = [v for v in versions_of(galleries, name) if os.path.realpath(v) != current]
    for version in old[:max(len(old) - (keep - 1), 0)]:
        shutil.rmtree(version, ignore_errors=True)


def clean_stale(galleries: str, name: str) -> int:
    """Remove the `.partial` versions a killed build of `name` left behind; how many."""
    stale = versions_of(galleries, name, partial=True)
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return len(stale)


def link_or_copy(src: str, dst: str) -> None:
    """Hard-link src to dst (same file system), else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def derive_version(galleries: str, name: str, current: str, replaced: tuple[str, ...]) -> str:
    """A new `.partial` version of `name` holding hard links to every file of `current` except the
    `replaced` ones (which the caller writes before publishing)."""
    version = new_version(galleries, name)
    for fname in os.listdir(current):
        src = os.path.join(current, fname)
        if fname in replaced:
            continue
        if os.path.isdir(src):
            os.makedirs(os.path.join(version, fname), exist_ok=True)
            for inner in os.listdir(src):
                link_or_copy(os.path.join(src, inner), os.path.join(version, fname, inner))
        else:
            link_or_copy(src, os.path.join(version, fname))
    return version
