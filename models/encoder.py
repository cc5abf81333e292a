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
) -> keras.Model:
    """Build input -> [dropout -> dense(width)] x hidden_layers (relu between, last linear) -> L2-normalize.

    With ``identity_init`` and a single square layer (width == input_dim) the dense kernel starts as
    the identity, so the untrained encoder reproduces its (normalized) FaceNet input.
    """
    if hidden_layers < 1:
        raise ValueError("hidden_layers must be >= 1")
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
