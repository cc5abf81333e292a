"""Vectorized identity ranking for the offline protocols: many probes against one gallery at once.

A probe's score for an identity aggregates its row scores as the served scorer does
(`app.pipeline.scoring.scorers.Aggregation`): "max" (best photo), "mean_n" (mean of the n best photos) or
"centroid" (cosine to the identity's normalized mean embedding). Rows a probe may not see (its own
photo, in the open protocol) are hidden with ``exclude``; rows not scored are -inf.
"""

from __future__ import annotations

import numpy as np

from app.pipeline.photos.embed import l2_normalize
from app.pipeline.scoring.batch_scores import aggregate_rows
from app.pipeline.scoring.scorers import Aggregation, identity_sums

PROBE_BLOCK = 256  # probes per matrix product (keeps [block, rows] float32 blocks small)


def _hide(S: np.ndarray, exclude: np.ndarray | None) -> np.ndarray:
    """S with each probe's excluded row (>= 0) set to -inf."""
    if exclude is not None:
        hit = np.flatnonzero(exclude >= 0)
        S[hit, exclude[hit]] = -np.inf
    return S


def centroid_scores(Q: np.ndarray, G: np.ndarray, labels: np.ndarray, n_ids: int,
                    exclude: np.ndarray | None = None) -> np.ndarray:
    """[P, n_ids] cosine of each probe to each identity's normalized mean row (excluded rows left out)."""
    sums, counts = identity_sums(G, labels, n_ids)
    out = (Q @ l2_normalize(sums).T).astype(np.float32)
    out[:, counts == 0] = -np.inf
    if exclude is not None:
        hit = np.flatnonzero(exclude >= 0)
        own = labels[exclude[hit]]
        rest = l2_normalize(sums[own] - G[exclude[hit]])
        alone = counts[own] <= 1
        out[hit, own] = np.where(alone, -np.inf, np.sum(Q[hit] * rest, axis=1))
    return out


def identity_scores(Q: np.ndarray, G: np.ndarray, labels: np.ndarray, n_ids: int, aggregation: Aggregation,
                    exclude: np.ndarray | None = None) -> np.ndarray:
    """[P, n_ids] aggregated cosine scores of unit probes Q against unit gallery rows G."""
    Q = np.asarray(Q, dtype=np.float32)
    G = np.asarray(G, dtype=np.float32)
    if aggregation.method == "centroid":
        return centroid_scores(Q, G, labels, n_ids, exclude)
    parts = []
    for s in range(0, len(Q), PROBE_BLOCK):
        block = _hide(Q[s:s + PROBE_BLOCK] @ G.T, None if exclude is None else exclude[s:s + PROBE_BLOCK])
        parts.append(aggregate_rows(block, labels, n_ids, aggregation.method, aggregation.mean_n))
    return np.concatenate(parts) if parts else np.zeros((0, n_ids), np.float32)


def true_ranks(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """0-based rank of each probe's true identity (ties count against it; -1 when it has no score)."""
    own = scores[np.arange(len(scores)), truth]
    ranks = np.sum(scores >= own[:, None], axis=1) - 1
    return np.where(np.isfinite(own), ranks, -1)


def topk_hits(scores: np.ndarray, truth: np.ndarray, ks=(1, 5)) -> dict[str, float]:
    """{"top1": .., "top5": .., "n_probes": ..} over probes whose identity has a score."""
    ranks = true_ranks(scores, truth)
    ranks = ranks[ranks >= 0]
    out = {f"top{k}": float(np.mean(ranks < k)) if len(ranks) else float("nan") for k in ks}
    out["n_probes"] = float(len(ranks))
    return out


def top_identities(scores: np.ndarray, k: int) -> np.ndarray:
    """[P, k] the k best identities per probe, best first (ties by lower index)."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    key = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -key), axis=1)
    return np.take_along_axis(top, order, axis=1)
