"""Verification and identification metrics, in NumPy only (no TensorFlow, no sklearn, no plots)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (query [d], gallery [M, d]) -> scores [M]


def _check(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten scores to float64 and same to bool, checking lengths."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(same).reshape(-1).astype(bool)
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.shape}) and same ({y.shape}) differ in length")
    return s, y


def _distinct_desc(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct thresholds descending, cumulative TP, cumulative FP) for 'score >= threshold'."""
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each tie group
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    return s[last], tp, fp


def roc_curve(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC points (fpr, tpr, thresholds), thresholds descending, starting at (0, 0) with +inf."""
    s, y = _check(scores, same)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("roc_curve needs both same and different pairs")
    thr, tp, fp = _distinct_desc(s, y)
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos], np.r_[np.inf, thr]


def roc_auc(scores: np.ndarray, same: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied scores counted as 1/2)."""
    s, y = _check(scores, same)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    _, inv, counts = np.unique(s[order], return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    avg_rank = (ends - counts + 1 + ends) / 2.0  # mean of 1-based ranks in each tie group
    ranks = np.empty(len(s))
    ranks[order] = avg_rank[inv]
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def best_f1_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximizing the F1 of predicting 'same' when score >= threshold.

    The threshold is the midpoint between the chosen score and the next lower distinct score.
    """
    s, y = _check(scores, same)
    n_pos = int(y.sum())
    if n_pos == 0 or len(s) == 0:
        raise ValueError("best_f1_threshold needs at least one same pair")
    thr, tp, fp = _distinct_desc(s, y)
    f1 = 2 * tp / (2 * tp + fp + (n_pos - tp))
    i = int(np.argmax(f1))
    t = thr[i] if i + 1 == len(thr) else 0.5 * (thr[i] + thr[i + 1])
    return float(t), float(f1[i])


def accuracy_f1_at(scores: np.ndarray, same: np.ndarray, thr: float) -> tuple[float, float]:
    """(accuracy, F1) of predicting 'same' when score >= thr."""
    s, y = _check(scores, same)
    pred = s >= thr
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    acc = float(np.mean(pred == y)) if len(y) else float("nan")
    denom = 2 * tp + fp + fn
    return acc, (2 * tp / denom if denom else 0.0)


def make_pairs(
    labels: Sequence, n_pairs: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Balanced random index pairs (i, j, same): n_pairs // 2 same, the rest different identity.

    A same pair draws an identity uniformly among those with >= 2 photos, then two distinct photos.
    """
    lab = np.asarray(labels)
    rng = np.random.default_rng(seed)
    _, inv, counts = np.unique(lab, return_inverse=True, return_counts=True)
    multi = np.flatnonzero(counts >= 2)
    if len(multi) == 0 or len(counts) < 2:
        raise ValueError("make_pairs needs an identity with >= 2 photos and >= 2 identities")
    n_pos, n_neg = n_pairs // 2, n_pairs - n_pairs // 2
    rows_by_id = np.split(np.argsort(inv, kind="stable"), np.cumsum(counts)[:-1])
    ids = rng.choice(multi, size=n_pos)
    pi, pj = np.empty(n_pos, np.int64), np.empty(n_pos, np.int64)
    for t, c in enumerate(ids):
        pi[t], pj[t] = rng.choice(rows_by_id[c], size=2, replace=False)
    ni = rng.integers(0, len(lab), size=n_neg)
    nj = rng.integers(0, len(lab), size=n_neg)
    bad = inv[ni] == inv[nj]
    while bad.any():
        nj[bad] = rng.integers(0, len(lab), size=int(bad.sum()))
        bad = inv[ni] == inv[nj]
    i, j = np.r_[pi, ni], np.r_[pj, nj]
    same = np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]
    perm = rng.permutation(n_pairs)
    return i[perm], j[perm], same[perm]


def identification_topk(
    probe_emb: np.ndarray,
    probe_labels: Sequence,
    gallery_emb: np.ndarray,
    gallery_labels: Sequence,
    score_fn: ScoreFn,
    ks: Sequence[int] = (1, 5),
    exclude: np.ndarray | None = None,
) -> dict[str, float]:
    """One-vs-all identification: {"top1": .., "top5": .., "n_probes": ..} hit rates over probes.

    Gallery identities are ranked by their best-scoring photo (distinct identities). ``exclude[i]``
    is a gallery row hidden from probe i (its own photo when probes come from the gallery; -1 for
    none). Probes whose identity has no remaining gallery photo are skipped; ties count against
    the probe. score_fn(query [d], gallery [M, d]) -> scores [M], higher = more similar.
    """
    g_lab = np.asarray(gallery_labels)
    ids, inv = np.unique(g_lab, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(inv[order])) + 1]
    id_index = {v: n for n, v in enumerate(ids.tolist())}
    hits = {k: 0 for k in ks}
    n_eval = 0
    for i, (q, lab) in enumerate(zip(np.asarray(probe_emb), np.asarray(probe_labels).tolist())):
        true = id_index.get(lab)
        if true is None:
            continue
        s = np.asarray(score_fn(q, gallery_emb), dtype=np.float64).reshape(-1).copy()
        if exclude is not None and exclude[i] >= 0:
            s[exclude[i]] = -np.inf
        best = np.maximum.reduceat(s[order], starts)
        if not np.isfinite(best[true]):
            continue
        rank = int(np.sum(best >= best[true])) - 1
        n_eval += 1
        for k in ks:
            hits[k] += rank < k
    out = {f"top{k}": (hits[k] / n_eval if n_eval else float("nan")) for k in ks}
    out["n_probes"] = float(n_eval)
    return out
