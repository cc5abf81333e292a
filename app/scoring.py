"""One-vs-all scoring of a query embedding against a gallery, aggregated per identity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AGGREGATES = ("max", "mean_n")


def cosine_to_score(cosine: np.ndarray | float) -> np.ndarray | float:
    """Map cosine similarity [-1, 1] to a display score [0, 1]: (1 + cos) / 2."""
    return np.clip((1.0 + np.asarray(cosine, dtype=np.float64)) / 2.0, 0.0, 1.0)


@dataclass(frozen=True)
class Match:
    """One matched identity: its best photo's row, the aggregated cosine and display score."""

    identity: str
    row: int
    cosine: float
    score: float


def aggregate_by_identity(sims: np.ndarray, labels: np.ndarray, n_identities: int,
                          method: str = "max", mean_n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Per identity: aggregated similarity and the row of its best photo (-inf/-1 when absent)."""
    if method not in AGGREGATES:
        raise ValueError(f"unknown aggregate {method!r}; choose one of {AGGREGATES}")
    order = np.lexsort((-sims, labels))  # by identity, best photo first
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    present = sorted_labels[starts]
    best_rows = np.full(n_identities, -1, dtype=np.int64)
    best_rows[present] = order[starts]
    agg = np.full(n_identities, -np.inf)
    if method == "max":
        agg[present] = sims[order[starts]]
    else:  # mean of the n best scored rows of each identity (-inf rows are not scored)
        counts = np.diff(np.r_[starts, len(order)])
        finite = np.isfinite(sims[order])
        take = np.minimum(np.add.reduceat(finite.astype(np.int64), starts), max(1, int(mean_n)))
        rank = np.arange(len(order)) - np.repeat(starts, counts)
        keep = rank < np.repeat(take, counts)
        sums = np.zeros(len(starts))
        np.add.at(sums, np.repeat(np.arange(len(starts)), counts)[keep], sims[order][keep])
        with np.errstate(invalid="ignore", divide="ignore"):
            agg[present] = np.where(take > 0, sums / np.maximum(take, 1), -np.inf)
    return agg, best_rows


def rank_identities(sims: np.ndarray, embeddings: np.ndarray, query: np.ndarray,
                    labels: np.ndarray, identities: list[str], top_k: int,
                    display=cosine_to_score, method: str = "max", mean_n: int = 3) -> list[Match]:
    """Top-k distinct identities by per-row scores `sims` (-inf = not scored)."""
    agg, best_rows = aggregate_by_identity(np.asarray(sims, np.float64), labels, len(identities),
                                           method, mean_n)
    k = min(int(top_k), int(np.isfinite(agg).sum()))
    top = np.argpartition(-agg, k - 1)[:k] if k < len(agg) else np.arange(len(agg))
    top = top[np.argsort(-agg[top], kind="stable")][:k]
    return [Match(identity=identities[i], row=int(best_rows[i]),
                  cosine=float(np.asarray(embeddings[best_rows[i]]) @ query),
                  score=float(display(agg[i]))) for i in top]


class CosineScorer:
    """Plain FaceNet scoring: cosine similarity of the query to every gallery row."""

    name = "cosine"

    def __init__(self, embeddings: np.ndarray):
        self.embeddings = embeddings

    def row_scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine similarity per gallery row."""
        return np.asarray(self.embeddings @ np.asarray(query, dtype=np.float32), dtype=np.float64)

    @staticmethod
    def display(value: float) -> float:
        """Display score in [0, 1]."""
        return float(cosine_to_score(value))

    @staticmethod
    def pair_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Euclidean distance between rows of unit embeddings (0 same, 2 opposite)."""
        return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)
