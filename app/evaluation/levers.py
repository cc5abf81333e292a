"""Candidate corrections of look-alike scoring, batch NumPy over a gallery's embeddings.

Every candidate turns [P, n] identity scores (cosine aggregated per identity, app/evaluation/
ranking.py) into corrected ones. The corrections that act per identity are fitted on stand-in
visitors: a seeded sample of the gallery's own photos, each scored against every identity but its
own, so they need no visitor data (what the served scorer can do at build or load time):

- znorm: (s - mean_c) / std_c of identity c's scores over the stand-ins (per-celebrity normalisation;
  the served one, app/pipeline/scoring/identity_norm.py);
- center: s - mean_c;
- asnorm: z-normalised by the mean and spread of the identity's TOP_COHORT best stand-in scores;
- csls: s - r_c / 2, r_c the mean of its CSLS_K best stand-in scores (cross-domain similarity
  local scaling; the query's own term is the same for every identity, so it does not rank);
- mutual proximity: log P(stand-in below s | c) + log P(gallery below s | query), both Gaussian;
- isoftmax: inverted softmax, s - log(sum over stand-ins of exp(BETA (s_v - s))) / BETA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.evaluation.ranking import identity_scores
from app.pipeline.scoring.identity_norm import fit_identity_norm
from app.pipeline.scoring.scorers import Aggregation

STAND_INS = 2000  # gallery photos used as stand-in visitors
TOP_COHORT = 100  # asnorm: the stand-ins nearest each identity
CSLS_K = 10
BETA = 10.0  # isoftmax temperature (cosine units)
CORRECTIONS = ("none", "znorm", "center", "asnorm", "csls", "mutual_proximity", "isoftmax")


@dataclass
class StandInStats:
    """Per identity, statistics of its scores against the stand-ins (float64 [n] each)."""

    mean: np.ndarray
    std: np.ndarray
    top_mean: np.ndarray
    top_std: np.ndarray
    csls: np.ndarray
    log_sum_exp: np.ndarray


def stand_in_scores(G: np.ndarray, labels: np.ndarray, n_ids: int, aggregation: Aggregation,
                    sample: int = STAND_INS, seed: int = 0) -> np.ndarray:
    """[S, n] aggregated scores of stand-ins (seeded gallery rows) against every identity, NaN for
    each stand-in's own identity (a stand-in photo is scored without its own rows: they would be it)."""
    rows = np.sort(np.random.default_rng(seed).permutation(len(G))[:sample])
    S = identity_scores(G[rows], G, labels, n_ids, aggregation).astype(np.float64)
    S[np.arange(len(rows)), labels[rows]] = np.nan
    S[~np.isfinite(S)] = np.nan
    return S


def fit_stats(S: np.ndarray) -> StandInStats:
    """Statistics per identity (column) of stand-in scores S [S, n] (NaN: not scored)."""
    ranked = -np.sort(-np.nan_to_num(S, nan=-np.inf), axis=0)  # best first per identity
    valid = np.isfinite(ranked)
    top = np.where(valid[:TOP_COHORT], ranked[:TOP_COHORT], np.nan)
    m = np.nanmax(S, axis=0, keepdims=True)
    with np.errstate(invalid="ignore"):
        lse = np.log(np.nansum(np.exp(BETA * (S - m)), axis=0)) / BETA + m[0]
        return StandInStats(mean=np.nanmean(S, axis=0), std=np.maximum(np.nanstd(S, axis=0), 1e-6),
                            top_mean=np.nanmean(top, axis=0), top_std=np.maximum(np.nanstd(top, axis=0), 1e-6),
                            csls=np.nanmean(np.where(valid[:CSLS_K], ranked[:CSLS_K], np.nan), axis=0),
                            log_sum_exp=lse)


def _log_norm_cdf(z: np.ndarray) -> np.ndarray:
    """log Phi(z), accurate in the lower tail."""
    from scipy.special import log_ndtr

    return log_ndtr(z)


def correct(S: np.ndarray, method: str, stats: StandInStats | None) -> np.ndarray:
    """[P, n] corrected identity scores (higher = better; -inf stays -inf).

    The per-identity affine ones are put back on the cosine scale (times the mean spread, plus
    the mean level) so that margins read like cosines.
    """
    if method == "none":
        return S
    if stats is None:
        raise ValueError(f"{method} needs stand-in statistics")
    S = np.asarray(S, np.float64)
    level, spread = float(np.nanmean(stats.mean)), float(np.nanmean(stats.std))
    if method == "znorm":
        return level + spread * (S - stats.mean) / stats.std
    if method == "center":
        return S - stats.mean + level
    if method == "asnorm":
        return level + spread * (S - stats.top_mean) / stats.top_std
    if method == "csls":
        return S - stats.csls / 2
    if method == "isoftmax":
        return S - stats.log_sum_exp
    if method == "mutual_proximity":
        finite = np.isfinite(S)
        Sq = np.where(finite, S, np.nan)
        mu_q = np.nanmean(Sq, axis=1, keepdims=True)
        sd_q = np.maximum(np.nanstd(Sq, axis=1, keepdims=True), 1e-6)
        out = _log_norm_cdf((S - stats.mean) / stats.std) + _log_norm_cdf((S - mu_q) / sd_q)
        return np.where(finite, out, -np.inf)
    raise ValueError(f"unknown correction {method!r}; choose one of {CORRECTIONS}")


@dataclass(frozen=True)
class Lever:
    """One scoring to measure: aggregation, correction, photos kept per identity (0: all)."""

    name: str
    aggregation: Aggregation = Aggregation("max")
    correction: str = "none"
    cap: int = 0


class LeverScorer:
    """Batch scoring of one lever over one gallery (stand-in statistics fitted once)."""

    def __init__(self, lever: Lever, G: np.ndarray, labels: np.ndarray, n_ids: int, seed: int = 0):
        self.lever, self.G, self.labels, self.n_ids = lever, G, labels, n_ids
        self.stats = self.norm = None
        if lever.correction == "znorm":  # the served normalisation itself
            self.norm = fit_identity_norm(G, labels, n_ids, lever.aggregation, "znorm", seed=seed)
        elif lever.correction != "none":
            self.stats = fit_stats(stand_in_scores(G, labels, n_ids, lever.aggregation, seed=seed))

    def scores(self, Q: np.ndarray) -> np.ndarray:
        """[P, n] corrected identity scores of unit queries Q."""
        raw = identity_scores(Q, self.G, self.labels, self.n_ids, self.lever.aggregation).astype(np.float64)
        if self.norm is not None:
            return self.norm.apply(raw, np.arange(self.n_ids))
        return correct(raw, self.lever.correction, self.stats)


def cap_rows(labels: np.ndarray, photo_side: np.ndarray, boxes: np.ndarray, confidence: np.ndarray,
             cap: int) -> np.ndarray:
    """Rows kept when each identity keeps its `cap` best photos (the gallery builds' --per-identity)."""
    from app.pipeline.galleries.quality import select_per_identity

    rows, _ = select_per_identity(labels, photo_side, boxes, confidence, cap)
    return np.sort(rows)
