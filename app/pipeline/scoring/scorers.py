"""One Scorer interface for match, verify, check and evaluation; cosine, and per-identity ranking.

A scorer compares FaceNet embeddings: ``row_scores`` scores one query against every row of the
matrix it was built on (higher = more alike, -inf = not scored), ``pair_distances`` compares rows
of two matrices (0 = identical; what verification thresholds), ``display`` maps an aggregated
row score to the [0, 1] score users see. :mod:`app.pipeline.scoring.learned_scorers` implements the learned one.

(A little longer than 250 lines: the interface, its three aggregations and the cosine scorers belong
together; splitting them would only add imports.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

AGGREGATES = ("max", "mean_n", "centroid")
SHORTLIST_MIN = 64  # rows aggregated per query at least
SHORTLIST_PER_MATCH = 8  # and this many per requested identity and averaged row
COMPLETE_IDENTITIES = 100  # leading identities whose rows are all scored for "mean_n"
NORM_SHORTLIST_FACTOR = 4  # a normalised ranking may lift an identity from lower down the raw shortlist


@dataclass(frozen=True)
class Aggregation:
    """How the rows of one identity combine: its best row ("max"), the mean of its n best ("mean_n"),
    or its centroid ("centroid": cosine to the normalized mean of all its rows, i.e. the mean of
    all its row cosines over the length of its mean row)."""

    method: str = "max"
    mean_n: int = 3

    def __post_init__(self):
        if self.method not in AGGREGATES:
            raise ValueError(f"unknown aggregate {self.method!r}; choose one of {AGGREGATES}")

    @classmethod
    def from_config(cls, config: dict) -> Aggregation:
        """SCORE_AGGREGATE and SCORE_MEAN_N of the app configuration."""
        return cls(config["SCORE_AGGREGATE"], int(config["SCORE_MEAN_N"]))


@dataclass(frozen=True)
class Match:
    """One matched identity: its best photo's row, that photo's cosine and the display score.

    `label` indexes the gallery's identity table; `name`, `resemblance` (the percentile of the
    aggregated score among non-gallery people's best matches), `portrait` (the row pages show for the
    identity) and its attributes are filled in by the engine.
    """

    identity: str
    row: int
    cosine: float
    score: float
    label: int = -1
    raw: float = 0.0  # the aggregated row score before display mapping
    name: str = ""
    resemblance: float | None = None
    portrait: int = -1
    attributes: dict = field(default_factory=dict)  # gender, birth_year: what the gallery knows


class Scorer(ABC):
    """Scores FaceNet embeddings against the matrix it was built on, and pairs of embeddings."""

    name: str = "scorer"

    def __init__(self, matrix: np.ndarray):
        self.matrix = matrix

    @abstractmethod
    def row_scores(self, query: np.ndarray) -> np.ndarray:
        """Score per matrix row for one query embedding (float64, -inf where not scored)."""

    @abstractmethod
    def pair_distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Distance between rows of two embedding matrices (smaller = more alike)."""

    def display(self, value: float) -> float:
        """Display score in [0, 1] of an aggregated row score."""
        return float(value)

    def candidates(self, query: np.ndarray) -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
        """A function giving the m best rows (any order) and their scores for this query.

        This one scores every row once; an index-backed scorer searches its index instead.
        """
        sims = self.row_scores(query)
        scored = np.flatnonzero(np.isfinite(sims))

        def best(m: int) -> tuple[np.ndarray, np.ndarray]:
            rows = scored if m >= len(scored) else scored[np.argpartition(-sims[scored], m - 1)[:m]]
            return rows, sims[rows]
        return best

    def rank(self, query: np.ndarray, labels: np.ndarray, identities: list[str], top_k: int,
             aggregation: Aggregation, allowed: np.ndarray | None = None, norm=None) -> list[Match]:
        """Top-k distinct identities, aggregated over the best rows only (never a sort of every row).

        The shortlist grows until it holds at least top_k identities, so "max" is exact; "mean_n"
        averages each identity's best rows within the shortlist. `allowed` (bool per identity) restricts
        the answer to those identities; `norm` (an IdentityNorm) rescales the aggregated scores.
        """
        best, n = self.candidates(query), len(labels)
        wide = NORM_SHORTLIST_FACTOR if norm is not None else 1
        m = min(n, wide * max(SHORTLIST_MIN, top_k * max(aggregation.mean_n, 1) * SHORTLIST_PER_MATCH))
        while True:
            rows, scores = best(m)
            found = len(rows)
            if allowed is not None:
                rows, scores = rows[allowed[labels[rows]]], scores[allowed[labels[rows]]]
            if m >= n or found < m or len(np.unique(labels[rows])) >= top_k:
                break
            m = min(n, m * 4)
        scale = None
        if aggregation.method != "max":  # an average needs each leading identity's rows whole
            rows, scores = self.complete(query, rows, scores, labels, max(10 * top_k, COMPLETE_IDENTITIES))
            # Only identities whose rows are all scored compete: the mean of a partly scored identity
            # would be taken over its few shortlisted (best) rows and so beat the others unfairly.
            present, local, seen = np.unique(labels[rows], return_inverse=True, return_counts=True)
            whole = (seen == self.identity_counts(labels)[present])[local.ravel()]
            rows, scores = rows[whole], scores[whole]
            if aggregation.method == "centroid":
                scale = self.centroid_scale(labels)
        return rank_identities(scores, self.matrix, query, labels[rows], identities, top_k, aggregation,
                               self.display, rows=rows, scale=scale, norm=norm)

    def identity_rows(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows sorted by identity, where each identity's run starts, and its length (computed once)."""
        if getattr(self, "_rows_of", None) is None or len(self._rows_of[0]) != len(labels):
            counts = np.bincount(labels)
            self._rows_of = (np.argsort(labels, kind="stable"), np.r_[0, np.cumsum(counts)], counts)
        return self._rows_of

    def identity_counts(self, labels: np.ndarray) -> np.ndarray:
        """Rows per identity."""
        return self.identity_rows(labels)[2]

    def centroid_scale(self, labels: np.ndarray) -> np.ndarray | None:
        """Per identity 1 / length of its mean row in the scored space (None: scores are no cosines)."""
        if getattr(self, "_scale", None) is None or len(self._scale) != len(self.identity_counts(labels)):
            self._scale = identity_scale(self.space(), labels)
        return self._scale

    def space(self) -> np.ndarray | None:
        """The unit rows whose cosines row_scores returns (None when the scores are no cosines)."""
        return None

    def score_rows(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Scores of the given rows (this one scores every row; cosine reads only those)."""
        return self.row_scores(query)[rows]

    def complete(self, query: np.ndarray, rows: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                 identities: int) -> tuple[np.ndarray, np.ndarray]:
        """Add every row of the `identities` best identities of a shortlist, scored."""
        by_identity, starts, _ = self.identity_rows(labels)
        seen = labels[rows[np.argsort(-scores, kind="stable")]]
        top = seen[np.sort(np.unique(seen, return_index=True)[1])][:identities]
        whole = np.concatenate([by_identity[starts[k]:starts[k + 1]] for k in top]) if len(top) else rows[:0]
        extra = np.setdiff1d(whole, rows)  # sorted: a memory-mapped matrix is read in order
        return np.r_[rows, extra], np.r_[scores, np.asarray(self.score_rows(query, extra), np.float64)]


def cosine_to_score(cosine: np.ndarray | float) -> np.ndarray | float:
    """Map cosine similarity [-1, 1] to a display score [0, 1]: (1 + cos) / 2."""
    return np.clip((1.0 + np.asarray(cosine, dtype=np.float64)) / 2.0, 0.0, 1.0)


def euclidean_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance between rows of unit embeddings (0 same, 2 opposite)."""
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)


class CosineScorer(Scorer):
    """Plain FaceNet scoring: cosine similarity of the query to every row."""

    name = "cosine"

    def row_scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine similarity per row."""
        return np.asarray(self.matrix @ np.asarray(query, dtype=np.float32), dtype=np.float64)

    def score_rows(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine of the given rows only."""
        return np.asarray(self.matrix[rows] @ np.asarray(query, dtype=np.float32), np.float64)

    def display(self, value: float) -> float:
        """(1 + cosine) / 2."""
        return float(cosine_to_score(value))

    def space(self) -> np.ndarray:
        """The gallery rows themselves (FaceNet embeddings)."""
        return self.matrix

    def pair_distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Euclidean distance of unit embeddings (monotone in cosine)."""
        return euclidean_distances(a, b)


def identity_sums(space: np.ndarray, labels: np.ndarray, n_identities: int | None = None,
                  block: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """(sum of rows per identity [n, d] float64, rows per identity [n]), one pass in blocks."""
    n = int(labels.max()) + 1 if n_identities is None else n_identities
    sums = np.zeros((n, space.shape[1]))
    for s in range(0, len(labels), block):
        np.add.at(sums, labels[s:s + block], np.asarray(space[s:s + block], np.float64))
    return sums, np.bincount(labels, minlength=n)


def identity_scale(space: np.ndarray | None, labels: np.ndarray) -> np.ndarray | None:
    """Per identity 1 / |mean of its unit rows| (so a mean row cosine becomes the centroid cosine), or None."""
    if space is None:
        return None
    sums, counts = identity_sums(space, labels)
    return 1.0 / np.maximum(np.linalg.norm(sums, axis=1) / np.maximum(counts, 1), 1e-12)


def aggregate_by_identity(sims: np.ndarray, labels: np.ndarray, n_identities: int,
                          aggregation: Aggregation = Aggregation(),
                          scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per identity: aggregated similarity and the row of its best photo (-inf/-1 when absent).

    "centroid" averages every scored row of an identity and multiplies by scale[identity] (from
    identity_scale: then it is the cosine to the identity's centroid); without scale, the mean.
    """
    order = np.lexsort((-sims, labels))  # by identity, best photo first
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    present = sorted_labels[starts]
    best_rows = np.full(n_identities, -1, dtype=np.int64)
    best_rows[present] = order[starts]
    agg = np.full(n_identities, -np.inf)
    if aggregation.method == "max":
        agg[present] = sims[order[starts]]
    else:  # mean of the n best (centroid: all) scored rows of each identity (-inf rows are not scored)
        counts = np.diff(np.r_[starts, len(order)])
        finite = np.isfinite(sims[order])
        n_best = len(order) if aggregation.method == "centroid" else max(1, aggregation.mean_n)
        take = np.minimum(np.add.reduceat(finite.astype(np.int64), starts), n_best)
        rank = np.arange(len(order)) - np.repeat(starts, counts)
        keep = rank < np.repeat(take, counts)
        sums = np.zeros(len(starts))
        np.add.at(sums, np.repeat(np.arange(len(starts)), counts)[keep], sims[order][keep])
        with np.errstate(invalid="ignore", divide="ignore"):
            agg[present] = np.where(take > 0, sums / np.maximum(take, 1), -np.inf)
        if aggregation.method == "centroid" and scale is not None:
            agg[present] *= scale[present]
    return agg, best_rows


def rank_identities(sims: np.ndarray, matrix: np.ndarray, query: np.ndarray, labels: np.ndarray,
                    identities: list[str], top_k: int, aggregation: Aggregation,
                    display=cosine_to_score, rows: np.ndarray | None = None,
                    scale: np.ndarray | None = None, norm=None) -> list[Match]:
    """Top-k distinct identities by per-row scores `sims` (-inf = not scored).

    With `rows`, sims and labels are those of these matrix rows only (a shortlist); with `norm`,
    the aggregated scores are normalised per identity before ranking.
    """
    # Only the identities present in the scored rows take part (a shortlist names a few hundred of
    # 100,000), so nothing here is as long as the identity table.
    present, local = np.unique(np.asarray(labels), return_inverse=True)
    agg, best = aggregate_by_identity(np.asarray(sims, np.float64), local.ravel(), len(present), aggregation,
                                      None if scale is None else scale[present])
    if norm is not None:
        agg = norm.apply(agg, present)
    best_rows = best if rows is None else np.where(best >= 0, np.asarray(rows)[np.maximum(best, 0)], -1)
    k = min(int(top_k), int(np.isfinite(agg).sum()))
    top = np.argpartition(-agg, k - 1)[:k] if k < len(agg) else np.arange(len(agg))
    top = top[np.argsort(-agg[top], kind="stable")][:k]
    cosines = np.asarray(matrix[best_rows[top]], np.float32) @ np.asarray(query, np.float32) if len(top) else []
    return [Match(identity=identities[present[i]], row=int(best_rows[i]), cosine=float(cos),
                  score=float(display(agg[i])), label=int(present[i]), raw=float(agg[i]))
            for i, cos in zip(top, cosines)]


class IndexedCosineScorer(CosineScorer):
    """Cosine scoring of the rows an approximate index shortlists (exact scores, never every row).

    The index's `search(query, m)` gives candidate rows (at least `shortlist`); they are scored
    exactly from the memory-mapped matrix. For "mean_n", Scorer.rank then completes the leading
    identities with all their rows.
    """

    def __init__(self, matrix: np.ndarray, index, shortlist: int):
        super().__init__(matrix)
        self.index, self.shortlist = index, int(shortlist)

    def candidates(self, query: np.ndarray) -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
        """Shortlist from the index, reranked exactly."""
        q = np.asarray(query, dtype=np.float32)

        def best(m: int) -> tuple[np.ndarray, np.ndarray]:
            rows = np.sort(self.index.search(q, max(m, self.shortlist)))
            return rows, np.asarray(self.matrix[rows] @ q, np.float64)
        return best
