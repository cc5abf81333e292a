"""Which runtime runs the networks: ONNX Runtime on the converted files, or the TensorFlow reference.

RUNTIME "onnx" runs instance/weights/{pnet,rnet,onet,facenet}.onnx (written and checked against
TensorFlow by `flask weights fetch`) with ONNX Runtime and never imports TensorFlow; "tf" is the
reference path (mtcnn 1.0 and Keras FaceNet); "auto" is onnx when the converted files exist.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

from app.pipeline.errors import StartupError

RUNTIMES = ("auto", "onnx", "tf")
NETWORK_NAMES = ("pnet", "rnet", "onet", "facenet")
OUTPUTS = {"pnet": ["reg", "prob"], "rnet": ["reg", "prob"], "onet": ["reg", "landmarks", "prob"],
           "facenet": ["embedding"]}


def onnx_path(weights_dir: str, name: str) -> str:
    """Path of one converted network under the weights folder."""
    return os.path.join(weights_dir, f"{name}.onnx")


def has_onnx(weights_dir: str) -> bool:
    """True when all four converted networks are installed."""
    return all(os.path.isfile(onnx_path(weights_dir, n)) for n in NETWORK_NAMES)


def resolve_runtime(wanted: str, weights_dir: str) -> str:
    """"onnx" or "tf" for the configured RUNTIME; StartupError when onnx is asked for but not installed."""
    if wanted not in RUNTIMES:
        raise StartupError(f"RUNTIME must be one of {', '.join(RUNTIMES)}; got {wanted!r}")
    if wanted == "auto":
        return "onnx" if has_onnx(weights_dir) else "tf"
    if wanted == "onnx" and not has_onnx(weights_dir):
        raise StartupError(f"RUNTIME=onnx but the converted networks are not in {weights_dir}. "
                           "Run `flask weights fetch` (or `make weights`), or set RUNTIME=tf.")
    return wanted


class OnnxNetwork:
    """One ONNX Runtime session: thread-safe run() on a float32 NHWC batch, fixed intra-op threads."""

    def __init__(self, path: str, outputs: list[str], threads: int = 1):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between calls: the cores are shared with the other workers.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for unreadable files
            raise StartupError(f"The converted network {path} cannot be loaded ({str(exc)[:200]}). "
                               "Run `flask weights fetch --force`.") from exc
        self._outputs = outputs

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """The network's outputs for one float32 NHWC batch."""
        return self._session.run(self._outputs, {"input": np.ascontiguousarray(x, dtype=np.float32)})


def load_onnx(weights_dir: str, name: str, threads: int) -> OnnxNetwork:
    """One converted network, ready to run."""
    return OnnxNetwork(onnx_path(weights_dir, name), OUTPUTS[name], threads)


def release_memory() -> None:
    """Give freed heap back to the OS (glibc malloc_trim): ONNX Runtime leaves each parsed file resident."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
