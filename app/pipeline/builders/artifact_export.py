"""`flask gallery export`: a gallery version and what serves it as one artifact (format: galleries/artifact.py).

Also the embedding model's identity, which an import compares with the served network's: the
sha256 of the FaceNet files (the ONNX network and the Keras weights it was converted from, the
latter from SHA256SUMS where the serving image no longer holds the file) and the settings that
shape an embedding.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading
import time

from app.pipeline.galleries.artifact import (
    ARTIFACT_FILE,
    ARTIFACT_FORMAT,
    CALIBRATION_DIR,
    GALLERY_DIR,
    KIND,
    MODEL_DIR,
    TAKEDOWNS_MEMBER,
    file_sha256,
)
from app.pipeline.galleries.reader import Gallery, pipeline_settings
from app.pipeline.galleries.takedowns import TAKEDOWNS_FILE
from app.pipeline.networks.checksums import read_checksums
from app.pipeline.networks.runtime import onnx_path
from app.pipeline.scoring.learned_scorers import ENCODED_PREFIX

_SHA_CACHE: dict[tuple, str] = {}  # (path, size, mtime) -> sha256: the 90 MB network is hashed once per process
_SHA_LOCK = threading.Lock()


def cached_sha256(path: str) -> str:
    """sha256 of a file, remembered while its size and mtime stay the same."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    with _SHA_LOCK:
        if key not in _SHA_CACHE:
            _SHA_CACHE[key] = file_sha256(path)
        return _SHA_CACHE[key]


def network_files(weights_path: str) -> list[str]:
    """The FaceNet files that may serve: the converted ONNX network and the Keras weights."""
    return [onnx_path(os.path.dirname(weights_path), "facenet"), weights_path]


def served_model(weights_path: str, runtime: str, config: dict) -> dict:
    """The embedding model this server runs: {"network": file name, "sha256", "pipeline"}."""
    path = network_files(weights_path)[0 if runtime == "onnx" else 1]
    if not os.path.isfile(path):
        raise FileNotFoundError(f"the FaceNet network {path} is missing: run `flask weights fetch`")
    return {"network": os.path.basename(path), "sha256": cached_sha256(path), "pipeline": pipeline_settings(config),
            "weights_sha256": weights_sha256(weights_path)}


def weights_sha256(weights_path: str) -> str | None:
    """sha256 of the Keras weights every converted network comes from: recorded in SHA256SUMS when they were
    fetched (the serving image keeps the record, not the file), else the file's; None when neither is there."""
    recorded = read_checksums(os.path.dirname(weights_path)).get(os.path.basename(weights_path))
    if recorded:
        return recorded
    return cached_sha256(weights_path) if os.path.isfile(weights_path) else None


def recorded_model(weights_path: str, gallery: Gallery) -> dict:
    """The embedding model an artifact records: the sha256 of every FaceNet file present, the build's settings."""
    present = [p for p in network_files(weights_path) if os.path.isfile(p)]
    return {"model": gallery.manifest.get("embedding", {}).get("model"),
            "networks": {os.path.basename(p): cached_sha256(p) for p in present},
            "weights_sha256": weights_sha256(weights_path), "pipeline": gallery.manifest.get("pipeline")}


def _tree(folder: str, prefix: str, skip=lambda name: False) -> list[tuple[str, str]]:
    """(file, member path) of every regular file under folder, sorted, dot files and `skip`ped ones left out."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if name.startswith(".") or skip(name) or os.path.islink(path) or not os.path.isfile(path):
                continue
            found.append((path, "/".join([prefix, *os.path.relpath(path, folder).split(os.sep)])))
    return found


def artifact_files(gallery: Gallery, galleries: str, calibration_dir: str, models_dir: str) -> list[tuple[str, str]]:
    """(file, member path) of everything an artifact of this gallery holds."""
    files = _tree(gallery.path, GALLERY_DIR, lambda n: n.startswith(ENCODED_PREFIX))  # caches of a model
    if os.path.isdir(calibration_dir):
        files += [(p, r) for p, r in _tree(calibration_dir, CALIBRATION_DIR) if r.count("/") == 1]
    model = os.path.join(models_dir, gallery.name)
    if os.path.isdir(model):
        files += _tree(model, MODEL_DIR)
    takedowns = os.path.join(galleries, TAKEDOWNS_FILE)
    if os.path.isfile(takedowns):
        files.append((takedowns, TAKEDOWNS_MEMBER))
    return files


def _member(name: str, size: int) -> tarfile.TarInfo:
    """A plain-file tar header with no owner and a fixed mode."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.uname, info.gname = size, 0o644, int(time.time()), "", ""
    return info


def export_gallery(galleries: str, name: str, out: str, weights_path: str, calibration_dir: str,
                   models_dir: str) -> dict:
    """Write gallery `name`'s served version as an artifact at `out` (gzip when it ends in .gz or .tgz);
    its artifact.json. The file appears under its name only once complete."""
    gallery = Gallery.load(os.path.join(galleries, name))
    files = artifact_files(gallery, galleries, calibration_dir, models_dir)
    entries = [{"path": rel, "size": os.path.getsize(path), "sha256": file_sha256(path)} for path, rel in files]
    meta = {"kind": KIND, "artifact_format": ARTIFACT_FORMAT, "gallery": gallery.name, "version": gallery.version,
            "gallery_format": gallery.manifest.get("format"), "rows": len(gallery),
            "identities": len(gallery.identities), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "embedding_model": recorded_model(weights_path, gallery), "files": entries}
    data = json.dumps(meta, indent=1).encode()
    mode = "w|gz" if out.endswith((".gz", ".tgz")) else "w|"
    tmp = f"{out}.partial-{os.getpid()}"
    try:
        with open(tmp, "wb") as raw, tarfile.open(fileobj=raw, mode=mode, format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_member(ARTIFACT_FILE, len(data)), io.BytesIO(data))
            for (path, rel), entry in zip(files, entries):
                with open(path, "rb") as f:
                    tar.addfile(_member(rel, entry["size"]), f)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return meta
