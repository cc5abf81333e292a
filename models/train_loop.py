"""Training of the encoder + similarity networks on FaceNet embeddings, and the saved model files."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from models.encoder import build_encoder, encode, set_linear_map, within_class_whitening
from models.face_metrics import accuracy_f1_at, best_f1_threshold, make_pairs, roc_auc
from models.losses import get_loss
from models.plots import plot_loss_curve
from models.similarity import build_similarity
from models.train_config import (
    CONFIG_FILE,
    CURVE_FILE,
    ENCODER_FILE,
    FORMAT_VERSION,
    SIMILARITY_FILE,
    BatchSampler,
    TrainConfig,
    TrainResult,
    split_identities,
)


def _pair_bce(similarity: keras.Model, z: tf.Tensor, y: tf.Tensor, training: bool) -> tf.Tensor:
    """Class-balanced BCE of the similarity net over all ordered pairs (i != j) of a batch."""
    n = tf.shape(y)[0]
    ij = tf.where(tf.logical_not(tf.eye(n, dtype=tf.bool)))
    i, j = ij[:, 0], ij[:, 1]
    same = tf.cast(tf.equal(tf.gather(y, i), tf.gather(y, j)), tf.float32)
    prob = similarity([tf.gather(z, i), tf.gather(z, j)], training=training)
    return _balanced_bce(same, tf.reshape(prob, [-1]))


def _balanced_bce(same: tf.Tensor, prob: tf.Tensor) -> tf.Tensor:
    """Binary cross-entropy where same and different pairs each weigh one half."""
    bce = keras.losses.binary_crossentropy(same[:, None], prob[:, None])
    w_pos = same / tf.maximum(tf.reduce_sum(same), 1.0)
    w_neg = (1.0 - same) / tf.maximum(tf.reduce_sum(1.0 - same), 1.0)
    n_classes = tf.cast(tf.reduce_sum(same) > 0, tf.float32) + tf.cast(tf.reduce_sum(1.0 - same) > 0, tf.float32)
    return tf.reduce_sum((w_pos + w_neg) * bce) / tf.maximum(n_classes, 1.0)


def _pair_scores(similarity: keras.Model, z: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Similarity outputs for encoded pairs (z[i], z[j])."""
    return np.asarray(similarity([z[i], z[j]], training=False), dtype=np.float32).reshape(-1)


def _build_models(input_dim: int, config: TrainConfig) -> tuple[keras.Model, keras.Model]:
    """Fresh (encoder, similarity) networks sized by the config."""
    encoder = build_encoder(input_dim, config.encoder_hidden_layers, config.encoder_width, config.encoder_dropout,
                            residual=config.encoder_residual)
    return encoder, build_similarity(int(encoder.output_shape[-1]), config.combiner, config.similarity_hidden)


Monitor = Callable[[keras.Model, keras.Model], float]  # (encoder, similarity) -> validation metric, higher better


def train(
    embeddings: np.ndarray, labels: Sequence, config: TrainConfig = TrainConfig(), progress: bool = True,
    monitor: Monitor | None = None, val_identities: Sequence | None = None,
) -> TrainResult:
    """Train the encoder (metric loss) and similarity net (pair BCE) on embeddings [N, d] + labels.

    Identity-disjoint validation (``val_identities``, else a seeded split), early stopping on the
    validation loss or, with ``monitor``, on that validation metric (measured before training too:
    when no epoch beats the untrained encoder, it is restored and the similarity net is fitted on
    it), the best weights restored, and the F1-optimal similarity threshold on validation pairs.
    Seeds Python, NumPy's global RNG and TensorFlow via keras.utils.set_random_seed(config.seed).
    """
    X = np.ascontiguousarray(embeddings, dtype=np.float32)
    lab = np.asarray(labels)
    if X.ndim != 2 or len(X) != len(lab):
        raise ValueError("embeddings must be [N, d] with one label per row")
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    uniq, y_all = np.unique(lab, return_inverse=True)
    y_all = y_all.astype(np.int32)
    if val_identities is None:
        train_ids, val_ids = split_identities(lab, config.val_fraction, config.seed)
    else:
        val_ids = np.unique(np.asarray(val_identities))
        train_ids = np.setdiff1d(uniq, val_ids)
    train_rows = np.flatnonzero(np.isin(lab, train_ids))
    val_rows = np.flatnonzero(np.isin(lab, val_ids))
    P, K, D = config.batch_identities, config.photos_per_identity, config.distractors_per_batch
    sampler = BatchSampler(y_all[train_rows], train_rows, P, K, D, rng)
    val_sampler = BatchSampler(y_all[val_rows], val_rows, P, K, D, np.random.default_rng(config.seed + 1))
    steps = config.steps_per_epoch or max(1, math.ceil(len(train_rows) / (sampler.P * K)))

    # Fixed validation material: metric-loss batches (positions within val_rows) and balanced pairs.
    val_pos = {r: n for n, r in enumerate(val_rows)}
    n_val_batches = max(1, math.ceil(len(val_sampler.multi) / max(val_sampler.P, 1)))
    val_batches = [np.array([val_pos[r] for r in val_sampler.batch()]) for _ in range(n_val_batches)]
    vi, vj, vsame = make_pairs(lab[val_rows], config.val_pairs, config.seed)
    X_val, y_val = X[val_rows], y_all[val_rows]

    encoder, similarity = _build_models(X.shape[1], config)
    if config.encoder_init == "wccn":
        set_linear_map(encoder, within_class_whitening(X[train_rows], y_all[train_rows], config.wccn_shrinkage))
    loss_fn = get_loss(config.loss, alpha=config.alpha, beta=config.beta, margin=config.margin)
    optimizer = keras.optimizers.Adam(learning_rate=config.lr)
    sim_optimizer = keras.optimizers.Adam(learning_rate=config.lr)
    variables = encoder.trainable_variables + similarity.trainable_variables
    sim_w = float(config.similarity_weight)

    @tf.function(reduce_retracing=True)
    def train_step(x, y):
        """One optimizer step on a batch; returns the total loss."""
        with tf.GradientTape() as tape:
            z = encoder(x, training=True)
            metric = loss_fn(z, y)
            z_clean = tf.stop_gradient(encoder(x, training=False))  # sim net sees inference-time encodings
            bce = _pair_bce(similarity, z_clean, y, training=True)
            total = metric + sim_w * bce
        optimizer.apply(tape.gradient(total, variables), variables)
        return total

    @tf.function(reduce_retracing=True)
    def similarity_step(x, y):
        """One optimizer step of the similarity net alone, on the frozen encoder's outputs."""
        with tf.GradientTape() as tape:
            bce = _pair_bce(similarity, encoder(x, training=False), y, training=True)
        sim_optimizer.apply(tape.gradient(bce, similarity.trainable_variables), similarity.trainable_variables)
        return bce

    @tf.function(reduce_retracing=True)
    def val_metric(z, y):
        """Metric loss of an already-encoded batch."""
        return loss_fn(z, y)

    def validate() -> tuple[float, float, np.ndarray]:
        """(validation loss, validation AUC, pair scores) with dropout off."""
        z = encode(encoder, X_val)
        metric = float(np.mean([val_metric(z[b], y_val[b]).numpy() for b in val_batches]))
        scores = _pair_scores(similarity, z, vi, vj)
        bce = float(_balanced_bce(tf.constant(vsame, tf.float32), tf.constant(scores)))
        return metric + sim_w * bce, roc_auc(scores, vsame), scores

    initial_val_loss, _, _ = validate()
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_auc": []}
    best = (math.inf, 0, None)  # (-metric or val loss, epoch, weights)
    if monitor is not None:
        history["val_metric"] = []
        best = (-float(monitor(encoder, similarity)), 0, (encoder.get_weights(), None))
        history["initial_val_metric"] = [-best[0]]
    wait = 0
    for epoch in range(1, config.epochs + 1):
        running = 0.0
        desc = f"epoch {epoch}/{config.epochs}"
        with tqdm(total=steps, desc=desc, unit="step", disable=not progress) as bar:
            for step in range(1, steps + 1):
                rows = sampler.batch()
                running += float(train_step(X[rows], y_all[rows]))
                bar.update(1)
                bar.set_postfix(loss=f"{running / step:.4f}", refresh=False)
            val_loss, val_auc, _ = validate()
            bar.set_postfix(
                loss=f"{running / steps:.4f}", val_loss=f"{val_loss:.4f}", val_auc=f"{val_auc:.4f}"
            )
        history["train_loss"].append(running / steps)
        history["val_loss"].append(val_loss)
        history["val_auc"].append(val_auc)
        watched = val_loss
        if monitor is not None:
            history["val_metric"].append(float(monitor(encoder, similarity)))
            watched = -history["val_metric"][-1]
        if watched < best[0]:
            best, wait = (watched, epoch, (encoder.get_weights(), similarity.get_weights())), 0
        else:
            wait += 1
            if wait >= config.patience:
                break
    if best[2] is not None:
        encoder.set_weights(best[2][0])
        if best[2][1] is not None:
            similarity.set_weights(best[2][1])
        else:  # no epoch beat the untrained encoder: keep it, fit the similarity net on it
            for _ in range(steps * min(3, config.epochs)):
                rows = sampler.batch()
                similarity_step(X[rows], y_all[rows])

    final_loss, val_auc, scores = validate()
    z_val = encode(encoder, X_val)
    threshold, _ = best_f1_threshold(scores, vsame)
    acc, f1 = accuracy_f1_at(scores, vsame, threshold)
    unit_val = X_val / np.maximum(np.linalg.norm(X_val, axis=1, keepdims=True), 1e-12)
    metrics = {
        "val_loss": float(best[0]) if monitor is None else final_loss,
        "val_auc": float(val_auc),
        "val_accuracy": acc,
        "val_f1": f1,
        "val_auc_encoder_cosine": roc_auc(np.sum(z_val[vi] * z_val[vj], axis=1), vsame),
        "val_auc_input_cosine": roc_auc(np.sum(unit_val[vi] * unit_val[vj], axis=1), vsame),
        "epochs_run": float(len(history["val_loss"])),
    }
    if monitor is not None:
        metrics["val_metric"] = -float(best[0])
    return TrainResult(
        encoder=encoder,
        similarity=similarity,
        config=config,
        history=history,
        threshold=threshold,
        metrics=metrics,
        best_epoch=best[1],
        initial_val_loss=initial_val_loss,
        train_identities=train_ids.tolist(),
        val_identities=val_ids.tolist(),
    )


def save_model(result: TrainResult, out_dir: str | Path) -> Path:
    """Write the two weight files, config.json (config, split, metrics, threshold), loss_curve.png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.encoder.save_weights(out / ENCODER_FILE)
    result.similarity.save_weights(out / SIMILARITY_FILE)
    meta = {
        "format_version": FORMAT_VERSION,
        "config": asdict(result.config),
        "input_dim": int(result.encoder.input_shape[-1]),
        "split_seed": result.config.seed,
        "threshold": float(result.threshold),
        "best_epoch": int(result.best_epoch),
        "initial_val_loss": float(result.initial_val_loss),
        "metrics": {k: float(v) for k, v in result.metrics.items()},
        "history": {k: [float(x) for x in v] for k, v in result.history.items()},
        "n_train_identities": len(result.train_identities),
        "val_identities": list(result.val_identities),
    }
    (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
    plot_loss_curve(result.history, out / CURVE_FILE)
    return out


def load_model(model_dir: str | Path) -> tuple[keras.Model, keras.Model, dict[str, Any]]:
    """Rebuild (encoder, similarity, meta) from a save_model directory; meta is config.json."""
    src = Path(model_dir)
    meta = json.loads((src / CONFIG_FILE).read_text())
    # models saved before the residual encoder existed were plain (same weight shapes, other function)
    cfg = TrainConfig.from_dict({"encoder_residual": False, **meta["config"]})
    encoder, similarity = _build_models(meta["input_dim"], cfg)
    encoder.load_weights(src / ENCODER_FILE)
    similarity.load_weights(src / SIMILARITY_FILE)
    return encoder, similarity, meta

