"""`flask gallery import`: verify a gallery artifact completely, then publish it atomically as a new version.

The checks, in order, before anything outside a staging folder is written: the artifact's own
sha256 when pinned, the embedding model (artifact.json's against the served network's), every
member's size and sha256, no member path outside its folder (galleries/artifact.py), then the
gallery itself (Gallery.load deep: every row's norm, the labels, portraits and thumbnails; the row
and identity counts against artifact.json; the pipeline settings; the vector index when present).
Identities on the local takedown list are then left out (a version derived with the removal code,
whose stamp says so), the calibrations and the trained model are installed, and the name is
flipped to the version in one rename. The version keeps the exporter's stamp, so every server
importing one artifact serves, and links images under, the same version.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from app.pipeline.builders.removal import write_without
from app.pipeline.errors import StartupError
from app.pipeline.galleries import store
from app.pipeline.galleries.artifact import (
    CALIBRATION_DIR,
    GALLERY_DIR,
    MODEL_DIR,
    TAKEDOWNS_MEMBER,
    ArtifactError,
    stage_artifact,
)
from app.pipeline.galleries.reader import MANIFEST_FILE, THUMBS_DIR, Gallery
from app.pipeline.galleries.takedowns import Takedowns, load_takedowns, merge_takedowns, read_list
from app.pipeline.galleries.vector_index import PQIndex, has_index

GALLERY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,100}")
LOCK_FILE = ".artifacts.lock"
STAGE_PREFIX = ".import-"


@dataclass
class ImportResult:
    """What an import published: name, version (stamp), folder, counts, who was left out, what was installed."""

    name: str
    version: str
    path: str
    rows: int
    identities: int
    artifact_sha256: str
    removed: list[dict] = field(default_factory=list)
    installed: list[str] = field(default_factory=list)
    already: bool = False  # the version was here already (now served)


@contextlib.contextmanager
def artifacts_lock(galleries: str) -> Iterator[None]:
    """One import or sync at a time on these galleries (processes and threads alike)."""
    root = store.versions_root(galleries)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, LOCK_FILE), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def check_name(name: str) -> str:
    """A gallery name an artifact may publish under; ArtifactError otherwise."""
    if not isinstance(name, str) or not GALLERY_NAME.fullmatch(name):
        raise ArtifactError(f"{name!r} is not a gallery name (letters, digits, '_' and '-'); pass --name NAME.")
    return name


def check_gallery(folder: str, meta: dict, config: dict) -> Gallery:
    """The staged gallery opened and checked deeply; ArtifactError naming what is wrong."""
    try:
        gallery = Gallery.load(folder, deep=True)
        gallery.check_pipeline(config)
        if has_index(folder):
            PQIndex(folder, gallery.embeddings, meta["gallery"])
    except StartupError as exc:
        raise ArtifactError(f"the artifact's gallery fails its checks ({exc}); refused, nothing changed.") from exc
    thumbs = os.listdir(os.path.join(folder, THUMBS_DIR))
    counts = (len(gallery), len(gallery.identities), len(thumbs))
    if counts != (meta.get("rows"), meta.get("identities"), meta.get("rows")):
        raise ArtifactError(f"the artifact's gallery has {counts[0]} rows, {counts[1]} identities and {counts[2]} "
                            f"thumbnails; artifact.json says {meta.get('rows')} rows and {meta.get('identities')} "
                            "identities. Refused, nothing changed.")
    return gallery


def taken_down(gallery: Gallery, takedowns: Takedowns) -> list[int]:
    """Labels of the gallery's identities on the takedown list."""
    return [k for k, (identity, name) in enumerate(zip(gallery.identities, gallery.names))
            if takedowns.covers(identity, name)]


def derived_stamp(stamp: str, gallery: Gallery, labels_out: list[int]) -> str:
    """The stamp of the artifact's version without these identities: the same on every server with the same list."""
    digest = hashlib.sha256("\n".join(sorted(gallery.identities[k] for k in labels_out)).encode()).hexdigest()
    return f"{stamp}-td{digest[:8]}"


def move(src: str, dst: str) -> None:
    """Move a file or folder to dst (a rename when on one file system), replacing a file there atomically."""
    try:
        os.replace(src, dst)
    except OSError:
        tmp = f"{dst}.import-{os.getpid()}"
        (shutil.copytree if os.path.isdir(src) else shutil.copyfile)(src, tmp)
        os.replace(tmp, dst)


def install_extras(stage: str, name: str, calibration_dir: str, models_dir: str) -> list[str]:
    """Put the artifact's calibrations and trained model in place; what was installed."""
    installed = []
    calibrations = os.path.join(stage, CALIBRATION_DIR)
    if os.path.isdir(calibrations):
        os.makedirs(calibration_dir, exist_ok=True)
        for fname in sorted(os.listdir(calibrations)):
            move(os.path.join(calibrations, fname), os.path.join(calibration_dir, fname))
            installed.append(os.path.join(calibration_dir, fname))
    model = os.path.join(stage, MODEL_DIR)
    if os.path.isdir(model):
        target = os.path.join(models_dir, name)
        os.makedirs(models_dir, exist_ok=True)
        incoming = tempfile.mkdtemp(prefix=f".{name}.import-", dir=models_dir)
        os.rmdir(incoming)
        move(model, incoming)
        old = f"{incoming}.old"
        if os.path.isdir(target):
            os.replace(target, old)
        os.replace(incoming, target)  # a scorer built in between finds no model for an instant, never half of one
        shutil.rmtree(old, ignore_errors=True)
        installed.append(target)
    return installed


def record_import(version: str, meta: dict, source: str) -> None:
    """Note in the staged version's manifest where it came from (after every check: a file of our own)."""
    path = os.path.join(version, MANIFEST_FILE)
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    manifest["artifact"] = {"source": source, "sha256": meta["sha256"], "version": meta["version"],
                            "imported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    os.remove(path)  # a hard link to the staged file may be shared: write a new one
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)


def import_artifact(path: str, galleries: str, served_model: dict, config: dict, calibration_dir: str,
                    models_dir: str, name: str | None = None, sha256: str | None = None,
                    source: str | None = None) -> ImportResult:
    """Verify the artifact at `path` and publish it as gallery `name` (default: the artifact's); the caller holds
    artifacts_lock. ArtifactError, with nothing changed, when any check fails."""
    root = store.versions_root(galleries)
    os.makedirs(root, exist_ok=True)
    for stale in os.listdir(root):  # staging folders of a killed import (the lock is ours: none is running)
        if stale.startswith(STAGE_PREFIX):
            shutil.rmtree(os.path.join(root, stale), ignore_errors=True)
    stage = tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=root)  # not a version of any name: never served
    try:
        meta = stage_artifact(path, stage, served_model, sha256)
        name = check_name(name or meta["gallery"])
        if not store.VERSION_STAMP.fullmatch(meta["version"]):
            raise ArtifactError(f"the artifact's version {meta['version']!r} is not a version stamp; refused.")
        gallery = check_gallery(os.path.join(stage, GALLERY_DIR), meta, config)
        own = os.path.join(stage, TAKEDOWNS_MEMBER)
        theirs = read_list(own) if os.path.isfile(own) else Takedowns()
        labels_out = taken_down(gallery, load_takedowns(galleries).merged(theirs))
        if len(labels_out) == len(gallery.identities):
            raise ArtifactError(f"every identity of the artifact is on the takedown list; nothing to serve, "
                                f"nothing changed ({os.path.join(galleries, 'takedowns.json')}).")
        stamp = derived_stamp(meta["version"], gallery, labels_out) if labels_out else meta["version"]
        final = os.path.join(root, f"{name}-{stamp}")
        removed = [{"id": gallery.identities[k], "name": gallery.names[k]} for k in labels_out]
        already = os.path.isdir(final)
        if not already:
            partial = final + store.PARTIAL
            shutil.rmtree(partial, ignore_errors=True)  # left by a killed import (we hold the lock)
            if labels_out:
                write_without(gallery, labels_out, partial, config)
            else:
                os.replace(os.path.join(stage, GALLERY_DIR), partial)
            record_import(partial, meta, source or os.path.abspath(path))
            os.replace(partial, final)
        installed = install_extras(stage, name, calibration_dir, models_dir)
        if os.path.realpath(os.path.join(galleries, name)) != os.path.realpath(final):
            store.point_to(galleries, name, final)
        if theirs.entries:
            merge_takedowns(galleries, theirs)
        rows = int((~np.isin(gallery.labels, labels_out)).sum())
        return ImportResult(name, stamp, final, rows, len(gallery.identities) - len(labels_out), meta["sha256"],
                            removed, installed, already)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
