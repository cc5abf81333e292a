"""Hubs: celebrities that come first for many different visitors.

Hub share: the share of all top-1 answers taken by the 1% most frequent top-1 celebrities (1% of
the gallery's identities, at least one), each visitor counting at most MAX_PHOTOS_PER_VISITOR
photos, so that one visitor with hundreds of photos does not decide it. Two references sit beside it:
random (every answer a fair draw among the gallery's identities) and fair (the same answers, each
visitor's celebrities replaced by fair draws, so that a visitor's repeated answers stay repeated:
the share a scoring without any hub gets at this stability).
"""

from __future__ import annotations

import numpy as np

HUB_FRACTION = 0.01  # the most frequent top-1 identities counted as hubs, as a share of the gallery's
MAX_PHOTOS_PER_VISITOR = 10
TOP_HUBS = 10  # hubs listed by name in a report
RANDOM_DRAWS = 200  # uniform spreads drawn for the random reference


def capped(groups: np.ndarray, most: int = MAX_PHOTOS_PER_VISITOR) -> np.ndarray:
    """Mask of each visitor's first `most` photos (in probe order)."""
    groups = np.asarray(groups)
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    keep = np.zeros(len(groups), bool)
    keep[order[rank < most]] = True
    return keep


def hub_count(n_gallery: int, fraction: float = HUB_FRACTION) -> int:
    """How many identities are hubs in a gallery of n_gallery identities (46 of 4,655)."""
    return max(1, int(fraction * n_gallery))


def random_hub_share(answers: int, n_gallery: int, hubs: int, seed: int = 0, draws: int = RANDOM_DRAWS) -> float:
    """Mean hub share when each of `answers` top-1s is a uniform draw among n_gallery identities."""
    if answers == 0 or n_gallery == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    shares = []
    for _ in range(draws):
        counts = np.bincount(rng.integers(0, n_gallery, answers), minlength=n_gallery)
        shares.append(np.sort(counts)[::-1][:hubs].sum() / answers)
    return float(np.mean(shares))


def fair_hub_share(top1: np.ndarray, groups: np.ndarray, n_gallery: int, most: int = MAX_PHOTOS_PER_VISITOR,
                   seed: int = 0, draws: int = RANDOM_DRAWS // 10) -> float:
    """Hub share of the same answers with every celebrity replaced by a fair draw, one draw per
    (visitor, celebrity): a visitor's repeated answers stay repeated. It is what a scoring with no
    hubs at all gets at this stability (a visitor answered one celebrity for 6 of their 10 photos
    makes that celebrity a hub of a small gallery on their own)."""
    keep = capped(np.asarray(groups), most)
    if not keep.any():
        return float("nan")
    _, visitor = np.unique(np.asarray(groups)[keep], return_inverse=True)
    _, pair = np.unique(np.c_[visitor, np.asarray(top1)[keep]], axis=0, return_inverse=True)
    rng, hubs, shares = np.random.default_rng(seed), hub_count(n_gallery), []
    for _ in range(draws):
        counts = np.bincount(rng.integers(0, n_gallery, pair.max() + 1)[pair.ravel()], minlength=n_gallery)
        shares.append(np.sort(counts)[::-1][:hubs].sum() / keep.sum())
    return float(np.mean(shares))


def hub_measures(top1: np.ndarray, groups: np.ndarray, n_gallery: int | None = None,
                 gallery_photos: np.ndarray | None = None, identities=None,
                 most: int = MAX_PHOTOS_PER_VISITOR) -> dict:
    """Hub share, distinct top-1s and the top hubs of probes' top-1 identities.

    top1: [P] identity index of each probe's best match; groups: [P] visitor of each probe;
    n_gallery: identities in the gallery (default: the distinct top-1s); gallery_photos: rows per
    identity index (reported beside each hub); identities: name of each identity index.
    """
    top1, groups = np.asarray(top1), np.asarray(groups)
    counted = top1[capped(groups, most)]
    if not len(counted):
        return {"hub_share": float("nan"), "distinct_top1": 0, "answers": 0, "hubs": 0, "top_hubs": []}
    ids, counts = np.unique(counted, return_counts=True)
    n_gallery = int(n_gallery or len(ids))
    hubs = hub_count(n_gallery)
    order = np.lexsort((ids, -counts))
    ids, counts = ids[order], counts[order]
    top = []
    for identity, count in zip(ids[:TOP_HUBS], counts[:TOP_HUBS]):
        entry = {"identity": str(identities[identity]) if identities is not None else int(identity),
                 "top1": int(count), "share": float(count / len(counted))}
        if gallery_photos is not None:
            entry["gallery_photos"] = int(gallery_photos[identity])
        top.append(entry)
    return {"hub_share": float(counts[:hubs].sum() / len(counted)),
            "hub_share_random": random_hub_share(len(counted), n_gallery, hubs),
            "hub_share_fair": fair_hub_share(top1, groups, n_gallery, most),
            "hubs": hubs, "answers": int(len(counted)), "distinct_top1": int(len(ids)),
            "most_frequent_share": float(counts[0] / len(counted)), "top_hubs": top,
            "top1_counts": counts.tolist()}


def plot_top1_distribution(per_scorer: dict[str, dict], path: str) -> None:
    """Top-1 counts per celebrity, most frequent first (log-log), one line per scorer, beside the
    random reference's expected curve, and the first scorer's top hubs by name; saved as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4))
    FigureCanvasAgg(fig)
    ax_curve, ax_hubs = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    for name, result in per_scorer.items():
        counts = result["top1_counts"]
        ax_curve.loglog(np.arange(1, len(counts) + 1), counts, label=f"{name} (hub share {result['hub_share']:.3f})")
    first = next(iter(per_scorer.values()), None)
    if first:
        ax_curve.axvline(first["hubs"], color="grey", ls=":", lw=0.8)
        ax_curve.text(first["hubs"], ax_curve.get_ylim()[1], " 1% of the gallery", fontsize=7, va="top")
        hubs = first["top_hubs"]
        labels = [f"{h['identity']} ({h.get('gallery_photos', '?')})" for h in hubs][::-1]
        ax_hubs.barh(np.arange(len(hubs)), [h["top1"] for h in hubs][::-1], color="tab:orange")
        ax_hubs.set_yticks(np.arange(len(hubs)), labels, fontsize=7)
        ax_hubs.set(xlabel="top-1 answers", title=f"top hubs of {next(iter(per_scorer))} (gallery photos)")
    ax_curve.set(xlabel="celebrity rank by top-1 answers", ylabel="top-1 answers",
                 title="top-1 answers per celebrity (at most 10 photos per visitor)")
    ax_curve.legend(fontsize=6)
    fig.savefig(path, dpi=90, bbox_inches="tight")
