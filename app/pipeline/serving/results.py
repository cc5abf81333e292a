"""What the engine answers: match, verify and check results, before they become JSON (answers.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from app.pipeline.galleries.reader import Gallery
from app.pipeline.photos.analysis import FaceResult
from app.pipeline.scoring.resemblance import percentile
from app.pipeline.scoring.scorers import Match
from app.pipeline.scoring.verification import Verdict


@dataclass
class MatchResult:
    """The answer to 'who do I look like?' (no query face when an embedding was sent instead of a photo)."""

    query: FaceResult | None
    matches: list[Match]
    timings: dict[str, float]
    gallery: str
    scorer: str
    filters: dict = field(default_factory=dict)  # the filters in force and who they left out for lack of data
    photos: list[FaceResult] = field(default_factory=list)  # every photo's face used (query: the first)
    version: str = ""  # the gallery version's stamp: image URLs carry it
    certainty: dict | None = None  # {"level": "clear" | "close_call", "margin": ...}
    photos_used: int = 1  # photos (or embeddings) matched together


@dataclass
class VerifyResult:
    """Two photos' faces and whether they are the same person."""

    verdict: Verdict
    faces: list[FaceResult]


@dataclass
class CheckResult:
    """A probe photo's face against a subject's anchors."""

    verdict: Verdict
    probe: FaceResult
    anchors_used: int
    subject: str | None


def named(matches: list[Match], gallery: Gallery, reference: np.ndarray | None) -> list[Match]:
    """Matches with what pages show of them: display name, resemblance percentile, portrait, attributes."""
    return [replace(m, name=gallery.names[m.label], resemblance=percentile(m.raw, reference),
                    portrait=gallery.portrait(m.label), attributes=gallery.attributes(m.label)) for m in matches]
