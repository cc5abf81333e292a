"""Approximate vector index for large galleries: faiss PQ fast-scan, then exact rerank.

A version folder may hold ``index/pq-fastscan.faiss`` (4-bit product-quantized codes, 32 bytes a
row with PQ_M = 64) and ``index/index.json`` (rows, matrix checksum, parameters). A query scans
every code in SIMD registers for a shortlist; the shortlist is reranked exactly in float32 from
the memory-mapped matrix, and the best identities are completed with all their rows, so
per-identity aggregation never sorts every row. Chosen by measurement over HNSW (usearch, faiss,
hnswlib) and IVF (see README, "A million faces").
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from app.pipeline.errors import StartupError
from app.pipeline.galleries.rows import read_rows

INDEX_DIR = "index"
INDEX_FILE = "pq-fastscan.faiss"
META_FILE = "index.json"
PQ_M = 64  # sub-quantizers of 4 bits: 32 bytes a row
TRAIN_ROWS = 100_000


def matrix_checksum(matrix: np.ndarray, sample: int = 256) -> str:
    """sha256 of the shape and of `sample` rows spread over the matrix (cheap, catches a swap)."""
    rows = np.linspace(0, len(matrix) - 1, min(sample, len(matrix))).astype(np.int64)
    digest = hashlib.sha256(repr(tuple(matrix.shape)).encode())
    digest.update(np.ascontiguousarray(read_rows(matrix, rows), dtype=np.float32).tobytes())
    return digest.hexdigest()


def build_index(version: str, matrix: np.ndarray, threads: int = 2) -> dict:
    """Train and write the PQ fast-scan index of a version's matrix; its metadata."""
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexPQFastScan(matrix.shape[1], PQ_M, 4, faiss.METRIC_INNER_PRODUCT)
    step = max(1, len(matrix) // TRAIN_ROWS)
    index.train(np.ascontiguousarray(matrix[::step][:TRAIN_ROWS], dtype=np.float32))
    for start in range(0, len(matrix), 100_000):
        index.add(np.ascontiguousarray(matrix[start:start + 100_000], dtype=np.float32))
    folder = os.path.join(version, INDEX_DIR)
    os.makedirs(folder, exist_ok=True)
    faiss.write_index(index, os.path.join(folder, INDEX_FILE))
    meta = {"library": "faiss", "faiss": faiss.__version__, "kind": "pq-fastscan", "pq_m": PQ_M,
            "rows": int(len(matrix)), "dim": int(matrix.shape[1]), "checksum": matrix_checksum(matrix)}
    with open(os.path.join(folder, META_FILE), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    return meta


def has_index(version: str) -> bool:
    """True when the version folder holds an index."""
    return os.path.isfile(os.path.join(version, INDEX_DIR, META_FILE))


class PQIndex:
    """An opened index: `search(query, m)` gives the m rows whose codes score best."""

    def __init__(self, version: str, matrix: np.ndarray, name: str):
        import faiss

        folder = os.path.join(version, INDEX_DIR)
        fix = f"Run `flask gallery index {name}` to rebuild it (or set INDEX=exact)."
        try:
            with open(os.path.join(folder, META_FILE), encoding="utf-8") as f:
                self.meta = json.load(f)
            faiss.omp_set_num_threads(1)  # serving: one thread beside the networks'
            self.index = faiss.read_index(os.path.join(folder, INDEX_FILE), faiss.IO_FLAG_READ_ONLY)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise StartupError(f"Gallery index in {folder} is missing or corrupt ({exc}). {fix}") from exc
        if self.meta.get("rows") != len(matrix) or self.index.ntotal != len(matrix) or \
                self.meta.get("checksum") != matrix_checksum(matrix):
            raise StartupError(f"Gallery index in {folder} ({self.meta.get('rows')} rows) does not match the "
                               f"gallery matrix ({len(matrix)} rows, checksum). {fix}")

    def search(self, query: np.ndarray, m: int) -> np.ndarray:
        """Rows of the m best codes for a query (inner product)."""
        _, idx = self.index.search(np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1), int(m))
        rows = idx[0]
        return rows[rows >= 0].astype(np.int64)
