"""Same person or not: two embeddings, or a probe against a subject's anchor embeddings."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from app.pipeline.errors import BadRequest
from app.pipeline.galleries.reader import Gallery
from app.pipeline.scoring.scorers import Scorer
from models.calibration import Calibration


def load_calibration(path: str, default: dict) -> Calibration:
    """The fitted calibration file when present, else the configured default."""
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return Calibration.from_dict(json.load(f))
    return Calibration.from_dict(default)


def save_calibration(calibration: Calibration, path: str) -> None:
    """Write a calibration as JSON, atomically."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".part", "w", encoding="utf-8") as f:
        json.dump(calibration.to_dict(), f, indent=2)
    os.replace(path + ".part", path)


@dataclass
class Verdict:
    """Distance, calibrated probability and verdict for one comparison."""

    distance: float
    probability: float
    same: bool
    threshold: float


def verdict(distance: float, calibration: Calibration) -> Verdict:
    """Apply the calibration to a distance."""
    return Verdict(distance=float(distance), probability=float(calibration.probability(distance)),
                   same=bool(calibration.same(distance)), threshold=calibration.threshold)


def verify(emb1: np.ndarray, emb2: np.ndarray, scorer: Scorer, calibration: Calibration) -> Verdict:
    """Are two face embeddings the same person? (distance from the app's scorer)"""
    return verdict(float(scorer.pair_distances(emb1[None], emb2[None])[0]), calibration)


def anchor_distance(probe: np.ndarray, anchors: np.ndarray, scorer: Scorer) -> float:
    """Median distance from the probe to the anchors (one anchor: exactly the pair distance)."""
    anchors = np.asarray(anchors, np.float32)
    return float(np.median(scorer.pair_distances(np.repeat(probe[None], len(anchors), axis=0), anchors)))


def check(probe: np.ndarray, anchors: np.ndarray, scorer: Scorer, calibration: Calibration) -> Verdict:
    """Is the probe the subject the anchors show?"""
    return verdict(anchor_distance(probe, anchors, scorer), calibration)


def subject_anchors(gallery: Gallery, subject: str) -> tuple[str, np.ndarray]:
    """(identity, anchor embeddings) of a gallery identity given by folder or display name."""
    k = gallery.find_identity(subject)
    if k is None:
        raise BadRequest(f'Subject "{subject}" is not in gallery "{gallery.name}".', field="subject")
    return gallery.identities[k], np.asarray(gallery.embeddings[gallery.labels == k])
