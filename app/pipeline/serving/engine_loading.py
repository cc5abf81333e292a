"""What the engines of one process share: the built networks, and how many analyses run right now.

Networks are built once per process and settings (tests make a fresh app, so a fresh engine, per
test); the count of running analyses lets FaceNet use the idle cores when its match runs alone.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

from app.pipeline.errors import StartupError
from app.pipeline.networks.checksums import verify_checksums
from app.pipeline.networks.runtime import onnx_path
from app.pipeline.photos.detect import Detector
from app.pipeline.photos.embed import Embedder

WEIGHTS_FIX = "flask weights fetch --force"
_NETWORKS: dict[tuple, object] = {}  # built networks by settings, shared by the engines of a process
_NETWORKS_LOCK = threading.Lock()


_RUNNING = [0]  # analyses (detect + embed) running in this process now
_RUNNING_LOCK = threading.Lock()


@contextlib.contextmanager
def running() -> Iterator[None]:
    """Count an analysis as running in this process while the block runs."""
    with _RUNNING_LOCK:
        _RUNNING[0] += 1
    try:
        yield
    finally:
        with _RUNNING_LOCK:
            _RUNNING[0] -= 1


def running_alone() -> bool:
    """True when at most one analysis runs in this process (FaceNet may then use the idle cores)."""
    return _RUNNING[0] <= 1


def shared_network(key: tuple, build):
    """The network built for these settings in this process (built once, on first use)."""
    with _NETWORKS_LOCK:
        if key not in _NETWORKS:
            _NETWORKS[key] = build()
        return _NETWORKS[key]


def require_weights(path: str) -> str:
    """The FaceNet weights' path, or a StartupError that says how to get them."""
    if not os.path.isfile(path):
        raise StartupError(f"FaceNet weights not found at {path}. Run `flask weights fetch` (or `make weights`).")
    return path


def process_detector(config: dict, runtime: str, folder: str) -> Detector:
    """This process's MTCNN detector for these settings, its converted networks' checksums checked."""
    keys = ("MTCNN_MIN_FACE_SIZE", "DETECT_MIN_CONFIDENCE", "CROP_MARGIN", "MIN_FACE_PX", "CROP_ALIGN",
            "FACE_CHOICE", "MAX_FACES", "DETECT_MIN_FACE_FRACTION", "RUNTIME_THREADS")

    def build() -> Detector:
        if runtime == "onnx":  # converted by `flask weights fetch`, recorded in its SHA256SUMS
            verify_checksums([onnx_path(folder, name) for name in ("pnet", "rnet", "onet")], WEIGHTS_FIX)
        return Detector.from_config(config, runtime, folder)
    return shared_network(("detector", runtime, folder) + tuple(config[k] for k in keys), build)


def process_embedder(config: dict, weights: str, runtime: str) -> Embedder:
    """This process's FaceNet embedder for these settings, its weights checked (StartupError when missing)."""
    path = weights if runtime == "tf" else onnx_path(os.path.dirname(weights), "facenet")
    require_weights(path)
    key = ("embedder", runtime, path, os.path.getmtime(path), config["EMBED_BATCH_SIZE"], config["EMBED_FLIP"],
           config["RUNTIME_THREADS"], config["RUNTIME_THREADS_ALONE"], config["CPU_SLOTS"])

    def build() -> Embedder:
        verify_checksums([path], WEIGHTS_FIX)  # SHA256SUMS written by `flask weights fetch`
        return Embedder.from_config(config, weights, runtime, path, alone=running_alone)
    try:
        return shared_network(key, build)
    except (OSError, ValueError) as exc:
        raise StartupError(f"FaceNet weights at {path} are corrupt ({exc}). Run `{WEIGHTS_FIX}`.") from exc
