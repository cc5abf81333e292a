"""The similarity network in NumPy: its dense weights, a fast one-query-vs-gallery scorer, pair logits in blocks.

Serving and evaluation run these instead of Keras: each is checked against the network itself
(naive_scores in models/similarity.py) by tests/models/test_similarity.py. Nothing here imports
Keras unless it is handed a Keras model, so a serving install (no TensorFlow) runs the weights
`flask train` exported beside the model (DenseSimilarity.save).
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

CHI2_EPS: float = 1e-6
DEFAULT_CHUNK: int = 8192  # gallery columns per block in the fast path (keeps activations in L2 cache)


def _find_openblas_local_setter() -> Callable[[int], int] | None:
    """openblas_set_num_threads_local from NumPy's bundled OpenBLAS (>= 0.3.27), or None."""
    base = os.path.dirname(np.__file__)
    for path in glob.glob(base + ".libs/*openblas*") + glob.glob(os.path.join(base, ".dylibs", "*openblas*")):
        try:
            fn = getattr(ctypes.CDLL(path), "openblas_set_num_threads_local", None)
        except OSError:
            continue
        if fn is not None:
            fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_int]
            return fn
    return None


_SET_LOCAL_BLAS_THREADS = _find_openblas_local_setter()


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Run NumPy BLAS calls of this thread on one core (no-op if not OpenBLAS).

    With TensorFlow's thread pools in the same process on few cores, multi-threaded OpenBLAS on
    these small matmuls measured 10-50x slower with 300 ms tails; one thread is 6 ms stable.
    """
    if _SET_LOCAL_BLAS_THREADS is None:
        yield
        return
    previous = _SET_LOCAL_BLAS_THREADS(1)
    try:
        yield
    finally:
        _SET_LOCAL_BLAS_THREADS(previous)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free float32 sigmoid."""
    return (0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float32)))).astype(np.float32)


def combine_numpy(a: np.ndarray, b: np.ndarray, mode: str, eps: float = CHI2_EPS) -> np.ndarray:
    """NumPy twin of the network's PairCombiner for float32 arrays broadcastable to [n, d]."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    a, b = np.broadcast_arrays(a, b)
    if mode == "concat":
        return np.concatenate([a, b], axis=-1)
    if mode == "absprod":
        return np.concatenate([np.abs(a - b), a * b], axis=-1)
    if mode == "chi2":
        return np.square(a - b) / (np.abs(a) + np.abs(b) + np.float32(eps))
    raise ValueError(f"unknown combiner {mode!r}")


@dataclass(frozen=True)
class DenseSimilarity:
    """The similarity network as NumPy weights: its combiner, and (kernel, bias) float32 pairs, input to output."""

    combiner: str
    eps: float
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    @classmethod
    def from_keras(cls, model: Any) -> DenseSimilarity:
        """The weights of a Keras similarity model (models.similarity.build_similarity)."""
        from keras import layers

        combine = model.get_layer("combine")
        dense = [layer.get_weights() for layer in model.layers if isinstance(layer, layers.Dense)]
        return cls(combine.mode, float(combine.eps),
                   tuple((k.astype(np.float32), b.astype(np.float32)) for k, b in dense))

    def save(self, path: str) -> None:
        """Write the weights as .npz (kernel_I, bias_I per layer, the combiner and eps)."""
        arrays = {f"{kind}_{i}": w for i, pair in enumerate(self.layers) for kind, w in zip(("kernel", "bias"), pair)}
        with open(path, "wb") as f:
            np.savez(f, combiner=np.array(self.combiner), eps=np.array(self.eps, np.float64), **arrays)

    @classmethod
    def load(cls, path: str) -> DenseSimilarity:
        """Read what save wrote (plain arrays, no pickle)."""
        with np.load(path, allow_pickle=False) as data:
            count = sum(1 for name in data.files if name.startswith("kernel_"))
            return cls(str(data["combiner"]), float(data["eps"]),
                       tuple((data[f"kernel_{i}"].astype(np.float32), data[f"bias_{i}"].astype(np.float32))
                             for i in range(count)))

    def logits(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Logits [n] of the network for encoded row pairs (a_i, b_i) (or one row against many)."""
        h = combine_numpy(a, b, self.combiner, self.eps)
        for W, bias in self.layers[:-1]:
            h = np.maximum(h @ W + bias, 0)
        W, bias = self.layers[-1]
        return (h @ W + bias)[:, 0]


def dense_similarity(model: Any) -> DenseSimilarity:
    """DenseSimilarity of a Keras similarity model (or the DenseSimilarity itself)."""
    return model if isinstance(model, DenseSimilarity) else DenseSimilarity.from_keras(model)


class SimilarityScorer:
    """Fast scorer of one encoded query against a fixed encoded gallery G [M, d].

    concat: exact. The first dense layer splits as W1 = [Wa; Wb], so G @ Wb + b1 is precomputed once
    and each query costs relu(q @ Wa + pre) plus the small remaining layers, as float32 NumPy matmuls
    over cache-sized blocks of the gallery.
    absprod / chi2: not decomposable, so the top ``shortlist`` rows by cosine are scored by the
    network (NumPy forward pass); rows outside the shortlist are never ranked.
    Queries must already be encoded (models.encoder.encode). Read-only after construction, so one
    instance can serve concurrent requests.
    """

    def __init__(
        self,
        model: Any,
        gallery: np.ndarray,
        shortlist: int,
        chunk: int = DEFAULT_CHUNK,
    ):
        """Take the weights (a DenseSimilarity, or a Keras similarity model) and precompute the gallery-side terms."""
        self.network = dense_similarity(model)
        self.combiner: str = self.network.combiner
        self.eps: float = self.network.eps
        self.shortlist = int(shortlist)
        self.chunk = int(chunk)
        G = np.ascontiguousarray(gallery, dtype=np.float32)
        if G.ndim != 2:
            raise ValueError("gallery must be [M, d]")
        self.size, self.dim = G.shape
        self._layers = list(self.network.layers)
        with _single_threaded_blas():
            self._precompute(G)

    def _precompute(self, G: np.ndarray) -> None:
        """Precompute the gallery half of the first layer (concat) or the unit gallery (shortlist)."""
        # Transposed (column-major over the gallery) weights for the blocked fast path.
        self._tail_t = [(np.ascontiguousarray(W.T), b[:, None]) for W, b in self._layers[1:]]
        if self.combiner == "concat":
            W1, b1 = self._layers[0]
            self._wa = np.ascontiguousarray(W1[: self.dim])
            self._pre_t = np.ascontiguousarray((G @ W1[self.dim :] + b1).T)  # [h1, M]
            self._gallery = None
            self._unit = None
        else:
            self._gallery = G
            norms = np.linalg.norm(G, axis=1, keepdims=True)
            self._unit = G if np.allclose(norms, 1.0, atol=1e-4) else G / np.maximum(norms, 1e-12)

    def _concat_logits(self, q: np.ndarray) -> np.ndarray:
        """Exact logits of the concat network for all M gallery rows."""
        qa = (q @ self._wa)[:, None]
        out = np.empty(self.size, dtype=np.float32)
        widths = [self._pre_t.shape[0]] + [W.shape[0] for W, _ in self._tail_t]
        bufs = [np.empty((w, self.chunk), dtype=np.float32) for w in widths]
        for s in range(0, self.size, self.chunk):
            e = min(s + self.chunk, self.size)
            h = bufs[0][:, : e - s]
            np.add(self._pre_t[:, s:e], qa, out=h)
            np.maximum(h, 0, out=h)
            for li, (Wt, b) in enumerate(self._tail_t[:-1]):
                nxt = bufs[li + 1][:, : e - s]
                np.matmul(Wt, h, out=nxt)
                nxt += b
                np.maximum(nxt, 0, out=nxt)
                h = nxt
            Wt, b = self._tail_t[-1]
            out[s:e] = (Wt @ h)[0] + b[0, 0]
        return out

    def _network_logits(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Logits of the full network (NumPy forward pass) for the given gallery rows."""
        return self.network.logits(q[None, :], self._gallery[rows])

    def _query(self, query_vec: np.ndarray) -> np.ndarray:
        """Validate and flatten a single encoded query to float32 [d]."""
        q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dim:
            raise ValueError(f"query has dim {q.shape[0]}, gallery has {self.dim}")
        return q

    def score_all(self, query_vec: np.ndarray) -> np.ndarray:
        """Exact network scores (sigmoid) of the query against all M rows (no shortlist)."""
        q = self._query(query_vec)
        with _single_threaded_blas():
            return self._score_all(q)

    def _score_all(self, q: np.ndarray) -> np.ndarray:
        """score_all body."""
        if self.combiner == "concat":
            return sigmoid(self._concat_logits(q))
        logits = np.zeros(self.size, dtype=np.float32)
        for s in range(0, self.size, self.chunk):
            e = min(s + self.chunk, self.size)
            logits[s:e] = self._network_logits(q, np.arange(s, e))
        return sigmoid(logits)

    def top_k(self, query_vec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (gallery indices, similarity scores) of the k best rows, best first."""
        q = self._query(query_vec)
        k = min(int(k), self.size)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        with _single_threaded_blas():
            return self._top_k(q, k)

    def _top_k(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """top_k body for a validated query and 1 <= k <= M."""
        if self.combiner == "concat":
            rows = np.arange(self.size)
            logits = self._concat_logits(q)
        else:
            n = min(max(self.shortlist, k), self.size)
            cos = self._unit @ q
            rows = np.argpartition(-cos, n - 1)[:n] if n < self.size else np.arange(self.size)
            logits = self._network_logits(q, rows)
        top = np.argpartition(-logits, k - 1)[:k] if k < len(logits) else np.arange(len(logits))
        top = top[np.argsort(-logits[top], kind="stable")]
        return rows[top], sigmoid(logits[top])


def pair_logits(model: Any, a: np.ndarray, b: np.ndarray, block: int = 65_536) -> np.ndarray:
    """Logits of the similarity network (DenseSimilarity or Keras model) for row pairs (a_i, b_i), in blocks."""
    network = dense_similarity(model)
    out = np.empty(len(a), dtype=np.float32)
    with _single_threaded_blas():
        for s in range(0, len(a), block):
            out[s:s + block] = network.logits(a[s:s + block], b[s:s + block])
    return out
