"""Training runs of the encoder + similarity networks on a gallery's cached FaceNet embeddings."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from app.evaluation.identification import held_out_split
from app.evaluation.protocols import served_splits
from app.evaluation.runs import make_monitor, score_all
from app.pipeline.galleries.reader import Gallery
from app.pipeline.networks.trained_install import TrainedExportReport, install_trained_onnx
from app.pipeline.networks.trained_runtime import KerasTrainedNetworks
from app.pipeline.scoring.learned_scorers import network_distances
from app.pipeline.scoring.scorers import Aggregation
from models.calibration import Calibration, fit_logistic
from models.face_metrics import make_pairs
from models.similarity import COMBINERS
from models.train_config import TrainConfig
from models.train_loop import save_model, train

LOSSES = ("quadruplet", "triplet", "triplet-semihard", "contrastive")


def train_defaults() -> dict:
    """The training defaults (TrainConfig, the single source of them), for CLI help and options."""
    return dataclasses.asdict(TrainConfig())


def train_config(options: dict) -> TrainConfig:
    """TrainConfig with the options given (None: the default)."""
    return TrainConfig(**{k: v for k, v in options.items() if v is not None})


def validation_calibration(result, X: np.ndarray, names: np.ndarray, config: TrainConfig) -> Calibration:
    """Logistic p(same | 1 - network output) on the validation pairs, and the model's threshold."""
    rows = np.flatnonzero(np.isin(names, result.val_identities))
    i, j, same = make_pairs(names[rows], config.val_pairs, config.seed)
    dist = network_distances(result.encoder, result.similarity, X[rows[i]], X[rows[j]])
    a, b = fit_logistic(dist, same)
    return Calibration(a=a, b=b, threshold=1.0 - result.threshold, higher_is_same=False,
                       score="1 - similarity network output",
                       fitted_on=f"{len(same)} validation pairs of {len(result.val_identities)} identities")


@dataclasses.dataclass
class TrainingRun:
    """What `train_on_gallery` did: where the model went, its split and its metrics."""

    out: Path
    train_faces: int
    trainval_identities: int
    held_out_identities: int
    result: object  # models.train_config.TrainResult
    verdict: dict = dataclasses.field(default_factory=dict)  # validation: cosine vs encoder
    export: TrainedExportReport | None = None  # the ONNX export, checked against Keras


OPEN_TOLERANCE = 0.003  # the served model may lose at most 0.3 points of open-set top-1
CLOSED_MARGIN = 0.01  # and must win at least 1 point of closed-set top-1: less is within run-to-run noise


def served_validation(X: np.ndarray, names: np.ndarray, seed: int, aggregation: Aggregation):
    """(fit rows, validation identities, monitor, verdict function) of a model trained to be served.

    The monitor (early stopping) is the mean of top-1 on held-out photos of known people and top-1
    agreement of pseudo-visitors, encoder cosine with `aggregation`, on one half of the validation
    material; the verdict measures cosine and the encoder on the other half (and open-set top-1).
    """
    from models.encoder import encode

    uniq, y = np.unique(names, return_inverse=True)
    halves = served_splits(names, seed)
    monitors = [make_monitor(split, X, y, len(uniq), aggregation) for split in halves["monitor"]]
    key = aggregation.method

    def monitor(encoder, similarity) -> float:
        """Mean of the two validation metrics (those measurable on this gallery)."""
        values = [m(encoder, similarity) for m in monitors]
        return float(np.nanmean(values)) if np.isfinite(values).any() else 0.0

    def verdict(encoder) -> dict:
        """Cosine and encoder on the verdict half: top-1, stability, open-set top-1; and whether to serve."""
        spaces = {"cosine": X, "encoder": encode(encoder, X)}
        closed, stable, opened = (score_all(split, spaces, y, len(uniq), (aggregation,)) for split in halves["verdict"])
        out = {name: {"top1": closed[f"{name} / {key}"]["top1"],
                      "top1_agreement": stable[f"{name} / {key}"]["top1_agreement"],
                      "top5_overlap": stable[f"{name} / {key}"]["top5_overlap"],
                      "open_top1": opened[f"{name} / {key}"]["top1"]} for name in spaces}
        cos, enc = out["cosine"], out["encoder"]
        out["serve"] = bool(enc["top1"] >= cos["top1"] + CLOSED_MARGIN and enc["top1_agreement"] > cos["top1_agreement"]
                            and enc["open_top1"] >= cos["open_top1"] - OPEN_TOLERANCE)
        return out
    return halves["monitor"][0].fit_rows, halves["monitor"][0].val_identities, monitor, verdict


def train_on_gallery(gallery: Gallery, out_dir: str, test_fraction: float, options: dict,
                     announce=print, aggregation: Aggregation = Aggregation()) -> TrainingRun:
    """Hold out test identities (test_fraction > 0), train on the rest, save the model with its split,
    calibration and validation verdict (cosine vs encoder on top-1 and stability), and its ONNX export
    checked against Keras on the validation rows (ConversionError when they differ)."""
    X, names = np.asarray(gallery.embeddings, np.float32), gallery.row_names
    config = train_config(options)
    test_ids = np.array([], dtype=names.dtype)
    if test_fraction > 0:
        _, test_ids = held_out_split(names, test_fraction, config.seed)
    rows = np.flatnonzero(~np.isin(names, test_ids))
    fit, val_ids, monitor, verdict = served_validation(X[rows], names[rows], config.seed, aggregation)
    announce(f"training on {len(fit)} faces of {len(np.unique(names[rows[fit]]))} identities "
             f"({len(val_ids)} of them for validation only, {len(test_ids)} identities held out for evaluation), "
             f"loss={config.loss}")
    result = train(X[rows[fit]], names[rows[fit]], config, monitor=monitor, val_identities=val_ids)
    out = save_model(result, out_dir)
    meta_file = out / "config.json"
    meta = json.loads(meta_file.read_text())
    checked = verdict(result.encoder)
    meta.update({"gallery": gallery.name, "gallery_rows": len(gallery), "test_fraction": test_fraction,
                 "test_identities": [str(i) for i in test_ids], "aggregate": aggregation.method, "validation": checked,
                 "calibration": validation_calibration(result, X, names, config).to_dict()})
    meta_file.write_text(json.dumps(meta, indent=2))
    networks = KerasTrainedNetworks(result.encoder, result.similarity, meta)
    export = install_trained_onnx(str(out), X[np.isin(names, result.val_identities)], networks)
    return TrainingRun(out=out, train_faces=len(fit), trainval_identities=len(np.unique(names[rows])),
                       held_out_identities=len(test_ids), result=result, verdict=checked, export=export)


def verdict_lines(verdict: dict, aggregation: str) -> list[str]:
    """The validation verdict as lines: top-1 of known people, stability, open-set top-1; served or not."""
    lines = [f"validation ({aggregation}): {'':9s} {'top-1':>7s} {'top-1 agreement':>16s} {'top-5 overlap':>14s} "
             f"{'open top-1':>11s}"]
    for name in ("cosine", "encoder"):
        v = verdict[name]
        lines.append(f"{'':>20s}{name:9s} {v['top1']:7.4f} {v['top1_agreement']:16.4f} {v['top5_overlap']:14.4f} "
                     f"{v['open_top1']:11.4f}")
    lines.append("MATCH_MODEL=auto serves this model: " + ("yes, it beats cosine on validation" if verdict["serve"]
                 else "no, it does not beat cosine on validation (cosine is served)"))
    return lines


def model_exists(model_dir: str) -> bool:
    """True when model_dir holds a trained model."""
    return os.path.isfile(os.path.join(model_dir, "config.json"))


__all__ = ["COMBINERS", "LOSSES", "TrainingRun", "model_exists", "train_defaults", "train_on_gallery"]
