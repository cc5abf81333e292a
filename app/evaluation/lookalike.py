"""The look-alike protocol: people who are not in the gallery, several photos each.

A seeded fifth of a gallery's people (VISITOR_FRACTION) leave it and become visitors (or visitors
come from folders of their own photos); every photo of theirs is a query. Measured for one
scoring: stability with one photo (every pair of a visitor's photos) and with k photos (disjoint
k-photo sets, embeddings combined as app/pipeline/scoring/several_photos.py does), hubs
(app/evaluation/hubs.py), and per number of photos the certainty margin above which a first
answer survives another photo (or set). With folds, each fifth of the people is the visitors
once (the gallery the other four fifths) and the per-visitor figures are pooled: five times the
visitors, so differences between scorings stand out of the noise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from app.evaluation.hubs import capped, hub_measures
from app.evaluation.ranking import top_identities
from app.evaluation.stability import TOP, _per_visitor, _summary, pair_index, photo_sets
from app.pipeline.scoring.batch_scores import centroids, identity_score_block, segments
from app.pipeline.scoring.certainty import fit_clear_margin
from app.pipeline.scoring.identity_norm import fit_identity_norm
from app.pipeline.scoring.scorers import Aggregation
from app.pipeline.scoring.several_photos import combine_batch

VISITOR_FRACTION = 0.2
SET_SIZES = (2, 3)  # photos combined per query in the several-photo stability

ScoreFn = Callable[[np.ndarray], np.ndarray]  # unit queries [B, d] -> identity scores [B, n]


def held_out_visitors(names: np.ndarray, seed: int, fraction: float = VISITOR_FRACTION,
                      fold: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(gallery rows, visitor rows): the fold-th seeded `fraction` of the people leave the gallery
    (folds 0, 1, ... are disjoint); each visitor's rows come in a seeded order (capped counts then
    take a random subset)."""
    names = np.asarray(names)
    rng = np.random.default_rng(seed)
    people = np.unique(names)
    size = int(round(fraction * len(people)))
    visitors = people[np.sort(rng.permutation(len(people))[fold * size:(fold + 1) * size])]
    out = np.isin(names, visitors)
    probes = np.flatnonzero(out)
    probes = probes[np.lexsort((rng.random(len(probes)), names[probes]))]
    return np.flatnonzero(~out), probes


def parse_scoring(text: str) -> tuple[Aggregation, str]:
    """(aggregation, hub correction) of "AGGREGATE[+CORRECTION]", e.g. "max", "centroid+znorm"."""
    aggregate, _, correction = text.partition("+")
    return Aggregation(aggregate or "max"), correction or "none"


def served_scores(G: np.ndarray, labels: np.ndarray, n_ids: int, aggregation: Aggregation,
                  correction: str = "none") -> ScoreFn:
    """Identity scores as the served ranking computes them (Scorer.rank: aggregation, then the
    identity normalisation fitted on this gallery's own stand-ins), for many queries at once."""
    G = np.ascontiguousarray(G, np.float32)
    grouped = segments(labels)
    unit = centroids(G, labels, n_ids)[0] if aggregation.method == "centroid" else None
    norm = None if correction == "none" else fit_identity_norm(G, labels, n_ids, aggregation, correction)
    everyone = np.arange(n_ids)

    def score(Q: np.ndarray) -> np.ndarray:
        S = identity_score_block(Q, G, labels, n_ids, aggregation, grouped, unit).astype(np.float64)
        return S if norm is None else norm.apply(S, everyone)
    return score


def ranked(score: ScoreFn, Q: np.ndarray, block: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(top-TOP identities [P, TOP], margin of the first over the second [P]) of queries Q."""
    tops, margins = [], []
    for s in range(0, len(Q), block):
        S = score(Q[s:s + block])
        top = top_identities(S, TOP)
        best = np.take_along_axis(S, top[:, :2], axis=1)
        tops.append(top)
        margins.append(best[:, 0] - best[:, 1])
    if not tops:
        return np.zeros((0, TOP), np.int64), np.zeros(0)
    return np.concatenate(tops), np.concatenate(margins)


def lookalike_report(score: ScoreFn, Q: np.ndarray, groups: np.ndarray, n_gallery: int,
                     gallery_photos: np.ndarray | None = None, identities=None, set_sizes=SET_SIZES,
                     seed: int = 0) -> dict:
    """Stability (1 and k photos), hubs and certainty of one scoring over visitor photos Q.

    groups: [P] visitor of each photo; n_gallery: identities in the gallery; gallery_photos: rows
    per identity; identities: identity names (for the top hubs). "raw" holds the per-visitor and
    per-answer values that pooled_report merges.
    """
    groups = np.asarray(groups)
    top, margins = ranked(score, Q)
    i, j = pair_index(groups)
    kept = np.flatnonzero(capped(groups))  # certainty: at most 10 photos a visitor, as the hub share
    ci, cj = kept[pair_index(groups[kept])[0]], kept[pair_index(groups[kept])[1]]
    first, second = np.r_[ci, cj], np.r_[cj, ci]  # each ordered pair: did the first answer stay first?
    raw = {"stability": {1: _per_visitor(top[i], top[j], groups[i])[1:]},
           "certainty": {1: (margins[first], top[first, 0] == top[second, 0])}}
    for k in set_sizes:
        a, b, owner = photo_sets(groups, k, seed=seed)
        if len(owner):
            top_a, margin_a = ranked(score, combine_batch(Q[a]))
            top_b, margin_b = ranked(score, combine_batch(Q[b]))
            raw["stability"][k] = _per_visitor(top_a, top_b, owner)[1:]
            same = top_a[:, 0] == top_b[:, 0]
            raw["certainty"][k] = (np.r_[margin_a, margin_b], np.r_[same, same])
    counted = top[capped(groups), 0]
    names = np.asarray(identities)[counted] if identities is not None else counted
    photos = {} if gallery_photos is None else {n: int(gallery_photos[c]) for n, c in zip(names, counted)}
    raw["answers"] = (Counter(names.tolist()), photos)
    report = {"photos": int(len(Q)), "visitors": int(len(np.unique(groups))), "gallery_identities": int(n_gallery),
              "hubs": hub_measures(top[:, 0], groups, n_gallery, gallery_photos, identities), "raw": raw}
    return _summarise(report)


def _summarise(report: dict) -> dict:
    """Stability and certainty summaries of a report's raw values."""
    raw = report["raw"]
    report["stability"] = {k: _summary(*v) for k, v in raw["stability"].items()}
    report["certainty"] = {k: fit_clear_margin(*v) for k, v in raw["certainty"].items()}
    report["per_visitor"] = {"agreement": raw["stability"][1][1].tolist(), "overlap": raw["stability"][1][2].tolist()}
    return report


def pooled_report(reports: list[dict]) -> dict:
    """One report of several folds: per-visitor and per-answer values pooled, hub measures averaged
    over folds, top hubs by their answers over all folds."""
    if len(reports) == 1:
        return reports[0]
    raw = {"stability": {}, "certainty": {}}
    for part in ("stability", "certainty"):
        for k in reports[0]["raw"][part]:
            pieces = [r["raw"][part][k] for r in reports if k in r["raw"][part]]
            raw[part][k] = tuple(np.concatenate(column) for column in zip(*pieces))
    answers, photos = Counter(), {}
    for r in reports:
        answers.update(r["raw"]["answers"][0])
        photos.update(r["raw"]["answers"][1])
    hubs = {key: float(np.mean([r["hubs"][key] for r in reports]))
            for key in ("hub_share", "hub_share_random", "hub_share_fair", "most_frequent_share", "distinct_top1")}
    hubs["hub_share_folds"] = [r["hubs"]["hub_share"] for r in reports]
    hubs["hubs"] = reports[0]["hubs"]["hubs"]
    hubs["answers"] = sum(r["hubs"]["answers"] for r in reports)
    hubs["top_hubs"] = [{"identity": name, "top1": count, "share": count / hubs["answers"],
                         **({"gallery_photos": photos[name]} if name in photos else {})}
                        for name, count in answers.most_common(10)]
    hubs["top1_counts"] = sorted(reports[0]["hubs"]["top1_counts"], reverse=True)
    report = {"folds": len(reports), "photos": sum(r["photos"] for r in reports),
              "visitors": sum(r["visitors"] for r in reports),
              "gallery_identities": int(np.mean([r["gallery_identities"] for r in reports])),
              "hubs": hubs, "raw": raw}
    return _summarise(report)


def summary_lines(reports: dict[str, dict]) -> list[str]:
    """One text table: a row per scoring."""
    head = (f"{'scoring':30s} {'top-1 agr':>9s} {'top-5 ovl':>9s} {'k=2 agr':>8s} {'k=3 agr':>8s} "
            f"{'k=3 ovl':>8s} {'hub share':>9s} {'fair':>6s} {'distinct':>8s}")
    lines = [head]
    nan = {"top1_agreement": float("nan"), "top5_overlap": float("nan")}
    for name, r in reports.items():
        s, h = r["stability"], r["hubs"]
        k2, k3 = s.get(2, nan), s.get(3, nan)
        lines.append(f"{name:30s} {s[1]['top1_agreement']:9.3f} {s[1]['top5_overlap']:9.3f} "
                     f"{k2['top1_agreement']:8.3f} {k3['top1_agreement']:8.3f} {k3['top5_overlap']:8.3f} "
                     f"{h['hub_share']:9.3f} {h['hub_share_fair']:6.3f} {h['distinct_top1']:8.0f}")
    return lines


def without_raw(report: dict) -> dict:
    """The report without its raw arrays (for JSON)."""
    return {k: v for k, v in report.items() if k != "raw"}
