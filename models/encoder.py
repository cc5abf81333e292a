"""Encoder network that refines FaceNet embeddings into a learned, L2-normalized space."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers


def build_encoder(
    input_dim: int = 128,
    hidden_layers: int = 1,
    width: int = 128,
    dropout: float = 0.2,
    identity_init: bool = True,
    residual: bool = False,
) -> keras.Model:
    """Build input -> [dropout -> dense(width)] x hidden_layers (relu between, last linear) -> L2-normalize.

    With ``identity_init`` and a single square layer (width == input_dim) the dense kernel starts as
    the identity, so the untrained encoder reproduces its (normalized) FaceNet input. With
    ``residual`` the output is normalize(x + branch(x)), the branch's last layer starting at zero:
    the untrained encoder is exactly cosine whatever its depth and width.
    """
    if hidden_layers < 1:
        raise ValueError("hidden_layers must be >= 1")
    if residual:
        return _residual_encoder(input_dim, hidden_layers, width, dropout)
    inputs = keras.Input(shape=(input_dim,), name="embedding")
    x = inputs
    for i in range(hidden_layers):
        last = i == hidden_layers - 1
        square_single = hidden_layers == 1 and width == input_dim
        init = "identity" if (identity_init and square_single) else "glorot_uniform"
        x = layers.Dropout(dropout, name=f"enc_dropout_{i + 1}")(x)
        x = layers.Dense(
            width,
            activation=None if last else "relu",
            kernel_initializer=init,
            name=f"enc_dense_{i + 1}",
        )(x)
    outputs = layers.UnitNormalization(axis=-1, name="enc_l2norm")(x)
    return keras.Model(inputs, outputs, name="encoder")


def _residual_encoder(input_dim: int, hidden_layers: int, width: int, dropout: float) -> keras.Model:
    """normalize(x + dense_out(relu(dense(...)))) with dense_out zero-initialized (identity at start)."""
    inputs = keras.Input(shape=(input_dim,), name="embedding")
    x = layers.Dropout(dropout, name="enc_dropout_1")(inputs)
    for i in range(hidden_layers - 1):
        x = layers.Dense(width, activation="relu", name=f"enc_dense_{i + 1}")(x)
    x = layers.Dense(input_dim, kernel_initializer="zeros", name=f"enc_dense_{hidden_layers}")(x)
    outputs = layers.UnitNormalization(axis=-1, name="enc_l2norm")(layers.Add(name="enc_residual")([inputs, x]))
    return keras.Model(inputs, outputs, name="encoder")


def encode(encoder: keras.Model, embeddings: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Run the encoder in inference mode over [N, d] embeddings and return float32 [N, width]."""
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if len(x) == 0:
        return np.zeros((0, encoder.output_shape[-1]), dtype=np.float32)
    out = [
        np.asarray(encoder(x[s : s + batch_size], training=False), dtype=np.float32)
        for s in range(0, len(x), batch_size)
    ]
    return np.concatenate(out, axis=0)


def within_class_whitening(embeddings: np.ndarray, labels: np.ndarray, shrinkage: float) -> np.ndarray:
    """WCCN: (S_w + shrinkage * I)^(-1/2), S_w the within-identity covariance of identities with 2+ rows.

    Scaled so its mean eigenvalue is 1. Directions along which photos of one person vary most
    (pose, light) are shrunk, so nearest identities depend less on how a photo was taken.
    """
    X = np.asarray(embeddings, np.float64)
    _, y = np.unique(np.asarray(labels), return_inverse=True)
    counts = np.bincount(y)
    means = np.zeros((len(counts), X.shape[1]))
    np.add.at(means, y, X)
    means /= counts[:, None]
    diff = (X - means[y])[counts[y] >= 2]
    scatter = diff.T @ diff / max(len(diff), 1)
    w, V = np.linalg.eigh(scatter + shrinkage * np.eye(X.shape[1]))
    W = (V / np.sqrt(w)) @ V.T
    return (W / np.mean(1.0 / np.sqrt(w))).astype(np.float32)


def set_linear_map(encoder: keras.Model, W: np.ndarray) -> None:
    """Make a one-layer residual encoder compute normalize(x @ W) (its branch kernel becomes W - I)."""
    dense = encoder.get_layer("enc_dense_1")
    kernel, bias = dense.get_weights()
    if kernel.shape != W.shape or "enc_residual" not in [layer.name for layer in encoder.layers]:
        raise ValueError("a linear start needs a residual encoder with one layer")
    dense.set_weights([np.asarray(W, np.float32) - np.eye(len(W), dtype=np.float32), np.zeros_like(bias)])
