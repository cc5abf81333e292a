"""Training set-up of the encoder + similarity networks: hyper-parameters, identity splits, batches.

The training loop and the model files are in models/train_loop.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import keras
import numpy as np

from models.facenet import EMBEDDING_DIM
from models.losses import resolve_loss_name
from models.similarity import COMBINERS, HIDDEN_UNITS

ENCODER_FILE = "encoder.weights.h5"
SIMILARITY_FILE = "similarity.weights.h5"
CONFIG_FILE = "config.json"
CURVE_FILE = "loss_curve.png"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """All training hyper-parameters and defaults (the single source of the magic numbers)."""

    loss: str = "quadruplet"  # quadruplet | triplet (batch-hard) | triplet-semihard | contrastive
    epochs: int = 30
    batch_identities: int = 16  # P identities per batch
    photos_per_identity: int = 4  # K photos per identity (sampled with replacement if fewer)
    distractors_per_batch: int = 4  # single-photo identities added to each batch as pure negatives
    steps_per_epoch: int = 0  # 0 = ceil(train photos / (P * K))
    lr: float = 1e-3
    seed: int = 0  # seeds the identity split, batch sampling and weight init
    alpha: float = 0.2  # quadruplet margin on d(a,n1)^2 (squared distances, unit vectors: d^2 in [0, 4])
    beta: float = 0.1  # quadruplet margin on d(n1,n2)^2
    margin: float = 0.3  # triplet / contrastive margin (Euclidean distance)
    patience: int = 5  # early stopping: epochs without val-loss improvement
    val_fraction: float = 0.2  # fraction of identities held out for validation
    val_pairs: int = 2000  # balanced same/different validation pairs
    similarity_weight: float = 1.0  # weight of the similarity BCE in the total loss
    encoder_hidden_layers: int = 1
    encoder_width: int = 128
    encoder_dropout: float = 0.1  # 0.2 made the metric loss drift upward on synthetic data
    encoder_residual: bool = True  # normalize(x + branch(x)), branch zero at start: training starts at cosine
    encoder_init: str = "identity"  # identity (starts at cosine) | wccn (starts at within-class whitening)
    wccn_shrinkage: float = 0.003  # added to the within-class covariance's diagonal (unit rows: ~1/128 per dim)
    similarity_hidden: tuple[int, ...] = HIDDEN_UNITS
    combiner: str = "absprod"  # concat | absprod | chi2 (concat: ~0.87 val AUC on synthetic data)

    def __post_init__(self) -> None:
        """Validate names and ranges."""
        resolve_loss_name(self.loss)
        if self.combiner not in COMBINERS:
            raise ValueError(f"unknown combiner {self.combiner!r}; choose one of {COMBINERS}")
        if self.batch_identities < 2 or self.photos_per_identity < 2:
            raise ValueError("batch_identities and photos_per_identity must be >= 2")
        if self.encoder_init not in ("identity", "wccn"):
            raise ValueError(f"unknown encoder_init {self.encoder_init!r}; choose identity or wccn")
        if self.encoder_init == "wccn" and not (self.encoder_residual and self.encoder_hidden_layers == 1
                                                and self.encoder_width == EMBEDDING_DIM):
            raise ValueError(f"encoder_init wccn starts a linear map: it needs the residual encoder with one layer of "
                             f"width {EMBEDDING_DIM} (encoder_residual, encoder_hidden_layers=1, encoder_width="
                             f"{EMBEDDING_DIM})")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError("val_fraction must be in (0, 1)")
        object.__setattr__(self, "similarity_hidden", tuple(int(u) for u in self.similarity_hidden))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a config from a dict (e.g. config.json), ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrainResult:
    """Trained models plus everything needed to report on and reproduce the run."""

    encoder: keras.Model
    similarity: keras.Model
    config: TrainConfig
    history: dict[str, list[float]]  # per epoch: train_loss, val_loss, val_auc (and val_metric with a monitor)
    threshold: float  # F1-optimal threshold on the similarity output (validation pairs)
    metrics: dict[str, float]
    best_epoch: int  # 1-based epoch whose weights were restored (0: the untrained encoder, i.e. cosine)
    initial_val_loss: float  # validation loss of the untrained models
    train_identities: list = field(default_factory=list)
    val_identities: list = field(default_factory=list)


def split_identities(
    labels: Sequence, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Identity-disjoint, seeded split of the labels into (train_ids, val_ids).

    Multi-photo and single-photo identities are split separately so both sides get identities
    with >= 2 photos; single-photo identities can only serve as distractors / negatives.
    """
    ids, counts = np.unique(np.asarray(labels), return_counts=True)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for group in (ids[counts >= 2], ids[counts < 2]):
        group = group[rng.permutation(len(group))]
        n_val = int(round(len(group) * val_fraction))
        val.append(group[:n_val])
        train.append(group[n_val:])
    train_ids, val_ids = np.concatenate(train), np.concatenate(val)
    for name, part in (("train", train_ids), ("validation", val_ids)):
        n_multi = int(np.sum(np.isin(part, ids[counts >= 2])))
        if n_multi < 2:
            raise ValueError(f"{name} split has {n_multi} identities with >= 2 photos; need >= 2")
    return train_ids, val_ids


class BatchSampler:
    """Balanced P x K (+ distractors) batches of row indices from one identity-disjoint split."""

    def __init__(
        self, ids: np.ndarray, rows: np.ndarray, P: int, K: int, D: int, rng: np.random.Generator
    ):
        """Group rows (global indices) by identity id; single-photo identities become distractors."""
        _, inv, counts = np.unique(ids, return_inverse=True, return_counts=True)
        groups = np.split(rows[np.argsort(inv, kind="stable")], np.cumsum(counts)[:-1])
        self.multi = [g for g in groups if len(g) >= 2]
        self.singles = np.concatenate([g for g in groups if len(g) < 2] or [np.zeros(0, np.int64)])
        self.P, self.K = min(P, len(self.multi)), K
        self.D = min(D, len(self.singles))
        self.rng = rng

    @property
    def batch_size(self) -> int:
        """Rows per batch."""
        return self.P * self.K + self.D

    def batch(self) -> np.ndarray:
        """One batch: P distinct identities x K photos, then D distinct distractor rows."""
        chosen = self.rng.choice(len(self.multi), size=self.P, replace=False)
        parts = []
        for c in chosen:
            g = self.multi[c]
            if len(g) >= self.K:
                parts.append(self.rng.choice(g, size=self.K, replace=False))
            else:  # all photos once, topped up with replacement
                parts.append(np.r_[g, self.rng.choice(g, size=self.K - len(g), replace=True)])
        if self.D:
            parts.append(self.rng.choice(self.singles, size=self.D, replace=False))
        return np.concatenate(parts)


