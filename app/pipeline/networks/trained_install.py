"""Install a trained model's ONNX export: written beside its Keras weights, checked against Keras, recorded.

The networks are exported into a temporary folder inside the model folder and compared with Keras
on the model's validation rows (real FaceNet embeddings): the encoder's outputs, and the similarity
network's probabilities on pairs of those rows both from ONNX Runtime and from the NumPy dense
weights the fast path runs, each within MAX_TRAINED_DIFF. Only an export that passes is moved into
place and recorded in the folder's SHA256SUMS (checked again at every load) and config.json; a
failing one raises ConversionError and leaves the model folder as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field

import numpy as np

from app.pipeline.networks.checksums import record_checksums
from app.pipeline.networks.install import ConversionError, export_version
from app.pipeline.networks.trained_runtime import (
    KerasTrainedNetworks,
    OnnxTrainedNetworks,
    load_keras_networks,
    trained_onnx_paths,
)
from models.similarity_scorer import sigmoid
from models.trained_export import ENCODER_ONNX, SIMILARITY_ONNX, TRAINED_EXPORT_VERSION, TRAINED_FILES

MAX_TRAINED_DIFF = 1e-5
CHECK_PAIRS = 4000  # pairs of validation rows the similarity network is compared on (all of them when fewer)
META_KEY = "onnx_export"  # config.json: what the check measured, and the exporter's versions


@dataclass
class TrainedExportReport:
    """What the check measured: rows and pairs compared, largest differences from Keras, the exporter."""

    rows: int = 0
    pairs: int = 0
    max_encoder_diff: float = 0.0
    max_similarity_diff: float = 0.0  # ONNX Runtime's similarity network
    max_dense_diff: float = 0.0  # the NumPy dense weights (the serving fast path)
    versions: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI."""
        return (f"checked against Keras on {self.rows} validation rows and {self.pairs} pairs: encoder within "
                f"{self.max_encoder_diff:.1e}, similarity network within {self.max_similarity_diff:.1e} "
                f"(ONNX Runtime) and {self.max_dense_diff:.1e} (NumPy)")


def check_pairs(n: int, count: int = CHECK_PAIRS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (i < j) to compare the similarity network on: all of them, or a seeded sample of count."""
    i, j = np.triu_indices(n, 1)
    if len(i) > count:
        keep = np.sort(np.random.default_rng(seed).choice(len(i), size=count, replace=False))
        i, j = i[keep], j[keep]
    return i, j


def check_trained(folder: str, rows: np.ndarray, reference: KerasTrainedNetworks) -> TrainedExportReport:
    """Compare the exported networks in folder with the Keras ones on FaceNet embeddings rows [N, d]."""
    report = TrainedExportReport(rows=len(rows))
    exported = OnnxTrainedNetworks(folder, reference.meta or {}, verify=False)
    encoded = reference.encode(rows)
    report.max_encoder_diff = float(np.abs(exported.encode(rows) - encoded).max())
    i, j = check_pairs(len(rows))
    report.pairs = len(i)
    if report.pairs:
        expected = reference.pair_probabilities(encoded[i], encoded[j])
        onnx_prob = exported.pair_probabilities(encoded[i], encoded[j])
        dense_prob = sigmoid(exported.similarity.logits(encoded[i], encoded[j]))
        report.max_similarity_diff = float(np.abs(onnx_prob - expected).max())
        report.max_dense_diff = float(np.abs(dense_prob - expected).max())
    for what, diff in (("encoder outputs", report.max_encoder_diff),
                       ("similarity network (ONNX Runtime)", report.max_similarity_diff),
                       ("similarity network (NumPy dense weights)", report.max_dense_diff)):
        if not diff <= MAX_TRAINED_DIFF:  # NaN fails too
            report.problems.append(f"{what} differ from Keras by {diff:.2e} (at most {MAX_TRAINED_DIFF:g} allowed)")
    if report.rows < 2:
        report.problems.append("fewer than 2 validation rows, so the similarity network was not compared")
    return report


def install_trained_onnx(model_dir: str, rows: np.ndarray,
                         networks: KerasTrainedNetworks | None = None) -> TrainedExportReport:
    """Export the model's networks (loaded from model_dir unless given), check them on rows, install and record."""
    from models.trained_export import export_trained  # TensorFlow and tf2onnx: only here, never when serving

    reference = networks or load_keras_networks(model_dir)
    rows = np.ascontiguousarray(rows, np.float32)
    folder = tempfile.mkdtemp(dir=model_dir, prefix=".onnx-")
    try:
        versions = export_trained(reference.keras_encoder, reference.keras_similarity, folder)
        report = check_trained(folder, rows, reference)
        report.versions = versions
        if report.problems:
            raise ConversionError(f"The ONNX export of {model_dir} does not match Keras, so it was not installed: "
                                  + "; ".join(report.problems))
        for name in TRAINED_FILES:
            os.replace(os.path.join(folder, name), os.path.join(model_dir, name))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    record_checksums(trained_onnx_paths(model_dir))
    record_export(model_dir, report)
    return report


def record_export(model_dir: str, report: TrainedExportReport) -> None:
    """Add the check's report and the exporter's versions to config.json (atomically)."""
    path = os.path.join(model_dir, "config.json")
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)
    meta[META_KEY] = {k: v for k, v in asdict(report).items() if k != "problems"}
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
    os.replace(tmp, path)


def stale_trained_export(model_dir: str) -> str:
    """Why the model must be exported again: files missing or from an older exporter ("" when current)."""
    missing = [os.path.basename(p) for p in trained_onnx_paths(model_dir) if not os.path.isfile(p)]
    if missing:
        return f"no {', '.join(missing)}"
    old = {name: v for name in (ENCODER_ONNX, SIMILARITY_ONNX)
           if (v := export_version(os.path.join(model_dir, name))) < TRAINED_EXPORT_VERSION}
    return ", ".join(f"{name} is from exporter version {v} (this one is {TRAINED_EXPORT_VERSION})"
                     for name, v in old.items())
