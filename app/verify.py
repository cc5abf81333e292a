"""Same person or not: two photos, or one photo against a subject's anchor photos."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from app.engine import Engine, FaceResult
from app.errors import BadRequest, LooksLikeError
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


def analyze_field(engine: Engine, data: bytes, field: str) -> FaceResult:
    """Analyze one photo, naming its form field in any error."""
    try:
        return engine.analyze(data)
    except LooksLikeError as exc:
        exc.field = field
        exc.message = f"{field}: {exc.message}"
        raise


@dataclass
class Verdict:
    """Distance, calibrated probability and verdict for one comparison."""

    distance: float
    probability: float
    same: bool
    threshold: float

    def to_dict(self) -> dict:
        """JSON form used by /api/v1/verify."""
        return {"same_person": self.same, "probability": round(self.probability, 4),
                "distance": round(self.distance, 4), "threshold": round(self.threshold, 4)}


def verdict(distance: float, calibration: Calibration) -> Verdict:
    """Apply the calibration to a distance."""
    return Verdict(distance=float(distance), probability=float(calibration.probability(distance)),
                   same=bool(calibration.same(distance)), threshold=calibration.threshold)


def verify(emb1: np.ndarray, emb2: np.ndarray, scorer, calibration: Calibration) -> Verdict:
    """Are two face embeddings the same person? (distance from the app's scorer)"""
    return verdict(float(scorer.pair_distances(emb1[None], emb2[None])[0]), calibration)


def anchor_distance(probe: np.ndarray, anchors: np.ndarray, scorer) -> float:
    """Median distance from the probe to the anchors (one anchor: exactly the pair distance)."""
    anchors = np.asarray(anchors, np.float32)
    return float(np.median(scorer.pair_distances(np.repeat(probe[None], len(anchors), axis=0), anchors)))


def subject_anchors(engine: Engine, subject: str) -> tuple[str, np.ndarray]:
    """(identity, anchor embeddings) of a gallery identity given by folder or display name."""
    from app.gallery import display_name

    gallery = engine.gallery
    wanted = subject.strip().lower()
    for k, identity in enumerate(gallery.identities):
        if wanted in (identity.lower(), display_name(identity).lower()):
            return identity, np.asarray(gallery.embeddings[gallery.labels == k])
    raise BadRequest(f'Subject "{subject}" is not in gallery "{gallery.name}".', field="subject")


def check(probe: np.ndarray, anchors: np.ndarray, scorer, calibration: Calibration) -> Verdict:
    """Is the probe the subject the anchors show?"""
    return verdict(anchor_distance(probe, anchors, scorer), calibration)


def face_dict(field: str, result: FaceResult) -> dict:
    """JSON description of the face used from one photo field."""
    return {"field": field, **result.face.to_dict(), "faces_detected": len(result.faces)}


def verify_photos(engine: Engine, data1: bytes, data2: bytes) -> tuple[dict, list[FaceResult]]:
    """The /api/v1/verify answer for two photos, and their analyses (for the page)."""
    r1 = analyze_field(engine, data1, "photo1")
    r2 = analyze_field(engine, data2, "photo2")
    result = verify(r1.embedding, r2.embedding, engine.scorer, engine.calibration)
    return {**result.to_dict(), "faces": [face_dict("photo1", r1), face_dict("photo2", r2)]}, [r1, r2]


def check_photo(engine: Engine, data: bytes, subject: str | None, anchors: list[bytes]) -> dict:
    """The /api/v1/check answer: is the photo the subject (gallery name) or the anchors' person?"""
    most = engine.config["CHECK_MAX_ANCHORS"]
    if (subject is None) == (not anchors):
        raise BadRequest(f'Send either "subject" (a name in the gallery) or 1 to {most} "anchor" photos, '
                         "not both.", field="subject")
    if len(anchors) > most:
        raise BadRequest(f"At most {most} anchor photos are accepted; got {len(anchors)}.", field="anchor")
    probe = analyze_field(engine, data, "photo")
    if subject is not None:
        identity, anchor_emb = subject_anchors(engine, subject)
    else:
        identity = None
        anchor_emb = np.stack([analyze_field(engine, a, f"anchor[{i}]").embedding
                               for i, a in enumerate(anchors)])
    result = check(probe.embedding, anchor_emb, engine.scorer, engine.check_calibration)
    answer = {"probability": round(result.probability, 4), "is_subject": result.same,
              "anchors_used": int(len(anchor_emb)), "distance": round(result.distance, 4),
              "threshold": round(result.threshold, 4), "aggregate": "median distance to the anchors",
              "face": face_dict("photo", probe)}
    if identity is not None:
        answer["subject"] = identity
    return answer
