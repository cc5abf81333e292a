"""The quality loop of gallery builds: keep the K best photos of each identity.

Photos are screened at the strictest level first (photo resolution, detection confidence, face
size); when fewer than K of an identity pass, the thresholds relax one level at a time until K
pass or the photos run out. Kept photos are ordered best first. Each identity's portrait (the photo
pages show for it, whatever photo matched) is its best photo by the same measure.
"""

from __future__ import annotations

import numpy as np

LEVELS: tuple[dict, ...] = (
    {"min_photo_side": 200, "min_confidence": 0.99, "min_face_px": 80},
    {"min_photo_side": 150, "min_confidence": 0.98, "min_face_px": 64},
    {"min_photo_side": 100, "min_confidence": 0.95, "min_face_px": 48},
    {"min_photo_side": 0, "min_confidence": 0.0, "min_face_px": 0},  # whatever the pipeline accepted
)


def passes(level: dict, photo_side: np.ndarray, face_side: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Rows meeting every threshold of a level."""
    return ((photo_side >= level["min_photo_side"]) & (confidence >= level["min_confidence"])
            & (face_side >= level["min_face_px"]))


def quality_score(boxes: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(face side, score) of each row: confident, large faces score higher."""
    face_side = np.minimum(boxes[:, 2], boxes[:, 3]) if len(boxes) else np.zeros(0)
    return face_side, confidence * np.sqrt(np.maximum(face_side, 1))


def portrait_rows(labels: np.ndarray, photo_side: np.ndarray, boxes: np.ndarray, confidence: np.ndarray,
                  n_identities: int) -> np.ndarray:
    """Per identity, its best row: the strictest level it passes first, then the quality score (-1: no row)."""
    face_side, quality = quality_score(boxes, confidence)
    level = np.full(len(labels), len(LEVELS) - 1)
    for level_no in range(len(LEVELS) - 2, -1, -1):  # strictest last, so it wins
        level[passes(LEVELS[level_no], photo_side, face_side, confidence)] = level_no
    order = np.lexsort((-quality, level, labels))  # by identity, then level, then quality (best first)
    portraits = np.full(n_identities, -1, np.int64)
    first = np.r_[True, labels[order][1:] != labels[order][:-1]] if len(order) else np.zeros(0, bool)
    portraits[labels[order][first]] = order[first]
    return portraits


def select_per_identity(labels: np.ndarray, photo_side: np.ndarray, boxes: np.ndarray, confidence: np.ndarray,
                        k: int) -> tuple[np.ndarray, dict[int, dict]]:
    """(kept rows, grouped by identity and best first; per identity: kept, photos and level used)."""
    face_side, quality = quality_score(boxes, confidence)
    kept, report = [], {}
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        for level_no, level in enumerate(LEVELS):
            ok = rows[passes(level, photo_side[rows], face_side[rows], confidence[rows])]
            if len(ok) >= k or level_no == len(LEVELS) - 1:
                break
        best = ok[np.argsort(-quality[ok], kind="stable")][:k]
        kept.append(best)
        report[int(label)] = {"kept": int(len(best)), "photos": int(len(rows)), "level": level_no}
    order = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    return order, report
