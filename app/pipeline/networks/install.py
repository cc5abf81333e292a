"""Install the ONNX networks: convert once (at `flask weights fetch`), check against TensorFlow, then install.

The networks are exported into a temporary folder beside the weights and compared with the
TensorFlow reference on real photos: every face the reference finds (full pyramid, and every face
the served pruned pyramid must find) within MAX_BOX_PX on each box edge, and FaceNet embeddings of
the same crops within MAX_EMBED_DIFF. Only a conversion that passes is moved into place; a failing
one raises ConversionError and leaves what was installed untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field

import numpy as np

from app.pipeline.networks.runtime import NETWORK_NAMES, onnx_path
from app.pipeline.photos.detect import Detector
from app.pipeline.photos.embed import Embedder
from app.pipeline.photos.face_box import Face
from app.pipeline.photos.imaging import decode_image

MAX_BOX_PX = 1.0
MAX_EMBED_DIFF = 1e-4


class ConversionError(RuntimeError):
    """The converted networks do not reproduce TensorFlow's results: nothing was installed."""


@dataclass
class ConversionReport:
    """What the check measured: photos, faces compared, largest box and embedding differences."""

    photos: int = 0
    faces: int = 0
    max_box_px: float = 0.0
    max_embed_diff: float = 0.0
    problems: list[str] = field(default_factory=list)


def box_diff(a: Face, b: Face) -> float:
    """Largest difference (px) between two boxes' edges."""
    return float(np.abs(np.asarray(a.box) - np.asarray(b.box)).max())


def compare_faces(name: str, reference: list[Face], candidate: list[Face], smallest: float,
                  report: ConversionReport) -> None:
    """Each reference face of at least `smallest` px needs a candidate face within MAX_BOX_PX."""
    for face in reference:
        if min(face.box[2], face.box[3]) < smallest:
            continue
        diff = min((box_diff(face, c) for c in candidate), default=float("inf"))
        report.faces += 1
        report.max_box_px = max(report.max_box_px, diff)
        if diff > MAX_BOX_PX:
            report.problems.append(f"{name}: face at {face.box} is {diff:g} px away in the ONNX detector")


def check_conversion(folder: str, weights_path: str, photos: list[str], config: dict) -> ConversionReport:
    """Compare the ONNX networks in `folder` with the TensorFlow reference on real photos."""
    report = ConversionReport()
    detectors = {"tf": Detector.from_config(config, "tf"),
                 "full": Detector.from_config(dict(config, DETECT_MIN_FACE_FRACTION=0.0), "onnx", folder),
                 "pruned": Detector.from_config(config, "onnx", folder)}
    tf_embedder = Embedder.from_config(config, weights_path, "tf")
    onnx_embedder = Embedder.from_config(config, weights_path, "onnx", onnx_path(folder, "facenet"))
    crops = []
    for path in photos:
        with open(path, "rb") as f:
            photo = decode_image(f.read(), config["MAX_IMAGE_PIXELS"], config["DETECT_MAX_SIDE"])
        found = {k: d.detect(photo) for k, d in detectors.items()}
        name = os.path.basename(path)
        compare_faces(f"{name} (full pyramid)", found["tf"], found["full"], 0, report)
        pruned = detectors["pruned"].sure_face_px(photo)
        compare_faces(f"{name} (pruned pyramid)", found["tf"], found["pruned"], pruned, report)
        crops += [detectors["tf"].crop(photo, face) for face in found["tf"]]
        report.photos += 1
    if crops:
        diff = np.abs(tf_embedder.embed(np.stack(crops)) - onnx_embedder.embed(np.stack(crops)))
        report.max_embed_diff = float(diff.max())
        if report.max_embed_diff > MAX_EMBED_DIFF:
            report.problems.append(f"FaceNet embeddings differ by {report.max_embed_diff:.2e} "
                                   f"(at most {MAX_EMBED_DIFF:g} allowed)")
    if report.faces == 0:
        report.problems.append("no face was found in the check photos, so nothing was compared")
    return report


def export_version(path: str) -> int:
    """The exporter version recorded in a converted network (0 for files written before it was recorded)."""
    import onnx

    from models.export import EXPORT_KEY

    props = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
    try:
        return int(props.get(EXPORT_KEY, 0))
    except ValueError:
        return 0


def stale_exports(paths: list[str]) -> str:
    """Why the converted networks must be converted again: those written by an older exporter ("" if none)."""
    from models.export import EXPORT_VERSION

    stale = [(os.path.basename(path), version) for path in paths if (version := export_version(path)) < EXPORT_VERSION]
    if not stale:
        return ""
    verb = "was" if len(stale) == 1 else "were"
    return (", ".join(f"{name} (version {version})" for name, version in stale)
            + f" {verb} written by an older exporter; this one is version {EXPORT_VERSION}")


def install_onnx(weights_path: str, photos: list[str], config: dict) -> ConversionReport:
    """Convert, check on `photos`, and move the .onnx files beside the weights; ConversionError on a mismatch."""
    from models.export import export_all  # TensorFlow and tf2onnx: only here, never when serving

    weights_dir = os.path.dirname(weights_path)
    folder = tempfile.mkdtemp(dir=weights_dir, prefix=".onnx-")
    try:
        export_all(weights_path, folder)
        report = check_conversion(folder, weights_path, photos, config)
        if report.problems:
            raise ConversionError("The converted networks do not match TensorFlow, so they were not installed: "
                                  + "; ".join(report.problems[:5]))
        for name in NETWORK_NAMES:
            os.replace(onnx_path(folder, name), onnx_path(weights_dir, name))
        return report
    finally:
        shutil.rmtree(folder, ignore_errors=True)
