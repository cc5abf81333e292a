"""Held-out identities: one-vs-all identification and pair verification, scorers side by side."""

from __future__ import annotations

import json
import os

import numpy as np

from app.evaluation.samples import plot_samples
from app.pipeline.galleries.reader import Gallery
from app.pipeline.scoring.learned_scorers import EncodedCosineScorer, LearnedScorer
from app.pipeline.scoring.scorers import CosineScorer, Scorer
from models.face_metrics import accuracy_f1_at, best_f1_threshold, identification_topk, make_pairs, roc_auc, roc_curve
from models.train_config import TrainConfig, split_identities


def held_out_split(names: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train+validation identities, test identities): identity-disjoint, seeded."""
    return split_identities(names, fraction, seed + 7919)  # its own stream, apart from the val split


def _splits(names: np.ndarray, model_meta: dict | None, seed: int, test_fraction: float):
    """(test identities, validation identities): the model's own, else re-derived by seed."""
    if model_meta is not None:
        return np.array(model_meta["test_identities"]), np.array(model_meta["val_identities"])
    trainval, test = held_out_split(names, test_fraction, seed)
    _, val = split_identities(names[np.isin(names, trainval)], TrainConfig().val_fraction, seed)
    return test, val


def _probes(names: np.ndarray, test_ids: np.ndarray, per_identity: int, seed: int) -> np.ndarray:
    """Rows of held-out identities with >= 2 photos, at most per_identity of each (seeded)."""
    rng = np.random.default_rng(seed)
    rows = []
    for identity in np.unique(test_ids):
        mine = np.flatnonzero(names == identity)
        if len(mine) >= 2:
            rows.extend(rng.permutation(mine)[:per_identity])
    return np.array(sorted(rows), dtype=np.int64)


def _verification(scorer: Scorer, X: np.ndarray, names, val_rows, test_rows, n_pairs, seed):
    """AUC on test pairs, accuracy/F1 at the F1-optimal threshold chosen on validation pairs."""
    vi, vj, vsame = make_pairs(names[val_rows], n_pairs, seed)
    ti, tj, tsame = make_pairs(names[test_rows], n_pairs, seed + 1)
    val_scores = -scorer.pair_distances(X[val_rows[vi]], X[val_rows[vj]])
    test_scores = -scorer.pair_distances(X[test_rows[ti]], X[test_rows[tj]])
    threshold, _ = best_f1_threshold(val_scores, vsame)
    acc, f1 = accuracy_f1_at(test_scores, tsame, threshold)
    fpr, tpr, _ = roc_curve(test_scores, tsame)
    auc = roc_auc(test_scores, tsame)
    return {"auc": auc, "accuracy": acc, "f1": f1, "distance_threshold": -threshold}, (fpr, tpr, auc)


def _top_matches(scorer: Scorer, X: np.ndarray, probe_rows, names, k=3):
    """Per probe row: the k best identities (best row of each), excluding the probe's own photo."""
    out = []
    for row in probe_rows:
        s = np.asarray(scorer.row_scores(X[row]), dtype=np.float64).copy()
        s[row] = -np.inf
        order = np.argsort(-s)
        seen, best = set(), []
        for r in order:
            if names[r] not in seen:
                seen.add(names[r])
                best.append(int(r))
                if len(best) == k:
                    break
        out.append(best)
    return out


def gallery_scorers(X: np.ndarray, model_dir: str | None) -> tuple[dict[str, Scorer], dict | None]:
    """Cosine, and with a model its encoder-cosine and similarity-network scorers (every row scored)."""
    scorers: dict[str, Scorer] = {"cosine (FaceNet)": CosineScorer(X)}
    if not model_dir:
        return scorers, None
    from app.pipeline.networks.trained_runtime import KerasTrainedNetworks, load_keras_networks

    networks = load_keras_networks(model_dir)
    Z = networks.encode(X)
    encoder_only = KerasTrainedNetworks(networks.keras_encoder)  # its pairs: encoded Euclidean distance
    for scorer in (EncodedCosineScorer(encoder_only, X, Z), LearnedScorer(networks, X, Z)):
        scorers[scorer.name] = scorer
    return scorers, networks.meta


def evaluate_gallery(gallery: Gallery, model_dir: str | None, seed: int, test_fraction: float,
                     n_pairs: int, max_probes: int, out_dir: str) -> dict:
    """Cosine and (optionally) the learned model, side by side, on the held-out identities."""
    X = np.asarray(gallery.embeddings, dtype=np.float32)
    names = gallery.row_names
    scorers, meta = gallery_scorers(X, model_dir)
    if meta is not None:
        seed = meta["split_seed"]
    test_ids, val_ids = _splits(names, meta, seed, test_fraction)
    test_rows = np.flatnonzero(np.isin(names, test_ids))
    val_rows = np.flatnonzero(np.isin(names, val_ids))
    probes = _probes(names, test_ids, max_probes, seed)
    os.makedirs(out_dir, exist_ok=True)
    report = {"gallery": gallery.name, "model": model_dir, "split_seed": seed,
              "test_identities": int(len(test_ids)), "probes": int(len(probes)),
              "gallery_rows": int(len(X)), "test_pairs": n_pairs, "scorers": {}}
    curves = {}
    for name, scorer in scorers.items():
        ident = identification_topk(X[probes], names[probes], X, names, lambda q, _, s=scorer: s.row_scores(q),
                                    ks=(1, 5), exclude=probes)
        verif, curve = _verification(scorer, X, names, val_rows, test_rows, n_pairs, seed)
        report["scorers"][name] = {"top1": ident["top1"], "top5": ident["top5"], **verif}
        curves[name] = curve
    from models.plots import plot_roc

    plot_roc(curves, os.path.join(out_dir, "roc.png"))
    name, scorer = list(scorers.items())[-1]
    sample = probes[np.random.default_rng(seed).permutation(len(probes))[:200]]
    matches = _top_matches(scorer, X, sample, names)
    right = [(p, m) for p, m in zip(sample, matches) if names[m[0]] == names[p]][:4]
    wrong = [(p, m) for p, m in zip(sample, matches) if names[m[0]] != names[p]][:4]
    chosen = right + wrong
    if chosen:
        plot_samples(gallery, names, [p for p, _ in chosen], [m for _, m in chosen],
                     os.path.join(out_dir, "samples.png"), f"{name}: correct (green) and wrong (red) top-1")
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    return report
