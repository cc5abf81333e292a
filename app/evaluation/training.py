"""Training runs of the encoder + similarity networks on a gallery's cached FaceNet embeddings."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from app.evaluation.identification import held_out_split
from app.pipeline.gallery import Gallery
from app.pipeline.learned import network_distances
from models.calibration import Calibration, fit_logistic
from models.metrics import make_pairs
from models.similarity import COMBINERS
from models.training import TrainConfig, save_model, train

LOSSES = ("quadruplet", "triplet", "triplet-semihard", "contrastive")


def train_defaults() -> dict:
    """The training defaults (TrainConfig, the single source of them), for CLI help and options."""
    return dataclasses.asdict(TrainConfig())


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
    result: object  # models.training.TrainResult


def train_on_gallery(gallery: Gallery, out_dir: str, test_fraction: float, options: dict,
                     announce=print) -> TrainingRun:
    """Hold out test identities, train on the rest, save the model with its split and calibration."""
    X, names = np.asarray(gallery.embeddings), gallery.row_names
    config = TrainConfig(**{k: v for k, v in options.items() if v is not None})
    trainval_ids, test_ids = held_out_split(names, test_fraction, config.seed)
    rows = np.isin(names, trainval_ids)
    announce(f"training on {int(rows.sum())} faces of {len(trainval_ids)} identities "
             f"({len(test_ids)} identities held out for evaluation), loss={config.loss}")
    result = train(X[rows], names[rows], config)
    out = save_model(result, out_dir)
    meta_file = out / "config.json"
    meta = json.loads(meta_file.read_text())
    meta.update({"gallery": gallery.name, "gallery_rows": len(gallery), "test_fraction": test_fraction,
                 "test_identities": [str(i) for i in test_ids],
                 "calibration": validation_calibration(result, X, names, config).to_dict()})
    meta_file.write_text(json.dumps(meta, indent=2))
    return TrainingRun(out=out, train_faces=int(rows.sum()), trainval_identities=len(trainval_ids),
                       held_out_identities=len(test_ids), result=result)


def model_exists(model_dir: str) -> bool:
    """True when model_dir holds a trained model."""
    return os.path.isfile(os.path.join(model_dir, "config.json"))


__all__ = ["COMBINERS", "LOSSES", "TrainingRun", "model_exists", "train_defaults", "train_on_gallery"]
