"""One protocol run: train the networks on the split's rows, then cosine vs learned, side by side.

Scorers: "cosine" (FaceNet), "encoder" (cosine of the encoder's outputs) and "learned" (encoder +
similarity network reranking the encoder's top SHORTLIST rows, as served). Each is aggregated
per identity every way asked ("max", "mean_n", "centroid"), so a gain can be told apart into the
part the aggregation brings (cosine + centroid) and the part the networks bring.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable

import numpy as np

from app.evaluation.protocols import Split
from app.evaluation.ranking import PROBE_BLOCK, _hide, identity_scores, top_identities, topk_hits
from app.evaluation.stability import plot_stability, stability
from app.pipeline.photos.embed import l2_normalize
from app.pipeline.scoring.batch_scores import aggregate_rows
from app.pipeline.scoring.scorers import Aggregation, identity_sums

SHORTLIST = 200  # rows (or identities, for centroid) the similarity network reranks, as LEARNED_SHORTLIST
AGGREGATIONS = ("max", "mean_n", "centroid")
ROC_PAIRS = 4000


def network_scores(Qz: np.ndarray, Gz: np.ndarray, labels: np.ndarray, n_ids: int, similarity,
                   aggregation: Aggregation, exclude: np.ndarray | None, shortlist: int = SHORTLIST) -> np.ndarray:
    """[P, n_ids] similarity-network scores of the encoder's shortlist, aggregated (-inf outside it)."""
    from models.similarity_scorer import pair_logits, sigmoid

    if len(Qz) > PROBE_BLOCK:  # [P, M] scores and [P x shortlist, d] pairs: a block of probes at a time
        return np.concatenate([network_scores(Qz[s:s + PROBE_BLOCK], Gz, labels, n_ids, similarity, aggregation,
                                              None if exclude is None else exclude[s:s + PROBE_BLOCK], shortlist)
                               for s in range(0, len(Qz), PROBE_BLOCK)])
    if aggregation.method == "centroid":
        sums, _ = identity_sums(Gz, labels, n_ids)
        S = identity_scores(Qz, Gz, labels, n_ids, aggregation, exclude)
        keys = l2_normalize(sums)
    else:
        S, keys = _hide(np.asarray(Qz @ Gz.T, np.float32), exclude), Gz
    m = min(shortlist, S.shape[1])
    cand = np.argpartition(-S, m - 1, axis=1)[:, :m]
    ok = np.isfinite(np.take_along_axis(S, cand, axis=1))
    paired = keys[cand]  # [P, m, d]
    if aggregation.method == "centroid" and exclude is not None:  # a probe's own identity: centroid without it
        hit = np.flatnonzero(exclude >= 0)
        own = labels[exclude[hit]]
        p, k = np.nonzero(cand[hit] == own[:, None])
        paired[hit[p], k] = l2_normalize(sums[own[p]] - Gz[exclude[hit[p]]])
    probs = sigmoid(pair_logits(similarity, np.repeat(Qz, m, axis=0), paired.reshape(-1, Gz.shape[1]))
                     .reshape(len(S), m))
    net = np.full_like(S, -np.inf)
    np.put_along_axis(net, cand, np.where(ok, probs, -np.inf), axis=1)
    if aggregation.method == "centroid":
        return net
    return aggregate_rows(net, labels, n_ids, aggregation.method, aggregation.mean_n)


def protocol_metrics(split: Split, scores: np.ndarray, truth: np.ndarray) -> dict:
    """top-1/top-5 (identify) or stability (lookalike) of probes' identity scores."""
    if split.kind == "identify":
        return topk_hits(scores, truth)
    return stability(top_identities(scores, 5), truth)


def _exclude(split: Split, probes: np.ndarray, gallery: np.ndarray) -> np.ndarray | None:
    """Position of each probe in the (sorted) gallery rows when probes are hidden from themselves."""
    if not split.exclude_self:
        return None
    at = np.searchsorted(gallery, probes)
    if not np.array_equal(gallery[np.minimum(at, len(gallery) - 1)], probes):
        raise ValueError(f"{split.protocol}: probes hidden from themselves must be gallery rows")
    return at


def make_monitor(split: Split, X: np.ndarray, y: np.ndarray, n_ids: int,
                 aggregation: Aggregation) -> Callable[[object, object], float]:
    """Validation metric for early stopping: the protocol's own, encoder cosine on the monitor rows."""
    from models.encoder import encode

    probes, gallery = split.monitor_probes, split.monitor_gallery
    exclude = _exclude(split, probes, gallery)
    key = "top1" if split.kind == "identify" else "top1_agreement"

    def monitor(encoder, similarity) -> float:
        """The monitor metric of the current encoder (only the monitor's rows encoded: the encoder is row-wise)."""
        Zg = encode(encoder, X[gallery])
        Zp = Zg[exclude] if exclude is not None else encode(encoder, X[probes])  # hidden probes are gallery rows
        scores = identity_scores(Zp, Zg, y[gallery], n_ids, aggregation, exclude)
        return float(protocol_metrics(split, scores, y[probes])[key])
    return monitor


def score_all(split: Split, spaces: dict, y: np.ndarray, n_ids: int, aggregations: Iterable[Aggregation],
              similarity=None) -> dict:
    """{scorer / aggregation method: metrics} for every scorer space and aggregation on the split's probes."""
    probes, gallery = split.probe_rows, split.gallery_rows
    exclude = _exclude(split, probes, gallery)
    results = {}
    for name, Z in spaces.items():
        for agg in aggregations:
            if name == "learned":
                scores = network_scores(Z[probes], Z[gallery], y[gallery], n_ids, similarity, agg, exclude)
            else:
                scores = identity_scores(Z[probes], Z[gallery], y[gallery], n_ids, agg, exclude)
            results[f"{name} / {agg.method}"] = protocol_metrics(split, scores, y[probes])
    return results


def _roc(split: Split, spaces: dict, names: np.ndarray, similarity, seed: int) -> dict:
    """ROC curves of same/different pairs among the probes, per scorer (pair scores, no aggregation)."""
    from models.face_metrics import make_pairs, roc_auc, roc_curve
    from models.similarity_scorer import pair_logits

    rows = split.probe_rows
    i, j, same = make_pairs(names[rows], ROC_PAIRS, seed)
    curves = {}
    for name, Z in spaces.items():
        a, b = Z[rows[i]], Z[rows[j]]
        s = pair_logits(similarity, a, b) if name == "learned" else np.sum(a * b, axis=1)
        fpr, tpr, _ = roc_curve(s, same)
        curves[name] = (fpr, tpr, roc_auc(s, same))
    return curves


def run_protocol(X: np.ndarray, names: np.ndarray, split: Split, config, out_dir: str, aggregations=AGGREGATIONS,
                 monitor_aggregation: str = "max") -> dict:
    """Train on the split, score every way, write report + plots."""
    from models.encoder import encode
    from models.plots import plot_loss_curve, plot_roc
    from models.train_loop import train

    X = np.ascontiguousarray(X, dtype=np.float32)
    uniq, y = np.unique(names, return_inverse=True)
    n_ids, started = len(uniq), time.perf_counter()
    monitor = make_monitor(split, X, y, n_ids, Aggregation(monitor_aggregation))
    result = train(X[split.fit_rows], names[split.fit_rows], config, progress=False, monitor=monitor,
                   val_identities=split.val_identities)
    encoder, similarity = result.encoder, result.similarity
    training = {"best_epoch": result.best_epoch, "epochs_run": len(result.history["val_loss"]),
                "monitor": f"{'top-1' if split.kind == 'identify' else 'top-1 agreement'} "
                           f"(encoder cosine, {monitor_aggregation}) on validation",
                "monitor_initial": result.history["initial_val_metric"][0],
                "monitor_best": result.metrics["val_metric"], "history": result.history,
                "config": dict(vars(config))}
    os.makedirs(out_dir, exist_ok=True)
    plot_loss_curve(result.history, os.path.join(out_dir, "loss_curve.png"))
    encoded = encode(encoder, X)
    spaces = {"cosine": X, "encoder": encoded, "learned": encoded}  # learned: the encoder's space, network-scored
    report = {**split.describe(names), "training": training,
              "scorers": score_all(split, spaces, y, n_ids, [Aggregation(m) for m in aggregations], similarity)}
    plot_roc(_roc(split, spaces, names, similarity, config.seed), os.path.join(out_dir, "roc.png"))
    if split.kind == "stability":
        plot_stability(report["scorers"], os.path.join(out_dir, "stability.png"))
    report["seconds"] = round(time.perf_counter() - started, 1)
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, default=float)
    return report


COLUMNS = {"closed": (("top1", "closed top-1"), ("top5", "closed top-5")),
           "lookalike": (("top1_agreement", "look-alike top-1 agr."), ("top5_overlap", "look-alike top-5 ovl.")),
           "open": (("top1", "open top-1"), ("top5", "open top-5"))}


def table(reports: dict[str, dict]) -> list[str]:
    """One text table, a row per scorer / aggregation, two columns per protocol report given."""
    heads = [(p, key, title) for p in reports for key, title in COLUMNS[p]]
    names = list(dict.fromkeys(n for r in reports.values() for n in r["scorers"]))
    width = max(len(n) for n in names) + 2
    lines = ["scorer / aggregation".ljust(width) + "".join(f"{t:>23s}" for _, _, t in heads)]
    for name in names:
        cells = [reports[p]["scorers"].get(name, {}).get(key, float("nan")) for p, key, _ in heads]
        lines.append(name.ljust(width) + "".join(f"{c:23.4f}" for c in cells))
    return lines
