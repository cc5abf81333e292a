"""FaceNet embeddings, one model per process: Keras through a tf.function ("tf", the reference) or
the converted network on ONNX Runtime ("onnx"); both batched, both L2-normalized here."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.facenet import EMBEDDING_DIM, INPUT_SIDE, standardize


class Embedder:
    """Turns square RGB face crops (INPUT_SIDE px) into L2-normalized float32 [N, 128] embeddings."""

    def __init__(self, weights_path: str, batch_size: int, flip: bool, runtime: str = "tf",
                 onnx_file: str = "", threads: int = 1, alone_threads: int = 1,
                 alone: Callable[[], bool] | None = None):
        self.batch_size = int(batch_size)
        self.flip = bool(flip)
        self.runtime = runtime
        if runtime == "onnx":
            from app.pipeline.networks.runtime import OnnxNetwork, release_memory

            self.session = OnnxNetwork(onnx_file, ["embedding"], threads)
            # A second session on more threads, for calls made while `alone()` says no other match runs.
            self.wide = (OnnxNetwork(onnx_file, ["embedding"], alone_threads)
                         if alone and alone_threads > threads else None)
            self._forward = lambda x: (self.wide if self.wide is not None and alone() else self.session).run(x)[0]
            for session in filter(None, (self.session, self.wide)):  # each one's first-call set-up
                session.run(standardize(np.zeros((1, INPUT_SIDE, INPUT_SIDE, 3), np.uint8)))
            release_memory()
            return
        self.wide = None
        import tensorflow as tf

        from models.facenet import load_facenet

        self.model = load_facenet(weights_path)
        forward = tf.function(
            lambda x: self.model(x, training=False),
            input_signature=[tf.TensorSpec([None, INPUT_SIDE, INPUT_SIDE, 3], tf.float32)],
            reduce_retracing=True,
        )
        self._forward = lambda x: forward(x).numpy()
        self.embed(np.zeros((1, INPUT_SIDE, INPUT_SIDE, 3), np.uint8))  # trace once, off the request path

    @classmethod
    def from_config(cls, config: dict, weights_path: str, runtime: str = "tf", onnx_file: str = "",
                    alone: Callable[[], bool] | None = None) -> Embedder:
        """Build an embedder from the app configuration for a resolved runtime ("onnx" or "tf").

        `alone` (optional) tells whether the calling match is the only one running: then FaceNet
        runs on RUNTIME_THREADS_ALONE threads (0: CPU_SLOTS).
        """
        wide = int(config.get("RUNTIME_THREADS_ALONE", 1)) or int(config.get("CPU_SLOTS", 1))
        return cls(weights_path, config["EMBED_BATCH_SIZE"], config["EMBED_FLIP"], runtime, onnx_file,
                   config["RUNTIME_THREADS"], wide, alone)

    def _raw(self, faces: np.ndarray) -> np.ndarray:
        """Un-normalized network outputs for a batch of uint8 crops."""
        out = [np.asarray(self._forward(standardize(faces[i:i + self.batch_size])), np.float32)
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
