"""A trained model's encoder and similarity network, run by ONNX Runtime (no TensorFlow) or by Keras.

`flask train` exports both networks to ONNX beside the Keras weights (models/trained_export.py),
checked against Keras and recorded in the model folder's SHA256SUMS. RUNTIME "onnx" serves those
files and never imports TensorFlow; "tf" runs the Keras weights (the reference); "auto" is onnx when
the model has the files. A model trained before they existed is exported once by `flask weights
fetch` where TensorFlow is installed; without TensorFlow it is refused with that command.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from app.pipeline.errors import StartupError
from app.pipeline.networks.checksums import verify_checksums
from app.pipeline.networks.runtime import RUNTIMES, OnnxNetwork
from models.similarity_scorer import DenseSimilarity
from models.trained_export import (
    ENCODER_ONNX,
    ENCODER_OUTPUT,
    SIMILARITY_DENSE,
    SIMILARITY_ONNX,
    SIMILARITY_OUTPUT,
    TRAINED_FILES,
)

EXPORT_COMMAND = "flask weights fetch"
EXPORT_FIX = "flask weights fetch --force"
ENCODE_BATCH = 4096  # rows per encoder run (a gallery is encoded once, at load)


def trained_onnx_paths(model_dir: str) -> list[str]:
    """The exported files of a model folder (encoder, similarity network, its dense weights)."""
    return [os.path.join(model_dir, name) for name in TRAINED_FILES]


def has_trained_onnx(model_dir: str) -> bool:
    """True when the model folder holds all of its exported files."""
    return all(os.path.isfile(path) for path in trained_onnx_paths(model_dir))


def not_exported_message(model_dir: str, reason: str) -> str:
    """Why a model without ONNX files cannot be served here, and the command that exports it."""
    name = os.path.basename(os.path.normpath(model_dir))
    return (f"Model '{name}' in {model_dir} has no ONNX export (it was trained before `flask train` exported one), "
            f"and {reason}. Run `{EXPORT_COMMAND}` once where the build requirements are installed "
            "(pip install -r requirements/build.txt): it exports every trained model to ONNX, checked against Keras.")


class OnnxTrainedNetworks:
    """The exported encoder and similarity network on ONNX Runtime, and the network's dense weights for NumPy."""

    runtime = "onnx"

    def __init__(self, model_dir: str, meta: dict, threads: int = 1, verify: bool = True):
        if verify:
            verify_checksums(trained_onnx_paths(model_dir), EXPORT_FIX)
        self.meta = meta
        self.encoder_file = os.path.join(model_dir, ENCODER_ONNX)
        self._encoder = OnnxNetwork(self.encoder_file, [ENCODER_OUTPUT], threads)
        self._pairs = OnnxNetwork(os.path.join(model_dir, SIMILARITY_ONNX), [SIMILARITY_OUTPUT], threads)
        self.similarity = DenseSimilarity.load(os.path.join(model_dir, SIMILARITY_DENSE))

    def encode(self, embeddings: np.ndarray) -> np.ndarray:
        """Encoded rows float32 [N, w] of FaceNet embeddings [N, d] (or one [d])."""
        x = np.asarray(embeddings, np.float32).reshape(-1, np.shape(embeddings)[-1])
        parts = [self._encoder.run(x[s:s + ENCODE_BATCH])[0] for s in range(0, len(x), ENCODE_BATCH)]
        return np.concatenate(parts) if parts else self._encoder.run(x)[0]

    def pair_probabilities(self, za: np.ndarray, zb: np.ndarray) -> np.ndarray:
        """The similarity network's P(same person) [n] for encoded row pairs (za_i, zb_i)."""
        pairs = np.stack(np.broadcast_arrays(np.asarray(za, np.float32), np.asarray(zb, np.float32)), axis=1)
        return self._pairs.run(pairs)[0].reshape(-1)


class KerasTrainedNetworks:
    """The Keras encoder and similarity network (TensorFlow): the reference the ONNX files are checked against."""

    runtime = "tf"

    def __init__(self, encoder: Any, similarity: Any = None, meta: dict | None = None, encoder_file: str = ""):
        self.keras_encoder, self.keras_similarity = encoder, similarity
        self.meta, self.encoder_file = meta, encoder_file
        self.similarity = None if similarity is None else DenseSimilarity.from_keras(similarity)

    def encode(self, embeddings: np.ndarray) -> np.ndarray:
        """Encoded rows float32 [N, w] (models.encoder.encode)."""
        from models.encoder import encode

        return encode(self.keras_encoder, embeddings)

    def pair_probabilities(self, za: np.ndarray, zb: np.ndarray) -> np.ndarray:
        """The Keras similarity network's P(same person) [n] for encoded row pairs."""
        za, zb = np.broadcast_arrays(np.asarray(za, np.float32), np.asarray(zb, np.float32))
        return np.asarray(self.keras_similarity([za, zb], training=False), np.float32).reshape(-1)


def read_meta(model_dir: str) -> dict:
    """config.json of a trained model."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        return json.load(f)


def load_keras_networks(model_dir: str) -> KerasTrainedNetworks:
    """The Keras networks of a model folder (TensorFlow)."""
    from models.train_config import ENCODER_FILE
    from models.train_loop import load_model

    encoder, similarity, meta = load_model(model_dir)
    return KerasTrainedNetworks(encoder, similarity, meta, os.path.join(model_dir, ENCODER_FILE))


def load_trained_networks(model_dir: str, runtime: str, threads: int = 1):
    """The model's networks for RUNTIME (auto | onnx | tf); StartupError naming the command when they cannot load."""
    if runtime not in RUNTIMES:
        raise StartupError(f"RUNTIME must be one of {', '.join(RUNTIMES)}; got {runtime!r}")
    exported = has_trained_onnx(model_dir)
    if runtime == "onnx" and not exported:
        raise StartupError(not_exported_message(model_dir, "RUNTIME=onnx serves only exported models"))
    if runtime == "onnx" or (runtime == "auto" and exported):
        return OnnxTrainedNetworks(model_dir, read_meta(model_dir), threads)
    try:
        return load_keras_networks(model_dir)
    except ModuleNotFoundError as exc:  # a serving install: no TensorFlow to run the Keras weights
        raise StartupError(not_exported_message(
            model_dir, f"its Keras weights need TensorFlow (module {exc.name!r} is not installed here)")) from exc
