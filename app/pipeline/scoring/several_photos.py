"""Several photos of one visitor matched as one query: a steadier answer than any one photo.

The photos' embeddings are combined into one unit query: the mean of the unit embeddings, scaled
back to unit length. Measured on LFW visitors not in the gallery (two disjoint sets of 3 photos,
docs/evaluation-levers.md): with centroid scoring it ranks exactly as averaging each photo's
identity scores does (the centroid cosine is linear in the query) at the cost of one match instead
of one per photo; taking each identity's best score over the photos, a vote of ranks, or the
photo nearest the others agrees less often (top-1 agreement 0.24-0.32 against 0.36).
"""

from __future__ import annotations

import numpy as np

MAX_PHOTOS = 3  # photos of one visitor matched together at most


def combine_embeddings(embeddings: np.ndarray) -> np.ndarray:
    """One unit query [d] from 1..MAX_PHOTOS embeddings [k, d] of the same person (float32).

    ValueError for no embedding, too many, or ones that cancel out (never from real faces of one
    person: their cosines are positive).
    """
    e = np.asarray(embeddings, np.float64)
    if e.ndim == 1:
        e = e[None]
    if e.ndim != 2 or not 1 <= len(e) <= MAX_PHOTOS:
        raise ValueError(f"combine 1 to {MAX_PHOTOS} embeddings of shape [k, d]; got shape {e.shape}")
    unit = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    mean = unit.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if not np.isfinite(norm) or norm < 1e-6:
        raise ValueError("the embeddings cancel out: they are not photos of one person")
    return (mean / norm).astype(np.float32)


def combine_batch(embeddings: np.ndarray) -> np.ndarray:
    """combine_embeddings of each set: [S, k, d] -> [S, d] (the evaluation's many sets at once)."""
    e = np.asarray(embeddings, np.float64)
    unit = e / np.maximum(np.linalg.norm(e, axis=2, keepdims=True), 1e-12)
    mean = unit.mean(axis=1)
    return (mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)).astype(np.float32)
