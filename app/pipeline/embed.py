"""FaceNet embeddings: one model per process, batched through a tf.function."""

from __future__ import annotations

import numpy as np

from models.facenet import EMBEDDING_DIM, INPUT_SIDE, load_facenet, standardize


class Embedder:
    """Turns square RGB face crops (INPUT_SIDE px) into L2-normalized float32 [N, 128] embeddings."""

    def __init__(self, weights_path: str, batch_size: int, flip: bool):
        import tensorflow as tf

        self.model = load_facenet(weights_path)
        self.batch_size = int(batch_size)
        self.flip = bool(flip)
        self._forward = tf.function(
            lambda x: self.model(x, training=False),
            input_signature=[tf.TensorSpec([None, INPUT_SIDE, INPUT_SIDE, 3], tf.float32)],
            reduce_retracing=True,
        )
        self.embed(np.zeros((1, INPUT_SIDE, INPUT_SIDE, 3), np.uint8))  # trace once, off the request path

    @classmethod
    def from_config(cls, config: dict, weights_path: str) -> Embedder:
        """Build an embedder from the app configuration."""
        return cls(weights_path, config["EMBED_BATCH_SIZE"], config["EMBED_FLIP"])

    def _raw(self, faces: np.ndarray) -> np.ndarray:
        """Un-normalized network outputs for a batch of uint8 crops."""
        out = [self._forward(standardize(faces[i:i + self.batch_size])).numpy()
               for i in range(0, len(faces), self.batch_size)]
        return np.concatenate(out, axis=0)

    def embed(self, faces: np.ndarray) -> np.ndarray:
        """L2-normalized embeddings [N, 128] of uint8 crops [N, INPUT_SIDE, INPUT_SIDE, 3]."""
        faces = np.asarray(faces)
        if len(faces) == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        emb = self._raw(faces)
        if self.flip:
            emb = emb + self._raw(faces[:, :, ::-1, :])
        return l2_normalize(emb)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
