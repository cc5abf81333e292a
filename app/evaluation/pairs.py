"""The LFW pairs protocol: read pairs.txt, embed its photos, 10-fold accuracy, ROC, calibration."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.pipeline.builders.photo_batches import embed_files
from app.pipeline.errors import StartupError
from app.pipeline.galleries.reader import Gallery, pipeline_settings
from app.pipeline.galleries.store import served_galleries
from app.pipeline.scoring.scorers import euclidean_distances
from app.pipeline.scoring.verification import load_calibration, save_calibration
from app.pipeline.serving.engine import Engine
from models.calibration import Calibration, expected_calibration_error, fit_logistic, reliability_table
from models.face_metrics import accuracy_f1_at, best_f1_threshold, roc_auc, roc_curve
from models.plots import plot_roc


@dataclass(frozen=True)
class Pair:
    """Two photo paths, whether they show the same person, and the fold of the pair."""

    path1: str
    path2: str
    same: bool
    fold: int


def lfw_path(images_dir: str, name: str, number: str) -> str:
    """LFW file name of photo `number` of `name`."""
    return os.path.join(images_dir, name, f"{name}_{int(number):04d}.jpg")


def read_pairs(pairs_file: str, images_dir: str) -> list[Pair]:
    """Pairs of an LFW pairs file: header 'folds n' (or 'n'), then per fold n same and n different."""
    with open(pairs_file, encoding="utf-8") as f:
        lines = [line.split() for line in f if line.strip()]
    header, body = lines[0], lines[1:]
    per_fold = 2 * int(header[-1]) if len(header) == 2 else len(body)
    pairs = []
    for i, parts in enumerate(body):
        fold = i // per_fold if per_fold else 0
        if len(parts) == 3:
            pairs.append(Pair(lfw_path(images_dir, parts[0], parts[1]),
                              lfw_path(images_dir, parts[0], parts[2]), True, fold))
        elif len(parts) == 4:
            pairs.append(Pair(lfw_path(images_dir, parts[0], parts[1]),
                              lfw_path(images_dir, parts[2], parts[3]), False, fold))
        else:
            raise ValueError(f"{pairs_file}:{i + 2}: expected 3 or 4 fields, got {len(parts)}")
    return pairs


def distances(emb1: np.ndarray, emb2: np.ndarray) -> np.ndarray:
    """Euclidean distances between rows of two L2-normalized matrices (0 = same, 2 = opposite)."""
    return euclidean_distances(emb1, emb2)


def best_accuracy_threshold(dist: np.ndarray, same: np.ndarray) -> float:
    """Distance threshold maximizing the accuracy of 'same if distance <= threshold'."""
    d = np.sort(np.unique(dist))
    candidates = np.r_[d[0] - 1e-6, (d[1:] + d[:-1]) / 2, d[-1] + 1e-6]
    order = np.argsort(dist)
    ds, ys = dist[order], same[order].astype(bool)
    k = np.searchsorted(ds, candidates, side="right")  # pairs predicted same
    tp = np.r_[0, np.cumsum(ys)][k]
    tn = (~ys).sum() - (k - tp)
    return float(candidates[int(np.argmax(tp + tn))])


def fit_calibration(dist: np.ndarray, same: np.ndarray, fitted_on: str) -> Calibration:
    """Logistic p(same | distance) and the F1-optimal distance threshold on these pairs."""
    a, b = fit_logistic(dist, same)
    thr, _ = best_f1_threshold(-dist, same)
    return Calibration(a=a, b=b, threshold=-thr, higher_is_same=False, score="distance",
                       fitted_on=fitted_on)


def kfold_report(dist: np.ndarray, same: np.ndarray, folds: np.ndarray,
                 stored: Calibration | None = None) -> dict:
    """10-fold accuracy (threshold from the other folds), AUC, F1 and cross-validated calibration."""
    same = same.astype(bool)
    accs, thresholds = [], []
    pred = np.zeros(len(dist), bool)
    prob = np.zeros(len(dist))
    fold_ids = np.unique(folds)
    for k in fold_ids:
        test, train = folds == k, folds != k
        if len(fold_ids) == 1:
            train = test  # a single fold: threshold and fit on the same pairs (said in the report)
        thr = best_accuracy_threshold(dist[train], same[train])
        thresholds.append(thr)
        pred[test] = dist[test] <= thr
        accs.append(float(np.mean(pred[test] == same[test])))
        a, b = fit_logistic(dist[train], same[train])
        prob[test] = 1 / (1 + np.exp(-(a + b * dist[test])))
    tp = int(np.sum(pred & same))
    f1 = 2 * tp / max(2 * tp + int(np.sum(pred & ~same)) + int(np.sum(~pred & same)), 1)
    f1_thr, _ = best_f1_threshold(-dist, same)
    report = {
        "pairs": int(len(dist)), "same_pairs": int(same.sum()), "folds": int(len(fold_ids)),
        "accuracy_mean": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
        "fold_accuracies": accs, "fold_thresholds": thresholds,
        "auc": roc_auc(-dist, same), "f1": f1,
        "f1_optimal_threshold_all_pairs": -f1_thr,
        "calibration_cv": {"ece": expected_calibration_error(prob, same),
                           "reliability": reliability_table(prob, same)},
    }
    if stored is not None:
        p = stored.probability(dist)
        acc, f1_stored = accuracy_f1_at(-dist, same, -stored.threshold)
        report["calibration_stored"] = {"params": stored.to_dict(),
                                        "ece": expected_calibration_error(p, same),
                                        "accuracy_at_threshold": acc, "f1_at_threshold": f1_stored,
                                        "reliability": reliability_table(p, same)}
    return report


def roc_points(dist: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(fpr, tpr, auc) of 'same if distance small'."""
    fpr, tpr, _ = roc_curve(-dist, same)
    return fpr, tpr, roc_auc(-dist, same)


def gallery_cache(galleries_dir: str, images_dir: str, config: dict) -> dict[str, np.ndarray]:
    """Embeddings already computed by a gallery built from images_dir with the same settings."""
    wanted = os.path.realpath(images_dir)
    for name in served_galleries(galleries_dir):
        try:
            gallery = Gallery.load(os.path.join(galleries_dir, name))
            gallery.check_pipeline(config)  # other settings: not the pipeline's embeddings
        except StartupError:
            continue
        if wanted in (os.path.realpath(d) for d in gallery.manifest.get("source_dirs", [])):
            sources = gallery.row_metadata()["source"]
            return {os.path.realpath(str(src)): np.asarray(gallery.embeddings[i]) for i, src in enumerate(sources)}
    return {}


def pair_embeddings(paths: list[str], images_dir: str, engine: Engine,
                    announce: Callable[[str], None] = print) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Embedding of every usable path (from a gallery cache where possible) and skip reasons."""
    cache = gallery_cache(engine.paths.galleries, images_dir, engine.config)
    found = {p: cache[os.path.realpath(p)] for p in paths if os.path.realpath(p) in cache}
    missing = {p: "missing" for p in paths if p not in found and not os.path.isfile(p)}
    todo = [p for p in paths if p not in found and p not in missing]
    if found:
        announce(f"{len(found)} of {len(paths)} photos reuse gallery embeddings; embedding {len(todo)}")
    computed, skipped = embed_files(todo, engine.detector, engine.embedder, engine.config, desc="pairs")
    return {**found, **computed}, {**missing, **skipped}


def evaluate_pairs(pairs_file: str, images_dir: str, out_dir: str, engine: Engine,
                   save_to: str | None = None, announce: Callable[[str], None] = print) -> dict:
    """The pairs protocol on the app's pipeline: report.json and roc.png in out_dir; optionally save
    the calibration fitted on these pairs to save_to. ValueError when too few pairs resolve."""
    pairs = read_pairs(pairs_file, images_dir)
    paths = sorted({p for pair in pairs for p in (pair.path1, pair.path2)})
    emb, skipped = pair_embeddings(paths, images_dir, engine, announce)
    kept = [p for p in pairs if p.path1 in emb and p.path2 in emb]
    reasons = Counter(skipped.get(p.path1) or skipped.get(p.path2) for p in pairs
                      if p.path1 not in emb or p.path2 not in emb)
    if len({p.same for p in kept}) < 2:
        raise ValueError(f"only {len(kept)} of {len(pairs)} pairs resolve: need same and different pairs")
    dist = distances(np.stack([emb[p.path1] for p in kept]), np.stack([emb[p.path2] for p in kept]))
    same = np.array([p.same for p in kept])
    facenet = load_calibration(engine.paths.calibration, engine.config["VERIFY_CALIBRATION"])
    report = kfold_report(dist, same, np.array([p.fold for p in kept]), facenet)
    report.update({"pairs_file": os.path.abspath(pairs_file), "pairs_total": len(pairs),
                   "pairs_skipped": len(pairs) - len(kept), "skipped_by_reason": dict(reasons),
                   "score": "euclidean distance of L2-normalized FaceNet embeddings",
                   "pipeline": pipeline_settings(engine.config)})
    os.makedirs(out_dir, exist_ok=True)
    plot_roc({"FaceNet distance": roc_points(dist, same)}, os.path.join(out_dir, "roc.png"))
    if save_to:
        calibration = fit_calibration(dist, same, f"{os.path.basename(pairs_file)} ({len(kept)} pairs)")
        save_calibration(calibration, save_to)
        report["calibration_saved"] = {"path": save_to, **calibration.to_dict()}
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    return report
