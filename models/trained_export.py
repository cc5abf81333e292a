"""Export of a trained model's encoder and similarity network to ONNX, so a learned scorer serves without TensorFlow.

`flask train` writes them beside the Keras weights, and `flask weights fetch` writes them for a
model trained before they existed (app/pipeline/networks/trained_install.py checks them against
Keras first). The file names are importable without TensorFlow: the serving side
(app/pipeline/networks/trained_runtime.py) runs them with ONNX Runtime.

encoder.onnx: input "input" float32 [N, d] (FaceNet embeddings) -> "encoded" [N, w] (unit rows).
similarity.onnx: input "input" float32 [N, 2, w] (encoded pairs) -> "probability" [N, 1].
similarity_dense.npz: the similarity network's dense weights (models.similarity_scorer.DenseSimilarity),
  for the NumPy fast path that scores one query against every gallery row.
"""

from __future__ import annotations

from typing import Any

from models.export import EXPORT_KEY, OPSET

ENCODER_ONNX = "encoder.onnx"
SIMILARITY_ONNX = "similarity.onnx"
SIMILARITY_DENSE = "similarity_dense.npz"
TRAINED_FILES = (ENCODER_ONNX, SIMILARITY_ONNX, SIMILARITY_DENSE)
ENCODER_OUTPUT, SIMILARITY_OUTPUT = "encoded", "probability"
# Written into both .onnx files (metadata EXPORT_KEY) and config.json; `flask weights fetch` exports a
# model again when its files are older.
TRAINED_EXPORT_VERSION = 1


def _encoder_function(encoder: Any) -> tuple[Any, list]:
    """The encoder in inference mode as a tf.function with one input "input" and output "encoded"."""
    import tensorflow as tf

    spec = [tf.TensorSpec([None, int(encoder.input_shape[-1])], tf.float32, name="input")]

    def forward(x):
        """Encoded rows, dropout off."""
        return {ENCODER_OUTPUT: tf.identity(encoder(x, training=False), name=ENCODER_OUTPUT)}

    return tf.function(forward, input_signature=spec), spec


def _similarity_function(similarity: Any) -> tuple[Any, list]:
    """The similarity network as a tf.function on stacked pairs [N, 2, w] with output "probability"."""
    import tensorflow as tf

    spec = [tf.TensorSpec([None, 2, int(similarity.inputs[0].shape[-1])], tf.float32, name="input")]

    def forward(x):
        """P(same person) of each pair."""
        prob = similarity([x[:, 0, :], x[:, 1, :]], training=False)
        return {SIMILARITY_OUTPUT: tf.identity(prob, name=SIMILARITY_OUTPUT)}

    return tf.function(forward, input_signature=spec), spec


def _save(fn: Any, spec: list, path: str) -> None:
    """Convert one tf.function with tf2onnx and write it with the exporter version."""
    import onnx
    import tf2onnx

    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=OPSET)
    onnx.helper.set_model_props(proto, {EXPORT_KEY: str(TRAINED_EXPORT_VERSION)})
    onnx.save(proto, path)


def export_trained(encoder: Any, similarity: Any, folder: str) -> dict[str, str]:
    """Write encoder.onnx, similarity.onnx and similarity_dense.npz into folder; returns the exporter's versions."""
    import os

    import tf2onnx

    from models.similarity_scorer import DenseSimilarity

    _save(*_encoder_function(encoder), os.path.join(folder, ENCODER_ONNX))
    _save(*_similarity_function(similarity), os.path.join(folder, SIMILARITY_ONNX))
    DenseSimilarity.from_keras(similarity).save(os.path.join(folder, SIMILARITY_DENSE))
    return {"export_version": str(TRAINED_EXPORT_VERSION), "tf2onnx": tf2onnx.__version__, "opset": str(OPSET)}
