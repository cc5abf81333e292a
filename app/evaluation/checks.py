"""Calibrating the one-shot subject check: simulated checks on a gallery, fitted and evaluated."""

from __future__ import annotations

import numpy as np

from app.evaluation.pairs import fit_calibration
from models.calibration import Calibration, expected_calibration_error, reliability_table
from models.face_metrics import accuracy_f1_at, roc_auc


def simulate_checks(emb: np.ndarray, names: np.ndarray, identities: np.ndarray, max_anchors: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median distance, is genuine, anchor count) for one genuine and one impostor check per identity.

    For each identity with 2+ photos: a random photo is the probe, 1..max_anchors of its other photos
    (count drawn uniformly) are the anchors; the impostor probe is a photo of another identity.
    """
    rng = np.random.default_rng(seed)
    rows_of = {name: np.flatnonzero(names == name) for name in identities}
    multi = [name for name in identities if len(rows_of[name]) >= 2]
    others = np.flatnonzero(np.isin(names, identities))
    dist, same, counts = [], [], []
    for name in multi:
        rows = rng.permutation(rows_of[name])
        k = int(rng.integers(1, min(max_anchors, len(rows) - 1) + 1))
        anchors = emb[rows[1:1 + k]]
        impostor = rng.choice(others[names[others] != name])
        for probe, genuine in ((rows[0], True), (impostor, False)):
            dist.append(float(np.median(np.linalg.norm(anchors - emb[probe], axis=1))))
            same.append(genuine)
            counts.append(k)
    return np.array(dist), np.array(same), np.array(counts)


def evaluate_checks(emb: np.ndarray, names: np.ndarray, max_anchors: int, seed: int,
                    pair_calibration: Calibration) -> tuple[dict, Calibration]:
    """Two-fold by identity: fit on one half, measure on the other; then the fit on all checks."""
    identities = np.unique(names)
    halves = np.array_split(np.random.default_rng(seed).permutation(identities), 2)
    sims = [simulate_checks(emb, names, half, max_anchors, seed + i) for i, half in enumerate(halves)]
    prob, y = [], []
    for i in (0, 1):
        fitted = fit_calibration(sims[i][0], sims[i][1], "half")
        prob.append(fitted.probability(sims[1 - i][0]))
        y.append(sims[1 - i][1])
    prob, y = np.concatenate(prob), np.concatenate(y)
    dist = np.concatenate([s[0] for s in sims])
    same = np.concatenate([s[1] for s in sims])
    calibration = fit_calibration(dist, same, f"{len(dist)} simulated checks, 1-{max_anchors} anchors")
    acc, f1 = accuracy_f1_at(-dist, same, -calibration.threshold)
    report = {
        "checks": int(len(dist)), "genuine": int(same.sum()), "max_anchors": max_anchors,
        "auc": roc_auc(-dist, same), "accuracy": acc, "f1": f1,
        "ece_cross_fitted": expected_calibration_error(prob, y),
        "reliability_cross_fitted": reliability_table(prob, y),
        "ece_pair_calibration": expected_calibration_error(pair_calibration.probability(dist), same),
        "calibration": calibration.to_dict(),
    }
    return report, calibration
