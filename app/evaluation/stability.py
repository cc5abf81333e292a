"""Look-alike stability: two photos of one visitor (not in the gallery) should get the same celebrities.

For each visitor, every pair of their photos is compared: top-1 agreement (same best identity) and
top-5 overlap (shared identities among the five best, over 5); both are averaged over the visitor's
pairs, then over visitors (macro). Hub measures say whether agreement comes from a few identities
that are everyone's best match rather than from consistent faces.
"""

from __future__ import annotations

import numpy as np

TOP = 5
BOOTSTRAP = 1000  # resamples of the visitors for the 95% interval of the macro averages


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


def stability(top: np.ndarray, groups: np.ndarray) -> dict:
    """Macro top-1 agreement and top-5 overlap over groups, per-group values and hub measures.

    top: [P, k>=1] best identities per probe, best first; groups: [P] visitor of each probe.
    """
    i, j = pair_index(groups)
    k = min(TOP, top.shape[1])
    agree = (top[i, 0] == top[j, 0]).astype(np.float64)
    overlap = (top[i, :k, None] == top[j, None, :k]).any(axis=2).sum(axis=1) / k
    visitors, owner = np.unique(groups[i], return_inverse=True)
    pairs = np.bincount(owner, minlength=len(visitors))
    per_agree = np.bincount(owner, agree, len(visitors)) / np.maximum(pairs, 1)
    per_overlap = np.bincount(owner, overlap, len(visitors)) / np.maximum(pairs, 1)
    _, hub_counts = np.unique(top[:, 0], return_counts=True)
    return {"top1_agreement": float(per_agree.mean()) if len(visitors) else float("nan"),
            "top5_overlap": float(per_overlap.mean()) if len(visitors) else float("nan"),
            "top1_agreement_ci": interval(per_agree), "top5_overlap_ci": interval(per_overlap),
            "visitors": int(len(visitors)), "pairs": int(len(i)), "photos": int(len(top)),
            "distinct_top1": int(len(hub_counts)),
            "hub_share": float(hub_counts.max() / len(top)) if len(top) else float("nan"),
            "per_visitor": {"agreement": per_agree.tolist(), "overlap": per_overlap.tolist(),
                            "pairs": pairs.tolist()}}


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
