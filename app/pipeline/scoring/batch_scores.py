"""Identity scores of many queries at once: [queries, rows] cosines aggregated per identity.

The batch counterpart of Scorer.rank's aggregation (app/pipeline/scoring/scorers.py), for the
work done over whole galleries: stand-in statistics at build or load time, and the offline
protocols (app/evaluation/ranking.py).
"""

from __future__ import annotations

import numpy as np

from app.pipeline.scoring.scorers import Aggregation, identity_sums


def segments(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row order grouping identities, segment starts, identity of each segment)."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    return order, starts, sorted_labels[starts]


def aggregate_rows(S: np.ndarray, labels: np.ndarray, n_ids: int, method: str, mean_n: int,
                   grouped: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """[P, n_ids] identity scores from row scores S [P, M] by "max" or "mean_n" (-inf rows unscored).

    grouped: segments(labels), when the caller computed it once for many blocks.
    """
    order, starts, ids = grouped or segments(labels)
    S = S[:, order]
    out = np.full((len(S), n_ids), -np.inf, dtype=np.float32)
    best = np.maximum.reduceat(S, starts, axis=1)
    if method == "max":
        out[:, ids] = best
        return out
    seg = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, S.shape[1]]))
    total, count, rest = np.zeros_like(best), np.zeros_like(best), S
    for _ in range(max(1, mean_n)):  # peel off each identity's best remaining row n times
        found = np.isfinite(best)
        total += np.where(found, best, 0.0)
        count += found
        rest = np.where(rest >= best[:, seg], -np.inf, rest)
        best = np.maximum.reduceat(rest, starts, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, ids] = np.where(count > 0, total / np.maximum(count, 1), -np.inf)
    return out


def centroids(matrix: np.ndarray, labels: np.ndarray, n_ids: int) -> tuple[np.ndarray, np.ndarray]:
    """(unit centroid per identity [n, d] float32, rows per identity [n])."""
    sums, counts = identity_sums(matrix, labels, n_ids)
    return (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(np.float32), counts


def identity_score_block(Q: np.ndarray, matrix: np.ndarray, labels: np.ndarray, n_ids: int,
                         aggregation: Aggregation, grouped=None,
                         unit_centroids: np.ndarray | None = None) -> np.ndarray:
    """[B, n_ids] aggregated cosines of unit queries Q against the rows of `matrix` (one block of queries).

    grouped and unit_centroids: precomputed segments(labels) and centroids, reused across blocks.
    """
    Q = np.asarray(Q, np.float32)
    if aggregation.method == "centroid":
        if unit_centroids is None:
            unit_centroids, _ = centroids(matrix, labels, n_ids)
        return (Q @ unit_centroids.T).astype(np.float32)
    S = Q @ np.asarray(matrix, np.float32).T
    return aggregate_rows(S, labels, n_ids, aggregation.method, aggregation.mean_n, grouped)
