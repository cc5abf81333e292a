"""Losses and online miners against hand-computed values on tiny batches."""

import numpy as np
import pytest
import tensorflow as tf

from models.losses import (
    LOSS_NAMES,
    batch_hard_triplet_loss,
    batch_quadruplet_loss,
    contrastive_loss,
    get_loss,
    hardest_negative_indices,
    hardest_positive_indices,
    pairwise_distances,
    quadruplet_indices,
    quadruplet_loss,
    semi_hard_negative_indices,
    semi_hard_triplet_loss,
)


def on_x_axis(*xs):
    """2-d points (x, 0)."""
    return tf.constant([[x, 0.0] for x in xs], tf.float32)


# Batch used by the triplet tests: A at 0 and 1, B at 3 and 1.5 (all on the x axis).
LINE = on_x_axis(0.0, 1.0, 3.0, 1.5)
LINE_LABELS = tf.constant([0, 0, 1, 1])


def test_pairwise_distances():
    d = pairwise_distances(LINE).numpy()
    assert d[0, 2] == pytest.approx(3.0) and d[1, 3] == pytest.approx(0.5)
    assert pairwise_distances(LINE, squared=True).numpy()[0, 2] == pytest.approx(9.0)


def test_quadruplet_loss_hand_values():
    # row 1: d_ap^2=1, d_an1^2=4, d_n1n2^2=1 -> max(1-4+.5,0) + max(1-1+.5,0) = 0 + 0.5
    # row 2: d_ap^2=4, d_an1^2=1, d_n1n2^2=1 -> 3.5 + 3.5 = 7 ; mean = 3.75
    a = tf.constant([[0.0, 0.0], [0.0, 0.0]])
    p = tf.constant([[1.0, 0.0], [2.0, 0.0]])
    n1 = tf.constant([[0.0, 2.0], [1.0, 0.0]])
    n2 = tf.constant([[0.0, 3.0], [1.0, 1.0]])
    assert float(quadruplet_loss(a, p, n1, n2, alpha=0.5, beta=0.5)) == pytest.approx(3.75, rel=1e-6)


def test_contrastive_loss_hand_values():
    # same, d=5 -> 25 ; diff, d=0.5, m=1 -> 0.25 ; diff, d=0 -> 1 ; diff, d=5 -> 0 ; mean = 6.5625
    a = tf.constant([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    b = tf.constant([[3.0, 4.0], [0.3, 0.4], [1.0, 1.0], [3.0, 4.0]])
    same = tf.constant([1.0, 0.0, 0.0, 0.0])
    assert float(contrastive_loss(a, b, same, margin=1.0)) == pytest.approx(6.5625, rel=1e-5)


def test_contrastive_gradient_finite_at_zero_distance():
    a = tf.Variable([[1.0, 1.0]])
    with tf.GradientTape() as tape:
        loss = contrastive_loss(a, tf.constant([[1.0, 1.0]]), tf.constant([0.0]), margin=1.0)
    assert np.all(np.isfinite(tape.gradient(loss, a).numpy()))


def test_batch_hard_triplet_hand_values():
    # anchors: max d(a,p) - min d(a,n) + 1 -> 1-1.5+1, 1-0.5+1, 1.5-2+1, 1.5-0.5+1 = .5, 1.5, .5, 2
    assert float(batch_hard_triplet_loss(LINE, LINE_LABELS, margin=1.0)) == pytest.approx(1.125, rel=1e-5)


def test_batch_hard_ignores_anchor_without_positive():
    emb = tf.concat([LINE, on_x_axis(10.0)], axis=0)  # far single-photo distractor, label 9
    labels = tf.constant([0, 0, 1, 1, 9])
    assert float(batch_hard_triplet_loss(emb, labels, margin=1.0)) == pytest.approx(1.125, rel=1e-5)


def test_semi_hard_triplet_hand_values():
    # (0,1): d_ap=1, negs 3,1.5 -> 1.5 -> .5 ; (1,0): negs 2,.5 -> 2 -> 0
    # (2,3): d_ap=1.5, negs 3,2 -> 2 -> .5 ; (3,2): negs 1.5,.5, none > 1.5 -> farthest 1.5 -> 1
    assert float(semi_hard_triplet_loss(LINE, LINE_LABELS, margin=1.0)) == pytest.approx(0.5, rel=1e-5)
    idx = semi_hard_negative_indices(LINE, LINE_LABELS).numpy()
    expected = np.full((4, 4), -1)
    expected[0, 1], expected[1, 0], expected[2, 3], expected[3, 2] = 3, 2, 1, 0
    np.testing.assert_array_equal(idx, expected)


def test_hardest_miners_pick_valid_hardest():
    # A at 0, 1 ; B at 3, 1.5 ; distractor D at 10 (no positive). Nearest neighbour of x0 is x1
    # (same label), so the hardest *valid* negative of x0 is x3 at distance 1.5.
    emb = tf.concat([LINE, on_x_axis(10.0)], axis=0)
    labels = tf.constant([0, 0, 1, 1, 9])
    np.testing.assert_array_equal(hardest_negative_indices(emb, labels).numpy(), [3, 3, 1, 1, 2])
    np.testing.assert_array_equal(hardest_positive_indices(emb, labels).numpy(), [1, 0, 3, 2, -1])


# Quadruplet batch: A at 0, 1 ; B at 3, 1.5 ; C at 2.5, 6.
QUAD = on_x_axis(0.0, 1.0, 3.0, 1.5, 2.5, 6.0)
QUAD_LABELS = tf.constant([0, 0, 1, 1, 2, 2])


def test_quadruplet_miner_hand_values():
    a, p, n1, n2 = (t.numpy() for t in quadruplet_indices(QUAD, QUAD_LABELS))
    np.testing.assert_array_equal(a, [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(p, [1, 0, 3, 2, 5, 4])
    np.testing.assert_array_equal(n1, [3, 3, 4, 1, 2, 2])
    np.testing.assert_array_equal(n2, [4, 4, 1, 4, 1, 1])


def test_batch_quadruplet_loss_hand_value():
    # per anchor (alpha = beta = 1): 1, 2.75, 4, 4, 22.25, 13.5 -> mean 47.5 / 6
    loss = float(batch_quadruplet_loss(QUAD, QUAD_LABELS, alpha=1.0, beta=1.0))
    assert loss == pytest.approx(47.5 / 6, rel=1e-5)


def test_get_loss_by_name():
    params = dict(alpha=1.0, beta=1.0, margin=1.0)
    assert float(get_loss("triplet", **params)(LINE, LINE_LABELS)) == pytest.approx(1.125, rel=1e-5)
    assert float(get_loss("triplet-hard", **params)(LINE, LINE_LABELS)) == pytest.approx(1.125, rel=1e-5)
    assert float(get_loss("triplet-semihard", **params)(LINE, LINE_LABELS)) == pytest.approx(0.5, rel=1e-5)
    assert float(get_loss("quadruplet", **params)(QUAD, QUAD_LABELS)) == pytest.approx(47.5 / 6, rel=1e-5)
    # all i<j pairs: same d=1 -> 1, same d=1.5 -> 2.25, diff d=.5 -> .25, other diffs >= margin -> 0
    assert float(get_loss("contrastive", **params)(LINE, LINE_LABELS)) == pytest.approx(3.5 / 6, rel=1e-5)
    assert set(LOSS_NAMES) == {"quadruplet", "triplet", "triplet-semihard", "contrastive"}
    with pytest.raises(ValueError):
        get_loss("nope", **params)
