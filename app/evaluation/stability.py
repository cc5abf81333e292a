"""Look-alike stability: two photos of one visitor (not in the gallery) should get the same celebrities.

For each visitor, every pair of their photos is compared: top-1 agreement (same best identity) and
top-5 overlap (shared identities among the five best, over 5); both are averaged over the visitor's
pairs, then over visitors (macro). Hub measures (app/evaluation/hubs.py) say whether agreement
comes from a few identities that are everyone's best match rather than from consistent faces.

With several photos (k of them, their embeddings combined into one query), each visitor with at
least 2k photos gets DRAWS seeded pairs of disjoint k-photo sets; agreement and overlap between the
two sets' answers are averaged per visitor, then over visitors.
"""

from __future__ import annotations

import numpy as np

from app.evaluation.hubs import hub_measures

TOP = 5
BOOTSTRAP = 1000  # resamples of the visitors for the 95% interval of the macro averages
DRAWS = 5  # pairs of disjoint photo sets drawn per visitor (several-photo stability)


def pair_index(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) of every pair i < j of probes that share a group (visitor), in probe order."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    ends = np.r_[starts[1:], len(order)]
    i, j = [], []
    for s, e in zip(starts, ends):
        a, b = np.triu_indices(e - s, k=1)
        i.append(order[s + a])
        j.append(order[s + b])
    empty = np.zeros(0, np.int64)
    return (np.concatenate(i) if i else empty), (np.concatenate(j) if j else empty)


def interval(per_visitor: np.ndarray, seed: int = 0) -> list[float]:
    """95% bootstrap interval (over visitors) of the mean of per-visitor values."""
    if len(per_visitor) < 2:
        return [float("nan"), float("nan")]
    draws = np.random.default_rng(seed).integers(0, len(per_visitor), (BOOTSTRAP, len(per_visitor)))
    return [float(v) for v in np.percentile(per_visitor[draws].mean(axis=1), [2.5, 97.5])]


def _per_visitor(top_a: np.ndarray, top_b: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, ...]:
    """(visitors, pairs, mean top-1 agreement, mean top-5 overlap) per visitor of answer pairs (a, b)."""
    k = min(TOP, top_a.shape[1])
    agree = (top_a[:, 0] == top_b[:, 0]).astype(np.float64)
    overlap = (top_a[:, :k, None] == top_b[:, None, :k]).any(axis=2).sum(axis=1) / k
    visitors, local = np.unique(owner, return_inverse=True)
    pairs = np.bincount(local, minlength=len(visitors))
    return (visitors, pairs, np.bincount(local, agree, len(visitors)) / np.maximum(pairs, 1),
            np.bincount(local, overlap, len(visitors)) / np.maximum(pairs, 1))


def _summary(pairs: np.ndarray, per_agree: np.ndarray, per_overlap: np.ndarray) -> dict:
    """Macro averages with their intervals."""
    some = len(pairs) > 0
    return {"top1_agreement": float(per_agree.mean()) if some else float("nan"),
            "top5_overlap": float(per_overlap.mean()) if some else float("nan"),
            "top1_agreement_ci": interval(per_agree), "top5_overlap_ci": interval(per_overlap),
            "visitors": int(len(pairs)), "pairs": int(pairs.sum())}


def stability(top: np.ndarray, groups: np.ndarray, n_gallery: int | None = None) -> dict:
    """Macro top-1 agreement and top-5 overlap over groups, per-group values and hub measures.

    top: [P, k>=1] best identities per probe, best first; groups: [P] visitor of each probe;
    n_gallery: identities in the gallery (hubs are 1% of them; default: the distinct top-1s).
    """
    i, j = pair_index(groups)
    _, pairs, per_agree, per_overlap = _per_visitor(top[i], top[j], groups[i])
    hubs = hub_measures(top[:, 0], groups, n_gallery)
    return {**_summary(pairs, per_agree, per_overlap), "photos": int(len(top)),
            "distinct_top1": hubs["distinct_top1"], "hub_share": hubs["hub_share"],
            "per_visitor": {"agreement": per_agree.tolist(), "overlap": per_overlap.tolist(),
                            "pairs": pairs.tolist()}}


def photo_sets(groups: np.ndarray, k: int, draws: int = DRAWS, seed: int = 0) -> tuple[np.ndarray, ...]:
    """(a [S, k], b [S, k], visitor [S]): probe positions of `draws` pairs of disjoint k-photo sets
    for every visitor with at least 2k photos (seeded)."""
    rng = np.random.default_rng(seed)
    groups = np.asarray(groups)
    a, b, owner = [], [], []
    for visitor in np.unique(groups):
        mine = np.flatnonzero(groups == visitor)
        if len(mine) < 2 * k:
            continue
        for _ in range(draws):
            chosen = rng.permutation(mine)[:2 * k]
            a.append(chosen[:k])
            b.append(chosen[k:])
            owner.append(visitor)
    empty = np.zeros((0, k), np.int64)
    return (np.array(a, np.int64).reshape(-1, k) if a else empty, np.array(b, np.int64).reshape(-1, k) if b else empty,
            np.asarray(owner))


def set_stability(top_a: np.ndarray, top_b: np.ndarray, owner: np.ndarray) -> dict:
    """Macro top-1 agreement and top-5 overlap between the answers of paired photo sets (photo_sets)."""
    _, pairs, per_agree, per_overlap = _per_visitor(np.asarray(top_a), np.asarray(top_b), np.asarray(owner))
    return _summary(pairs, per_agree, per_overlap)


def plot_stability(per_scorer: dict[str, dict], path: str) -> None:
    """Per-visitor top-1 agreement, visitors sorted, one line per scorer; saved as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    FigureCanvasAgg(fig)
    ax_agree, ax_overlap = fig.subplots(1, 2)
    for name, result in per_scorer.items():
        per = result["per_visitor"]
        ax_agree.plot(np.sort(per["agreement"])[::-1], label=f"{name} ({result['top1_agreement']:.3f})")
        ax_overlap.plot(np.sort(per["overlap"])[::-1], label=f"{name} ({result['top5_overlap']:.3f})")
    ax_agree.set(xlabel="visitor (sorted)", ylabel="top-1 agreement over photo pairs", title="top-1 agreement")
    ax_overlap.set(xlabel="visitor (sorted)", ylabel="top-5 overlap over photo pairs", title="top-5 overlap")
    ax_agree.legend(fontsize=6)
    ax_overlap.legend(fontsize=6)
    fig.savefig(path, dpi=90, bbox_inches="tight")
