"""What the engine answers: match, verify and check results, before they become JSON (answers.py)."""

from __future__ import annotations

from dataclasses import dataclass

from app.pipeline.photos.analysis import FaceResult
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
