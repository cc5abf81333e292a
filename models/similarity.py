"""Similarity network scoring two encoded faces (Keras), and the naive reference scorer.

Its NumPy twin (weights, combiner, the fast scorers that serve it) is in models/similarity_scorer.py."""

from __future__ import annotations

import weakref
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from models.similarity_scorer import CHI2_EPS

COMBINERS: tuple[str, ...] = ("concat", "absprod", "chi2")
HIDDEN_UNITS: tuple[int, ...] = (30, 20, 10)


@keras.saving.register_keras_serializable(package="lookslike")
class PairCombiner(layers.Layer):
    """Combine two encoded faces a, b into one feature vector (concat | absprod | chi2)."""

    def __init__(self, mode: str = "concat", eps: float = CHI2_EPS, **kwargs):
        """Store the combiner mode and the chi2 epsilon."""
        super().__init__(**kwargs)
        if mode not in COMBINERS:
            raise ValueError(f"unknown combiner {mode!r}; choose one of {COMBINERS}")
        self.mode = mode
        self.eps = float(eps)

    def call(self, inputs):
        """Return [a, b], [|a-b|, a*b] or (a-b)^2 / (|a|+|b|+eps) elementwise."""
        a, b = inputs
        if self.mode == "concat":
            return ops.concatenate([a, b], axis=-1)
        if self.mode == "absprod":
            return ops.concatenate([ops.abs(a - b), a * b], axis=-1)
        return ops.square(a - b) / (ops.abs(a) + ops.abs(b) + self.eps)

    def compute_output_shape(self, input_shape):
        """Output width is 2d for concat/absprod and d for chi2."""
        shape = list(input_shape[0])
        shape[-1] = shape[-1] if self.mode == "chi2" else 2 * shape[-1]
        return tuple(shape)

    def get_config(self):
        """Serializable config."""
        return {**super().get_config(), "mode": self.mode, "eps": self.eps}


def build_similarity(
    dim: int = 128, combiner: str = "concat", hidden: tuple[int, ...] = HIDDEN_UNITS
) -> keras.Model:
    """Build [a, b] -> combine -> dense relu layers (30, 20, 10) -> dense(1) sigmoid = P(same person)."""
    a = keras.Input(shape=(dim,), name="face_a")
    b = keras.Input(shape=(dim,), name="face_b")
    x = PairCombiner(combiner, name="combine")([a, b])
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation="relu", name=f"sim_dense_{i + 1}")(x)
    out = layers.Dense(1, activation="sigmoid", name="sim_out")(x)
    return keras.Model([a, b], out, name=f"similarity_{combiner}")


_NAIVE_FNS: weakref.WeakKeyDictionary[keras.Model, Callable] = weakref.WeakKeyDictionary()


def _naive_fn(model: keras.Model) -> Callable:
    """Cached tf.function running the model on (query tiled to M rows, gallery)."""
    fn = _NAIVE_FNS.get(model)
    if fn is None:
        dim = int(model.inputs[0].shape[-1])

        @tf.function(
            input_signature=[
                tf.TensorSpec([dim], tf.float32),
                tf.TensorSpec([None, dim], tf.float32),
            ]
        )
        def fn(q, g):
            """Network outputs for (q, g_m) over all gallery rows m."""
            qa = tf.broadcast_to(q[None, :], tf.shape(g))
            return tf.reshape(model([qa, g], training=False), [-1])

        _NAIVE_FNS[model] = fn
    return fn


def naive_scores(
    model: keras.Model, q: np.ndarray, G: np.ndarray, batch_size: int | None = None
) -> np.ndarray:
    """Score one encoded query against every gallery row by running the full network on all M pairs."""
    fn = _naive_fn(model)
    q = np.asarray(q, dtype=np.float32).reshape(-1)
    G = np.asarray(G, dtype=np.float32)
    step = len(G) if batch_size is None else batch_size
    parts = [fn(q, G[s : s + step]).numpy() for s in range(0, len(G), max(step, 1))]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
