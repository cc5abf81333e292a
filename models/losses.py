"""Metric-learning losses (quadruplet, triplet batch-hard / semi-hard, contrastive) and online miners.

All functions are TensorFlow ops so they can be used inside a training step. ``emb`` is a
float batch [B, d]; ``labels`` is an integer batch [B] of identity ids. Batches are expected to be
P identities x K photos (anchors without a positive / negative are ignored, never an error).
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

SQRT_FLOOR: float = 1e-12  # d = sqrt(max(d^2, floor)) keeps the gradient finite at d = 0
LOSS_NAMES: tuple[str, ...] = ("quadruplet", "triplet", "triplet-semihard", "contrastive")
_ALIASES = {"triplet-hard": "triplet", "triplet-batchhard": "triplet", "semihard": "triplet-semihard"}

BatchLoss = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def _safe_sqrt(x: tf.Tensor) -> tf.Tensor:
    """sqrt with a floor so the gradient is finite at zero."""
    return tf.sqrt(tf.maximum(x, SQRT_FLOOR))


def squared_distance(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Row-wise squared Euclidean distance between [n, d] tensors."""
    return tf.reduce_sum(tf.square(tf.cast(x, tf.float32) - tf.cast(y, tf.float32)), axis=-1)


def pairwise_distances(emb: tf.Tensor, squared: bool = False) -> tf.Tensor:
    """All-pairs (squared) Euclidean distance matrix [B, B] of a batch."""
    emb = tf.cast(emb, tf.float32)
    d2 = tf.reduce_sum(tf.square(emb[:, None, :] - emb[None, :, :]), axis=-1)
    return d2 if squared else _safe_sqrt(d2)


def _masks(labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(positive mask without the diagonal, negative mask) for a label batch."""
    labels = tf.reshape(labels, [-1])
    same = tf.equal(labels[:, None], labels[None, :])
    eye = tf.eye(tf.shape(labels)[0], dtype=tf.bool)
    return tf.logical_and(same, tf.logical_not(eye)), tf.logical_not(same)


def _masked_arg(dist: tf.Tensor, mask: tf.Tensor, hardest_is_max: bool) -> tf.Tensor:
    """Per-row argmax/argmin of dist over mask, or -1 where the row has no valid entry."""
    big = tf.reduce_max(dist) + 1.0
    if hardest_is_max:
        idx = tf.argmax(tf.where(mask, dist, -1.0), axis=1, output_type=tf.int32)
    else:
        idx = tf.argmin(tf.where(mask, dist, big), axis=1, output_type=tf.int32)
    return tf.where(tf.reduce_any(mask, axis=1), idx, -1)


def hardest_positive_indices(emb: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Per anchor, index of the farthest other sample with the same label (-1 if none)."""
    pos, _ = _masks(labels)
    return _masked_arg(pairwise_distances(emb, squared=True), pos, hardest_is_max=True)


def hardest_negative_indices(emb: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Per anchor, index of the closest sample with a different label (-1 if none)."""
    _, neg = _masks(labels)
    return _masked_arg(pairwise_distances(emb, squared=True), neg, hardest_is_max=False)


def _semi_hard_negative_dist(dist: tf.Tensor, neg: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per (a, p): (chosen negative index, its distance) following FaceNet semi-hard mining.

    The negative is the closest one farther than the positive (d_an > d_ap); if none is farther,
    the farthest negative is used (the least violating one), as in TF-Addons.
    """
    n = tf.shape(dist)[0]
    shape3 = tf.stack([n, n, n])
    d_an3 = tf.broadcast_to(dist[:, None, :], shape3)  # [a, p, n] = d(a, n)
    d_ap3 = tf.broadcast_to(dist[:, :, None], shape3)  # [a, p, n] = d(a, p)
    neg3 = tf.broadcast_to(neg[:, None, :], shape3)
    outside = tf.logical_and(neg3, d_an3 > d_ap3)
    big = tf.reduce_max(dist) + 1.0
    semi_idx = tf.argmin(tf.where(outside, d_an3, big), axis=2, output_type=tf.int32)
    far_idx = tf.argmax(tf.where(neg3, d_an3, -1.0), axis=2, output_type=tf.int32)
    idx = tf.where(tf.reduce_any(outside, axis=2), semi_idx, far_idx)
    idx = tf.where(tf.reduce_any(neg3, axis=2), idx, -1)
    return idx, tf.gather(dist, tf.maximum(idx, 0), batch_dims=1)


def semi_hard_negative_indices(emb: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """[B, B] matrix: for each (anchor, positive) the semi-hard negative index (-1 if not a pair)."""
    pos, neg = _masks(labels)
    idx, _ = _semi_hard_negative_dist(pairwise_distances(emb), neg)
    return tf.where(pos, idx, -1)


def quadruplet_indices(
    emb: tf.Tensor, labels: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Mine one quadruplet (a, p, n1, n2) of batch indices per anchor that has all four.

    p = hardest positive, n1 = hardest negative, n2 = the sample closest to n1 whose label
    differs from both a's and n1's.
    """
    labels = tf.reshape(labels, [-1])
    pos, neg = _masks(labels)
    d2 = pairwise_distances(emb, squared=True)
    p = _masked_arg(d2, pos, hardest_is_max=True)
    n1 = _masked_arg(d2, neg, hardest_is_max=False)
    n1_labels = tf.gather(labels, tf.maximum(n1, 0))
    third = tf.logical_and(neg, tf.not_equal(labels[None, :], n1_labels[:, None]))
    n2 = _masked_arg(tf.gather(d2, tf.maximum(n1, 0)), third, hardest_is_max=False)
    valid = tf.logical_and(tf.logical_and(p >= 0, n1 >= 0), n2 >= 0)
    a = tf.boolean_mask(tf.range(tf.shape(labels)[0], dtype=tf.int32), valid)
    return a, tf.boolean_mask(p, valid), tf.boolean_mask(n1, valid), tf.boolean_mask(n2, valid)


def quadruplet_loss(
    a: tf.Tensor, p: tf.Tensor, n1: tf.Tensor, n2: tf.Tensor, alpha: float, beta: float
) -> tf.Tensor:
    """mean(max(d(a,p)^2 - d(a,n1)^2 + alpha, 0) + max(d(a,p)^2 - d(n1,n2)^2 + beta, 0))."""
    d_ap = squared_distance(a, p)
    first = tf.nn.relu(d_ap - squared_distance(a, n1) + alpha)
    second = tf.nn.relu(d_ap - squared_distance(n1, n2) + beta)
    return _mean_or_zero(first + second)


def _mean_or_zero(x: tf.Tensor) -> tf.Tensor:
    """Mean of x, or 0 when x is empty (keeps a gradient path)."""
    n = tf.cast(tf.size(x), tf.float32)
    return tf.reduce_sum(x) / tf.maximum(n, 1.0)


def batch_hard_triplet_loss(emb: tf.Tensor, labels: tf.Tensor, margin: float) -> tf.Tensor:
    """Batch-hard triplet loss: mean over anchors of max(max d(a,p) - min d(a,n) + margin, 0)."""
    pos, neg = _masks(labels)
    dist = pairwise_distances(emb)
    hardest_pos = tf.reduce_max(tf.where(pos, dist, 0.0), axis=1)
    hardest_neg = tf.reduce_min(tf.where(neg, dist, tf.reduce_max(dist) + 1.0), axis=1)
    valid = tf.logical_and(tf.reduce_any(pos, axis=1), tf.reduce_any(neg, axis=1))
    losses = tf.nn.relu(hardest_pos - hardest_neg + margin)
    return _mean_or_zero(tf.boolean_mask(losses, valid))


def semi_hard_triplet_loss(emb: tf.Tensor, labels: tf.Tensor, margin: float) -> tf.Tensor:
    """Semi-hard triplet loss: mean over all (a, p) pairs of max(d(a,p) - d(a,n_semi) + margin, 0)."""
    pos, neg = _masks(labels)
    dist = pairwise_distances(emb)
    idx, d_an = _semi_hard_negative_dist(dist, neg)
    valid = tf.logical_and(pos, idx >= 0)
    losses = tf.nn.relu(dist - d_an + margin)
    return _mean_or_zero(tf.boolean_mask(losses, valid))


def contrastive_loss(a: tf.Tensor, b: tf.Tensor, same: tf.Tensor, margin: float) -> tf.Tensor:
    """mean(same * d^2 + (1 - same) * max(margin - d, 0)^2) with d the Euclidean distance."""
    d2 = squared_distance(a, b)
    d = _safe_sqrt(d2)
    same = tf.cast(same, tf.float32)
    return _mean_or_zero(same * d2 + (1.0 - same) * tf.square(tf.nn.relu(margin - d)))


def batch_contrastive_loss(emb: tf.Tensor, labels: tf.Tensor, margin: float) -> tf.Tensor:
    """Contrastive loss over all i < j pairs of a batch."""
    labels = tf.reshape(labels, [-1])
    n = tf.shape(labels)[0]
    upper = tf.linalg.band_part(tf.ones([n, n], tf.bool), 0, -1)
    upper = tf.logical_and(upper, tf.logical_not(tf.eye(n, dtype=tf.bool)))
    ij = tf.where(upper)
    i, j = ij[:, 0], ij[:, 1]
    same = tf.equal(tf.gather(labels, i), tf.gather(labels, j))
    return contrastive_loss(tf.gather(emb, i), tf.gather(emb, j), same, margin)


def batch_quadruplet_loss(
    emb: tf.Tensor, labels: tf.Tensor, alpha: float, beta: float
) -> tf.Tensor:
    """Quadruplet loss over quadruplets mined online from the batch (see quadruplet_indices)."""
    a, p, n1, n2 = quadruplet_indices(emb, labels)
    g = lambda idx: tf.gather(emb, idx)  # noqa: E731
    return quadruplet_loss(g(a), g(p), g(n1), g(n2), alpha, beta)


def resolve_loss_name(name: str) -> str:
    """Canonical loss name for a name or alias (triplet-hard -> triplet); ValueError if unknown."""
    key = _ALIASES.get(name, name)
    if key not in LOSS_NAMES:
        raise ValueError(f"unknown loss {name!r}; choose one of {LOSS_NAMES}")
    return key


def get_loss(name: str, *, alpha: float, beta: float, margin: float) -> BatchLoss:
    """Return a batch loss fn(emb, labels) by name: quadruplet | triplet | triplet-semihard | contrastive."""
    key = resolve_loss_name(name)
    if key == "quadruplet":
        return lambda emb, labels: batch_quadruplet_loss(emb, labels, alpha, beta)
    if key == "triplet":
        return lambda emb, labels: batch_hard_triplet_loss(emb, labels, margin)
    if key == "triplet-semihard":
        return lambda emb, labels: semi_hard_triplet_loss(emb, labels, margin)
    if key == "contrastive":
        return lambda emb, labels: batch_contrastive_loss(emb, labels, margin)
    raise AssertionError(key)
