"""The resemblance score: how a match ranks among the best matches of people not in the gallery.

A raw similarity means little to a visitor (a stranger's best cosine match is far from 0). At
build time, for a sample of gallery photos, the photo's own identity is removed and the best
aggregated score over the other identities is recorded: the best-match scores of people who are
not in the gallery. A match's resemblance is the percentage of those reference scores it beats.
"""

from __future__ import annotations

import numpy as np

from app.pipeline.scoring.scorers import Aggregation, aggregate_by_identity

REFERENCE_SAMPLE = 2000  # gallery photos used as stand-ins for visitors
SHORTLIST = 256  # rows aggregated per stand-in (a best identity's rows are among its nearest rows)


def reference_scores(matrix: np.ndarray, labels: np.ndarray, n_identities: int, aggregation: Aggregation,
                     row_scores=None, sample: int = REFERENCE_SAMPLE, seed: int = 0, norm=None) -> np.ndarray:
    """Sorted best-match scores of stand-in visitors (gallery photos with their identity removed).

    row_scores(query) defaults to cosine against `matrix`; a learned scorer passes its own. norm:
    the IdentityNorm the served ranking applies (app/pipeline/scoring/identity_norm.py).
    """
    n = len(matrix)
    if n_identities < 2:
        return np.zeros(0)
    rows = np.random.default_rng(seed).permutation(n)[:sample]
    best = []
    block = max(1, min(256, 2**25 // n))  # stand-ins scored at once: at most ~128 MB of scores
    for start in range(0, len(rows), block):
        chunk = rows[start:start + block]
        if row_scores is None:
            sims_block = np.asarray(np.asarray(matrix[chunk], np.float32) @ np.asarray(matrix, np.float32).T)
        else:
            sims_block = np.stack([row_scores(np.asarray(matrix[r])) for r in chunk])
        for row, sims in zip(chunk, sims_block):
            sims = np.asarray(sims, np.float64)
            sims[labels == labels[row]] = -np.inf
            k = min(SHORTLIST, n)
            top = np.argpartition(-sims, k - 1)[:k] if k < n else np.arange(n)
            agg, _ = aggregate_by_identity(sims[top], labels[top], n_identities, aggregation)
            present = np.flatnonzero(np.isfinite(agg))
            if len(present):
                best.append(float((agg[present] if norm is None else norm.apply(agg[present], present)).max()))
    return np.sort(np.asarray(best))


def percentile(value: float, reference: np.ndarray | None) -> float | None:
    """Percentage of the reference scores that `value` beats (None without a reference)."""
    if reference is None or not len(reference):
        return None
    return float(100.0 * np.searchsorted(reference, value, side="right") / len(reference))
